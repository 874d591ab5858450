"""TLS commands: probe an endpoint, monitored endpoints, syslog forwarding.

certwarden probe HOST:PORT [--starttls smtp|imap|pop3|ldap] [--servername N] [--json]
                 [--import --store S]           # exit 1: wrong name, untrusted chain, or
                                                # the revocation policy in force refuses
certwarden endpoints add|list|remove|probe HOST:PORT [--starttls ...] [--servername N]
certwarden endpoints settings [set --change-damping 24h]   # change events: one per period
certwarden syslog settings [set --server HOST:6514 --ca FILE [--servername N] [--disable]]
certwarden syslog forward [--json]              # one forwarding round
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certwarden.core.ocsp import CertStatus, RevocationResult, describe
from certwarden.core.policy import Decision
from certwarden.core.timefmt import iso_z
from certwarden.core.tls import Stapling, StartTls, parse_host_port
from certwarden.errors import InputError, InvalidFieldsError
from certwarden.interfaces.cli._context import (
    cli_actor,
    console,
    console_err,
    get_app,
    print_json,
)
from certwarden.interfaces.cli._layout import Cell, Col, fit_table, print_fields
from certwarden.interfaces.cli._options import fields_failed
from certwarden.interfaces.cli._safe import safe

if TYPE_CHECKING:
    from certwarden.services.tls.probe import ProbeReport

__all__ = ["register"]

endpoints_app = typer.Typer(
    help="TLS endpoints probed on each monitor run; their certificates join the inventory.",
    no_args_is_help=True,
)
endpoint_settings_app = typer.Typer(
    help="Show (no subcommand) or change (set) how endpoint change events are damped."
)
syslog_app = typer.Typer(help="Forwarding alerts to a syslog server over TLS (RFC 5425).")
syslog_settings_app = typer.Typer(help="Show (no subcommand) or change (set) the syslog settings.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
StartTlsOpt = Annotated[
    str | None,
    typer.Option("--starttls", help="Upgrade from plain text first: smtp, imap, pop3 or ldap."),
]
ServerNameOpt = Annotated[
    str | None,
    typer.Option("--servername", help="Name to send (SNI) and check; default: the host."),
]


def register(app: typer.Typer) -> None:
    app.command("probe")(probe)
    app.add_typer(endpoints_app, name="endpoints")
    endpoints_app.add_typer(endpoint_settings_app, name="settings")
    syslog_app.add_typer(syslog_settings_app, name="settings")
    app.add_typer(syslog_app, name="syslog")


def _starttls(value: str | None) -> StartTls | None:
    if value is None:
        return None
    try:
        return StartTls(value.strip().lower())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: use one of {', '.join(s.value for s in StartTls)}",
            param_hint="--starttls",
        ) from None


# --------------------------------------------------------------------- probe


def _status(result: RevocationResult | None) -> str:
    if result is None:
        return "[dim]- (root)[/]"
    colour = {
        CertStatus.GOOD: "green",
        CertStatus.REVOKED: "red",
        CertStatus.UNKNOWN: "yellow",
        CertStatus.COULD_NOT_TELL: "yellow",
        CertStatus.EXEMPT: "cyan",
    }[result.status]
    return f"[{colour}]{safe(describe(result))}[/]"


def _status_cell(result: RevocationResult | None) -> Cell:
    if result is None:
        return Cell("- (root)", "dim")
    colour = {
        CertStatus.GOOD: "green",
        CertStatus.REVOKED: "red",
        CertStatus.UNKNOWN: "yellow",
        CertStatus.COULD_NOT_TELL: "yellow",
    }[result.status]
    return Cell(describe(result), colour)


def _print_probe(report: ProbeReport, common_criteria: bool) -> None:
    extra = ", ".join(x for x in (report.protocol, report.cipher) if x)
    how = f" after {report.starttls.value.upper()} STARTTLS" if report.starttls else ""
    console.print(f"[bold]{safe(report.where)}[/]{how} ({safe(extra)})", soft_wrap=True)
    cols = [
        Col("#", "key", justify="right"),
        Col("role", "key"),
        Col("subject", "name", min_width=12),
        Col("not after", "key"),
        Col("days left", "key", justify="right"),
        Col("OCSP (live)", "text", min_width=16),
    ]
    rows: list[list[str | Cell]] = []
    for item in report.chain:
        days = (item.facts.not_after - report.probed_at).total_seconds() / 86400
        left = Cell(f"expired {-days:.1f}d ago", "red") if days < 0 else f"{days:.1f}"
        rows.append(
            [
                str(item.position),
                item.role.value,
                item.facts.subject,
                iso_z(item.facts.not_after) or "",
                left,
                _status_cell(item.ocsp),
            ]
        )
    console.print(fit_table(console, cols, rows))
    if report.stapling is Stapling.SENT:
        stapled = report.stapled
        if stapled is not None and stapled.validated:
            console.print(f"stapled OCSP response: sent, valid: {_status(stapled)}")
        else:
            why = describe(stapled) if stapled else "not judged"
            console.print(
                f"stapled OCSP response: sent, [red]not valid[/] ({safe(why)}); ignored",
                soft_wrap=True,
            )
    else:
        console.print("stapled OCSP response: not sent")
    console.print(f"status used: {_status(report.status)} (from {report.source.value})")
    for mode, label in ((True, "Common Criteria on "), (False, "Common Criteria off")):
        verdict = report.verdicts[mode]
        colour = {Decision.ALLOW: "green", Decision.WARN: "yellow", Decision.DENY: "red"}[
            verdict.decision
        ]
        console.print(f"revocation, {label}: [{colour}]{safe(verdict.why)}[/]", soft_wrap=True)
    name, trust = report.name, report.trust
    console.print(
        f"hostname:  {'[green]matches[/]' if name.matched else '[red]DOES NOT MATCH[/]'}: "
        f"{safe(name.detail)}",
        soft_wrap=True,
    )
    console.print(
        f"chain:     {'[green]trusted[/]' if trust.trusted else '[red]NOT TRUSTED[/]'}: "
        f"{safe(trust.detail)}",
        soft_wrap=True,
    )
    in_force = "Common Criteria on" if common_criteria else "Common Criteria off"
    refusals = report.refusals(common_criteria)
    if refusals:
        console.print(f"verdict:   [bold red]REFUSED[/] ({in_force}):", soft_wrap=True)
        for why in refusals:
            console.print(f"  - {safe(why)}", soft_wrap=True)
    else:
        console.print(
            f"verdict:   [green]accepted[/] ({in_force}): the name matches, the chain is "
            "trusted and the revocation policy lets it in",
            soft_wrap=True,
        )
    if not report.ocsp_enabled:
        console.print(
            "[dim]OCSP is disabled in the settings: TLS clients do not check revocation now; "
            "the probe asked anyway.[/]"
        )


def probe(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="HOST:PORT", help="The TLS endpoint.")],
    starttls: StartTlsOpt = None,
    servername: ServerNameOpt = None,
    timeout: Annotated[
        float, typer.Option(min=0.5, max=120, help="Seconds for connecting and the handshake.")
    ] = 10.0,
    import_: Annotated[
        bool, typer.Option("--import", help="Add the chain to the inventory (--store).")
    ] = False,
    store: Annotated[str | None, typer.Option("--store", help="Store for --import.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Probe a TLS endpoint: chain, stapling, OCSP status, name, trust, verdict.

    Prints each certificate with its expiry and live OCSP status, whether a
    stapled response was sent and what it said, the revocation verdict with
    Common Criteria mode on and off, whether the certificate names the host
    (or --servername; RFC 6125) and whether the chain leads to a certificate in
    the inventory's trust stores. Exit 1 when any of them refuses it (in the
    mode in force).
    """
    if import_ and not store:
        raise typer.BadParameter("--import needs --store S", param_hint="--store")
    if store and not import_:
        raise typer.BadParameter("--store goes with --import", param_hint="--store")
    host, port = parse_host_port(target)
    app = get_app(ctx)
    report = app.probe.probe(
        host, port, starttls=_starttls(starttls), servername=servername, timeout=timeout
    )
    imported = app.probe.import_chain(report, store=store) if import_ and store else None
    if imported is not None:
        app.changes.record(
            cli_actor(),
            "certificate.import",
            str(store),
            {
                "how": "probe",
                "endpoint": report.where,
                "imported": [i.sha256 for i in imported.imported],
                "imported_count": len(imported.imported),
                "duplicates": len(imported.duplicates),
            },
        )
    mode = app.revocation.security().common_criteria
    if as_json:
        out = report.to_json()
        out["common_criteria"] = mode
        if imported is not None:
            out["import"] = imported.to_json()
        print_json(out)
    else:
        _print_probe(report, mode)
        if imported is not None:
            console.print(
                f"imported into {safe(store)}: {len(imported.imported)} new, "
                f"{len(imported.duplicates)} already there"
            )
    if report.refusals(mode):
        raise typer.Exit(1)


