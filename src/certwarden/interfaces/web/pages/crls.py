"""Security > CRLs: every CRL distribution point known and its freshness, and
the CRLs kept as evidence (DER, by SHA-256)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.errors import NotFoundError
from certwarden.interfaces.web.context import Ctx, Viewer
from certwarden.interfaces.web.rendering import render

__all__ = ["router"]

router = APIRouter()
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@router.get("/security/crls", response_class=HTMLResponse)
def crls(request: Request, ctx: Ctx, who: Viewer) -> Response:
    app = ctx.app
    now = app.clock.now()
    settings = app.revocation.settings()
    return render(
        request,
        ctx,
        who,
        "crls.html",
        title="CRLs",
        active="/security/crls",
        crumbs=[("Security", "/security/revocation")],
        crls=[v.to_json(now) for v in app.revocation.crls(now)],
        settings=settings,
    )


@router.get("/security/crls/{sha256}.crl")
def crl_der(ctx: Ctx, _who: Viewer, sha256: str) -> Response:
    """A CRL kept as the evidence of checks, as DER."""
    if not _SHA256.match(sha256):
        raise NotFoundError(f"{sha256[:80]!r} is not a SHA-256 of a kept CRL")
    der = ctx.app.revocation.crl_blob(sha256)
    if der is None:
        raise NotFoundError(f"no CRL with SHA-256 {sha256} is kept")
    return Response(
        der,
        media_type="application/pkix-crl",
        headers={"Content-Disposition": f'attachment; filename="{sha256[:16]}.crl"'},
    )
