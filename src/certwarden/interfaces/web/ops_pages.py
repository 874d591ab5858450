"""Security settings pages, the Control Center, the notice outbox and the
demo's captured mail.

Each settings form is handed whole to its service, which validates every
field and saves nothing when any is bad; its :class:`SettingsError` names the
fields, and the page shows each message beside its field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.composition import App
from certwarden.core.expiry import FIELD_LABELS, format_frequency
from certwarden.core.ocsp import CertStatus
from certwarden.core.policy import POLICY_TABLE
from certwarden.core.revocation_settings import recheck_interval
from certwarden.errors import CertwardenError, SettingsError
from certwarden.interfaces.web.context import Admin, Ctx, Viewer, WebContext
from certwarden.interfaces.web.forms import FormData, csrf_protect
from certwarden.interfaces.web.operations import (
    SERVICE_LABELS,
    monitor_action,
    save_common_criteria,
    save_monitor_settings,
    save_params,
    save_revocation_settings,
    save_smtp_settings,
)
from certwarden.interfaces.web.rendering import redirect, render
from certwarden.interfaces.web.security import Principal
from certwarden.services.monitor import SERVICE_NAME as MONITOR_SERVICE
from certwarden.services.revocation import SERVICE_NAME as REVOCATION_SERVICE

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

# ------------------------------------------------------- Certificate Monitor


def _monitor_values(app: App) -> dict[str, Any]:
    current = app.monitor.settings()
    text = format_frequency(current.frequency)
    return {
        "start_days": str(current.start_days),
        "frequency_number": text[:-1],
        "frequency_unit": "days" if text.endswith("d") else "hours",
        "email_enabled": current.email_enabled,
        "lsc_enabled": current.lsc_enabled,
        "emails": "; ".join(current.emails),
    }


def _monitor_page(
    request: Request,
    ctx: WebContext,
    who: Principal,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        ctx,
        who,
        "monitor.html",
        title="Certificate Monitor",
        active="/security/monitor",
        crumbs=[("Security", "/security/monitor")],
        status_code=status_code,
        values=values,
        errors=errors or {},
        labels=FIELD_LABELS,
        status=ctx.app.monitor.status(),
    )


@router.get("/security/monitor", response_class=HTMLResponse)
def monitor_settings(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return _monitor_page(request, ctx, who, _monitor_values(ctx.app))


@router.post("/security/monitor", response_class=HTMLResponse)
def save_monitor(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    number = form.get("frequency_number", "").strip()
    unit = form.get("frequency_unit", "days")
    values = {
        "start_days": form.get("start_days", ""),
        "frequency": f"{number}{'d' if unit == 'days' else 'h'}" if number else "",
        "email_enabled": form.get("email_enabled", "false"),
        "lsc_enabled": form.get("lsc_enabled", "false"),
        "emails": form.get("emails", ""),
    }
    try:
        save_monitor_settings(ctx.app, who, values)
    except SettingsError as exc:
        shown = {
            "start_days": values["start_days"],
            "frequency_number": number,
            "frequency_unit": unit,
            "email_enabled": values["email_enabled"] == "true",
            "lsc_enabled": values["lsc_enabled"] == "true",
            "emails": values["emails"],
        }
        return _monitor_page(request, ctx, who, shown, exc.errors, 422)
    return redirect(request, "/security/monitor", flash="Certificate Monitor settings saved.")


# ---------------------------------------------------- Certificate Revocation


def _revocation_page(
    request: Request,
    ctx: WebContext,
    who: Principal,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    service = ctx.app.revocation
    state = next(
        (s for s in ctx.app.overview.service_states() if s.name == REVOCATION_SERVICE), None
    )
    return render(
        request,
        ctx,
        who,
        "revocation.html",
        title="Certificate Revocation",
        active="/security/revocation",
        crumbs=[("Security", "/security/revocation")],
        status_code=status_code,
        values=values,
        errors=errors or {},
        stores=ctx.app.inventory.list_stores(),
        state=state,
        common_criteria=service.security().common_criteria,
    )


@router.get("/security/revocation", response_class=HTMLResponse)
def revocation_settings(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return _revocation_page(request, ctx, who, ctx.app.revocation.settings().to_dict())


REVOCATION_FIELDS = (
    "enable_ocsp",
    "responder_source",
    "configured_uri",
    "enable_revocation_check",
    "check_every",
    "check_every_unit",
    "hash_algorithm",
    "nonce",
    "method",
    "connect_timeout",
    "total_timeout",
    "trusted_responder_store",
    "clock_skew_seconds",
    "max_age_hours",
)


@router.post("/security/revocation", response_class=HTMLResponse)
def save_revocation(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    values: dict[str, Any] = {name: form[name] for name in REVOCATION_FIELDS if name in form}
    for box in ("enable_ocsp", "enable_revocation_check"):
        values.setdefault(box, "false")
    try:
        save_revocation_settings(ctx.app, who, values)
    except SettingsError as exc:
        shown = ctx.app.revocation.settings().to_dict() | values
        for box in ("enable_ocsp", "enable_revocation_check"):
            shown[box] = values[box] == "true"
        return _revocation_page(request, ctx, who, shown, exc.errors, 422)
    return redirect(request, "/security/revocation", flash="Certificate Revocation settings saved.")


@router.post("/security/revocation/check-all")
def check_all(request: Request, ctx: Ctx, who: Admin) -> Response:
    report = ctx.app.revocation.check(all_monitored=True)
    counts = report.counts()
    ctx.app.users.audit(who.actor, "revocation.check_all", "", counts)
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items() if n)
    return redirect(
        request,
        "/security/revocation",
        flash=f"Checked {len(report.outcomes)} certificate(s): {summary or 'nothing to check'}.",
        kind="ok" if not counts.get("revoked") else "error",
    )


# ------------------------------------------------------ Enterprise parameters


def _params_page(
    request: Request,
    ctx: WebContext,
    who: Principal,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    service = ctx.app.revocation
    return render(
        request,
        ctx,
        who,
        "enterprise.html",
        title="Enterprise Parameters",
        active="/security/enterprise",
        crumbs=[("Security", "/security/enterprise")],
        status_code=status_code,
        values=values,
        errors=errors or {},
        effective=recheck_interval(service.settings(), service.params()),
        revocation=service.settings(),
    )


@router.get("/security/enterprise", response_class=HTMLResponse)
def params(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return _params_page(request, ctx, who, ctx.app.revocation.params().to_dict())


@router.post("/security/enterprise", response_class=HTMLResponse)
def save_enterprise(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    values = {
        "certificate_validity_check": form.get("certificate_validity_check", "false"),
        "validity_check_frequency_hours": form.get("validity_check_frequency_hours", ""),
    }
    try:
        save_params(ctx.app, who, values)
    except SettingsError as exc:
        return _params_page(request, ctx, who, values, exc.errors, 422)
    return redirect(request, "/security/enterprise", flash="Enterprise parameters saved.")


# -------------------------------------------------------- Common Criteria mode


@router.get("/security/common-criteria", response_class=HTMLResponse)
def common_criteria(request: Request, ctx: Ctx, who: Viewer) -> Response:
    statuses = [CertStatus.GOOD, CertStatus.REVOKED, CertStatus.UNKNOWN, CertStatus.UNDETERMINED]
    table = [
        (s.value, POLICY_TABLE[(False, s)].value, POLICY_TABLE[(True, s)].value) for s in statuses
    ]
    return render(
        request,
        ctx,
        who,
        "common_criteria.html",
        title="Common Criteria mode",
        active="/security/common-criteria",
        crumbs=[("Security", "/security/common-criteria")],
        on=ctx.app.revocation.security().common_criteria,
        table=table,
    )


@router.post("/security/common-criteria")
def save_cc(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    on = form.get("common_criteria") == "true"
    save_common_criteria(ctx.app, who, on)
    return redirect(
        request,
        "/security/common-criteria",
        flash=f"Common Criteria mode is now {'on' if on else 'off'}.",
    )


# ------------------------------------------------------------------ Mail server


def _mail_page(
    request: Request,
    ctx: WebContext,
    who: Principal,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        ctx,
        who,
        "mail_settings.html",
        title="Mail server",
        active="/security/mail",
        crumbs=[("Security", "/security/mail")],
        status_code=status_code,
        values=values,
        errors=errors or {},
        overrides=ctx.app.outbox.env_overrides,
    )


@router.get("/security/mail", response_class=HTMLResponse)
def mail_settings(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return _mail_page(request, ctx, who, ctx.app.outbox.stored_smtp_settings().to_json())


@router.post("/security/mail", response_class=HTMLResponse)
def save_mail(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    names = ("host", "port", "security", "username", "from_address", "timeout_seconds")
    values: dict[str, Any] = {n: form.get(n, "") for n in names}
    if form.get("password"):
        values["password"] = form["password"]
    if form.get("clear_password") == "true":
        values["password"] = ""
    try:
        save_smtp_settings(ctx.app, who, values)
    except SettingsError as exc:
        shown = {k: v for k, v in values.items() if k != "password"}
        return _mail_page(request, ctx, who, shown, exc.errors, 422)
    return redirect(request, "/security/mail", flash="Mail server settings saved.")


# -------------------------------------------------------------- Control Center


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
    )


@router.post("/control-center/monitor/{action}")
def control(request: Request, ctx: Ctx, who: Admin, action: str) -> Response:
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
        return redirect(request, "/control-center", flash=report.skipped, kind="info")
    text = f"Delivered {len(report.sent)} notice(s)"
    if report.failed:
        text += f"; {len(report.failed)} failed and will be retried"
    return redirect(
        request, "/control-center", flash=text + ".", kind="error" if report.failed else "ok"
    )


# ---------------------------------------------------------------------- outbox


@router.get("/outbox", response_class=HTMLResponse)
def outbox(request: Request, ctx: Ctx, who: Viewer) -> Response:
    state = request.query_params.get("state") or None
    if state not in (None, "pending", "sent"):
        state = None
    entries = ctx.app.outbox.list(state=state, limit=200)
    opened = request.query_params.get("open")
    body = None
    if opened and opened.isdigit():
        body = (int(opened), ctx.app.outbox.body(int(opened)))
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
        from certwarden.errors import NotFoundError

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
