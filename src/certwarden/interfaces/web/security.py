"""Who is asking: session cookies, API tokens, CSRF tokens and the gate that
turns anonymous requests away.

* A **session cookie** (``cw_session``) is ``v2.<user id>.<issued>.<nonce>``
  signed with HMAC-SHA256 under a key derived from the secret file (not from
  the database: a copy of the database signs nothing). The nonce names a
  server-side session (``web_sessions``, stored as its SHA-256): sign-out
  ends it, and a change of the user's password, role or status ends all of
  theirs. It is HttpOnly, SameSite=Strict and Secure when served over HTTPS;
  it lasts :data:`SESSION_LIFETIME` from login at most.
* The **CSRF token** of a session is an HMAC of its nonce; every form carries it
  and every state-changing page request must present it. The login form uses
  a short-lived cookie of its own for the same purpose.
* An **API token** is sent as ``Authorization: Bearer cwt_...``. A token of
  scope ``read`` may only GET and HEAD (anything else: 403).

:class:`AuthGate` runs before any route: it resolves the principal once and,
for any path that is not public (login, health, metrics, static files),
answers an anonymous request itself: API paths with 401, pages with a
redirect to the login page. Routes then only check roles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio.to_thread

from certwarden.clock import Clock
from certwarden.services.accounts import TokenInfo, UserInfo, UserService

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "AuthGate",
    "Principal",
    "SessionCodec",
]

SESSION_COOKIE = "cw_session"
LOGIN_COOKIE = "cw_login"
SESSION_LIFETIME = timedelta(hours=12)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user, through a session or an API token."""

    user: UserInfo
    via: str  # "session" or "token"
    token: TokenInfo | None = None
    nonce: str | None = None  # the session's, for its CSRF token

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        if self.token is not None:
            return f"{self.user.username} (token #{self.token.id})"
        return self.user.username


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SessionCodec:
    """Signs and checks session cookies and CSRF tokens."""

    def __init__(self, users: UserService, clock: Clock) -> None:
        self._users = users
        self._clock = clock

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._users.session_key(), payload.encode(), hashlib.sha256)
        return _b64(mac.digest())

    def issue(self, user: UserInfo) -> str:
        """Open a server-side session for ``user``; its cookie value (a database write)."""
        issued = int(self._clock.now().timestamp())
        nonce = self._users.open_session(user, SESSION_LIFETIME)
        payload = f"v2.{user.id}.{issued}.{nonce}"
        return f"{payload}.{self._sign(payload)}"

    def verify(self, cookie: str) -> Principal | None:
        parts = cookie.split(".")
        if len(parts) != 5 or parts[0] != "v2" or len(cookie) > 512:
            return None
        payload, signature = ".".join(parts[:4]), parts[4]
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        _, user_id, issued, nonce = parts[:4]
        if not user_id.isdigit() or not issued.isdigit() or len(user_id) > 18:
            return None
        now = self._clock.now()
        age = now.timestamp() - int(issued)
        if age < -300 or age > SESSION_LIFETIME.total_seconds():
            return None
        user = self._users.session_user(int(user_id), nonce)
        if user is None:
            return None
        return Principal(user=user, via="session", nonce=nonce)

    def end(self, principal: Principal) -> None:
        """Sign-out: the principal's session ends on the server."""
        if principal.via == "session" and principal.nonce:
            self._users.end_session(principal.nonce)

    def csrf_token(self, nonce: str) -> str:
        return self._sign(f"csrf.{nonce}")[:32]

    def check_csrf(self, nonce: str | None, presented: str | None) -> bool:
        if not nonce or not presented:
            return False
        return hmac.compare_digest(self.csrf_token(nonce), presented)

    def login_nonce(self) -> str:
        return secrets.token_urlsafe(18)

    def login_csrf(self, nonce: str) -> str:
        return self._sign(f"login.{nonce}")[:32]

    def check_login_csrf(self, nonce: str | None, presented: str | None) -> bool:
        if not nonce or not presented:
            return False
        return hmac.compare_digest(self.login_csrf(nonce), presented)

    def expires(self, now: datetime) -> datetime:
        return now + SESSION_LIFETIME


def _cookies(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in out:
            out[name] = value
    return out


def _is_public(path: str, metrics_public: bool) -> bool:
    if path in {"/login", "/health", "/api/v1/health", "/favicon.ico"}:
        return True
    if path.startswith("/static/"):
        return True
    return metrics_public and path == "/metrics"


async def _json_response(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AuthGate:
    """ASGI middleware: resolves the caller and refuses anonymous requests."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        codec: SessionCodec,
        users: UserService,
        metrics_public: bool = True,
    ) -> None:
        self.app = app
        self.codec = codec
        self.users = users
        self.metrics_public = metrics_public

    def _resolve(self, cookie: str | None, bearer: str | None) -> Principal | None:
        if bearer is not None:
            found = self.users.verify_token(bearer)
            if found is None:
                return None
            user, token = found
            return Principal(user=user, via="token", token=token)
        if cookie is not None:
            return self.codec.verify(cookie)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie: str | None = None
        bearer: str | None = None
        bad_authorization = False
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookie = _cookies(value.decode("latin-1")).get(SESSION_COOKIE, cookie)
            elif name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and credentials.strip():
                    bearer = credentials.strip()
                else:
                    bad_authorization = True
        principal: Principal | None = None
        cached = self.users.cached_token(bearer) if bearer is not None else None
        if cached is not None:
            # Verified moments ago: no database, no thread hop on the hot path.
            principal = Principal(user=cached[0], via="token", token=cached[1])
        elif cookie is not None or bearer is not None:
            principal = await anyio.to_thread.run_sync(self._resolve, cookie, bearer)
        scope.setdefault("state", {})["principal"] = principal
        path: str = scope["path"]
        if (
            principal is not None
            and principal.token is not None
            and principal.token.read_only
            and scope.get("method", "GET") not in {"GET", "HEAD"}
        ):
            await _json_response(
                send,
                403,
                f"API token #{principal.token.id} is read-only (scope read): "
                "it may only GET and HEAD",
            )
            return
        if principal is not None or _is_public(path, self.metrics_public):
            await self.app(scope, receive, send)
            return
        if path.startswith("/api/") or path == "/metrics" or bearer or bad_authorization:
            detail = (
                "the API token is not valid (unknown, revoked, expired, or its user is disabled)"
                if bearer
                else "authentication required: send 'Authorization: Bearer <API token>'"
            )
            await _json_response(
                send, 401, detail, [(b"www-authenticate", b'Bearer realm="certwarden"')]
            )
            return
        target = path + (
            "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
        )
        location = "/login" if path in {"/", ""} else "/login?next=" + quote(target, safe="")
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"content-length", b"0"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
