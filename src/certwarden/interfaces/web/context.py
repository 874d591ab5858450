"""What every route can reach: the wired :class:`App`, the session codec,
templates, and the optional demo parts; plus the principal checks.

Routes declare what they need with ``Annotated`` dependencies:

    def page(ctx: Ctx, who: Viewer) -> ...      # any signed-in user
    def change(ctx: Ctx, who: Admin) -> ...     # admins only
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Path, Request

from certwarden.composition import App
from certwarden.interfaces.web.security import Principal, SessionCodec

__all__ = [
    "Admin",
    "Ctx",
    "MailInbox",
    "MailMessage",
    "RowId",
    "Viewer",
    "WebContext",
    "notification_window",
]


class MailMessage(Protocol):
    """One captured e-mail (the demo's inbox)."""

    @property
    def id(self) -> int: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def sender(self) -> str: ...
    @property
    def recipients(self) -> Sequence[str]: ...
    @property
    def subject(self) -> str: ...
    @property
    def body(self) -> str: ...


class MailInbox(Protocol):
    def messages(self) -> Sequence[MailMessage]: ...


@dataclass
class WebContext:
    app: App
    codec: SessionCodec
    demo_inbox: MailInbox | None = None
    demo_notes: list[str] = field(default_factory=list)
    metrics_public: bool = True
    extra_lifespan: Callable[..., Any] | None = None


async def get_ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def principal_of(request: Request) -> Principal | None:
    state = request.scope.get("state") or {}
    principal = state.get("principal")
    return principal if isinstance(principal, Principal) else None


class NotSignedIn(Exception):  # noqa: N818 - a control-flow signal, not an error report
    """Raised by page dependencies; handled by sending the browser to the login page."""


def _require_user(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        # The gate answers anonymous requests before routing; this is the belt to its braces.
        if request.url.path.startswith("/api/"):
            raise HTTPException(401, "authentication required", {"WWW-Authenticate": "Bearer"})
        raise NotSignedIn()
    return principal


async def require_user(request: Request) -> Principal:
    """Any signed-in user (an ``async`` dependency: trivial, so no thread hop)."""
    return _require_user(request)


async def require_admin(request: Request) -> Principal:
    principal = _require_user(request)
    if not principal.is_admin:
        raise HTTPException(
            403, f"user {principal.user.username!r} has the viewer role; this needs an admin"
        )
    return principal


Ctx = Annotated[WebContext, Depends(get_ctx)]
# Database row IDs in paths: bounded, so a huge number is a 422, not a database overflow.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A numeric ID.")]
Viewer = Annotated[Principal, Depends(require_user)]
Admin = Annotated[Principal, Depends(require_admin)]


def notification_window(app: App) -> timedelta:
    """The Certificate Monitor's notification window (Notification Start Time)."""
    return app.monitor.settings().window
