"""Monitored TLS endpoints (Inventory) and syslog forwarding (Operations):
list, add, probe and remove endpoints; the syslog server, its CA and its state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from certwarden.core.tls import StartTls, parse_host_port
from certwarden.errors import ConflictError, InputError, InvalidFieldsError, NotFoundError
from certwarden.interfaces.web.actions import (
    add_endpoint,
    probe_endpoints,
    remove_endpoint,
    save_syslog_settings,
)
from certwarden.interfaces.web.context import Admin, Ctx, RowId, Viewer, WebContext
from certwarden.interfaces.web.pages.forms import FormData, FormPage, Refusal
from certwarden.interfaces.web.rendering import redirect

__all__ = ["router"]

router = APIRouter()

STARTTLS_CHOICES = [("", "none (TLS from the first byte)")] + [
    (s.value, s.value.upper()) for s in StartTls
]

ENDPOINTS = FormPage(
    "endpoints.html",
    "Monitored endpoints",
    "/endpoints",
    crumbs=(("Inventory", "/certificates"),),
    context=lambda ctx: {
        "endpoints": ctx.app.endpoints.list(),
        "change_damping": ctx.app.endpoints.change_settings().to_json()["damping"],
        "starttls_choices": STARTTLS_CHOICES,
    },
)


@router.get("/endpoints", response_class=HTMLResponse)
def endpoints(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return ENDPOINTS.show(request, ctx, who, {"target": "", "starttls": "", "servername": ""})


def _checked_fields(target: str, starttls: str, servername: str) -> None:
    """Each field's problem beside it (the service names only the first)."""
    errors: dict[str, str] = {}
    try:
        parse_host_port(target)
    except InputError as exc:
        errors["target"] = str(exc)
    if starttls and starttls not in {s.value for s in StartTls}:
        errors["starttls"] = f"{starttls!r} is not one of {', '.join(s.value for s in StartTls)}"
    if servername:
        try:
            parse_host_port(servername, default_port=1)
        except InputError as exc:
            errors["servername"] = f"not a host name: {exc}"
    if errors:
        raise InvalidFieldsError(errors)


@router.post("/endpoints", response_class=HTMLResponse)
def add(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    target = form.get("target", "").strip()
    starttls = form.get("starttls", "").strip()
    servername = form.get("servername", "").strip()

    def save() -> str:
        _checked_fields(target, starttls, servername)
        return add_endpoint(ctx.app, who, target, starttls, servername).where

    return ENDPOINTS.submit(
        request,
        ctx,
        who,
        save,
        shown={"target": target, "starttls": starttls, "servername": servername},
        flash=lambda where: (
            f"Monitoring {where}: it is probed on every Certificate Monitor run "
            "(Probe now to see its certificate at once)."
        ),
        refusals=(
            Refusal(InvalidFieldsError),
            Refusal(ConflictError, 409, "target"),
            Refusal(InputError, 422, "target"),
        ),
    )


@router.post("/endpoints/probe")
def probe_all(request: Request, ctx: Ctx, who: Admin) -> Response:
    return _probed(request, probe_endpoints(ctx.app, who, None))


GONE = "That endpoint is not monitored any more (removed meanwhile?)."


@router.post("/endpoints/{endpoint_id}/probe")
def probe_one(request: Request, ctx: Ctx, who: Admin, endpoint_id: RowId) -> Response:
    try:
        results = probe_endpoints(ctx.app, who, endpoint_id)
    except NotFoundError:
        return redirect(request, "/endpoints", flash=GONE, kind="error")
    return _probed(request, results)


def _probed(request: Request, results: list[Any]) -> Response:
    if not results:
        return redirect(
            request, "/endpoints", flash="There are no endpoints to probe.", kind="info"
        )
    failed = [r for r in results if not r.ok]
    parts = [
        f"{r.endpoint}: "
        + ("ok" if r.ok else f"unreachable ({r.error})")
        + (" — renewed" if r.ok and r.renewed_from else "")
        for r in results
    ]
    return redirect(
        request,
        "/endpoints",
        flash="Probed " + "; ".join(parts) + ".",
        kind="error" if failed else "ok",
    )


@router.post("/endpoints/{endpoint_id}/remove")
def remove(request: Request, ctx: Ctx, who: Admin, endpoint_id: RowId) -> Response:
    try:
        record, removed = remove_endpoint(ctx.app, who, endpoint_id)
    except NotFoundError:
        return redirect(request, "/endpoints", flash=GONE, kind="error")
    text = f"Stopped monitoring {record.where}"
    if removed:
        text += f"; {removed} certificate(s) left the store endpoints"
    return redirect(request, "/endpoints", flash=text + ".")


# ---------------------------------------------------------------------- syslog


def _syslog_context(ctx: WebContext) -> dict[str, Any]:
    return {"status": ctx.app.syslog.status()}


SYSLOG = FormPage(
    "syslog.html",
    "Syslog forwarding",
    "/operations/syslog",
    crumbs=(("Operations", "/control-center"),),
    context=_syslog_context,
)


def _syslog_values(ctx: WebContext) -> dict[str, Any]:
    current = ctx.app.syslog.settings()
    return {
        "enabled": current.enabled,
        "server": current.server,
        "servername": current.servername,
        "app_name": current.app_name,
        "ca_pem": "",
    }


@router.get("/operations/syslog", response_class=HTMLResponse)
def syslog(request: Request, ctx: Ctx, who: Viewer) -> Response:
    return SYSLOG.show(request, ctx, who, _syslog_values(ctx))


def _in_page_words(errors: dict[str, str]) -> dict[str, str]:
    # The settings word a missing CA for the CLI (--ca FILE); the page has a field.
    return {
        name: message.replace("(--ca FILE)", "(paste them in CA certificates)")
        for name, message in errors.items()
    }


@router.post("/operations/syslog", response_class=HTMLResponse)
def save_syslog(request: Request, ctx: Ctx, who: Admin, form: FormData) -> Response:
    values: dict[str, Any] = {
        "enabled": form.get("enabled") == "true",
        "server": form.get("server", "").strip(),
        "servername": form.get("servername", "").strip(),
        "app_name": form.get("app_name", "").strip() or "certwarden",
    }
    ca_pem = form.get("ca_pem", "").strip()
    if ca_pem:
        values["ca_pem"] = ca_pem  # empty keeps the stored CA
    shown = {**values, "ca_pem": ca_pem}
    try:
        save_syslog_settings(ctx.app, who, values)
    except InvalidFieldsError as exc:
        return SYSLOG.show(request, ctx, who, shown, _in_page_words(exc.errors), 422)
    return redirect(request, "/operations/syslog", flash="Syslog forwarding settings saved.")
