"""Form plumbing for the pages: the CSRF check every state-changing page
request passes, and the submitted form as a plain dictionary."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from certwarden.interfaces.web.context import NotSignedIn, WebContext, principal_of
from certwarden.interfaces.web.rendering import form_values

__all__ = ["FormData", "csrf_protect"]


async def csrf_protect(request: Request) -> None:
    """Every POST to a page must carry the session's CSRF token."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    principal = principal_of(request)
    if principal is None:
        raise NotSignedIn()
    form = await request.form()
    token = form.get("csrf_token")
    ctx: WebContext = request.app.state.ctx
    if principal.via != "session" or not ctx.codec.check_csrf(
        principal.nonce, token if isinstance(token, str) else None
    ):
        raise HTTPException(
            403,
            "this form has expired or did not come from certwarden (CSRF check failed); "
            "reload the page and try again",
        )


async def _form(request: Request) -> dict[str, str]:
    return form_values(await request.form())


FormData = Annotated[dict[str, str], Depends(_form)]
