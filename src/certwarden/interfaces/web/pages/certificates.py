"""The certificate pages: the filtered list, one certificate (its chain, what
it issued, its OCSP checks), downloads of it and of its kept OCSP responses,
deletion and a revocation check on demand. Uploading is in :mod:`.upload`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.composition import App
from certwarden.core.ocsp.results import describe
from certwarden.errors import InputError, InvalidFieldsError, NotFoundError
from certwarden.interfaces.web.actions import check_certificates, delete_certificate
from certwarden.interfaces.web.context import Admin, Ctx, RowId, Viewer, notification_window
from certwarden.interfaces.web.downloads import attachment
from certwarden.interfaces.web.pages.forms import int_param
from certwarden.interfaces.web.rendering import expiry_state_of, query_url, redirect, render
from certwarden.interfaces.web.security import Principal
from certwarden.services.readmodel import STATES, CertificateQuery, Page

__all__ = ["STATE_LABELS", "router"]

STATE_LABELS = {
    "valid": "valid (outside the window)",
    "expiring": "in the notification window",
    "expired": "expired",
    "good": "good",
    "revoked": "revoked",
    "unknown": "unknown to the responder",
    "could_not_tell": "could not tell",
    "not_checked": "not checked",
    "exempt": "exempt (ocsp-nocheck responder, not checked by design)",
}

router = APIRouter()


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
        limit=int_param(params.get("limit"), 50, 1, 500),
        offset=int_param(params.get("offset"), 0, 0, 10_000_000),
    )
    window = notification_window(app)
    try:
        page = app.overview.search(query, window=window)
    except InvalidFieldsError as exc:
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


@router.get("/certificates/{cert_id}", response_class=HTMLResponse)
def certificate(request: Request, ctx: Ctx, who: Viewer, cert_id: RowId) -> Response:
    app = ctx.app
    record = app.inventory.get(cert_id)
    now = app.clock.now()
    window = notification_window(app)
    checks, checks_total = app.overview.ocsp_history(record.id, limit=25)
    issued, issued_total = app.overview.issued(record.id, limit=20)
    renewal = app.ari.get(record.id)
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
        renewal=renewal,
        explanation_link=_http_link(renewal.explanation_url if renewal else None),
        now=now,
        expiry_state=expiry_state_of(window, now),
    )


def _http_link(url: str | None) -> str | None:
    """``url`` when it may be a link (http or https, nothing else: it is the CA's text)."""
    if url and url.lower().startswith(("https://", "http://")) and url.isprintable():
        return url
    return None


@router.get("/certificates/{cert_id}/download")
def download(ctx: Ctx, _who: Viewer, cert_id: RowId, format: str = "pem") -> Response:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if format not in {"pem", "der"}:
        raise InputError(f"{format!r} is not a format; use pem or der")
    record = ctx.app.inventory.get(cert_id)
    der = ctx.app.inventory.der(record.id)
    name = record.subject_cn or f"certificate-{record.id}"
    fallback = f"certificate-{record.id}"
    if format == "der":
        return Response(
            der,
            media_type="application/pkix-cert",
            headers={"content-disposition": attachment(name, ".cer", fallback=fallback)},
        )
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    return Response(
        pem,
        media_type="application/x-pem-file",
        headers={"content-disposition": attachment(name, ".pem", fallback=fallback)},
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


def check_certificate(app: App, who: Principal, cert_id: int) -> tuple[str, str]:
    """Check one certificate's revocation status now; a message for the page and its kind."""
    report = check_certificates(app, who, [cert_id])
    if not report.outcomes:
        return "; ".join(report.skipped) or "nothing was checked", "info"
    outcome = report.outcomes[0]
    kind = {"good": "ok", "revoked": "error"}.get(outcome.result.status.value, "info")
    return f"OCSP: {describe(outcome.result)} — {outcome.verdict.why}", kind


@router.post("/certificates/{cert_id}/check")
def check(request: Request, ctx: Ctx, who: Admin, cert_id: RowId) -> Response:
    message, kind = check_certificate(ctx.app, who, cert_id)
    return redirect(request, f"/certificates/{cert_id}", flash=message, kind=kind)
