"""Your account: the signed-in user changes their own password (which ends
the session: they sign in again with the new one)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certwarden.interfaces.web.context import Ctx, Viewer
from certwarden.interfaces.web.pages.forms import FormData, FormPage
from certwarden.interfaces.web.security import SESSION_COOKIE

__all__ = ["router"]

router = APIRouter()

ACCOUNT = FormPage("account.html", "Your account", "/account")


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return ACCOUNT.show(request, ctx, who)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, ctx: Ctx, who: Viewer, form: FormData) -> Response:
    def save() -> None:
        ctx.app.users.change_own_password(
            who.user.username, form.get("current_password", ""), form.get("new_password", "")
        )
        ctx.app.users.audit(who.actor, "user.password", who.user.username, {"self": True})

    def signed_out(_: None) -> Response:
        # The old session ends with the old password; sign in again.
        response = RedirectResponse("/login?changed=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return ACCOUNT.submit(request, ctx, who, save, shown={}, done=signed_out)
