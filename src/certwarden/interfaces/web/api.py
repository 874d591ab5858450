"""The REST API, ``/api/v1``: everything the web UI does, behind API tokens.

Every handler calls the same services as the UI and the CLI and answers with
their ``to_json()`` shapes, so field names match ``certwarden ... --json``.
Lists are paginated (``limit``/``offset``, with ``total``). Errors are
``{"detail": ...}``: 401 without a valid token, 403 for a viewer attempting
a change, 404 for what does not exist, 409 for a conflict, 422 for bad input
(with ``errors`` naming each bad settings field).

A session cookie is accepted too (the interactive docs use it), but then a
request that changes anything must carry the session's CSRF token in an
``X-CSRF-Token`` header.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Body,
    Depends,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Request,
    UploadFile,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import HTTPBearer

from certwarden.core.revocation_settings import recheck_interval
from certwarden.errors import InputError, NotFoundError
from certwarden.interfaces.web import schemas
from certwarden.interfaces.web.context import (
    Admin,
    Ctx,
    RowId,
    Viewer,
    WebContext,
    notification_window,
    principal_of,
)
from certwarden.interfaces.web.operations import (
    MAX_UPLOAD_BYTES,
    check_certificates,
    delete_certificate,
    import_upload,
    monitor_action,
    save_common_criteria,
    save_monitor_settings,
    save_params,
    save_revocation_settings,
    save_smtp_settings,
)
from certwarden.services.inventory import iso
from certwarden.services.readmodel import CertificateQuery

__all__ = ["router"]

# Declares the scheme in OpenAPI (the "Authorize" button); AuthGate does the checking.
bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer cwt_...`")


async def _csrf_for_cookie_sessions(request: Request) -> None:
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


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {
        401: {"model": schemas.Problem, "description": "No valid token or session"}
    }
    for code in codes:
        out[code] = {"model": schemas.Problem}
    return out


router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(bearer), Depends(_csrf_for_cookie_sessions)],
    responses=_problems(),
)


def json_response(data: Any, status_code: int = 200) -> Response:
    """JSON straight from the services' dictionaries (no re-validation on the way out)."""
    return Response(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status_code=status_code,
        media_type="application/json",
    )


Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


