"""Revocation commands: settings, enterprise parameters, Common Criteria mode,
on-demand checks, and ``ocsp query`` (attached to the ``ocsp`` group).

    certwarden revocation settings [set --enable-ocsp --source configured --uri URL ...]
    certwarden revocation tick                      # the scheduled check, if due
    certwarden params [set --validity-check --validity-frequency 12h]
    certwarden security common-criteria on|off|status
    certwarden check [ID...|--all] [--json]         # exit 1 when policy refuses any
    certwarden ocsp query --cert FILE --issuer FILE [--url URL] [--sha256] [--no-nonce] [--json]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography import x509
from rich.table import Table

from certwarden.core.ocsp import CertStatus, RevocationResult, describe
from certwarden.core.parsing import load_certificates
from certwarden.core.policy import Decision
from certwarden.core.revocation_settings import (
    EnterpriseParams,
    ResponderSource,
    RevocationSettings,
    recheck_interval,
)
from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError, ParseError
from certwarden.interfaces.cli._context import console, console_err, get_app, print_json
from certwarden.interfaces.cli._ocsp import ocsp_app

if TYPE_CHECKING:
    from certwarden.services.revocation import CheckReport

revocation_app = typer.Typer(
    help="Security > Certificate Revocation (OCSP): settings and the scheduled check.",
    no_args_is_help=True,
)
settings_app = typer.Typer(help="Show or change the Certificate Revocation settings.")
params_app = typer.Typer(help="Enterprise parameters: Certificate Validity Check and frequency.")
security_app = typer.Typer(help="Security modes.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    revocation_app.add_typer(settings_app, name="settings")
    app.add_typer(revocation_app, name="revocation")
    app.add_typer(params_app, name="params")
    app.add_typer(security_app, name="security")
    app.command("check")(check)


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


# ------------------------------------------------------------------ settings


def _settings_rows(s: RevocationSettings) -> list[tuple[str, str]]:
    source = (
        "Use configured OCSP URI"
        if s.responder_source is ResponderSource.CONFIGURED
        else "Use OCSP URI from Certificate"
    )
    unit = s.check_every_unit.value
    return [
        ("Enable OCSP", "yes" if s.enable_ocsp else "no"),
        ("Responder source", source),
        ("OCSP Configured URI", s.configured_uri or "-"),
        ("Enable Revocation Check", "yes" if s.enable_revocation_check else "no"),
        ("Check Every", f"{s.check_every} {unit}"),
        ("CertID hash", s.hash_algorithm.value),
        ("Nonce", s.nonce.value),
        ("HTTP method", s.method.value.upper()),
        ("Connect timeout", f"{s.connect_timeout:g} s"),
        ("Total timeout", f"{s.total_timeout:g} s"),
        ("Trusted responder store", s.trusted_responder_store),
        ("Clock skew allowed", f"{s.clock_skew_seconds} s"),
        ("Maximum age without nextUpdate", f"{s.max_age_hours} h"),
        (
            "Legacy (SHA-1) signatures",
            f"{s.legacy_signatures.value} (never accepted in Common Criteria mode)",
        ),
        ("Enable CRL", "yes" if s.enable_crl else "no"),
        ("Order of sources", s.order.value),
        ("CRL size cap", f"{s.crl_max_mib} MiB"),
        ("CRL fetch timeout", f"{s.crl_timeout:g} s"),
        ("CRL refresh margin before nextUpdate", f"{s.crl_refresh_margin_minutes} min"),
        ("CRL fetch floor", f"{s.crl_fetch_floor_minutes} min"),
    ]


def _show_settings(s: RevocationSettings, as_json: bool) -> None:
    if as_json:
        print_json(s.to_dict())
        return
    table = Table("Certificate Revocation", "value", show_header=True)
    for label, value in _settings_rows(s):
        table.add_row(label, value)
    console.print(table)
    if not s.revocation_enabled:
        console.print(
            "[dim]No revocation source is on (OCSP or CRL, in the order chosen): "
            "uploads are not checked and no check is scheduled.[/]"
        )


@settings_app.callback(invoke_without_command=True)
def settings_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the Certificate Revocation settings (``set`` changes them)."""
    if ctx.invoked_subcommand is not None:
        return
    _show_settings(get_app(ctx).revocation.settings(), as_json)


