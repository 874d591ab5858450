"""The dashboard page: counts by state, the expiry timeline, the certificates
expiring soonest, the latest alerts and the background services."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.interfaces.web.context import Ctx, Viewer, notification_window
from certwarden.interfaces.web.pages.charts import timeline_svg
from certwarden.interfaces.web.pages.operations import service_rows
from certwarden.interfaces.web.rendering import expiry_state_of, render
from certwarden.services.readmodel import CertificateQuery

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx, who: Viewer) -> Response:
    app = ctx.app
    now = app.clock.now()
    window = notification_window(app)
    weeks = 26
    counts = app.overview.counts(window=window)
    buckets = app.overview.timeline(weeks=weeks)
    alerts, _ = app.overview.alerts(limit=8)
    soonest = app.overview.search(CertificateQuery(min_days=0, limit=8), window=window).items
    return render(
        request,
        ctx,
        who,
        "dashboard.html",
        title="Dashboard",
        active="/",
        counts=counts,
        chart=timeline_svg(buckets, now=now, window=window),
        weeks=weeks,
        alerts=alerts,
        soonest=soonest,
        now=now,
        expiry_state=expiry_state_of(window, now),
        services=service_rows(app),
        outbox_counts=app.overview.outbox_counts(),
        channels=app.overview.channel_figures(),
    )