def _page(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# ---------------------------------------------------------------------- health


@router.get("/health", response_model=schemas.Health, tags=["health"], dependencies=[])
def health(ctx: Ctx) -> Response:
    """Liveness and database reachability (no authentication needed)."""
    ctx.app.users.count_users()
    return json_response({"status": "ok", "database": "ok"})


@router.get("/me", response_model=schemas.MeOut, tags=["users"])
def me(who: Viewer) -> Response:
    """Who you are, and how you authenticated."""
    data = who.user.to_json() | {"via": who.via}
    data["token"] = who.token.to_json() if who.token else None
    return json_response(data)


# ------------------------------------------------------------------ dashboard


@router.get("/dashboard", tags=["dashboard"])
def dashboard(
    ctx: Ctx,
    _who: Viewer,
    weeks: Annotated[int, Query(ge=1, le=520, description="Timeline length in weeks.")] = 26,
) -> Response:
    """Counts by expiry and revocation state, the expiry timeline and the latest alerts."""
    app = ctx.app
    counts = app.overview.counts(window=notification_window(app))
    alerts, _ = app.overview.alerts(limit=10)
    return json_response(
        {
            "counts": counts.to_json(),
            "timeline": [b.to_json() for b in app.overview.timeline(weeks=weeks)],
            "recent_alerts": [a.to_json() for a in alerts],
        }
    )


# --------------------------------------------------------------------- stores


@router.get("/stores", response_model=schemas.StorePage, tags=["stores"])
def stores(ctx: Ctx, _who: Viewer, limit: Limit = 100, offset: Offset = 0) -> Response:
    """Trust stores with their certificate counts."""
    everything = ctx.app.inventory.list_stores()
    chosen = everything[offset : offset + limit]
    return json_response(_page([s.to_json() for s in chosen], len(everything), limit, offset))


@router.post(
    "/stores",
    status_code=201,
    response_model=schemas.StoreOut,
    tags=["stores"],
    responses=_problems(403, 409, 422),
)
def create_store(ctx: Ctx, who: Admin, body: schemas.StoreIn) -> Response:
    """Create a trust store."""
    info = ctx.app.inventory.create_store(body.name, body.description)
    ctx.app.users.audit(who.actor, "store.create", body.name, {"description": body.description})
    return json_response(info.to_json(), 201)


@router.delete("/stores/{name}", tags=["stores"], responses=_problems(403, 404, 409))
def delete_store(
    ctx: Ctx,
    who: Admin,
    name: str,
    force: Annotated[bool, Query(description="Also delete the certificates it holds.")] = False,
) -> Response:
    """Delete a trust store (one holding certificates only with ``force``)."""
    removed = ctx.app.inventory.delete_store(name, force=force)
    ctx.app.users.audit(who.actor, "store.delete", name, {"certificates_removed": removed})
    return json_response({"deleted": name, "certificates_removed": removed})


# --------------------------------------------------------------- certificates


@router.get(
    "/certificates",
    response_model=schemas.CertificatePage,
    tags=["certificates"],
    responses=_problems(404, 422),
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
    responses=_problems(403, 404, 413, 422),
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
    if text.isdigit() and len(text) < 19:
        record = app.overview.record(int(text))  # the common case, in one query
    else:
        record = app.inventory.get(ref)  # fingerprints and prefixes
    return record.to_json(app.clock.now())


@router.get(
    "/certificates/{ref}",
    response_model=schemas.CertificateOut,
    tags=["certificates"],
    responses=_problems(404, 409, 422),
)
async def certificate(ctx: Ctx, _who: Viewer, ref: Annotated[str, "ID or SHA-256"]) -> Response:
    """One certificate by ID or SHA-256 fingerprint (or a unique 8+ hex digit prefix)."""
    return json_response(_record(ctx, ref))  # an index lookup: inline, like the list


@router.get(
    "/certificates/{ref}/export",
    tags=["certificates"],
    responses={
        200: {"content": {"application/x-pem-file": {}, "application/pkix-cert": {}}},
        **_problems(404, 409, 422),
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
    responses=_problems(404, 409, 422),
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
    responses=_problems(404, 409, 422),
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


@router.get(
    "/certificates/{ref}/ocsp-checks",
    response_model=schemas.OcspCheckPage,
    tags=["revocation"],
    responses=_problems(404, 409, 422),
)
def ocsp_checks(
    ctx: Ctx, _who: Viewer, ref: str, limit: Limit = 50, offset: Offset = 0
) -> Response:
    """The certificate's revocation check history, newest first."""
    app = ctx.app
    record = app.inventory.get(ref)
    items, total = app.overview.ocsp_history(record.id, limit=limit, offset=offset)
    return json_response(_page([c.to_json() for c in items], total, limit, offset))


@router.get(
    "/certificates/{ref}/ocsp-checks/{check_id}/response",
    tags=["revocation"],
    response_class=Response,
    responses={
        200: {"content": {"application/ocsp-response": {}}},
        **_problems(404, 409, 422),
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


@router.delete(
    "/certificates/{ref}",
    response_model=schemas.CertificateOut,
    tags=["certificates"],
    responses=_problems(403, 404, 409, 422),
)
def delete(ctx: Ctx, who: Admin, ref: str) -> Response:
    """Delete one certificate; answers with what was deleted."""
    record = delete_certificate(ctx.app, who, ref)
    return json_response(record.to_json(ctx.app.clock.now()))


# --------------------------------------------------------------------- alerts


@router.get("/alerts", response_model=schemas.AlertPage, tags=["alerts"])
def alerts(
    ctx: Ctx,
    _who: Viewer,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """The alert log, newest first."""
    items, total = ctx.app.overview.alerts(limit=limit, offset=offset, kind=kind)
    return json_response(_page([a.to_json() for a in items], total, limit, offset))


# ---------------------------------------------------------- users and tokens


@router.get("/users", response_model=schemas.UserPage, tags=["users"], responses=_problems(403))
def users(ctx: Ctx, _who: Admin, limit: Limit = 100, offset: Offset = 0) -> Response:
    """Local users (admins only)."""
    everything = ctx.app.users.list_users()
    chosen = everything[offset : offset + limit]
    return json_response(_page([u.to_json() for u in chosen], len(everything), limit, offset))


@router.post(
    "/users",
    status_code=201,
    response_model=schemas.UserOut,
    tags=["users"],
    responses=_problems(403, 409, 422),
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
    responses=_problems(403, 404),
)
def get_user(ctx: Ctx, _who: Admin, username: str) -> Response:
    return json_response(ctx.app.users.get(username).to_json())


@router.patch(
    "/users/{username}",
    response_model=schemas.UserOut,
    tags=["users"],
    responses=_problems(403, 404, 409, 422),
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
    responses=_problems(403, 404, 409),
)
def remove_user(ctx: Ctx, who: Admin, username: str) -> Response:
    """Remove a user and their tokens (never the last admin)."""
    if username == who.user.username:
        raise InputError("you cannot remove yourself; ask another admin")
    info = ctx.app.users.remove_user(username)
    ctx.app.users.audit(who.actor, "user.remove", username)
    return json_response(info.to_json())


@router.get("/tokens", response_model=schemas.TokenPage, tags=["tokens"], responses=_problems(403))
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
    return json_response(_page([t.to_json() for t in chosen], len(everything), limit, offset))


@router.post(
    "/tokens",
    status_code=201,
    response_model=schemas.NewTokenOut,
    tags=["tokens"],
    responses=_problems(403, 404, 422),
)
def create_token(ctx: Ctx, who: Admin, body: schemas.TokenIn) -> Response:
    """Create an API token; the secret is in this answer and nowhere else, ever."""
    owner = body.username or who.user.username
    info, secret = ctx.app.users.create_token(owner, body.name)
    ctx.app.users.audit(
        who.actor, "token.create", f"#{info.id}", {"user": owner, "name": info.name}
    )
    return json_response(info.to_json() | {"token": secret}, 201)


@router.delete(
    "/tokens/{token_id}",
    response_model=schemas.TokenOut,
    tags=["tokens"],
    responses=_problems(403, 404),
)
def revoke_token(ctx: Ctx, who: Admin, token_id: RowId) -> Response:
    """Revoke an API token (it stops working at once)."""
    info = ctx.app.users.revoke_token(token_id)
    ctx.app.users.audit(who.actor, "token.revoke", f"#{token_id}", {"user": info.username})
    return json_response(info.to_json())


@router.get("/audit", response_model=schemas.AuditPage, tags=["users"], responses=_problems(403))
def audit(
    ctx: Ctx,
    _who: Admin,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Who changed what, newest first (admins only)."""
    items, total = ctx.app.users.list_audit(limit=limit, offset=offset, actor=actor)
    return json_response(_page([a.to_json() for a in items], total, limit, offset))


# ------------------------------------------------------------------- settings


@router.get("/settings/monitor", tags=["settings"])
def monitor_settings(ctx: Ctx, _who: Viewer) -> Response:
    """Security > Certificate Monitor."""
    return json_response(ctx.app.monitor.settings().to_json())


@router.patch("/settings/monitor", tags=["settings"], responses=_problems(403, 422))
def change_monitor_settings(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {
                    "start_days": 30,
                    "frequency": "1d",
                    "email_enabled": True,
                    "lsc_enabled": False,
                    "emails": "pki@example.org; noc@example.org",
                }
            ]
        ),
    ],
) -> Response:
    """Change Certificate Monitor settings: start_days, frequency (12h, 2d), email_enabled,
    lsc_enabled, emails (semicolon-separated or a list)."""
    return json_response(save_monitor_settings(ctx.app, who, body))


@router.get("/settings/revocation", tags=["settings"])
def revocation_settings(ctx: Ctx, _who: Viewer) -> Response:
    """Security > Certificate Revocation."""
    return json_response(ctx.app.revocation.settings().to_dict())


@router.patch("/settings/revocation", tags=["settings"], responses=_problems(403, 422))
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


@router.patch("/settings/enterprise", tags=["settings"], responses=_problems(403, 422))
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


@router.put("/settings/common-criteria", tags=["settings"], responses=_problems(403, 422))
def change_common_criteria(ctx: Ctx, who: Admin, body: schemas.CommonCriteriaIn) -> Response:
    return json_response(save_common_criteria(ctx.app, who, body.common_criteria))


@router.get("/settings/smtp", tags=["settings"])
def smtp_settings(ctx: Ctx, _who: Admin) -> Response:
    """The mail server for notices (the password is never shown)."""
    data = ctx.app.outbox.stored_smtp_settings().to_json()
    return json_response(data | {"environment_overrides": list(ctx.app.outbox.env_overrides)})


@router.patch("/settings/smtp", tags=["settings"], responses=_problems(403, 422))
def change_smtp_settings(
    ctx: Ctx,
    who: Admin,
    body: Annotated[
        dict[str, Any],
        Body(examples=[{"host": "mail.example.org", "port": 587, "security": "starttls"}]),
    ],
) -> Response:
    return json_response(save_smtp_settings(ctx.app, who, body))


# ----------------------------------------------------------- services, checks


@router.get("/services", tags=["services"])
def services(ctx: Ctx, _who: Viewer) -> Response:
    """Every background service with its status, last and next run."""
    app = ctx.app
    monitor = app.monitor.status().to_json()
    others = [s.to_json() for s in app.overview.service_states() if s.name != monitor["service"]]
    return json_response(
        {"monitor": monitor, "others": others, "outbox_pending": app.outbox.pending_count()}
    )


@router.get("/services/monitor", tags=["services"])
def monitor_status(ctx: Ctx, _who: Viewer) -> Response:
    """The Certificate Expiry Monitor: status, last and next run and why."""
    return json_response(ctx.app.monitor.status().to_json())


@router.post("/services/monitor/{action}", tags=["services"], responses=_problems(403, 422))
def control_monitor(
    ctx: Ctx,
    who: Admin,
    action: Annotated[str, Path(pattern="^(start|stop|restart|run-now)$")],
) -> Response:
    """Start, stop, restart or run the Certificate Expiry Monitor now."""
    message = monitor_action(ctx.app, who, action)
    return json_response({"message": message, "status": ctx.app.monitor.status().to_json()})


@router.post(
    "/certificates/{ref}/check",
    tags=["revocation"],
    responses=_problems(403, 404, 409, 422),
)
def check_one(ctx: Ctx, who: Admin, ref: str) -> Response:
    """Check one certificate's revocation status now (recorded in its history)."""
    record = ctx.app.inventory.get(ref)
    return json_response(check_certificates(ctx.app, who, [record.id]).to_json())


@router.post("/revocation/check", tags=["revocation"], responses=_problems(403, 404, 422))
def check_many(ctx: Ctx, who: Admin, body: schemas.CheckIn) -> Response:
    """Check the named certificates (IDs or SHA-256), or every monitored one with ``all``."""
    if body.all:
        report = ctx.app.revocation.check(all_monitored=True)
        ctx.app.users.audit(who.actor, "revocation.check_all", "", report.counts())
        return json_response(report.to_json())
    if not body.refs:
        raise InputError("name certificates in refs (IDs or SHA-256), or set all to true")
    return json_response(check_certificates(ctx.app, who, body.refs).to_json())


# --------------------------------------------------------------------- outbox


@router.get("/outbox", tags=["outbox"])
def outbox(
    ctx: Ctx,
    _who: Viewer,
    state: Annotated[str | None, Query(pattern="^(pending|sent)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Notices, newest first, with their delivery state."""
    app = ctx.app
    counts = app.overview.outbox_counts()
    total = counts.get(state, 0) if state else sum(counts.values())
    entries = app.outbox.list(state=state, limit=min(offset + limit, 100_000))[offset:]
    return json_response(_page([e.to_json() for e in entries], total, limit, offset))


@router.get("/outbox/{entry_id}", tags=["outbox"], responses=_problems(404))
def outbox_entry(ctx: Ctx, _who: Viewer, entry_id: RowId) -> Response:
    """One notice with its body."""
    app = ctx.app
    body = app.outbox.body(entry_id)
    entry = next((e for e in app.outbox.list(limit=100_000) if e.id == entry_id), None)
    if entry is None:
        raise NotFoundError(f"no outbox notice with ID {entry_id}")
    return json_response(entry.to_json() | {"body": body})


@router.post("/outbox/deliver", tags=["outbox"], responses=_problems(403))
def deliver(ctx: Ctx, who: Admin) -> Response:
    """Try every notice that is due now."""
    report = ctx.app.outbox.deliver_due()
    ctx.app.users.audit(who.actor, "outbox.deliver", "", report.to_json())
    return json_response(report.to_json())


# ----------------------------------------------------------------------- demo


@router.get("/demo/mail", tags=["demo"], responses=_problems(404))
def demo_mail(ctx: Ctx, _who: Viewer, limit: Limit = 100, offset: Offset = 0) -> Response:
    """Mail captured by the demo's in-process mail server (only with ``serve --demo``)."""
    if ctx.demo_inbox is None:
        raise NotFoundError("there is no captured-mail inbox: it exists only with serve --demo")
    messages = list(ctx.demo_inbox.messages())[::-1]
    chosen = messages[offset : offset + limit]
    items = [
        {
            "id": m.id,
            "received_at": iso(m.received_at),
            "from": m.sender,
            "to": list(m.recipients),
            "subject": m.subject,
            "body": m.body,
        }
        for m in chosen
    ]
    return json_response(_page(items, len(messages), limit, offset))
