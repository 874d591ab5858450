"""What every API module shares: the token scheme, the CSRF rule for cookie
sessions, the documented error answers, JSON responses and pagination.

The resource modules import from here only; :mod:`.` (the package) applies
:data:`bearer` and :func:`csrf_for_cookie_sessions` to every route once.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPBearer

from certwarden.interfaces.web import schemas
from certwarden.interfaces.web.context import WebContext, principal_of

__all__ = [
    "Limit",
    "Offset",
    "bearer",
    "csrf_for_cookie_sessions",
    "json_response",
    "page",
    "problems",
]

# Declares the scheme in OpenAPI (the "Authorize" button); AuthGate does the checking.
bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer cwt_...`")


async def csrf_for_cookie_sessions(request: Request) -> None:
    """A changing API request authenticated by a session cookie must carry its CSRF token."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    principal = principal_of(request)
    if principal is None or principal.via != "session":
        return
    ctx: WebContext = request.app.state.ctx
    if not ctx.codec.check_csrf(principal.nonce, request.headers.get("x-csrf-token")):
        raise HTTPException(
            403, "a session-authenticated change needs the X-CSRF-Token header; or use a token"
        )


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route: 401 always, plus ``codes``."""
    out: dict[int | str, dict[str, Any]] = {
        401: {"model": schemas.Problem, "description": "No valid token or session"}
    }
    for code in codes:
        out[code] = {"model": schemas.Problem}
    return out


def json_response(data: Any, status_code: int = 200) -> Response:
    """JSON straight from the services' dictionaries (no re-validation on the way out)."""
    return Response(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status_code=status_code,
        media_type="application/json",
    )


Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


def page(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    """One page of a list, with the total across all pages."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}