@settings_app.command("set")
def settings_set(
    ctx: typer.Context,
    enable_ocsp: Annotated[
        bool | None, typer.Option("--enable-ocsp/--disable-ocsp", help="Enable OCSP.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="configured (use the OCSP Configured URI) or certificate (the AIA URI).",
        ),
    ] = None,
    uri: Annotated[
        str | None, typer.Option("--uri", help="OCSP Configured URI (http:// or https://).")
    ] = None,
    enable_check: Annotated[
        bool | None,
        typer.Option(
            "--enable-revocation-check/--disable-revocation-check",
            help="Enable Revocation Check (the Check Every schedule).",
        ),
    ] = None,
    check_every: Annotated[
        str | None, typer.Option("--check-every", help="Check Every: 24h, 12 hours, 2d ...")
    ] = None,
    hash_algorithm: Annotated[
        str | None, typer.Option("--hash", help="CertID hash: sha1 (default) or sha256.")
    ] = None,
    nonce: Annotated[
        str | None, typer.Option("--nonce", help="off, send (default) or require.")
    ] = None,
    method: Annotated[
        str | None, typer.Option("--method", help="post (default) or get (RFC 5019).")
    ] = None,
    connect_timeout: Annotated[
        str | None, typer.Option("--connect-timeout", help="Seconds (default 3).")
    ] = None,
    total_timeout: Annotated[
        str | None, typer.Option("--total-timeout", help="Seconds (default 10).")
    ] = None,
    trusted_store: Annotated[
        str | None,
        typer.Option(
            "--trusted-responder-store",
            help="Store holding designated OCSP signers (default tomcat-trust).",
        ),
    ] = None,
    clock_skew: Annotated[
        str | None,
        typer.Option(
            "--clock-skew",
            help="Seconds of clock skew allowed around thisUpdate/nextUpdate (default 300).",
        ),
    ] = None,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            help="Hours: the oldest thisUpdate accepted when a response has no nextUpdate "
            "(default 24).",
        ),
    ] = None,
    legacy_signatures: Annotated[
        str | None,
        typer.Option(
            "--legacy-signatures",
            help="accept or refuse (default) SHA-1 signatures on responses and certificates; "
            "never accepted in Common Criteria mode; MD5 is always refused.",
        ),
    ] = None,
    enable_crl: Annotated[
        bool | None,
        typer.Option("--enable-crl/--disable-crl", help="Enable CRL (distribution points)."),
    ] = None,
    order: Annotated[
        str | None,
        typer.Option(
            "--order",
            help="ocsp-only (default), ocsp-first (CRL when OCSP cannot tell), "
            "crl-first or crl-only.",
        ),
    ] = None,
    crl_max_mib: Annotated[
        str | None, typer.Option("--crl-max-mib", help="CRL size cap in MiB (default 50).")
    ] = None,
    crl_timeout: Annotated[
        str | None, typer.Option("--crl-timeout", help="Seconds for one CRL fetch (default 30).")
    ] = None,
    crl_refresh_margin: Annotated[
        str | None,
        typer.Option(
            "--crl-refresh-margin",
            help="Minutes before nextUpdate at which a CRL is fetched again (default 60).",
        ),
    ] = None,
    crl_fetch_floor: Annotated[
        str | None,
        typer.Option(
            "--crl-fetch-floor",
            help="Minutes: a CRL is never fetched more often than this (default 15).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change Certificate Revocation settings. Every field is checked; nothing is
    saved when any is bad (exit code 1, each bad field named)."""
    given: dict[str, Any] = {
        "enable_ocsp": enable_ocsp,
        "responder_source": source,
        "configured_uri": uri,
        "enable_revocation_check": enable_check,
        "check_every": check_every,
        "hash_algorithm": hash_algorithm,
        "nonce": nonce,
        "method": method,
        "connect_timeout": connect_timeout,
        "total_timeout": total_timeout,
        "trusted_responder_store": trusted_store,
        "clock_skew_seconds": clock_skew,
        "max_age_hours": max_age,
        "legacy_signatures": legacy_signatures,
        "enable_crl": enable_crl,
        "order": order,
        "crl_max_mib": crl_max_mib,
        "crl_timeout": crl_timeout,
        "crl_refresh_margin_minutes": crl_refresh_margin,
        "crl_fetch_floor_minutes": crl_fetch_floor,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise typer.BadParameter("nothing to change; see --help for the settings")
    new = get_app(ctx).revocation.update_settings(changes)
    if not as_json:
        console.print("saved")
    _show_settings(new, as_json)


@revocation_app.command("tick")
def tick(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Run the scheduled revocation check now if Check Every has elapsed."""
    outcome = get_app(ctx).revocation.tick()
    if as_json:
        print_json(
            {
                "ran": outcome.ran,
                "why": outcome.why,
                "next_run_at": iso_z(outcome.next_run_at),
                "report": outcome.report.to_json() if outcome.report else None,
            }
        )
        return
    if outcome.report is not None:
        _print_report(outcome.report)
    console.print(outcome.why)


# -------------------------------------------------------------------- params


def _show_params(ctx: typer.Context, p: EnterpriseParams, as_json: bool) -> None:
    app = get_app(ctx)
    interval = recheck_interval(app.revocation.settings(), p)
    if as_json:
        print_json(
            {
                **p.to_dict(),
                "effective_recheck_hours": (
                    interval.total_seconds() / 3600 if interval is not None else None
                ),
            }
        )
        return
    table = Table("Certificate Revocation and Expiry", "value")
    table.add_row("Certificate Validity Check", "True" if p.certificate_validity_check else "False")
    table.add_row("Validity Check Frequency", f"{p.validity_check_frequency_hours} hours")
    effective = "off" if interval is None else f"every {interval.total_seconds() / 3600:g} hours"
    table.add_row("Long-lived connections re-checked", effective)
    console.print(table)
    console.print("[dim]Check Every (Certificate Revocation) takes precedence when it is on.[/]")


@params_app.callback(invoke_without_command=True)
def params_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the enterprise parameters (``set`` changes them)."""
    if ctx.invoked_subcommand is not None:
        return
    _show_params(ctx, get_app(ctx).revocation.params(), as_json)


@params_app.command("set")
def params_set(
    ctx: typer.Context,
    validity_check: Annotated[
        bool | None,
        typer.Option(
            "--validity-check/--no-validity-check", help="Certificate Validity Check (True/False)."
        ),
    ] = None,
    frequency: Annotated[
        str | None,
        typer.Option("--validity-frequency", help="Validity Check Frequency: 12h, 12, 2d."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change enterprise parameters (nothing saved when any is bad)."""
    changes: dict[str, Any] = {}
    if validity_check is not None:
        changes["certificate_validity_check"] = validity_check
    if frequency is not None:
        changes["validity_check_frequency_hours"] = frequency
    if not changes:
        raise typer.BadParameter("nothing to change; give --validity-check or --validity-frequency")
    new = get_app(ctx).revocation.update_params(changes)
    if not as_json:
        console.print("saved")
    _show_params(ctx, new, as_json)


# ------------------------------------------------------------------ security


@security_app.command("common-criteria")
def common_criteria(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(help="on, off or status.")] = "status",
    as_json: JsonOpt = False,
) -> None:
    """Common Criteria mode: when on, only a Good OCSP answer lets a certificate in."""
    action = action.strip().lower()
    if action not in {"on", "off", "status"}:
        raise typer.BadParameter(f"{action!r}: use on, off or status", param_hint="ACTION")
    service = get_app(ctx).revocation
    if action == "status":
        on = service.security().common_criteria
    else:
        on = service.set_common_criteria(action == "on").common_criteria
    if as_json:
        print_json({"common_criteria": on})
        return
    console.print(f"Common Criteria mode is {'ON' if on else 'off'}")
    if on:
        console.print(
            "[dim]Revoked, unknown and could-not-tell certificates are refused "
            "(uploads, TLS connections).[/]"
        )


# --------------------------------------------------------------------- check


def _status_markup(result: RevocationResult) -> str:
    colour = {
        CertStatus.GOOD: "green",
        CertStatus.REVOKED: "red",
        CertStatus.UNKNOWN: "yellow",
        CertStatus.COULD_NOT_TELL: "yellow",
        CertStatus.EXEMPT: "cyan",
    }[result.status]
    label = "on hold" if result.on_hold else result.status.value
    return f"[{colour}]{label}[/]"


def _print_report(report: CheckReport) -> None:
    table = Table("id", "store", "subject", "status", "details", "decision", "trust")
    for o in report.outcomes:
        r = o.result
        if r.status in (CertStatus.COULD_NOT_TELL, CertStatus.EXEMPT):
            details = f"{r.reason.value if r.reason else ''}: {r.detail}"
        elif r.status is CertStatus.REVOKED:
            details = describe(r)
        else:
            details = f"this update {iso_z(r.this_update) or '-'}"
        decision = o.verdict.decision
        style = {"deny": "red", "allow_with_warning": "yellow"}.get(decision.value, "green")
        table.add_row(
            str(o.certificate_id or "-"),
            o.store,
            o.subject,
            _status_markup(r),
            details,
            f"[{style}]{decision.value}[/]",
            r.trust_model.value if r.trust_model else "",
        )
    console.print(table)
    for note in report.skipped:
        console.print(f"[dim]skipped:[/] {note}")
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n)
    mode = "Common Criteria mode" if report.common_criteria else "Common Criteria mode off"
    console.print(
        f"{len(report.outcomes)} checked ({counts or 'none'}); "
        f"{len(report.refused)} refused by policy ({mode})"
    )


