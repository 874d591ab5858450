"""``certwarden alerts``: the alerts with their lifecycle (list, show, ack) and
the alert log they are made of (history)."""

from __future__ import annotations

from typing import Annotated

import typer

from certwarden.errors import InvalidFieldsError
from certwarden.interfaces.cli._context import cli_actor, console, get_app, print_json
from certwarden.interfaces.cli._layout import Col, fit_table, print_fields, when
from certwarden.interfaces.cli._options import fields_failed
from certwarden.interfaces.cli._safe import safe
from certwarden.services.shared.alerts import list_alerts
from certwarden.services.shared.lifecycle import (
    MAX_NOTE,
    AlertState,
    ConditionRecord,
    get_condition,
    list_conditions,
    parse_state,
)

__all__ = ["register"]

alerts_app = typer.Typer(
    help="Alerts (open, acknowledged, cleared) and the alert history.", no_args_is_help=True
)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Limit = Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many.")]
Kind = Annotated[
    str | None, typer.Option("--kind", help="Only this kind (expiring, expired, revoked ...).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


def _state(value: str | None) -> AlertState | None:
    try:
        return parse_state(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--state") from None


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only open, acknowledged or cleared alerts. [default: all]"),
    ] = None,
    kind: Kind = None,
    limit: Limit = 100,
    as_json: Json = False,
) -> None:
    """Alerts, one per condition (certificate or endpoint x kind), the latest changed first."""
    wanted = _state(state)
    app = get_app(ctx)
    with app.db.session() as s:
        alerts = list_conditions(s, state=wanted, kind=kind, limit=limit)
    if as_json:
        print_json([a.to_json() for a in alerts])
        return
    cols = [
        Col("id", "key", justify="right"),
        Col("state", "key"),
        Col("kind", "key"),
        Col("severity", "key", optional=1),
        Col("since (UTC)", "key", optional=2),
        Col("store", "name", optional=3),
        Col("message", "text", min_width=20),
    ]
    rows = [
        [str(a.id), a.state, a.kind, a.severity, when(a.opened_at), a.store, a.message]
        for a in alerts
    ]
    console.print(fit_table(console, cols, rows))


def _print_alert(a: ConditionRecord) -> None:
    fields: list[tuple[str, str]] = [
        ("alert", f"#{a.id}"),
        ("state", a.state),
        ("kind", a.kind),
        ("severity", a.severity),
        ("notified at", a.notified_severity or "-"),
        ("subject", a.subject or "-"),
        ("store", a.store or "-"),
        ("sha256", a.sha256 or "-"),
        ("opened", when(a.opened_at)),
        ("events", str(a.events)),
        ("message", a.message),
    ]
    if a.acked_at is not None:
        fields += [
            ("acknowledged", f"{when(a.acked_at)} by {a.acked_by}"),
            ("note", a.ack_note or "-"),
        ]
    if a.cleared_at is not None:
        fields += [("cleared", when(a.cleared_at)), ("why", a.cleared_reason or "-")]
    print_fields(console, fields)


@alerts_app.command("show")
def alerts_show(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's ID.")],
    as_json: Json = False,
) -> None:
    """One alert: its state, who acknowledged it, when and why it cleared."""
    app = get_app(ctx)
    with app.db.session() as s:
        alert = get_condition(s, alert_id)
    if as_json:
        print_json(alert.to_json())
        return
    _print_alert(alert)


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's ID (alerts list).")],
    note: Annotated[
        str | None,
        typer.Option("--note", help=f"Why, or what is being done (one line, at most {MAX_NOTE})."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Acknowledge an open alert: no more notices about it until its severity rises."""
    app = get_app(ctx)
    try:
        alert = app.changes.acknowledge_alert(cli_actor(), alert_id, note)
    except InvalidFieldsError as exc:
        raise fields_failed(exc, {"note": "--note"}) from exc
    if as_json:
        print_json(alert.to_json())
        return
    console.print(f"alert #{alert.id} acknowledged by {safe(alert.acked_by or '')}")


@alerts_app.command("history")
def alerts_history(
    ctx: typer.Context,
    kind: Kind = None,
    limit: Limit = 100,
    as_json: Json = False,
) -> None:
    """The alert log: every event recorded, newest first (``alert``: its alert's ID)."""
    app = get_app(ctx)
    with app.db.session() as s:
        alerts = list_alerts(s, limit=limit, kind=kind)
    if as_json:
        print_json([a.to_json() for a in alerts])
        return
    cols = [
        Col("id", "key", justify="right"),
        Col("at (UTC)", "key"),
        Col("kind", "key"),
        Col("severity", "key", optional=1),
        Col("alert", "key", optional=2, justify="right"),
        Col("store", "name", optional=3),
        Col("message", "text", min_width=20),
    ]
    rows = [
        [
            str(a.id),
            when(a.created_at),
            a.kind,
            a.severity,
            f"#{a.condition_id}" if a.condition_id is not None else "-",
            a.store,
            a.message,
        ]
        for a in alerts
    ]
    console.print(fit_table(console, cols, rows))
