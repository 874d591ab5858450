"""Security > Certificate Monitor: the expiry notice settings (Notification
Start Time, frequency, the major and critical levels, e-mail, LSCs,
recipients) beside the monitor's status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.composition import App
from certwarden.core.expiry import FIELD_LABELS, format_frequency
from certwarden.interfaces.web.actions import save_monitor_settings
from certwarden.interfaces.web.context import Admin, Ctx, Viewer
from certwarden.interfaces.web.pages.forms import FormData, FormPage

__all__ = ["router"]

router = APIRouter()

MONITOR = FormPage(
    "monitor.html",
    "Certificate Monitor",
    "/security/monitor",
    crumbs=(("Security", "/security/monitor"),),
    context=lambda ctx: {"labels": FIELD_LABELS, "status": ctx.app.monitor.status()},
)


def _monitor_values(app: App) -> dict[str, Any]:
    current = app.monitor.settings()
    text = format_frequency(current.frequency)
    return {
        "start_days": str(current.start_days),
        "frequency_number": text[:-1],
        "frequency_unit": "days" if text.endswith("d") else "hours",
        "major_within": format_frequency(current.major_within),
        "critical_within": format_frequency(current.critical_within),
        "email_enabled": current.email_enabled,
        "lsc_enabled": current.lsc_enabled,
        "emails": "; ".join(current.emails),
    }


@router.get("/security/monitor", response_class=HTMLResponse)
def monitor_settings(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return MONITOR.show(request, ctx, who, _monitor_values(ctx.app))


@router.post("/security/monitor", response_class=HTMLResponse)
def save_monitor(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    number = form.get("frequency_number", "").strip()
    unit = form.get("frequency_unit", "days")
    values = {
        "start_days": form.get("start_days", ""),
        "frequency": f"{number}{'d' if unit == 'days' else 'h'}" if number else "",
        "major_within": form.get("major_within", "").strip(),
        "critical_within": form.get("critical_within", "").strip(),
        "email_enabled": form.get("email_enabled", "false"),
        "lsc_enabled": form.get("lsc_enabled", "false"),
        "emails": form.get("emails", ""),
    }
    # A form without the level fields (an older page) leaves the levels as they are.
    for name in ("major_within", "critical_within"):
        if name not in form:
            del values[name]
    # The form shows the frequency as a number and a unit, and the boxes as booleans.
    shown = {
        "start_days": values["start_days"],
        "frequency_number": number,
        "frequency_unit": unit,
        "major_within": form.get("major_within", ""),
        "critical_within": form.get("critical_within", ""),
        "email_enabled": values["email_enabled"] == "true",
        "lsc_enabled": values["lsc_enabled"] == "true",
        "emails": values["emails"],
    }
    return MONITOR.submit(
        request,
        ctx,
        who,
        lambda: save_monitor_settings(ctx.app, who, values),
        shown=shown,
        flash="Certificate Monitor settings saved.",
    )
