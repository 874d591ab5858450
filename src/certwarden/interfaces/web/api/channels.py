"""API: notification channels (Apprise). A channel's URL is accepted, never
answered back: responses show its scheme and host only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from certwarden.errors import InvalidFieldsError
from certwarden.interfaces.web import actions
from certwarden.interfaces.web.api.common import json_response, problems
from certwarden.interfaces.web.context import Admin, Ctx, Viewer

__all__ = ["router"]

router = APIRouter()


@router.get("/channels", tags=["channels"])
def channels(ctx: Ctx, _who: Viewer) -> Response:
    """The channels by name (URLs as scheme://host), with their waiting notices."""
    return json_response({"items": [c.to_json() for c in ctx.app.channels.list()]})


@router.post("/channels", tags=["channels"], status_code=201, responses=problems(403, 409, 422))
def add_channel(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {
                    "name": "ops",
                    "url": "json://hooks.example.org/certwarden",
                    "min_severity": "major",
                    "kinds": ["expiry", "revocation"],
                }
            ]
        ),
    ],
) -> Response:
    """Add a channel: 409 when the name is taken, 422 naming each bad field."""
    fields = {k: body.get(k) for k in ("name", "url", "min_severity", "kinds")}
    errors = {
        k: "give a string"
        for k in ("name", "url", "min_severity")
        if fields[k] is not None and not isinstance(fields[k], str)
    }
    kinds = fields["kinds"]
    if kinds is not None and not (
        isinstance(kinds, str)
        or (isinstance(kinds, list) and all(isinstance(k, str) for k in kinds))
    ):
        errors["kinds"] = "give a list of alert kinds (or a comma-separated string)"
    if errors:
        raise InvalidFieldsError(errors)
    info = actions.add_channel(
        ctx.app,
        who,
        str(fields["name"] or ""),
        str(fields["url"] or ""),
        str(fields["min_severity"] or "warning"),
        kinds if kinds is not None else "all",
    )
    return json_response(info.to_json(), status_code=201)


@router.delete("/channels/{name}", tags=["channels"], responses=problems(403, 404))
def remove_channel(ctx: Ctx, who: Admin, name: str) -> Response:
    """Remove a channel and the notices it still had waiting."""
    return json_response({"dropped": actions.remove_channel(ctx.app, who, name)})


@router.post("/channels/{name}/test", tags=["channels"], responses=problems(403, 404, 502))
def test_channel(ctx: Ctx, who: Admin, name: str) -> Response:
    """Send one test notice now: 502 (with the reason) when the service did not take it."""
    return json_response(actions.test_channel(ctx.app, who, name).to_json())


@router.get("/channels/outbox", tags=["channels"])
def channel_outbox(
    ctx: Ctx,
    _who: Viewer,
    state: Annotated[str | None, Query(pattern="^(pending|sent)$")] = None,
) -> Response:
    """Channel notices, newest first, with their delivery state."""
    return json_response({"items": [e.to_json() for e in ctx.app.channels.messages(state=state)]})


@router.post("/channels/deliver", tags=["channels"], responses=problems(403))
def deliver(ctx: Ctx, who: Admin) -> Response:
    """Try every channel notice that is due now."""
    report = ctx.app.channels.deliver_due()
    ctx.app.changes.record(who.actor, "channels.deliver", "", report.to_json())
    return json_response(report.to_json())