# ----------------------------------------------------------------- endpoints


@endpoints_app.command("add")
def endpoints_add(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="HOST:PORT")],
    starttls: StartTlsOpt = None,
    servername: ServerNameOpt = None,
) -> None:
    """Monitor an endpoint: probed on each monitor run, its certificates join store endpoints."""
    record = get_app(ctx).changes.add_endpoint(
        cli_actor(), target, starttls=_starttls(starttls), servername=servername
    )
    console.print(
        f"monitoring {safe(record.where)}"
        + (f" (STARTTLS {safe(record.starttls)})" if record.starttls else "")
        + "; it is probed on each monitor run (certwarden endpoints probe: now)"
    )


@endpoints_app.command("list")
def endpoints_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Monitored endpoints, their last probe and the certificate they serve."""
    records = get_app(ctx).endpoints.list()
    if as_json:
        print_json([r.to_json() for r in records])
        return
    if not records:
        console.print("no monitored endpoints (certwarden endpoints add HOST:PORT)")
        return
    cols = [
        Col("endpoint", "name", min_width=12),
        Col("starttls", "key", optional=1),
        Col("last probe", "key", optional=2),
        Col("status", "text", min_width=12),
        Col("certificate", "name", min_width=12),
        Col("not after", "key"),
    ]
    rows: list[list[str | Cell]] = []
    for r in records:
        status: str | Cell = r.last_status or "not probed"
        if r.last_status == "unreachable":
            status = Cell(f"unreachable: {r.last_error or ''}", "red")
        rows.append(
            [
                r.where,
                r.starttls or "",
                iso_z(r.last_probe_at) or "-",
                status,
                r.leaf_subject or "-",
                iso_z(r.leaf_not_after) or "-",
            ]
        )
    console.print(fit_table(console, cols, rows))


@endpoints_app.command("remove")
def endpoints_remove(
    ctx: typer.Context, target: Annotated[str, typer.Argument(metavar="HOST:PORT")]
) -> None:
    """Stop monitoring an endpoint (its certificate leaves store endpoints)."""
    removed = get_app(ctx).changes.remove_endpoint(cli_actor(), target)
    console.print(
        f"stopped monitoring {safe(target)}"
        + (f"; {removed} certificate(s) removed from store endpoints" if removed else "")
    )


@endpoints_app.command("probe")
def endpoints_probe(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Argument(metavar="[HOST:PORT]", help="One endpoint (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Probe monitored endpoints now and record what they serve (exit 1: one unreachable)."""
    app = get_app(ctx)
    results = [app.endpoints.probe_one(target)] if target else app.endpoints.probe_all()
    if as_json:
        print_json([r.to_json() for r in results])
    else:
        for r in results:
            if r.ok:
                renewed = f"; renewed (was {r.renewed_from[:16]}...)" if r.renewed_from else ""
                change = f"; change alert: {r.change}" if r.change else ""
                console.print(f"{safe(r.endpoint)}: ok, serves {r.leaf_sha256}{renewed}{change}")
            else:
                console.print(
                    f"{safe(r.endpoint)}: [red]unreachable[/]: {safe(r.error)}", soft_wrap=True
                )
    if any(not r.ok for r in results):
        raise typer.Exit(1)


