"""API: health, the dashboard summary and the state of the background services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from certwarden.interfaces.web import schemas
from certwarden.interfaces.web.api.common import json_response
from certwarden.interfaces.web.context import Ctx, Viewer, notification_window

__all__ = ["router"]

router = APIRouter()


@router.get("/health", response_model=schemas.Health, tags=["health"], dependencies=[])
def health(ctx: Ctx) -> Response:
    """Liveness and database reachability (no authentication needed)."""
    ctx.app.users.count_users()
    return json_response({"status": "ok", "database": "ok"})


@router.get("/dashboard", tags=["dashboard"])
def dashboard(
    ctx: Ctx,
    _who: Viewer,
    weeks: Annotated[int, Query(ge=1, le=520, description="Timeline length in weeks.")] = 26,
) -> Response:
    """Counts by expiry and revocation state, the expiry timeline and the latest alerts."""
    app = ctx.app
    counts = app.overview.counts(window=notification_window(app))
    alerts, _ = app.overview.alerts(limit=10)
    return json_response(
        {
            "counts": counts.to_json(),
            "timeline": [b.to_json() for b in app.overview.timeline(weeks=weeks)],
            "recent_alerts": [a.to_json() for a in alerts],
        }
    )


@router.get("/services", tags=["services"])
def services(ctx: Ctx, _who: Viewer) -> Response:
    """Every background service with its status, last and next run."""
    app = ctx.app
    monitor = app.monitor.status().to_json()
    others = [s.to_json() for s in app.overview.service_states() if s.name != monitor["service"]]
    return json_response(
        {"monitor": monitor, "others": others, "outbox_pending": app.outbox.pending_count()}
    )


@router.get("/cluster", tags=["services"])
def cluster(ctx: Ctx, _who: Viewer) -> Response:
    """The instances sharing this database (alive or gone) and the holder of each job's lease."""
    return json_response(ctx.app.cluster.status().to_json())