def check(
    ctx: typer.Context,
    refs: Annotated[
        list[str] | None, typer.Argument(metavar="[ID-or-SHA256]...", show_default=False)
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every monitored non-root certificate.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check certificates with OCSP now. Exit code 1 when the policy refuses any."""
    if not refs and not all_:
        raise typer.BadParameter("name certificates (IDs or SHA-256) or give --all")
    if refs and all_:
        raise typer.BadParameter("give certificate IDs or --all, not both")
    report = get_app(ctx).revocation.check(refs or [], all_monitored=all_)
    if as_json:
        print_json(report.to_json())
    else:
        _print_report(report)
    if report.refused:
        raise typer.Exit(1)


# ---------------------------------------------------------------- ocsp query


def _one_certificate(path: Path, what: str) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} file: {exc.strerror}") from exc
    try:
        loaded = load_certificates(data, str(path))
    except ParseError as exc:
        raise InputError(f"{path}: {exc.problem}") from exc
    if len(loaded.certificates) != 1:
        raise InputError(
            f"{path}: holds {len(loaded.certificates)} certificates; give exactly one {what}"
        )
    return loaded.certificates[0]


@ocsp_app.command("query")
def query(
    ctx: typer.Context,
    cert: Annotated[Path, typer.Option("--cert", help="The certificate to ask about.")],
    issuer: Annotated[Path, typer.Option("--issuer", help="The CA certificate that issued it.")],
    url: Annotated[
        str | None,
        typer.Option("--url", help="Responder URL (default: settings, then the AIA)."),
    ] = None,
    sha256: Annotated[bool, typer.Option("--sha256", help="CertID over SHA-256.")] = False,
    no_nonce: Annotated[bool, typer.Option("--no-nonce", help="Send no nonce.")] = False,
    allow_legacy: Annotated[
        bool,
        typer.Option(
            "--allow-legacy-signatures",
            help="Accept SHA-1 signatures for this query (never in Common Criteria mode; "
            "MD5 never).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ask an OCSP responder about one certificate now, with full validation.

    Trusted responders are the OCSP signers in the configured store. Nothing
    is stored. Exit code 0 only when the answer is a validated Good.
    """
    subject = _one_certificate(cert, "certificate")
    ca = _one_certificate(issuer, "issuer")
    result, verdict = get_app(ctx).revocation.query(
        subject,
        ca,
        url=url,
        hash_algorithm="sha256" if sha256 else None,
        nonce=not no_nonce,
        allow_legacy_signatures=allow_legacy,
    )
    if as_json:
        print_json({**result.to_json(include_raw=True), "decision": verdict.decision.value})
    else:
        table = Table("field", "value", show_header=False)
        table.add_row("status", _status_markup(result))
        for key, value in result.to_json().items():
            if key == "status" or value in (None, [], "", False):
                continue
            shown = "; ".join(value) if isinstance(value, list) else str(value)
            table.add_row(key, shown)
        table.add_row("decision", f"{verdict.decision.value}: {verdict.why}")
        console.print(table)
    if result.status is not CertStatus.GOOD:
        if not as_json and verdict.decision is Decision.DENY:
            console_err.print("[red]not good[/]")
        raise typer.Exit(1)