def _show_endpoint_settings(ctx: typer.Context, as_json: bool) -> None:
    settings = get_app(ctx).endpoints.change_settings().to_json()
    if as_json:
        print_json(settings)
        return
    console.print("[bold]Endpoint change events[/]")
    print_fields(
        console,
        [("Damping", f"{settings['damping']} (at most one change alert per endpoint)")],
    )


@endpoint_settings_app.callback(invoke_without_command=True)
def endpoint_settings_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show how change events (renewed, rolled back ...) are damped (``set`` changes it)."""
    if ctx.invoked_subcommand is None:
        _show_endpoint_settings(ctx, as_json)


@endpoint_settings_app.command("set")
def endpoint_settings_set(
    ctx: typer.Context,
    damping: Annotated[
        str,
        typer.Option(
            "--change-damping",
            help="At most one change alert per endpoint in this period (1h to 30d; default 24h).",
        ),
    ],
) -> None:
    """Change the damping period; nothing is saved when the value is refused."""
    try:
        get_app(ctx).changes.save_endpoint_change_settings(cli_actor(), {"damping": damping})
    except InvalidFieldsError as exc:
        raise fields_failed(exc, {"damping": "--change-damping"}) from exc
    _show_endpoint_settings(ctx, False)


# -------------------------------------------------------------------- syslog


def _show_syslog(ctx: typer.Context, as_json: bool) -> None:
    status = get_app(ctx).syslog.status()
    if as_json:
        print_json(status)
        return
    settings = status["settings"]
    console.print("[bold]Syslog forwarding[/]")
    print_fields(
        console,
        [
            ("Enabled", "yes" if settings["enabled"] else "no"),
            ("Server", settings["server"] or "-"),
            ("CA", "; ".join(settings["ca"]) or "-"),
            ("Server name checked", settings["servername"] or "(the server's host)"),
            ("Connected", "yes" if status["connected"] else "no"),
            ("Alerts forwarded", str(status["forwarded"])),
            ("Alerts waiting", str(status["pending"])),
            ("Last error", status["last_error"] or "-"),
        ],
    )


@syslog_settings_app.callback(invoke_without_command=True)
def syslog_settings_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the syslog forwarding settings and state (``set`` changes them)."""
    if ctx.invoked_subcommand is None:
        _show_syslog(ctx, as_json)


