"""Security > Mail server: the SMTP settings notices are delivered with (the
stored password is never shown; environment overrides are listed), the UI's
public URL for the link in every notice, and "send a test e-mail"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.composition import App
from certwarden.errors import InvalidFieldsError, NotificationError
from certwarden.interfaces.web.actions import save_smtp_settings, send_test_mail, split_addresses
from certwarden.interfaces.web.context import Admin, Ctx, Viewer, WebContext
from certwarden.interfaces.web.pages.forms import FormData, FormPage
from certwarden.interfaces.web.rendering import redirect

__all__ = ["router"]

router = APIRouter()

MAIL = FormPage(
    "mail_settings.html",
    "Mail server",
    "/security/mail",
    crumbs=(("Security", "/security/mail"),),
    context=lambda ctx: _context(ctx),
)
VIEWER_HIDDEN = frozenset({"host", "username", "password"})
FIELDS = (
    "host",
    "port",
    "security",
    "username",
    "from_address",
    "timeout_seconds",
    "public_url",
)


def _default_recipients(app: App) -> str:
    return "; ".join(app.monitor.settings().emails)


def _context(ctx: WebContext) -> dict[str, Any]:
    return {
        "overrides": ctx.app.outbox.env_overrides,
        "configured": ctx.app.outbox.smtp_settings().configured,
    }


@router.get("/security/mail", response_class=HTMLResponse)
def mail_settings(request: Request, ctx: Ctx, who: Viewer) -> Response:
    values = ctx.app.outbox.stored_smtp_settings().to_json()
    if not who.is_admin:
        # As in the API (admins only): where the mail goes and who signs in is not a viewer's.
        values = {k: ("" if k in VIEWER_HIDDEN else v) for k, v in values.items()}
    return MAIL.show(
        request, ctx, who, values, hidden=not who.is_admin, test_to=_default_recipients(ctx.app)
    )


@router.post("/security/mail/test", response_class=HTMLResponse)
def send_test(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    typed = form.get("test_to", "")
    if not ctx.app.outbox.smtp_settings().configured:
        return redirect(
            request,
            "/security/mail",
            flash="No test message was sent: enter the mail server's Host above and save first.",
            kind="error",
        )
    try:
        report = send_test_mail(ctx.app, who, split_addresses(typed))
    except InvalidFieldsError as exc:
        values = ctx.app.outbox.stored_smtp_settings().to_json()
        errors = {"test_to": exc.errors.get("to", str(exc))}
        return MAIL.show(request, ctx, who, values, errors, 422, test_to=typed)
    except NotificationError as exc:
        return redirect(
            request, "/security/mail", flash=f"The test message was not sent: {exc}", kind="error"
        )
    text = f"Test message sent to {', '.join(report.recipients)} through {report.server}."
    if report.refused:
        refused = "; ".join(f"{a}: {r}" for a, r in sorted(report.refused.items()))
        text += f" The server refused some recipients: {refused}."
    return redirect(request, "/security/mail", flash=text, kind="error" if report.refused else "ok")


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
