"""API: certificates — search, upload (through the upload check), one record,
its export, its chain and what it issued, and deletion.

Their revocation history and on-demand checks are in :mod:`.revocation`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from certwarden.interfaces.web import schemas
from certwarden.interfaces.web.actions import MAX_UPLOAD_BYTES, delete_certificate, import_upload
from certwarden.interfaces.web.api.common import Limit, Offset, json_response, problems
from certwarden.interfaces.web.context import Admin, Ctx, Viewer, WebContext, notification_window
from certwarden.services.readmodel import CertificateQuery

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/certificates",
    response_model=schemas.CertificatePage,
    tags=["certificates"],
    responses=problems(404, 422),
)
async def certificates(
    ctx: Ctx,
    _who: Viewer,
    store: Annotated[str | None, Query(max_length=128, description="Only this store.")] = None,
    state: Annotated[
        schemas.StateName | None,
        Query(description="An expiry state (valid, expiring, expired) or a revocation state."),
    ] = None,
    lsc: Annotated[bool | None, Query(description="Only LSCs (true) or only others.")] = None,
    min_days: Annotated[float | None, Query(ge=-36500, le=36500)] = None,
    max_days: Annotated[float | None, Query(ge=-36500, le=36500)] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in subject/issuer, or hex.")
    ] = None,
    sort: Annotated[str, Query(pattern="^(not_after|-not_after|subject|id|-id)$")] = "not_after",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Certificates, soonest expiry first, filtered and paginated."""
    app = ctx.app
    query = CertificateQuery(
        store=store or None,
        state=state,
        lsc=lsc,
        min_days=min_days,
        max_days=max_days,
        text=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )

    def work() -> Response:
        # The window (a settings read) matters only to the valid/expiring states.
        window = notification_window(app) if state in {"valid", "expiring"} else timedelta(0)
        page = app.overview.search(query, window=window)
        return json_response(page.to_json(app.clock.now()))

    if q:  # a text search scans the table: off the event loop
        return await run_in_threadpool(work)
    # Index-backed reads take a few milliseconds: answered inline. Under load the
    # thread hand-offs and GIL contention cost more than the query itself, and
    # SQLite readers (WAL) never wait for writers.
    return work()


@router.post(
    "/certificates",
    status_code=201,
    response_model=schemas.ImportReportOut,
    tags=["certificates"],
    responses=problems(403, 404, 413, 422),
)
async def upload(
    ctx: Ctx,
    who: Admin,
    files: Annotated[list[UploadFile], File(description="PEM, DER, PKCS#7 or PKCS#12 files.")],
    store: Annotated[str, Form(max_length=128)] = "tomcat-trust",
    password: Annotated[str | None, Form(description="PKCS#12 password.")] = None,
    lsc: Annotated[bool, Form()] = False,
    force: Annotated[bool, Form(description="Store even what the upload check refuses.")] = False,
) -> Response:
    """Upload certificates; each upload is checked for revocation when OCSP is on.

    201 when something was imported, 200 when everything was already there,
    422 (with the report) when nothing could be imported.
    """
    contents: list[tuple[str, bytes]] = []
    size = 0
    for item in files:
        data = await item.read(MAX_UPLOAD_BYTES + 1)
        size += len(data)
        if size > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the upload is larger than {MAX_UPLOAD_BYTES} bytes")
        contents.append((item.filename or "upload", data))
    report = await run_in_threadpool(
        import_upload, ctx.app, who, contents, store, password, lsc, force
    )
    result = report.to_json()
    if report.imported:
        return json_response(result, 201)
    if report.rejected:
        return json_response(
            {"detail": "nothing was imported: every file was rejected", "report": result}, 422
        )
    return json_response(result, 200)


def _record(ctx: WebContext, ref: str) -> dict[str, Any]:
    app = ctx.app
    text = ref.strip()
    if text.isascii() and text.isdigit() and len(text) < 19:
        record = app.overview.record(int(text))  # the common case, in one query
    else:
        record = app.inventory.get(ref)  # fingerprints and prefixes
    return record.to_json(app.clock.now())


@router.get(
    "/certificates/{ref}",
    response_model=schemas.CertificateOut,
    tags=["certificates"],
    responses=problems(404, 409, 422),
)
async def certificate(ctx: Ctx, _who: Viewer, ref: Annotated[str, "ID or SHA-256"]) -> Response:
    """One certificate by ID or SHA-256 fingerprint (or a unique 8+ hex digit prefix)."""
    return json_response(_record(ctx, ref))  # an index lookup: inline, like the list


@router.get(
    "/certificates/{ref}/export",
    tags=["certificates"],
    responses={
        200: {"content": {"application/x-pem-file": {}, "application/pkix-cert": {}}},
        **problems(404, 409, 422),
    },
    response_class=Response,
)
def export(
    ctx: Ctx,
    _who: Viewer,
    ref: str,
    format: Annotated[str, Query(pattern="^(pem|der)$")] = "pem",
) -> Response:
    """The certificate itself, PEM or DER."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    app = ctx.app
    record = app.inventory.get(ref)
    der = app.inventory.der(record.id)
    name = (record.subject_cn or f"certificate-{record.id}").replace('"', "")
    if format == "der":
        return Response(
            der,
            media_type="application/pkix-cert",
            headers={"content-disposition": f'attachment; filename="{name}.cer"'},
        )
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    return Response(
        pem,
        media_type="application/x-pem-file",
        headers={"content-disposition": f'attachment; filename="{name}.pem"'},
    )


@router.get(
    "/certificates/{ref}/chain",
    response_model=schemas.CertificateList,
    tags=["certificates"],
    responses=problems(404, 409, 422),
)
def chain(ctx: Ctx, _who: Viewer, ref: str) -> Response:
    """The certificate's issuers found in the inventory, nearest first."""
    app = ctx.app
    record = app.inventory.get(ref)
    now = app.clock.now()
    items = [r.to_json(now) for r in app.overview.chain(record.id)]
    return json_response({"items": items, "total": len(items)})


@router.get(
    "/certificates/{ref}/issued",
    response_model=schemas.CertificateList,
    tags=["certificates"],
    responses=problems(404, 409, 422),
)
def issued(
    ctx: Ctx, _who: Viewer, ref: str, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Response:
    """Certificates in the inventory that this one issued (the first ``limit``)."""
    app = ctx.app
    record = app.inventory.get(ref)
    now = app.clock.now()
    items, total = app.overview.issued(record.id, limit=limit)
    return json_response({"items": [r.to_json(now) for r in items], "total": total})


@router.delete(
    "/certificates/{ref}",
    response_model=schemas.CertificateOut,
    tags=["certificates"],
    responses=problems(403, 404, 409, 422),
)
def delete(ctx: Ctx, who: Admin, ref: str) -> Response:
    """Delete one certificate; answers with what was deleted."""
    record = delete_certificate(ctx.app, who, ref)
    return json_response(record.to_json(ctx.app.clock.now()))
