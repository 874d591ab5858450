"""Signing in and out: the login form (with its own short-lived CSRF cookie),
the login itself (throttled by the user service, audited) and logout.

Only a local path is ever a redirect target after sign-in (:func:`safe_next`).
Whatever goes wrong while signing in (a throttled name, too many checks at
once, a database that refuses writes) is answered with the login page and
the reason, never with raw JSON. Sign-out ends the session on the server.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from certwarden.errors import StorageError
from certwarden.interfaces.web.context import WebContext, principal_of
from certwarden.interfaces.web.security import LOGIN_COOKIE, SESSION_COOKIE, SESSION_LIFETIME
from certwarden.services.accounts import AuthenticationError, LoginBusyError, LoginThrottledError

log = logging.getLogger("certwarden.web")

DATABASE_REFUSED = (
    "Signing in is not possible right now: the database did not accept the change "
    "(it may be read-only, full or unreachable). API tokens keep working; "
    "ask the administrator to look at the server log."
)

__all__ = ["install_login_routes", "safe_next"]


def safe_next(value: str | None) -> str:
    """Only a local path: never another site (open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if value.startswith("/login") or value.startswith("/logout"):
        return "/"
    return value


def install_login_routes(web: FastAPI, ctx: WebContext) -> None:
    """``GET``/``POST /login`` and ``POST /logout`` on ``web`` (outside the API schema)."""
    templates: Jinja2Templates = web.state.templates

    def login_page(
        request: Request,
        *,
        error: str = "",
        status_code: int = 200,
        username: str = "",
        next_url: str = "/",
        retry_after: float | None = None,
    ) -> HTMLResponse:
        nonce = ctx.codec.login_nonce()
        notice = ""
        if request.query_params.get("changed"):
            notice = "Your password was changed. Sign in with the new one."
        elif request.query_params.get("bye"):
            notice = "You are signed out."
        response = templates.TemplateResponse(
            request,
            "login.html",
            {
                "csrf": ctx.codec.login_csrf(nonce),
                "error": error,
                "notice": notice,
                "username": username,
                "next": next_url,
            },
            status_code=status_code,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=3600,
            path="/login",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        if retry_after is not None:
            response.headers["retry-after"] = str(max(1, round(retry_after)))
        return response

    @web.get("/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        if principal_of(request) is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), 303)
        return login_page(request, next_url=safe_next(request.query_params.get("next")))

    @web.post("/login", include_in_schema=False)
    async def login(
        request: Request,
        username: Annotated[str, Form(max_length=256)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf_token: Annotated[str, Form(max_length=256)] = "",
        next: Annotated[str, Form(max_length=2048)] = "/",
    ) -> Response:
        target = safe_next(next)
        if not ctx.codec.check_login_csrf(request.cookies.get(LOGIN_COOKIE), csrf_token):
            return login_page(
                request,
                error="The sign-in form expired or did not come from certwarden. Try again.",
                status_code=403,
                username=username,
                next_url=target,
            )
        client = request.client.host if request.client else ""
        try:
            user = await run_in_threadpool(
                ctx.app.users.authenticate, username, password, client=client
            )
            await run_in_threadpool(
                ctx.app.users.audit, user.username, "login", user.username, {"client": client}
            )
            cookie = await run_in_threadpool(ctx.codec.issue, user)
        except LoginBusyError as exc:
            return login_page(
                request,
                error=exc.diagnostics().capitalize() + ".",
                status_code=503,
                username=username,
                next_url=target,
                retry_after=exc.retry_after,
            )
        except LoginThrottledError as exc:
            return login_page(
                request,
                error=exc.diagnostics(),
                status_code=429,
                username=username,
                next_url=target,
                retry_after=exc.retry_after,
            )
        except AuthenticationError:
            return login_page(
                request,
                error="Wrong user name or password.",
                status_code=401,
                username=username,
                next_url=target,
            )
        except (StorageError, LookupError) as exc:
            log.error("sign-in failed: %s", str(exc)[:500])
            return login_page(
                request,
                error=DATABASE_REFUSED,
                status_code=503,
                username=username,
                next_url=target,
                retry_after=30,
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @web.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        principal = principal_of(request)
        form = await request.form()
        token = form.get("csrf_token")
        if principal is None or not ctx.codec.check_csrf(
            principal.nonce, token if isinstance(token, str) else None
        ):
            raise HTTPException(403, "sign-out refused: the form did not come from certwarden")
        # The session ends on the server first: a copy of the cookie is worthless after.
        await run_in_threadpool(ctx.codec.end, principal)
        await run_in_threadpool(ctx.app.users.audit, principal.actor, "logout", "")
        response = RedirectResponse("/login?bye=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
