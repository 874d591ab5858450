"""API: what certwarden tells people — the alert log, the notice outbox and
its delivery, the mail server settings, and the demo's captured mail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from certwarden.core.timefmt import iso_z
from certwarden.errors import InvalidFieldsError, NotFoundError
from certwarden.interfaces.web import actions, schemas
from certwarden.interfaces.web.actions import save_smtp_settings, split_addresses
from certwarden.interfaces.web.api.common import Limit, Offset, json_response, page, problems
from certwarden.interfaces.web.context import Admin, Ctx, RowId, Viewer
from certwarden.services.shared.lifecycle import (
    AlertState,
    count_conditions,
    get_condition,
    list_conditions,
    parse_state,
)

__all__ = ["router"]

router = APIRouter()


@router.get("/alerts", response_model=schemas.AlertPage, tags=["alerts"])
def alerts(
    ctx: Ctx,
    _who: Viewer,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The alert log, newest first."""
    items, total = ctx.app.overview.alerts(limit=limit, offset=offset, kind=kind)
    return json_response(page([a.to_json() for a in items], total, limit, offset))


def _alert_state(value: str | None) -> AlertState | None:
    try:
        return parse_state(value)
    except ValueError as exc:
        raise InvalidFieldsError({"state": str(exc)}) from exc


@router.get("/alert-conditions", tags=["alerts"], responses=problems(422))
def alert_conditions(
    ctx: Ctx,
    _who: Viewer,
    state: Annotated[
        str | None, Query(max_length=16, description="open, acknowledged or cleared")
    ] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Alerts, one per condition (certificate or endpoint x kind) with its state
    (open, acknowledged, cleared), the latest changed first."""
    wanted = _alert_state(state)
    with ctx.app.db.session() as s:
        items = list_conditions(s, state=wanted, kind=kind, limit=limit, offset=offset)
        total = count_conditions(s, state=wanted, kind=kind)
    return json_response(page([a.to_json() for a in items], total, limit, offset))


@router.get("/alert-conditions/{alert_id}", tags=["alerts"], responses=problems(404))
def alert_condition(ctx: Ctx, _who: Viewer, alert_id: RowId) -> Response:
    """One alert and its state; 404 when there is none with this ID."""
    with ctx.app.db.session() as s:
        return json_response(get_condition(s, alert_id).to_json())


@router.post(
    "/alert-conditions/{alert_id}/ack", tags=["alerts"], responses=problems(403, 404, 409, 422)
)
def acknowledge_alert(
    ctx: Ctx,
    who: Admin,
    alert_id: RowId,
    body: Annotated[dict[str, Any], Body(examples=[{"note": "renewal ordered, CHG-1234"}])],
) -> Response:
    """Acknowledge an open alert (audited): no more notices until its severity
    rises. 404 unknown, 409 cleared or acknowledged already, 422 a bad note."""
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidFieldsError({"note": "give a string (or null)"})
    return json_response(ctx.app.changes.acknowledge_alert(who.actor, alert_id, note).to_json())


@router.get("/settings/smtp", tags=["settings"])
def smtp_settings(ctx: Ctx, _who: Admin) -> Response:
    """The mail server for notices (the password is never shown)."""
    data = ctx.app.outbox.stored_smtp_settings().to_json()
    return json_response(data | {"environment_overrides": list(ctx.app.outbox.env_overrides)})


@router.patch("/settings/smtp", tags=["settings"], responses=problems(403, 422))
def change_smtp_settings(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(examples=[{"host": "mail.example.org", "port": 587, "security": "starttls"}]),
    ],
) -> Response:
    return json_response(save_smtp_settings(ctx.app, who, body))


@router.post("/settings/smtp/test", tags=["settings"], responses=problems(403, 409, 422, 502))
def send_test_mail(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(examples=[{"to": ["pki@example.org"]}]),
    ],
) -> Response:
    """Send a test message now through the mail settings: 409 when no server is
    configured, 502 (with the reason) when the server could not be reached or refused it."""
    to = body.get("to")
    if isinstance(to, str):
        to = split_addresses(to)
    if not isinstance(to, list) or not all(isinstance(a, str) for a in to):
        raise InvalidFieldsError({"to": "give a list of e-mail addresses"})
    return json_response(actions.send_test_mail(ctx.app, who, to).to_json())


@router.get("/outbox", tags=["outbox"])
def outbox(
    ctx: Ctx,
    _who: Viewer,
    state: Annotated[str | None, Query(pattern="^(pending|sent)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Notices, newest first, with their delivery state."""
    app = ctx.app
    counts = app.overview.outbox_counts()
    total = counts.get(state, 0) if state else sum(counts.values())
    entries = app.outbox.list(state=state, limit=min(offset + limit, 100_000))[offset:]
    return json_response(page([e.to_json() for e in entries], total, limit, offset))


@router.get("/outbox/{entry_id}", tags=["outbox"], responses=problems(404))
def outbox_entry(ctx: Ctx, _who: Viewer, entry_id: RowId) -> Response:
    """One notice with its body."""
    app = ctx.app
    body = app.outbox.body(entry_id)
    entry = next((e for e in app.outbox.list(limit=100_000) if e.id == entry_id), None)
    if entry is None:
        raise NotFoundError(f"no outbox notice with ID {entry_id}")
    return json_response(entry.to_json() | {"body": body})


@router.post("/outbox/deliver", tags=["outbox"], responses=problems(403))
def deliver(ctx: Ctx, who: Admin) -> Response:
    """Try every notice that is due now."""
    report = ctx.app.outbox.deliver_due()
    ctx.app.users.audit(who.actor, "outbox.deliver", "", report.to_json())
    return json_response(report.to_json())


@router.get("/demo/mail", tags=["demo"], responses=problems(404))
def demo_mail(ctx: Ctx, _who: Viewer, limit: Limit = 100, offset: Offset = 0) -> Response:
    """Mail captured by the demo's in-process mail server (only with ``serve --demo``)."""
    if ctx.demo_inbox is None:
        raise NotFoundError("there is no captured-mail inbox: it exists only with serve --demo")
    messages = list(ctx.demo_inbox.messages())[::-1]
    chosen = messages[offset : offset + limit]
    items = [
        {
            "id": m.id,
            "received_at": iso_z(m.received_at),
            "from": m.sender,
            "to": list(m.recipients),
            "subject": m.subject,
            "body": m.body,
        }
        for m in chosen
    ]
    return json_response(page(items, len(messages), limit, offset))
