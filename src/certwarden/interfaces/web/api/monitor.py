"""API: the Certificate Expiry Monitor — its settings, its status,
start/stop/restart/run-now, and lifetime-share thresholds (per store and
certificate)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from certwarden.errors import InputError
from certwarden.interfaces.web.actions import monitor_action, save_monitor_settings
from certwarden.interfaces.web.api.common import json_response, problems
from certwarden.interfaces.web.context import Admin, Ctx, Viewer
from certwarden.services.monitor.thresholds import share_or_error

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
                    "major_within": "7d",
                    "critical_within": "1d",
                    "email_enabled": True,
                    "lsc_enabled": False,
                    "emails": "pki@example.org; noc@example.org",
                }
            ]
        ),
    ],
) -> Response:
    """Change Certificate Monitor settings: start_days, frequency (12h, 2d), major_within
    and critical_within (the major and critical levels, e.g. 7d and 1d; critical <
    major < start), email_enabled, lsc_enabled, emails (semicolon-separated or a list)."""
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


_SHARE_BODY = Body(
    examples=[{"lifetime_share": "33%"}, {"lifetime_share": None}],
    description="lifetime_share: a percentage (1% to 99%), or null to clear it.",
)


def _share(body: dict[str, Any]) -> float | None:
    if set(body) != {"lifetime_share"}:
        raise InputError('give {"lifetime_share": "33%"} (or null to clear it)')
    value = body["lifetime_share"]
    return None if value is None else share_or_error(value, "lifetime_share")


@router.put("/stores/{name}/threshold", tags=["stores"], responses=problems(403, 404, 422))
def store_threshold(
    ctx: Ctx, who: Admin, name: str, body: Annotated[dict[str, Any], _SHARE_BODY]
) -> Response:
    """Expiry notices for the store's certificates when less than a share of their
    lifetime remains (null: the Notification Start Time again). Certificates with
    their own threshold keep it."""
    return json_response(ctx.app.changes.set_store_threshold(who.actor, name, _share(body)))


@router.put(
    "/certificates/{ref}/threshold", tags=["certificates"], responses=problems(403, 404, 422)
)
def certificate_threshold(
    ctx: Ctx, who: Admin, ref: str, body: Annotated[dict[str, Any], _SHARE_BODY]
) -> Response:
    """One certificate's lifetime-share threshold, overriding its store's (null: its
    store's again)."""
    return json_response(ctx.app.changes.set_certificate_threshold(who.actor, ref, _share(body)))
