"""API: who you are, local users, API tokens and the audit log (users,
tokens and the audit log are for admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from certwarden.errors import InputError
from certwarden.interfaces.web import schemas
from certwarden.interfaces.web.api.common import Limit, Offset, json_response, page, problems
from certwarden.interfaces.web.context import Admin, Ctx, RowId, Viewer
from certwarden.services.accounts import token_lifetime

__all__ = ["router"]

router = APIRouter()


@router.get("/me", response_model=schemas.MeOut, tags=["users"])
def me(who: Viewer) -> Response:
    """Who you are, and how you authenticated."""
    data = who.user.to_json() | {"via": who.via}
    data["token"] = who.token.to_json() if who.token else None
    return json_response(data)


@router.get("/users", response_model=schemas.UserPage, tags=["users"], responses=problems(403))
def users(ctx: Ctx, _who: Admin, limit: Limit = 100, offset: Offset = 0) -> Response:
    """Local users (admins only)."""
    everything = ctx.app.users.list_users()
    chosen = everything[offset : offset + limit]
    return json_response(page([u.to_json() for u in chosen], len(everything), limit, offset))


@router.post(
    "/users",
    status_code=201,
    response_model=schemas.UserOut,
    tags=["users"],
    responses=problems(403, 409, 422),
)
def add_user(ctx: Ctx, who: Admin, body: schemas.UserIn) -> Response:
    """Create a user (admins only)."""
    info = ctx.app.users.add_user(body.username, body.password, body.role)
    ctx.app.users.audit(who.actor, "user.create", info.username, {"role": info.role})
    return json_response(info.to_json(), 201)


@router.get(
    "/users/{username}",
    response_model=schemas.UserOut,
    tags=["users"],
    responses=problems(403, 404),
)
def get_user(ctx: Ctx, _who: Admin, username: str) -> Response:
    return json_response(ctx.app.users.get(username).to_json())


@router.patch(
    "/users/{username}",
    response_model=schemas.UserOut,
    tags=["users"],
    responses=problems(403, 404, 409, 422),
)
def change_user(ctx: Ctx, who: Admin, username: str, body: schemas.UserPatch) -> Response:
    """Change a user's role, password or disabled flag (admins only)."""
    users_ = ctx.app.users
    info = users_.get(username)
    changed: dict[str, Any] = {}
    if body.password is not None:
        info = users_.set_password(username, body.password)
        changed["password_changed"] = True
    if body.role is not None and body.role != info.role:
        info = users_.set_role(username, body.role)
        changed["role"] = body.role
    if body.disabled is not None and body.disabled != info.disabled:
        info = users_.set_disabled(username, body.disabled)
        changed["disabled"] = body.disabled
    if changed:
        users_.audit(who.actor, "user.update", username, changed)
    return json_response(info.to_json())


@router.delete(
    "/users/{username}",
    response_model=schemas.UserOut,
    tags=["users"],
    responses=problems(403, 404, 409),
)
def remove_user(ctx: Ctx, who: Admin, username: str) -> Response:
    """Remove a user and their tokens (never the last admin)."""
    if username == who.user.username:
        raise InputError("you cannot remove yourself; ask another admin")
    info = ctx.app.users.remove_user(username)
    ctx.app.users.audit(who.actor, "user.remove", username)
    return json_response(info.to_json())


@router.get("/tokens", response_model=schemas.TokenPage, tags=["tokens"], responses=problems(403))
def tokens(
    ctx: Ctx,
    _who: Admin,
    username: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """API tokens (never their secrets), newest first (admins only)."""
    everything = ctx.app.users.list_tokens(username)
    chosen = everything[offset : offset + limit]
    return json_response(page([t.to_json() for t in chosen], len(everything), limit, offset))


@router.post(
    "/tokens",
    status_code=201,
    response_model=schemas.NewTokenOut,
    tags=["tokens"],
    responses=problems(403, 404, 422),
)
def create_token(ctx: Ctx, who: Admin, body: schemas.TokenIn) -> Response:
    """Create an API token; the secret is in this answer and nowhere else, ever."""
    owner = body.username or who.user.username
    info, secret = ctx.app.users.create_token(
        owner, body.name, scope=body.scope, lifetime=token_lifetime(body.expires)
    )
    ctx.app.users.audit(
        who.actor,
        "token.create",
        f"#{info.id}",
        {
            "user": owner,
            "name": info.name,
            "scope": info.scope,
            "expires_at": info.to_json()["expires_at"],
        },
    )
    return json_response(info.to_json() | {"token": secret}, 201)


@router.delete(
    "/tokens/{token_id}",
    response_model=schemas.TokenOut,
    tags=["tokens"],
    responses=problems(403, 404),
)
def revoke_token(ctx: Ctx, who: Admin, token_id: RowId) -> Response:
    """Revoke an API token (it stops working at once)."""
    info = ctx.app.users.revoke_token(token_id)
    ctx.app.users.audit(who.actor, "token.revoke", f"#{token_id}", {"user": info.username})
    return json_response(info.to_json())


@router.get("/audit", response_model=schemas.AuditPage, tags=["users"], responses=problems(403))
def audit(
    ctx: Ctx,
    _who: Admin,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Who changed what, newest first (admins only)."""
    items, total = ctx.app.users.list_audit(limit=limit, offset=offset, actor=actor)
    return json_response(page([a.to_json() for a in items], total, limit, offset))
