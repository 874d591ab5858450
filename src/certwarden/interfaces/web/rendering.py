"""Templates, the navigation, flash messages and form helpers shared by the pages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from certwarden.clock import ensure_utc
from certwarden.interfaces.web.context import WebContext
from certwarden.interfaces.web.security import Principal
from certwarden.services.inventory import CertificateRecord

__all__ = [
    "FLASH_COOKIE",
    "build_templates",
    "expiry_state_of",
    "form_values",
    "redirect",
    "render",
]

FLASH_COOKIE = "cw_flash"
TEMPLATES = files("certwarden.interfaces.web") / "templates"


def _dt(value: datetime | None) -> str:
    if value is None:
        return "—"
    return ensure_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def build_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dt"] = _dt
    env.globals["static"] = lambda name: f"/static/{name}"
    return Jinja2Templates(env=env)


def expiry_state_of(window: timedelta, now: datetime) -> Callable[[CertificateRecord], str]:
    def state(record: CertificateRecord) -> str:
        if now > record.not_after:
            return "expired"
        if record.not_after <= now + window:
            return "expiring"
        return "valid"

    return state


def navigation(ctx: WebContext, who: Principal) -> list[tuple[str, list[tuple[str, str]]]]:
    nav: list[tuple[str, list[tuple[str, str]]]] = [
        ("Overview", [("Dashboard", "/")]),
        (
            "Inventory",
            [("Certificates", "/certificates")]
            + ([("Upload", "/certificates/upload")] if who.is_admin else [])
            + [("Trust stores", "/stores"), ("Monitored endpoints", "/endpoints")],
        ),
        (
            "Security",
            [
                ("Certificate Monitor", "/security/monitor"),
                ("Certificate Revocation", "/security/revocation"),
                ("CRLs", "/security/crls"),
                ("Enterprise Parameters", "/security/enterprise"),
                ("Common Criteria mode", "/security/common-criteria"),
                ("Mail server", "/security/mail"),
                ("Notifications", "/security/notifications"),
            ],
        ),
        (
            "Operations",
            [
                ("Control Center", "/control-center"),
                ("Open alerts", "/alerts/open"),
                ("Alert log", "/alerts"),
                ("Notice outbox", "/outbox"),
                ("Syslog forwarding", "/operations/syslog"),
            ]
            + ([("Captured mail (demo)", "/mail")] if ctx.demo_inbox is not None else []),
        ),
    ]
    if who.is_admin:
        nav.append(
            (
                "Administration",
                [
                    ("Users", "/admin/users"),
                    ("API tokens", "/admin/tokens"),
                    ("Audit log", "/admin/audit"),
                ],
            )
        )
    nav.append(("Help", [("REST API docs", "/api/docs"), ("Metrics", "/metrics")]))
    return nav


def render(
    request: Request,
    ctx: WebContext,
    who: Principal,
    template: str,
    *,
    title: str,
    active: str,
    status_code: int = 200,
    crumbs: list[tuple[str, str]] | None = None,
    **context: Any,
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    flash_raw = request.cookies.get(FLASH_COOKIE)
    flash = None
    if flash_raw:
        kind, _, text = _unquote(flash_raw).partition(":")
        if kind in {"ok", "error", "info"}:
            flash = {"kind": kind, "text": text}
    values = {
        "title": title,
        "active": active,
        "who": who,
        "csrf": ctx.codec.csrf_token(who.nonce) if who.nonce else "",
        "nav": navigation(ctx, who),
        "crumbs": crumbs or [],
        "flash": flash,
        "demo": ctx.demo_inbox is not None,
        "is_admin": who.is_admin,
        "errors": {},
    }
    values.update(context)
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    if flash_raw:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def redirect(
    request: Request, url: str, *, flash: str | None = None, kind: str = "ok"
) -> RedirectResponse:
    """Post/redirect/get, with an optional one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            quote(f"{kind}:{flash}"[:1500]),
            max_age=120,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """A submitted form as ``name -> last value`` strings (files dropped)."""
    out: dict[str, str] = {}
    for key, value in form.items():
        if isinstance(value, str):
            out[key] = value
    return out


def query_url(path: str, params: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")
