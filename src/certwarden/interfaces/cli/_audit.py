"""``certwarden audit list``: the audit log, newest first (every interface's changes)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from certwarden.interfaces.cli._context import console, get_app, print_json

__all__ = ["register"]

audit_app = typer.Typer(
    help="The audit log: who changed what, from the UI, the API or the CLI.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10000, help="How many entries (newest first).")
    ] = 50,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only this actor (a user name, or cli).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List audit entries, newest first: when, actor, action, target, details."""
    entries, total = get_app(ctx).users.list_audit(limit=limit, actor=actor)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    table = Table("when (UTC)", "actor", "action", "target", "details")
    for e in entries:
        details = json.dumps(e.details, sort_keys=True, ensure_ascii=True) if e.details else ""
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.actor),
            escape(e.action),
            escape(e.target),
            escape(details),
        )
    console.print(table)
    console.print(f"{len(entries)} of {total} entr{'y' if total == 1 else 'ies'}")
