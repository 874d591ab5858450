"""``certwarden ari``: ACME Renewal Information (RFC 9773) — directories, rounds, windows."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError, NotFoundError
from certwarden.interfaces.cli._context import console, get_app, print_json

ari_app = typer.Typer(
    help="ACME Renewal Information (RFC 9773): when the CA wants a certificate renewed.",
    no_args_is_help=True,
)
directory_app = typer.Typer(
    help="ACME directories that speak ARI, per store or per issuing CA.", no_args_is_help=True
)
ari_app.add_typer(directory_app, name="directory")

ACTOR = "cli"
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register(app: typer.Typer) -> None:
    app.add_typer(ari_app, name="ari")


def _scope(store: str | None, issuer: str | None) -> tuple[str, str]:
    if (store is None) == (issuer is None):
        raise InputError("give --store NAME or --issuer SHA256 (one of them)")
    return ("store", store) if store is not None else ("issuer", issuer or "")


StoreOpt = Annotated[
    str | None, typer.Option("--store", help="The store whose certificates this directory issued.")
]
IssuerOpt = Annotated[
    str | None, typer.Option("--issuer", help="The SHA-256 of the issuing CA certificate.")
]


@directory_app.command("set")
def directory_set(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The ACME directory URL (RFC 8555 7.1.1).")],
    store: StoreOpt = None,
    issuer: IssuerOpt = None,
) -> None:
    """Watch the certificates of a store (or of an issuer) with this ACME directory."""
    app = get_app(ctx)
    scope, key = _scope(store, issuer)
    entry = app.ari.set_directory(scope, key, url)
    app.users.audit(ACTOR, "ari.directory.set", f"{entry.scope}:{entry.key}", entry.to_json())
    console.print(f"ARI for {entry.scope} {entry.key}: {entry.url}", markup=False)


@directory_app.command("remove")
def directory_remove(ctx: typer.Context, store: StoreOpt = None, issuer: IssuerOpt = None) -> None:
    """Stop asking a store's (or an issuer's) ACME directory."""
    app = get_app(ctx)
    scope, key = _scope(store, issuer)
    app.ari.remove_directory(scope, key)
    app.users.audit(ACTOR, "ari.directory.remove", f"{scope}:{key}", {})
    console.print(f"no more ARI for {scope} {key}", markup=False)


@directory_app.command("list")
def directory_list(ctx: typer.Context, as_json: Json = False) -> None:
    """The configured ACME directories."""
    entries = get_app(ctx).ari.directories()
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    if not entries:
        console.print(
            "no ACME directory is configured (certwarden ari directory set URL --store S)"
        )
        return
    table = Table("scope", "store or issuer", "directory", highlight=False)
    for e in entries:
        table.add_row(e.scope, e.key, e.url)
    console.print(table)


@ari_app.command("check")
def check(ctx: typer.Context, as_json: Json = False) -> None:
    """Ask now about every certificate whose next ARI check is due."""
    app = get_app(ctx)
    report = app.ari.tick()
    if as_json:
        print_json(report.to_json())
    else:
        console.print(
            f"asked about {report.asked} certificate(s): {report.updated} answered, "
            f"{len(report.failed)} failed, {len(report.alerts)} alert(s)"
        )
        for cert_id, error in sorted(report.failed.items()):
            console.print(f"  certificate {cert_id}: {error}", markup=False)
        for message in report.alerts:
            console.print(f"  alert: {message}", markup=False)
    if report.failed:
        raise typer.Exit(1)


@ari_app.command("list")
def list_windows(ctx: typer.Context, as_json: Json = False) -> None:
    """Every certificate's last known renewal window."""
    app = get_app(ctx)
    infos = app.ari.known()
    if as_json:
        print_json([i.to_json() for i in infos])
        return
    now = app.clock.now()
    table = Table("id", "subject", "window start", "window end", "state", highlight=False)
    for i in infos:
        state = "open" if i.window_open(now) else ("not yet" if i.window_start else "unknown")
        if i.last_error:
            state += f" (last fetch failed: {i.last_error})"
        table.add_row(
            str(i.certificate_id), i.subject, iso_z(i.window_start) or "-",
            iso_z(i.window_end) or "-", state,
        )  # fmt: skip
    console.print(table)


@ari_app.command("show")
def show(
    ctx: typer.Context,
    certificate_id: Annotated[int, typer.Argument(help="The certificate's ID.")],
    as_json: Json = False,
) -> None:
    """One certificate's renewal window, the previous one and the CA's explanation."""
    info = get_app(ctx).ari.get(certificate_id)
    if info is None:
        raise NotFoundError(f"no renewal information is known for certificate {certificate_id}")
    if as_json:
        print_json(info.to_json())
        return
    for label, value in (
        ("subject", info.subject),
        ("store", info.store),
        ("asked", info.url),
        ("window", f"{iso_z(info.window_start) or '-'} to {iso_z(info.window_end) or '-'}"),
        ("previous start", iso_z(info.previous_start) or "-"),
        ("explanation", info.explanation_url or "-"),
        ("fetched", iso_z(info.fetched_at) or "never"),
        ("next check", iso_z(info.next_check_at) or "-"),
        ("last error", info.last_error or "-"),
    ):
        console.print(f"{label:>15}: {value}", markup=False, highlight=False)
