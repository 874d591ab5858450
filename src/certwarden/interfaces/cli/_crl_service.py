"""``certwarden crl list``: the CRLs certwarden holds, their freshness and coverage.

    certwarden crl list [--json]       # every CRL known: freshness, numbers, errors, certificates

(``certwarden crl show URL`` fetches one now: see :mod:`._crl`.)
"""

from __future__ import annotations

from typing import Annotated

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
    """Every CRL distribution point known: freshness, number, times, last error, certificates."""
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
