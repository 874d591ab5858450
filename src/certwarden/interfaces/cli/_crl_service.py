"""``certwarden crl list`` and ``certwarden crl show URL``.

certwarden crl list [--json]       # every CRL known: freshness, numbers, errors, certificates
certwarden crl show URL [--json]   # fetch one now (http(s):// or ldap://) and print it
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from certwarden.interfaces.cli._context import console, get_app, print_json
from certwarden.interfaces.cli._crl import crl_app

__all__: list[str] = []

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _clean(text: object) -> str:
    """Text from servers and CRLs is data: no markup, no control characters."""
    raw = "" if text is None else str(text)
    return escape("".join(ch if ch.isprintable() else "?" for ch in raw))


@crl_app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every CRL distribution point known: freshness, number, times, last error."""
    app = get_app(ctx)
    now = app.clock.now()
    views = app.revocation.crls(now)
    if as_json:
        print_json([v.to_json(now) for v in views])
        return
    table = Table("URL", "freshness", "number", "thisUpdate", "nextUpdate", "certs", "last error")
    for v in views:
        r = v.record.to_json(now)
        colour = {"fresh": "green", "stale": "red"}.get(v.freshness, "yellow")
        table.add_row(
            _clean(r["url"]),
            f"[{colour}]{v.freshness}[/]",
            _clean(r["crl_number"] or "-"),
            r["this_update"] or "-",
            r["next_update"] or "-",
            str(v.certificates),
            _clean(f"{r['last_error_reason']}: {r['last_error']}" if r["last_error"] else ""),
        )
    console.print(table)
    if not views:
        console.print("[dim]No CRL is known yet: none is named by a stored certificate.[/]")


@crl_app.command("show")
def show(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="http(s):// or ldap:// URL.")],
    as_json: JsonOpt = False,
) -> None:
    """Fetch a CRL now and print it (issuer, number, times, IDP, entries); nothing is stored."""
    shown: dict[str, Any] = get_app(ctx).revocation.show_crl_url(url)
    if as_json:
        print_json(shown)
        return
    table = Table("field", "value", show_header=False)
    for key in ("source", "issuer", "crl_number", "this_update", "next_update", "sha256", "size"):
        table.add_row(key, _clean(shown[key]))
    table.add_row("issuing distribution point", _clean(shown["issuing_distribution_point"] or "-"))
    table.add_row("entries", str(len(shown["entries"])))
    console.print(table)
    entries = Table("serial", "revoked at", "reason")
    for e in shown["entries"][:1000]:
        entries.add_row(e["serial"], e["revoked_at"], _clean(e["reason"] or ""))
    if shown["entries"]:
        console.print(entries)
    if len(shown["entries"]) > 1000:
        console.print(f"[dim]... {len(shown['entries']) - 1000} more (use --json)[/]")
