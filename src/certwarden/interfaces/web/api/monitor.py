"""API: the Certificate Expiry Monitor — its settings, its status, and
start/stop/restart/run-now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from certwarden.interfaces.web.actions import monitor_action, save_monitor_settings
from certwarden.interfaces.web.api.common import json_response, problems
from certwarden.interfaces.web.context import Admin, Ctx, Viewer

__all__ = ["router"]

router = APIRouter()


@router.get("/settings/monitor", tags=["settings"])
def monitor_settings(ctx: Ctx, _who: Viewer) -> Response:
    """Security > Certificate Monitor."""
    return json_response(ctx.app.monitor.settings().to_json())


@router.patch("/settings/monitor", tags=["settings"], responses=problems(403, 422))
def change_monitor_settings(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {
                    "start_days": 30,
                    "frequency": "1d",
                    "email_enabled": True,
                    "lsc_enabled": False,
                    "emails": "pki@example.org; noc@example.org",
                }
            ]
        ),
    ],
) -> Response:
    """Change Certificate Monitor settings: start_days, frequency (12h, 2d), email_enabled,
    lsc_enabled, emails (semicolon-separated or a list)."""
    return json_response(save_monitor_settings(ctx.app, who, body))


@router.get("/services/monitor", tags=["services"])
def monitor_status(ctx: Ctx, _who: Viewer) -> Response:
    """The Certificate Expiry Monitor: status, last and next run and why."""
    return json_response(ctx.app.monitor.status().to_json())


@router.post("/services/monitor/{action}", tags=["services"], responses=problems(403, 422))
def control_monitor(
    ctx: Ctx,
    who: Admin,
    action: Annotated[str, Path(pattern="^(start|stop|restart|run-now)$")],
) -> Response:
    """Start, stop, restart or run the Certificate Expiry Monitor now."""
    message = monitor_action(ctx.app, who, action)
    return json_response({"message": message, "status": ctx.app.monitor.status().to_json()})
