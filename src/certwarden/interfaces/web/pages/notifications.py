"""Security > Notifications: the notification channels (Apprise), each URL
shown as scheme://host only; add, test and remove (administrators), the
channels' waiting notices (everyone)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.core.channels import KIND_GROUPS, SEVERITIES
from certwarden.errors import ConflictError, InvalidFieldsError, NotFoundError, NotificationError
from certwarden.interfaces.web.actions import add_channel, remove_channel, test_channel
from certwarden.interfaces.web.context import Admin, Ctx, Viewer, WebContext
from certwarden.interfaces.web.pages.forms import FormData, FormPage, Refusal
from certwarden.interfaces.web.rendering import redirect

__all__ = ["router"]

router = APIRouter()
PATH = "/security/notifications"

PAGE = FormPage(
    "notifications.html",
    "Notifications",
    PATH,
    crumbs=(("Security", "/security/monitor"),),
    context=lambda ctx: _context(ctx),
)
REFUSED = (Refusal(InvalidFieldsError), Refusal(ConflictError, 409, "name"))
DEFAULTS = {"name": "", "url": "", "min_severity": "warning", "kinds": "all"}


def _context(ctx: WebContext) -> dict[str, Any]:
    return {
        "channels": ctx.app.channels.list(),
        "messages": ctx.app.channels.messages(limit=20),
        "severities": SEVERITIES,
        "groups": list(KIND_GROUPS),
    }


@router.get(PATH, response_class=HTMLResponse)
def notifications(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return PAGE.show(request, ctx, who, DEFAULTS)


@router.post(PATH, response_class=HTMLResponse)
def add(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    values = {k: form.get(k, v) for k, v in DEFAULTS.items()}
    return PAGE.submit(
        request,
        ctx,
        who,
        lambda: add_channel(
            ctx.app, who, values["name"], values["url"], values["min_severity"], values["kinds"]
        ),
        # The URL is a secret: it is not put back in the page, even when refused.
        shown={**values, "url": ""},
        flash=lambda info: f"Channel {info.name} added ({info.url}).",
        refusals=REFUSED,
    )


@router.post(PATH + "/{name}/test", response_class=HTMLResponse)
def test(request: Request, ctx: Ctx, who: Admin, name: str) -> Response:
    try:
        report = test_channel(ctx.app, who, name)
    except (NotificationError, NotFoundError, ConflictError) as exc:
        return redirect(request, PATH, flash=f"No test notice: {exc}", kind="error")
    return redirect(request, PATH, flash=f"Test notice taken by {report.url} ({report.channel}).")


@router.post(PATH + "/{name}/remove", response_class=HTMLResponse)
def remove(request: Request, ctx: Ctx, who: Admin, name: str) -> Response:
    try:
        dropped = remove_channel(ctx.app, who, name)
    except NotFoundError as exc:
        return redirect(request, PATH, flash=str(exc), kind="error")
    text = f"Channel {name.strip().lower()} removed."
    if dropped:
        text += f" {dropped} waiting notice(s) dropped."
    return redirect(request, PATH, flash=text)
