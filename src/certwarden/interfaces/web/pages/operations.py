"""The Operations pages: the Control Center (the background services, the
monitor's controls, outbox delivery), the alert log, the notice outbox and
the demo's captured mail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.composition import App
from certwarden.errors import CertwardenError, NotFoundError
from certwarden.interfaces.web.actions import monitor_action
from certwarden.interfaces.web.context import Admin, Ctx, Viewer
from certwarden.interfaces.web.pages.forms import FormData, int_param, row_id_param
from certwarden.interfaces.web.rendering import query_url, redirect, render
from certwarden.services.monitor import SERVICE_NAME as MONITOR_SERVICE
from certwarden.services.readmodel import Page
from certwarden.services.revocation import SERVICE_NAME as REVOCATION_SERVICE
from certwarden.services.shared.alerts import AlertKind
from certwarden.services.shared.lifecycle import (
    AlertState,
    count_by_state,
    count_conditions,
    list_conditions,
    parse_state,
)

__all__ = ["SERVICE_LABELS", "router", "service_rows"]

SERVICE_LABELS = {
    MONITOR_SERVICE: "Certificate Expiry Monitor",
    REVOCATION_SERVICE: "Certificate Revocation Check",
}

router = APIRouter()


def service_rows(app: App) -> list[dict[str, Any]]:
    """The dashboard's service table: the monitor's own status, then the others."""
    monitor = app.monitor.status()
    rows = [
        {
            "name": MONITOR_SERVICE,
            "label": SERVICE_LABELS[MONITOR_SERVICE],
            "status": monitor.status.label,
            "last_run_at": monitor.last_run_at,
            "next_run_at": monitor.next_run_at,
        }
    ]
    for state in app.overview.service_states():
        if state.name == MONITOR_SERVICE:
            continue
        rows.append(
            {
                "name": state.name,
                "label": SERVICE_LABELS.get(state.name, state.name),
                "status": state.status.capitalize(),
                "last_run_at": state.last_run_at,
                "next_run_at": state.next_run_at,
            }
        )
    return rows


@router.get("/control-center", response_class=HTMLResponse)
def control_center(request: Request, ctx: Ctx, who: Viewer) -> Response:
    app = ctx.app
    others = [s for s in app.overview.service_states() if s.name != MONITOR_SERVICE]
    return render(
        request,
        ctx,
        who,
        "control_center.html",
        title="Control Center",
        active="/control-center",
        monitor=app.monitor.status(),
        others=others,
        labels=SERVICE_LABELS,
        revocation=app.revocation.settings(),
        pending=app.outbox.pending_count(),
        failing=app.overview.outbox_failing(),
        smtp=app.outbox.smtp_settings(),
        cluster=app.cluster.status(),
        stop_question=f"{STOP_QUESTION} {STOP_CONSEQUENCES[0]}",
    )


STOP_QUESTION = "Stop the Certificate Expiry Monitor?"
STOP_CONSEQUENCES = (
    "No monitor runs are scheduled while it is stopped: no certificate is checked "
    "for expiry and no expiry notice is sent until someone starts it again.",
    "Runs already recorded and notices already queued are kept.",
)


@router.post("/control-center/monitor/{action}")
def control(request: Request, ctx: Ctx, who: Admin, action: str, form: FormData) -> Response:
    if action == "stop" and form.get("confirm") != "yes":
        return render(
            request,
            ctx,
            who,
            "confirm.html",
            title=STOP_QUESTION,
            active="/control-center",
            crumbs=[("Control Center", "/control-center")],
            consequences=STOP_CONSEQUENCES,
            action="/control-center/monitor/stop",
            hidden={},
            confirm_label="Stop the monitor",
            cancel="/control-center",
        )
    try:
        message = monitor_action(ctx.app, who, action)
    except CertwardenError as exc:
        return redirect(request, "/control-center", flash=exc.diagnostics(), kind="error")
    return redirect(request, "/control-center", flash=message)


@router.post("/control-center/outbox/deliver")
def deliver(request: Request, ctx: Ctx, who: Admin) -> Response:
    report = ctx.app.outbox.deliver_due()
    ctx.app.users.audit(who.actor, "outbox.deliver", "", report.to_json())
    if report.skipped:
        # The service words this for the CLI; the page points at its own settings page.
        text = report.skipped
        if not ctx.app.outbox.smtp_settings().configured:
            text = (
                "No SMTP server is configured (Security > Mail server): "
                f"{ctx.app.outbox.pending_count()} notice(s) wait in the outbox."
            )
        return redirect(request, "/control-center", flash=text, kind="info")
    text = f"Delivered {len(report.sent)} notice(s)"
    if report.failed:
        text += f"; {len(report.failed)} failed and will be retried"
    return redirect(
        request, "/control-center", flash=text + ".", kind="error" if report.failed else "ok"
    )


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, ctx: Ctx, who: Viewer) -> Response:
    params = request.query_params
    kind = params.get("kind") or None
    limit = int_param(params.get("limit"), 50, 1, 500)
    offset = int_param(params.get("offset"), 0, 0, 10_000_000)
    items, total = ctx.app.overview.alerts(limit=limit, offset=offset, kind=kind)
    page = Page(items, total, limit, offset)  # type: ignore[arg-type]
    return render(
        request,
        ctx,
        who,
        "alerts.html",
        title="Alert log",
        active="/alerts",
        page=page,
        kind=kind,
        kinds=[k.value for k in AlertKind],
        page_url=lambda off: query_url("/alerts", {"kind": kind, "offset": off or None}),
    )


@router.get("/alerts/open", response_class=HTMLResponse)
def open_alerts(request: Request, ctx: Ctx, who: Viewer) -> Response:
    """Alerts by condition with their state; administrators acknowledge them here."""
    params = request.query_params
    raw = params.get("state", "open")
    try:
        state = parse_state(raw) if raw != "all" else None
    except ValueError:
        state = AlertState.OPEN
    limit = int_param(params.get("limit"), 50, 1, 500)
    offset = int_param(params.get("offset"), 0, 0, 10_000_000)
    with ctx.app.db.session() as s:
        items = list_conditions(s, state=state, limit=limit, offset=offset)
        total = count_conditions(s, state=state)
        counts = count_by_state(s)
    shown = state.value if state else "all"
    return render(
        request,
        ctx,
        who,
        "alert_conditions.html",
        title="Open alerts",
        active="/alerts/open",
        page=Page(items, total, limit, offset),  # type: ignore[arg-type]
        state=shown,
        states=[*(st.value for st in AlertState), "all"],
        counts=counts,
        page_url=lambda off: query_url("/alerts/open", {"state": shown, "offset": off or None}),
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge(request: Request, ctx: Ctx, who: Admin, alert_id: int, form: FormData) -> Response:
    back = "/alerts/open"
    try:
        ctx.app.changes.acknowledge_alert(who.actor, alert_id, form.get("note") or None)
    except CertwardenError as exc:
        return redirect(request, back, flash=str(exc), kind="error")
    return redirect(request, back, flash=f"Alert #{alert_id} acknowledged.")


@router.get("/outbox", response_class=HTMLResponse)
def outbox(request: Request, ctx: Ctx, who: Viewer) -> Response:
    state = request.query_params.get("state") or None
    if state not in (None, "pending", "sent"):
        state = None
    entries = ctx.app.outbox.list(state=state, limit=200)
    opened = row_id_param(request.query_params.get("open"), "open")
    body = None
    if opened is not None:
        body = (opened, ctx.app.outbox.body(opened))
    return render(
        request,
        ctx,
        who,
        "outbox.html",
        title="Notice outbox",
        active="/outbox",
        entries=entries,
        state=state,
        counts=ctx.app.overview.outbox_counts(),
        body=body,
    )


@router.get("/mail", response_class=HTMLResponse)
def inbox(request: Request, ctx: Ctx, who: Viewer) -> Response:
    if ctx.demo_inbox is None:
        raise NotFoundError("there is no captured-mail inbox: it exists only with serve --demo")
    messages = list(ctx.demo_inbox.messages())
    messages.reverse()
    return render(
        request,
        ctx,
        who,
        "inbox.html",
        title="Captured mail (demo)",
        active="/mail",
        messages=messages,
        notes=ctx.demo_notes,
    )
