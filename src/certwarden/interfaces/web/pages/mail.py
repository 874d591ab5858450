"""Security > Mail server: the SMTP settings notices are delivered with (the
stored password is never shown; environment overrides are listed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.interfaces.web.actions import save_smtp_settings
from certwarden.interfaces.web.context import Admin, Ctx, Viewer
from certwarden.interfaces.web.pages.forms import FormData, FormPage

__all__ = ["router"]

router = APIRouter()

MAIL = FormPage(
    "mail_settings.html",
    "Mail server",
    "/security/mail",
    crumbs=(("Security", "/security/mail"),),
    context=lambda ctx: {"overrides": ctx.app.outbox.env_overrides},
)
VIEWER_HIDDEN = frozenset({"host", "username", "password"})
FIELDS = ("host", "port", "security", "username", "from_address", "timeout_seconds")


@router.get("/security/mail", response_class=HTMLResponse)
def mail_settings(request: Request, ctx: Ctx, who: Viewer) -> Response:
    values = ctx.app.outbox.stored_smtp_settings().to_json()
    if not who.is_admin:
        # As in the API (admins only): where the mail goes and who signs in is not a viewer's.
        values = {k: ("" if k in VIEWER_HIDDEN else v) for k, v in values.items()}
    return MAIL.show(request, ctx, who, values, hidden=not who.is_admin)


@router.post("/security/mail", response_class=HTMLResponse)
def save_mail(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    values: dict[str, Any] = {n: form.get(n, "") for n in FIELDS}
    if form.get("password"):
        values["password"] = form["password"]
    if form.get("clear_password") == "true":
        values["password"] = ""
    return MAIL.submit(
        request,
        ctx,
        who,
        lambda: save_smtp_settings(ctx.app, who, values),
        shown={k: v for k, v in values.items() if k != "password"},
        flash="Mail server settings saved.",
    )
