"""API: monitored TLS endpoints (list, add, probe, remove), how their change
events are damped, and the syslog forwarding settings and state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import Response
from pydantic import BaseModel, Field

from certwarden.interfaces.web import actions
from certwarden.interfaces.web.api.common import json_response, problems
from certwarden.interfaces.web.context import Admin, Ctx, RowId, Viewer

__all__ = ["router"]

router = APIRouter()


class EndpointIn(BaseModel):
    target: str = Field(max_length=300, examples=["mail.example.org:25"])
    starttls: str | None = Field(
        default=None, max_length=8, description="smtp, imap, pop3 or ldap; none for plain TLS."
    )
    servername: str | None = Field(default=None, max_length=255)


@router.get("/endpoints", tags=["endpoints"])
def endpoints(ctx: Ctx, _who: Viewer) -> Response:
    """Monitored endpoints, their last probe and the certificate each serves."""
    items = [r.to_json() for r in ctx.app.endpoints.list()]
    return json_response({"items": items, "total": len(items)})


@router.post("/endpoints", status_code=201, tags=["endpoints"], responses=problems(403, 409, 422))
def add_endpoint(ctx: Ctx, who: Admin, body: EndpointIn) -> Response:
    """Monitor an endpoint: probed on each monitor run, its certificates join store endpoints."""
    record = actions.add_endpoint(ctx.app, who, body.target, body.starttls, body.servername)
    return json_response(record.to_json(), 201)


@router.post("/endpoints/probe", tags=["endpoints"], responses=problems(403))
def probe_all(ctx: Ctx, who: Admin) -> Response:
    """Probe every endpoint now and record what each served."""
    return json_response([r.to_json() for r in actions.probe_endpoints(ctx.app, who, None)])


@router.post("/endpoints/{endpoint_id}/probe", tags=["endpoints"], responses=problems(403, 404))
def probe_one(ctx: Ctx, who: Admin, endpoint_id: RowId) -> Response:
    """Probe one endpoint now."""
    (result,) = actions.probe_endpoints(ctx.app, who, endpoint_id)
    return json_response(result.to_json())


@router.delete("/endpoints/{endpoint_id}", tags=["endpoints"], responses=problems(403, 404))
def remove_endpoint(ctx: Ctx, who: Admin, endpoint_id: RowId) -> Response:
    """Stop monitoring an endpoint (its certificate leaves store endpoints)."""
    record, removed = actions.remove_endpoint(ctx.app, who, endpoint_id)
    return json_response({"removed": record.where, "certificates_removed": removed})


@router.get("/settings/endpoint-changes", tags=["settings"])
def endpoint_changes(ctx: Ctx, _who: Viewer) -> Response:
    """Change events of monitored endpoints: at most one per endpoint per ``damping``."""
    return json_response(ctx.app.endpoints.change_settings().to_json())


@router.patch("/settings/endpoint-changes", tags=["settings"], responses=problems(403, 422))
def change_endpoint_changes(
    ctx: Ctx,
    who: Admin,
    body: Annotated[dict[str, Any], Body(examples=[{"damping": "24h"}])],
) -> Response:
    """Change the damping period (1h to 30d); nothing is saved when it is refused."""
    return json_response(actions.save_endpoint_change_settings(ctx.app, who, body))


@router.get("/settings/syslog", tags=["settings"])
def syslog(ctx: Ctx, _who: Viewer) -> Response:
    """Syslog forwarding: settings (the CA as subjects), connection and progress."""
    return json_response(ctx.app.syslog.status())


@router.patch("/settings/syslog", tags=["settings"], responses=problems(403, 422))
def change_syslog(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {"server": "logs.example.org:6514", "ca_pem": "-----BEGIN ...", "enabled": True}
            ]
        ),
    ],
) -> Response:
    """Change the syslog settings; every field is checked and nothing is saved on error."""
    return json_response(actions.save_syslog_settings(ctx.app, who, body))
