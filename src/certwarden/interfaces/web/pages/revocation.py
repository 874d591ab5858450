"""Security > Certificate Revocation, Enterprise Parameters and Common
Criteria mode: the settings that decide when certificates are checked over
OCSP and what an answer means, plus "check every certificate now"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.core.ocsp import CertStatus
from certwarden.core.policy import POLICY_TABLE
from certwarden.core.revocation_settings import recheck_interval
from certwarden.interfaces.web.actions import (
    save_common_criteria,
    save_params,
    save_revocation_settings,
)
from certwarden.interfaces.web.context import Admin, Ctx, Viewer, WebContext
from certwarden.interfaces.web.pages.forms import FormData, FormPage
from certwarden.interfaces.web.rendering import redirect
from certwarden.services.revocation import SERVICE_NAME as REVOCATION_SERVICE

__all__ = ["router"]

router = APIRouter()


def _revocation_context(ctx: WebContext) -> dict[str, Any]:
    state = next(
        (s for s in ctx.app.overview.service_states() if s.name == REVOCATION_SERVICE), None
    )
    return {
        "stores": ctx.app.inventory.list_stores(),
        "state": state,
        "common_criteria": ctx.app.revocation.security().common_criteria,
    }


def _params_context(ctx: WebContext) -> dict[str, Any]:
    service = ctx.app.revocation
    return {
        "effective": recheck_interval(service.settings(), service.params()),
        "revocation": service.settings(),
    }


def _policy_context(ctx: WebContext) -> dict[str, Any]:
    statuses = list(CertStatus)
    table = [
        (s.value, POLICY_TABLE[(False, s)].value, POLICY_TABLE[(True, s)].value) for s in statuses
    ]
    return {"on": ctx.app.revocation.security().common_criteria, "table": table}


REVOCATION = FormPage(
    "revocation.html",
    "Certificate Revocation",
    "/security/revocation",
    crumbs=(("Security", "/security/revocation"),),
    context=_revocation_context,
)
ENTERPRISE = FormPage(
    "enterprise.html",
    "Enterprise Parameters",
    "/security/enterprise",
    crumbs=(("Security", "/security/enterprise"),),
    context=_params_context,
)
COMMON_CRITERIA = FormPage(
    "common_criteria.html",
    "Common Criteria mode",
    "/security/common-criteria",
    crumbs=(("Security", "/security/common-criteria"),),
    context=_policy_context,
)

REVOCATION_FIELDS = (
    "enable_ocsp",
    "responder_source",
    "configured_uri",
    "enable_revocation_check",
    "check_every",
    "check_every_unit",
    "hash_algorithm",
    "nonce",
    "method",
    "connect_timeout",
    "total_timeout",
    "trusted_responder_store",
    "clock_skew_seconds",
    "max_age_hours",
    "legacy_signatures",
    # CRLs (issue 13)
    "enable_crl",
    "order",
    "crl_max_mib",
    "crl_timeout",
    "crl_refresh_margin_minutes",
    "crl_fetch_floor_minutes",
)
CHECKBOXES = ("enable_ocsp", "enable_revocation_check", "enable_crl")


@router.get("/security/revocation", response_class=HTMLResponse)
def revocation_settings(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return REVOCATION.show(request, ctx, who, ctx.app.revocation.settings().to_dict())


@router.post("/security/revocation", response_class=HTMLResponse)
def save_revocation(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    values: dict[str, Any] = {name: form[name] for name in REVOCATION_FIELDS if name in form}
    for box in CHECKBOXES:
        values.setdefault(box, "false")

    def shown() -> dict[str, Any]:
        # What was typed over what is stored; the boxes as booleans.
        current = ctx.app.revocation.settings().to_dict() | values
        for box in CHECKBOXES:
            current[box] = values[box] == "true"
        return current

    return REVOCATION.submit(
        request,
        ctx,
        who,
        lambda: save_revocation_settings(ctx.app, who, values),
        shown=shown,
        flash="Certificate Revocation settings saved.",
    )


@router.post("/security/revocation/check-all")
def check_all(request: Request, ctx: Ctx, who: Admin) -> Response:
    report = ctx.app.revocation.check(all_monitored=True)
    counts = report.counts()
    ctx.app.users.audit(who.actor, "revocation.check_all", "", counts)
    summary = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items() if n)
    return redirect(
        request,
        "/security/revocation",
        flash=f"Checked {len(report.outcomes)} certificate(s): {summary or 'nothing to check'}.",
        kind="ok" if not counts.get("revoked") else "error",
    )


@router.get("/security/enterprise", response_class=HTMLResponse)
def params(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return ENTERPRISE.show(request, ctx, who, ctx.app.revocation.params().to_dict())


@router.post("/security/enterprise", response_class=HTMLResponse)
def save_enterprise(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    values = {
        "certificate_validity_check": form.get("certificate_validity_check", "false"),
        "validity_check_frequency_hours": form.get("validity_check_frequency_hours", ""),
    }
    return ENTERPRISE.submit(
        request,
        ctx,
        who,
        lambda: save_params(ctx.app, who, values),
        shown=values,
        flash="Enterprise parameters saved.",
    )


@router.get("/security/common-criteria", response_class=HTMLResponse)
def common_criteria(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return COMMON_CRITERIA.show(request, ctx, who)


@router.post("/security/common-criteria")
def save_cc(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    on = form.get("common_criteria") == "true"
    # A checkbox cannot be wrong: nothing is refused, any error is the handlers'.
    return COMMON_CRITERIA.submit(
        request,
        ctx,
        who,
        lambda: save_common_criteria(ctx.app, who, on),
        shown={},
        flash=f"Common Criteria mode is now {'on' if on else 'off'}.",
        refusals=(),
    )