@syslog_settings_app.command("set")
def syslog_settings_set(
    ctx: typer.Context,
    server: Annotated[
        str | None, typer.Option("--server", help="HOST:PORT of the syslog server (TLS, 6514).")
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option("--ca", help="PEM file: the CA(s) the server certificate must chain to."),
    ] = None,
    servername: Annotated[
        str | None, typer.Option("--servername", help="Name the certificate must carry.")
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Forward alerts (or stop).")
    ] = None,
    app_name: Annotated[
        str | None, typer.Option("--app-name", help="APP-NAME of the messages.")
    ] = None,
) -> None:
    """Change the syslog settings; every field is checked and nothing is saved on error."""
    changes: dict[str, object] = {}
    if server is not None:
        changes["server"] = server
    if ca is not None:
        try:
            changes["ca_pem"] = ca.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--ca {ca}: cannot be read as PEM text ({exc})") from exc
    if servername is not None:
        changes["servername"] = servername
    if enabled is not None:
        changes["enabled"] = enabled
    if app_name is not None:
        changes["app_name"] = app_name
    if not changes:
        raise typer.BadParameter("nothing to change; see --help")
    flags = {"server": "--server", "ca_pem": "--ca", "servername": "--servername",
             "enabled": "--enable", "app_name": "--app-name"}  # fmt: skip
    try:
        get_app(ctx).changes.save_syslog_settings(cli_actor(), changes)
    except InvalidFieldsError as exc:
        raise fields_failed(exc, flags) from exc
    _show_syslog(ctx, False)


@syslog_app.command("forward")
def syslog_forward(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Send the alerts not forwarded yet, now (exit 1 when it failed)."""
    app = get_app(ctx)
    report = app.syslog.forward()
    if as_json:
        print_json(report.to_json())
    elif report.skipped:
        console.print(safe(report.skipped), soft_wrap=True)
    else:
        console.print(f"sent {report.sent} alert(s); {report.pending} waiting")
        if report.error:
            console_err.print(f"[bold red]error:[/] {safe(report.error)}", soft_wrap=True)
    app.syslog.close("the command finished")
    if report.error:
        raise typer.Exit(1)
