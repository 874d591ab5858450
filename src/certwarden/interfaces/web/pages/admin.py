"""Administration pages (admins only): local users, API tokens (a new token's
secret is shown once, in the answer to its creation) and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.errors import ConflictError, InvalidFieldsError, NotFoundError
from certwarden.interfaces.web.context import Admin, Ctx, RowId
from certwarden.interfaces.web.pages.forms import FormData, FormPage, Refusal, int_param
from certwarden.interfaces.web.rendering import query_url, redirect, render
from certwarden.services.accounts import TokenInfo, UserInfo, token_lifetime
from certwarden.services.readmodel import Page

__all__ = ["router"]

router = APIRouter()

USERS = FormPage(
    "users.html",
    "Users",
    "/admin/users",
    context=lambda ctx: {"users": ctx.app.users.list_users()},
)
TOKENS = FormPage(
    "tokens.html",
    "API tokens",
    "/admin/tokens",
    context=lambda ctx: {
        "tokens": ctx.app.users.list_tokens(),
        "now": ctx.app.clock.now(),
        "users": ctx.app.users.list_users(),
        "new_secret": None,
        "new_token": None,
    },
)


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, ctx: Ctx, who: Admin) -> Response:
    return USERS.show(request, ctx, who, {"username": "", "role": "viewer"})


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    username, role = form.get("username", "").strip(), form.get("role", "viewer")

    def save() -> UserInfo:
        info = ctx.app.users.add_user(username, form.get("password", ""), role)
        ctx.app.users.audit(who.actor, "user.create", info.username, {"role": info.role})
        return info

    return USERS.submit(
        request,
        ctx,
        who,
        save,
        shown={"username": username, "role": role},
        flash=lambda info: f"Added {info.role} {info.username}.",
        refusals=(Refusal(InvalidFieldsError), Refusal(ConflictError, 409, "username")),
    )


@router.post("/admin/users/{username}")
def update_user(request: Request, ctx: Ctx, who: Admin, username: str, form: FormData) -> Response:
    service = ctx.app.users
    info = service.get(username)
    changed: dict[str, Any] = {}
    try:
        if form.get("password"):
            info = service.set_password(username, form["password"])
            changed["password_changed"] = True
        role = form.get("role", info.role)
        if role != info.role:
            info = service.set_role(username, role)
            changed["role"] = role
        disabled = form.get("disabled") == "true"
        if disabled != info.disabled:
            if disabled and username == who.user.username:
                raise ConflictError("you cannot disable yourself")
            info = service.set_disabled(username, disabled)
            changed["disabled"] = disabled
    except (InvalidFieldsError, ConflictError) as exc:
        if changed:
            service.audit(who.actor, "user.update", username, changed)
        return redirect(
            request, "/admin/users", flash=f"{username}: {exc.diagnostics()}", kind="error"
        )
    if not changed:
        return redirect(
            request, "/admin/users", flash=f"Nothing changed for {username}.", kind="info"
        )
    service.audit(who.actor, "user.update", username, changed)
    return redirect(request, "/admin/users", flash=f"Saved {username}.")


@router.post("/admin/users/{username}/delete")
def remove_user(request: Request, ctx: Ctx, who: Admin, username: str) -> Response:
    if username == who.user.username:
        return redirect(request, "/admin/users", flash="You cannot remove yourself.", kind="error")
    try:
        ctx.app.users.remove_user(username)
    except ConflictError as exc:
        return redirect(request, "/admin/users", flash=exc.diagnostics(), kind="error")
    ctx.app.users.audit(who.actor, "user.remove", username)
    return redirect(request, "/admin/users", flash=f"Removed {username}.")


@router.get("/admin/tokens", response_class=HTMLResponse)
def tokens(request: Request, ctx: Ctx, who: Admin) -> Response:
    return TOKENS.show(
        request, ctx, who, {"name": "", "username": "", "expires": "", "scope": "full"}
    )


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    name, owner = form.get("name", ""), form.get("username") or who.user.username
    expires, scope = form.get("expires", ""), form.get("scope") or "full"

    def save() -> tuple[TokenInfo, str]:
        info, secret = ctx.app.users.create_token(
            owner, name, scope=scope, lifetime=token_lifetime(expires)
        )
        details = {"user": owner, "name": info.name, "scope": info.scope}
        ctx.app.users.audit(
            who.actor,
            "token.create",
            f"#{info.id}",
            details | {"expires_at": info.to_json()["expires_at"]},
        )
        return info, secret

    def created(made: tuple[TokenInfo, str]) -> Response:
        info, secret = made
        # Shown in this response only (never redirected through a cookie or URL).
        response = TOKENS.show(
            request,
            ctx,
            who,
            {"name": "", "username": "", "expires": "", "scope": "full"},
            status_code=201,
            new_secret=secret,
            new_token=info,
        )
        response.headers["cache-control"] = "no-store"
        return response

    return TOKENS.submit(
        request,
        ctx,
        who,
        save,
        shown={"name": name, "username": owner, "expires": expires, "scope": scope},
        done=created,
        refusals=(Refusal(InvalidFieldsError), Refusal(NotFoundError, 422, "username")),
    )


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, ctx: Ctx, who: Admin, token_id: RowId) -> Response:
    info = ctx.app.users.revoke_token(token_id)
    ctx.app.users.audit(who.actor, "token.revoke", f"#{token_id}", {"user": info.username})
    return redirect(request, "/admin/tokens", flash=f"Revoked token {info.name}.")


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(request: Request, ctx: Ctx, who: Admin) -> Response:
    params = request.query_params
    limit = int_param(params.get("limit"), 100, 1, 500)
    offset = int_param(params.get("offset"), 0, 0, 10_000_000)
    items, total = ctx.app.users.list_audit(limit=limit, offset=offset)
    return render(
        request,
        ctx,
        who,
        "audit.html",
        title="Audit log",
        active="/admin/audit",
        page=Page(items, total, limit, offset),  # type: ignore[arg-type]
        page_url=lambda off: query_url("/admin/audit", {"offset": off or None}),
    )
