"""API: revocation — a certificate's OCSP check history and kept responses,
checks on demand, and the Certificate Revocation, Enterprise Parameters and
Common Criteria settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import Response

from certwarden.core.revocation_settings import recheck_interval
from certwarden.errors import InputError, NotFoundError
from certwarden.interfaces.web import schemas
from certwarden.interfaces.web.actions import (
    check_certificates,
    save_common_criteria,
    save_params,
    save_revocation_settings,
)
from certwarden.interfaces.web.api.common import Limit, Offset, json_response, page, problems
from certwarden.interfaces.web.context import Admin, Ctx, RowId, Viewer

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/certificates/{ref}/ocsp-checks",
    response_model=schemas.OcspCheckPage,
    tags=["revocation"],
    responses=problems(404, 409, 422),
)
def ocsp_checks(
    ctx: Ctx, _who: Viewer, ref: str, limit: Limit = 50, offset: Offset = 0
) -> Response:
    """The certificate's revocation check history, newest first."""
    app = ctx.app
    record = app.inventory.get(ref)
    items, total = app.overview.ocsp_history(record.id, limit=limit, offset=offset)
    return json_response(page([c.to_json() for c in items], total, limit, offset))


@router.get(
    "/certificates/{ref}/ocsp-checks/{check_id}/response",
    tags=["revocation"],
    response_class=Response,
    responses={
        200: {"content": {"application/ocsp-response": {}}},
        **problems(404, 409, 422),
    },
)
def ocsp_response(ctx: Ctx, _who: Viewer, ref: str, check_id: RowId) -> Response:
    """The raw OCSP response kept as evidence of one check (DER)."""
    app = ctx.app
    record = app.inventory.get(ref)
    raw = app.overview.ocsp_response(record.id, check_id)
    if raw is None:
        raise NotFoundError(f"OCSP check {check_id} kept no response (it never got one)")
    return Response(raw, media_type="application/ocsp-response")


@router.post(
    "/certificates/{ref}/check",
    tags=["revocation"],
    responses=problems(403, 404, 409, 422),
)
def check_one(ctx: Ctx, who: Admin, ref: str) -> Response:
    """Check one certificate's revocation status now (recorded in its history)."""
    record = ctx.app.inventory.get(ref)
    return json_response(check_certificates(ctx.app, who, [record.id]).to_json())


@router.post("/revocation/check", tags=["revocation"], responses=problems(403, 404, 422))
def check_many(ctx: Ctx, who: Admin, body: schemas.CheckIn) -> Response:
    """Check the named certificates (IDs or SHA-256), or every monitored one with ``all``."""
    if body.all:
        report = ctx.app.changes.check_certificates(who.actor, all_monitored=True)
        return json_response(report.to_json())
    if not body.refs:
        raise InputError("name certificates in refs (IDs or SHA-256), or set all to true")
    return json_response(check_certificates(ctx.app, who, body.refs).to_json())


@router.get("/crls", tags=["revocation"])
def crls(ctx: Ctx, _who: Viewer) -> Response:
    """Every CRL distribution point known: freshness, number, times, last error, certificates."""
    now = ctx.app.clock.now()
    return json_response([v.to_json(now) for v in ctx.app.revocation.crls(now)])


@router.get("/settings/revocation", tags=["settings"])
def revocation_settings(ctx: Ctx, _who: Viewer) -> Response:
    """Security > Certificate Revocation."""
    return json_response(ctx.app.revocation.settings().to_dict())


@router.patch("/settings/revocation", tags=["settings"], responses=problems(403, 422))
def change_revocation_settings(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {
                    "enable_ocsp": True,
                    "responder_source": "configured",
                    "configured_uri": "http://ocsp.example.org/",
                    "enable_revocation_check": True,
                    "check_every": 24,
                    "check_every_unit": "hours",
                }
            ]
        ),
    ],
) -> Response:
    """Change Certificate Revocation settings (Enable OCSP, responder, Check Every...)."""
    return json_response(save_revocation_settings(ctx.app, who, body))


@router.get("/settings/enterprise", tags=["settings"])
def enterprise_params(ctx: Ctx, _who: Viewer) -> Response:
    """Enterprise parameters: Certificate Validity Check and Validity Check Frequency."""
    service = ctx.app.revocation
    interval = recheck_interval(service.settings(), service.params())
    return json_response(
        service.params().to_dict()
        | {"effective_recheck_hours": interval.total_seconds() / 3600 if interval else None}
    )


@router.patch("/settings/enterprise", tags=["settings"], responses=problems(403, 422))
def change_enterprise_params(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(examples=[{"certificate_validity_check": True, "validity_check_frequency_hours": 12}]),
    ],
) -> Response:
    return json_response(save_params(ctx.app, who, body))


@router.get("/settings/common-criteria", tags=["settings"])
def common_criteria(ctx: Ctx, _who: Viewer) -> Response:
    """Common Criteria mode (on: only Good allows a connection)."""
    return json_response(ctx.app.revocation.security().to_dict())


@router.put("/settings/common-criteria", tags=["settings"], responses=problems(403, 422))
def change_common_criteria(ctx: Ctx, who: Admin, body: schemas.CommonCriteriaIn) -> Response:
    return json_response(save_common_criteria(ctx.app, who, body.common_criteria))
