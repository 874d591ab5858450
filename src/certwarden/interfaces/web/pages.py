"""The web admin UI: server-rendered pages over the same services as the API.

Forms post back to the server and work without JavaScript. Every
state-changing request must carry the session's CSRF token (checked once, for
the whole router, by :func:`csrf_protect`). Changes are redirected
(post/redirect/get) with a one-time message; a form with bad fields is shown
again with each error next to its field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from certwarden.errors import ConflictError, InputError, NotFoundError, SettingsError
from certwarden.interfaces.web.charts import timeline_svg
from certwarden.interfaces.web.context import (
    Admin,
    Ctx,
    RowId,
    Viewer,
    WebContext,
    notification_window,
)
from certwarden.interfaces.web.forms import FormData, csrf_protect
from certwarden.interfaces.web.operations import (
    MAX_UPLOAD_BYTES,
    check_certificate,
    delete_certificate,
    import_upload,
    service_rows,
)
from certwarden.interfaces.web.rendering import (
    expiry_state_of,
    form_values,
    query_url,
    redirect,
    render,
)
from certwarden.interfaces.web.security import SESSION_COOKIE
from certwarden.services.readmodel import STATES, CertificateQuery, Page
from certwarden.services.shared.alerts import AlertKind

__all__ = ["router"]

STATE_LABELS = {
    "valid": "valid (outside the window)",
    "expiring": "in the notification window",
    "expired": "expired",
    "good": "good",
    "revoked": "revoked",
    "unknown": "unknown to the responder",
    "could_not_tell": "could not tell",
    "not_checked": "not checked",
}


router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value not in (None, "") else default
    except ValueError:
        return default
    return min(max(number, low), high)


# ------------------------------------------------------------------ dashboard


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, ctx: Ctx, who: Viewer) -> Response:
    app = ctx.app
    now = app.clock.now()
    window = notification_window(app)
    weeks = 26
    counts = app.overview.counts(window=window)
    buckets = app.overview.timeline(weeks=weeks)
    alerts, _ = app.overview.alerts(limit=8)
    soonest = app.overview.search(CertificateQuery(min_days=0, limit=8), window=window).items
    return render(
        request,
        ctx,
        who,
        "dashboard.html",
        title="Dashboard",
        active="/",
        counts=counts,
        chart=timeline_svg(buckets, now=now, window=window),
        weeks=weeks,
        alerts=alerts,
        soonest=soonest,
        now=now,
        expiry_state=expiry_state_of(window, now),
        services=service_rows(app),
        outbox_counts=app.overview.outbox_counts(),
    )


# --------------------------------------------------------------- certificates


def _float(raw: str | None, name: str, errors: dict[str, str]) -> float | None:
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        errors[name] = f"{raw!r} is not a number of days"
        return None


@router.get("/certificates", response_class=HTMLResponse)
def certificates(request: Request, ctx: Ctx, who: Viewer) -> Response:
    app = ctx.app
    params = request.query_params
    errors: dict[str, str] = {}
    lsc_raw = params.get("lsc", "")
    state = params.get("state") or None
    if state is not None and state not in STATES:
        errors["state"] = f"{state!r} is not a state"
        state = None
    query = CertificateQuery(
        store=params.get("store") or None,
        state=state,
        lsc=True if lsc_raw == "true" else False if lsc_raw == "false" else None,
        min_days=_float(params.get("min_days"), "min_days", errors),
        max_days=_float(params.get("max_days"), "max_days", errors),
        text=params.get("q") or None,
        limit=_int(params.get("limit"), 50, 1, 500),
        offset=_int(params.get("offset"), 0, 0, 10_000_000),
    )
    window = notification_window(app)
    try:
        page = app.overview.search(query, window=window)
    except SettingsError as exc:
        errors.update(exc.errors)
        page = Page([], 0, query.limit, 0)
    except NotFoundError as exc:
        errors["store"] = str(exc)
        page = Page([], 0, query.limit, 0)
    raw = {k: params.get(k, "") for k in ("min_days", "max_days")}
    base = {
        "q": query.text,
        "store": query.store,
        "state": query.state,
        "lsc": lsc_raw,
        "min_days": raw["min_days"],
        "max_days": raw["max_days"],
        "limit": query.limit if query.limit != 50 else None,
    }
    now = app.clock.now()
    return render(
        request,
        ctx,
        who,
        "certificates.html",
        title="Certificates",
        active="/certificates",
        page=page,
        query=query,
        raw=raw,
        errors=errors,
        stores=app.inventory.list_stores(),
        state_labels=STATE_LABELS,
        now=now,
        expiry_state=expiry_state_of(window, now),
        page_url=lambda offset: query_url("/certificates", base | {"offset": offset or None}),
    )


@router.get("/certificates/upload", response_class=HTMLResponse)
def upload_form(request: Request, ctx: Ctx, who: Admin) -> Response:
    return render(
        request,
        ctx,
        who,
        "upload.html",
        title="Upload certificates",
        active="/certificates/upload",
        crumbs=[("Certificates", "/certificates")],
        stores=ctx.app.inventory.list_stores(),
        store=request.query_params.get("store", "tomcat-trust"),
        lsc=False,
        report=None,
    )


@router.post("/certificates/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    ctx: Ctx,
    who: Admin,
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    form = form_values(await request.form())
    store = form.get("store", "")
    errors: dict[str, str] = {}
    contents: list[tuple[str, bytes]] = []
    size = 0
    for item in files or []:
        data = await item.read(MAX_UPLOAD_BYTES + 1)
        size += len(data)
        if item.filename or data:
            contents.append((item.filename or "upload", data))
    if not contents:
        errors["files"] = "choose at least one file"
    elif size > MAX_UPLOAD_BYTES:
        errors["files"] = f"the files add up to more than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB"
    report = None
    status = 200
    if not errors:
        try:
            report = await run_in_threadpool(
                import_upload,
                ctx.app,
                who,
                contents,
                store,
                form.get("password") or None,
                form.get("lsc") == "true",
                form.get("force") == "true",
            )
        except NotFoundError as exc:
            errors["store"] = str(exc)
    if errors or (report is not None and report.rejected and not report.imported):
        status = 422
    stores = await run_in_threadpool(ctx.app.inventory.list_stores)
    return render(
        request,
        ctx,
        who,
        "upload.html",
        title="Upload certificates",
        active="/certificates/upload",
        crumbs=[("Certificates", "/certificates")],
        status_code=status,
        stores=stores,
        store=store,
        lsc=form.get("lsc") == "true",
        report=report,
        errors=errors,
    )


@router.get("/certificates/{cert_id}", response_class=HTMLResponse)
def certificate(request: Request, ctx: Ctx, who: Viewer, cert_id: RowId) -> Response:
    app = ctx.app
    record = app.inventory.get(cert_id)
    now = app.clock.now()
    window = notification_window(app)
    checks, checks_total = app.overview.ocsp_history(record.id, limit=25)
    issued, issued_total = app.overview.issued(record.id, limit=20)
    return render(
        request,
        ctx,
        who,
        "certificate.html",
        title=record.subject_cn or record.subject or f"Certificate {record.id}",
        active="/certificates",
        crumbs=[("Certificates", "/certificates")],
        c=record,
        chain=app.overview.chain(record.id),
        issued=issued,
        issued_total=issued_total,
        checks=checks,
        checks_total=checks_total,
        now=now,
        expiry_state=expiry_state_of(window, now),
    )


@router.get("/certificates/{cert_id}/download")
def download(ctx: Ctx, _who: Viewer, cert_id: RowId, format: str = "pem") -> Response:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if format not in {"pem", "der"}:
        raise InputError(f"{format!r} is not a format; use pem or der")
    record = ctx.app.inventory.get(cert_id)
    der = ctx.app.inventory.der(record.id)
    name = "".join(
        ch
        for ch in (record.subject_cn or f"certificate-{record.id}")
        if ch.isalnum() or ch in "._-"
    )
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


@router.get("/certificates/{cert_id}/ocsp/{check_id}.der")
def ocsp_evidence(ctx: Ctx, _who: Viewer, cert_id: RowId, check_id: RowId) -> Response:
    raw = ctx.app.overview.ocsp_response(cert_id, check_id)
    if raw is None:
        raise NotFoundError(f"OCSP check {check_id} kept no response")
    return Response(
        raw,
        media_type="application/ocsp-response",
        headers={"content-disposition": f'attachment; filename="ocsp-{cert_id}-{check_id}.der"'},
    )


@router.post("/certificates/{cert_id}/delete")
def delete(request: Request, ctx: Ctx, who: Admin, cert_id: RowId) -> Response:
    record = delete_certificate(ctx.app, who, cert_id)
    return redirect(
        request,
        f"/certificates?store={record.store}",
        flash=f"Deleted {record.subject_cn or record.subject} from {record.store}.",
    )


@router.post("/certificates/{cert_id}/check")
def check(request: Request, ctx: Ctx, who: Admin, cert_id: RowId) -> Response:
    message, kind = check_certificate(ctx.app, who, cert_id)
    return redirect(request, f"/certificates/{cert_id}", flash=message, kind=kind)


# --------------------------------------------------------------------- stores


@router.get("/stores", response_class=HTMLResponse)
def stores(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return render(
        request,
        ctx,
        who,
        "stores.html",
        title="Trust stores",
        active="/stores",
        stores=ctx.app.inventory.list_stores(),
        values={"name": "", "description": ""},
    )


@router.post("/stores", response_class=HTMLResponse)
def create_store(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    name, description = form.get("name", "").strip(), form.get("description", "").strip()
    try:
        ctx.app.inventory.create_store(name, description)
    except (InputError, ConflictError) as exc:
        return render(
            request,
            ctx,
            who,
            "stores.html",
            title="Trust stores",
            active="/stores",
            status_code=409 if isinstance(exc, ConflictError) else 422,
            stores=ctx.app.inventory.list_stores(),
            values={"name": name, "description": description},
            errors={"name": exc.diagnostics()},
        )
    ctx.app.users.audit(who.actor, "store.create", name, {"description": description})
    return redirect(request, "/stores", flash=f"Created store {name}.")


@router.post("/stores/{name}/delete")
def delete_store(request: Request, ctx: Ctx, who: Admin, name: str, form: FormData) -> Response:
    removed = ctx.app.inventory.delete_store(name, force=form.get("force") == "true")
    ctx.app.users.audit(who.actor, "store.delete", name, {"certificates_removed": removed})
    return redirect(request, "/stores", flash=f"Deleted store {name}.")


# --------------------------------------------------------------------- alerts


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, ctx: Ctx, who: Viewer) -> Response:
    params = request.query_params
    kind = params.get("kind") or None
    limit = _int(params.get("limit"), 50, 1, 500)
    offset = _int(params.get("offset"), 0, 0, 10_000_000)
    items, total = ctx.app.overview.alerts(limit=limit, offset=offset, kind=kind)
    page = Page(items, total, limit, offset)  # type: ignore[arg-type]
    return render(
        request,
        ctx,
        who,
        "alerts.html",
        title="Alert log",
        active="/alerts",
        page=page,
        kind=kind,
        kinds=[k.value for k in AlertKind],
        page_url=lambda off: query_url("/alerts", {"kind": kind, "offset": off or None}),
    )


# -------------------------------------------------------------------- account


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return render(request, ctx, who, "account.html", title="Your account", active="/account")


@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, ctx: Ctx, who: Viewer, form: FormData) -> Response:
    try:
        ctx.app.users.change_own_password(
            who.user.username, form.get("current_password", ""), form.get("new_password", "")
        )
    except SettingsError as exc:
        return render(
            request,
            ctx,
            who,
            "account.html",
            title="Your account",
            active="/account",
            status_code=422,
            errors=exc.errors,
        )
    ctx.app.users.audit(who.actor, "user.password", who.user.username, {"self": True})
    # The old session ends with the old password; sign in again.
    response = RedirectResponse("/login?changed=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------- users, tokens, audit


def _users_page(
    request: Request,
    ctx: WebContext,
    who: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        ctx,
        who,
        "users.html",
        title="Users",
        active="/admin/users",
        status_code=status_code,
        users=ctx.app.users.list_users(),
        values=values or {"username": "", "role": "viewer"},
        errors=errors or {},
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, ctx: Ctx, who: Admin) -> Response:
    return _users_page(request, ctx, who)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    username, role = form.get("username", "").strip(), form.get("role", "viewer")
    try:
        info = ctx.app.users.add_user(username, form.get("password", ""), role)
    except SettingsError as exc:
        return _users_page(
            request,
            ctx,
            who,
            values={"username": username, "role": role},
            errors=exc.errors,
            status_code=422,
        )
    except ConflictError as exc:
        return _users_page(
            request,
            ctx,
            who,
            values={"username": username, "role": role},
            errors={"username": exc.diagnostics()},
            status_code=409,
        )
    ctx.app.users.audit(who.actor, "user.create", info.username, {"role": info.role})
    return redirect(request, "/admin/users", flash=f"Added {info.role} {info.username}.")


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
    except (SettingsError, ConflictError) as exc:
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


def _tokens_page(
    request: Request, ctx: WebContext, who: Any, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    values: dict[str, Any] = {
        "title": "API tokens",
        "active": "/admin/tokens",
        "tokens": ctx.app.users.list_tokens(),
        "users": ctx.app.users.list_users(),
        "values": {"name": "", "username": ""},
        "new_secret": None,
        "new_token": None,
    }
    values.update(extra)
    title, active = values.pop("title"), values.pop("active")
    return render(
        request,
        ctx,
        who,
        "tokens.html",
        title=title,
        active=active,
        status_code=status_code,
        **values,
    )


@router.get("/admin/tokens", response_class=HTMLResponse)
def tokens(request: Request, ctx: Ctx, who: Admin) -> Response:
    return _tokens_page(request, ctx, who)


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    name, owner = form.get("name", ""), form.get("username") or who.user.username
    try:
        info, secret = ctx.app.users.create_token(owner, name)
    except SettingsError as exc:
        return _tokens_page(
            request, ctx, who, 422, values={"name": name, "username": owner}, errors=exc.errors
        )
    except NotFoundError as exc:
        return _tokens_page(
            request,
            ctx,
            who,
            422,
            values={"name": name, "username": owner},
            errors={"username": exc.diagnostics()},
        )
    ctx.app.users.audit(
        who.actor, "token.create", f"#{info.id}", {"user": owner, "name": info.name}
    )
    # Shown in this response only (never redirected through a cookie or URL).
    response = _tokens_page(request, ctx, who, 201, new_secret=secret, new_token=info)
    response.headers["cache-control"] = "no-store"
    return response


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, ctx: Ctx, who: Admin, token_id: RowId) -> Response:
    info = ctx.app.users.revoke_token(token_id)
    ctx.app.users.audit(who.actor, "token.revoke", f"#{token_id}", {"user": info.username})
    return redirect(request, "/admin/tokens", flash=f"Revoked token {info.name}.")


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(request: Request, ctx: Ctx, who: Admin) -> Response:
    params = request.query_params
    limit = _int(params.get("limit"), 100, 1, 500)
    offset = _int(params.get("offset"), 0, 0, 10_000_000)
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
