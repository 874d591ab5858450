"""The ASGI application: :func:`create_app` wires the API, the pages, login,
metrics, static files and the error handling around one :class:`App`.

Nothing is built at import time; ``certwarden serve`` (and the tests) call
``create_app(app)``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

import certwarden
from certwarden.composition import App
from certwarden.errors import (
    BusyError,
    CertwardenError,
    ConfigurationError,
    ConflictError,
    InputError,
    InvalidFieldsError,
    NotFoundError,
    NotificationError,
    OcspError,
    StorageError,
)
from certwarden.interfaces.web import api, pages
from certwarden.interfaces.web.context import (
    MailInbox,
    NotSignedIn,
    WebContext,
    notification_window,
    principal_of,
)
from certwarden.interfaces.web.login import install_login_routes
from certwarden.interfaces.web.metrics import MetricsOptions, MetricsRegistry
from certwarden.interfaces.web.rendering import build_templates, render
from certwarden.interfaces.web.security import (
    AuthGate,
    Receive,
    Scope,
    Send,
    SessionCodec,
)
from certwarden.services.accounts import AuthenticationError, LoginThrottledError

__all__ = ["create_app"]

log = logging.getLogger("certwarden.web")

STATIC = Path(__file__).parent / "static"
LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _swagger_assets() -> Path | None:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "static"
    return path if (path / "swagger-ui-bundle.js").exists() else None


def _status_for(exc: CertwardenError) -> int:
    if isinstance(exc, LoginThrottledError):
        return 429
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, OcspError | NotificationError):
        return 502
    if isinstance(exc, StorageError | BusyError):
        return 503
    if isinstance(exc, ConfigurationError):
        return 500
    return 400


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/metrics" or principal_of(request) is None


HTML_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI boots from an inline script.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


INTERNAL_ERROR = b'{"detail":"internal error; the server log has the details"}'


class SecurityHeaders:
    """Adds the usual hardening headers; HTML gets a strict Content-Security-Policy.

    An unexpected exception is answered here with a plain 500 (and logged), so that
    the 500 carries the same headers as every other answer: Starlette's own error
    handler sits outside every middleware.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        https = scope.get("scheme") == "https"
        started = False

        async def wrapped(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    csp = DOCS_CSP if path == "/api/docs" else HTML_CSP
                    extra.append((b"content-security-policy", csp.encode()))
                if not path.startswith("/static/") and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if https:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers + [(k, v) for k, v in extra if k not in names]
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if started:
                raise  # the answer is half sent: the server closes the connection
            await wrapped(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(INTERNAL_ERROR)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": INTERNAL_ERROR})


class HeadAsGet:
    """HEAD answered as GET without the body (RFC 9110 9.3.2), for every GET route:
    monitoring probes and load balancers ask ``HEAD /health``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def no_body(message: Any) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return  # the GET's body is dropped; only its end is sent
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, no_body)


def create_app(
    app: App,
    *,
    demo_inbox: MailInbox | None = None,
    demo_notes: Sequence[str] = (),
    metrics_public: bool = True,
    metrics: MetricsOptions | None = None,
    lifespan_hooks: Sequence[LifespanHook] = (),
) -> FastAPI:
    """The certwarden web application (UI, API, metrics) over ``app``.

    Args:
        demo_inbox: the captured mail of ``serve --demo`` (shown at ``/mail``).
        metrics_public: serve ``/metrics`` without authentication (on by default,
            as Prometheus scrapers expect); off, it takes an API token.
        metrics: the per-certificate switch and the cache's refresh interval.
        lifespan_hooks: async context managers entered at startup and left at
            shutdown (``serve`` runs its background loop in one).
    """

    @asynccontextmanager
    async def lifespan(web: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(_metrics_refresher(web.state.metrics))
            for hook in lifespan_hooks:
                await stack.enter_async_context(hook(web))
            yield

    web = FastAPI(
        title="certwarden",
        version=certwarden.__version__ if hasattr(certwarden, "__version__") else "0.1.0",
        summary="Trust-store inventory, expiry notices and OCSP revocation checks.",
        description=(
            "Every request needs an API token: `Authorization: Bearer cwt_...` "
            "(create one under Administration > API tokens, or `certwarden tokens create`). "
            "Field names match the CLI's `--json` output; lists are paginated with "
            '`limit`/`offset` and carry `total`; errors are `{"detail": ...}`.'
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    codec = SessionCodec(app.users, app.clock)
    ctx = WebContext(
        app=app,
        codec=codec,
        demo_inbox=demo_inbox,
        demo_notes=list(demo_notes),
        metrics_public=metrics_public,
    )
    web.state.ctx = ctx
    web.state.templates = build_templates()
    web.state.metrics = MetricsRegistry(app, lambda: notification_window(app), metrics)

    swagger = _swagger_assets()
    if swagger is not None:
        web.mount("/static/swagger", StaticFiles(directory=swagger), name="swagger")
    web.mount("/static", StaticFiles(directory=STATIC), name="static")

    install_login_routes(web, ctx)
    _install_misc_routes(web, ctx, swagger is not None)
    web.include_router(api.router)
    web.include_router(pages.router)
    _install_error_handlers(web, ctx)

    web.add_middleware(AuthGate, codec=codec, users=app.users, metrics_public=metrics_public)
    web.add_middleware(SecurityHeaders)
    web.add_middleware(HeadAsGet)
    return web


METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PartsResponse(Response):
    """A response sent as several body messages: big shared bytes (the cached
    metrics text) go out as they are, never joined into a copy per request."""

    def __init__(self, parts: Sequence[bytes], media_type: str) -> None:
        super().__init__(b"", media_type=media_type)
        self.parts = tuple(parts)
        self.headers["content-length"] = str(sum(len(p) for p in self.parts))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        for index, part in enumerate(self.parts):
            last = index == len(self.parts) - 1
            await send({"type": "http.response.body", "body": part, "more_body": not last})


def _install_misc_routes(web: FastAPI, ctx: WebContext, has_swagger: bool) -> None:
    @web.get("/health", include_in_schema=False)
    def health() -> JSONResponse:
        ctx.app.users.count_users()  # the database answers
        return JSONResponse({"status": "ok", "database": "ok"})

    @web.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @web.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        registry: MetricsRegistry = web.state.metrics
        summary = request.query_params.get("detail") == "summary"
        try:
            cached = registry.cache.get_cached(summary=summary)
        except LookupError:  # nothing usable yet: rendered off the event loop, once
            cached = await asyncio.to_thread(registry.cache.get, summary=summary)
        return PartsResponse((cached, registry.loop_text()), METRICS_TYPE)

    @web.get("/api/docs", include_in_schema=False)
    def docs() -> Response:
        if not has_swagger:
            raise NotFoundError("the API docs assets (swagger-ui-py) are not installed")
        page: Response = get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="certwarden API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": False},
        )
        return page


@asynccontextmanager
async def _metrics_refresher(registry: MetricsRegistry) -> AsyncIterator[None]:
    """Keeps the ``/metrics`` text current in a worker thread while the app runs."""
    cache = registry.cache
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(cache.refresh)
            except Exception:
                log.exception("rendering the /metrics text failed (scrapes render it)")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=cache.refresh_seconds)

    cache.background = True
    task = asyncio.create_task(loop(), name="certwarden-metrics")
    try:
        yield
    finally:
        cache.background = False
        stop.set()
        await task


def _install_error_handlers(web: FastAPI, ctx: WebContext) -> None:
    def page_error(request: Request, status: int, message: str) -> Response:
        principal = principal_of(request)
        if principal is None or _wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return render(
            request,
            ctx,
            principal,
            "error.html",
            title={
                401: "Not signed in",
                403: "Not allowed",
                404: "Not found",
                409: "Conflict",
                422: "Not accepted",
                429: "Too many requests",
            }.get(status, "Something went wrong"),
            active="",
            status_code=status,
            message=message,
        )

    @web.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        return RedirectResponse("/login", status_code=303)

    @web.exception_handler(CertwardenError)
    async def certwarden_error(request: Request, exc: CertwardenError) -> Response:
        status = _status_for(exc)
        if _wants_json(request):
            body: dict[str, Any] = {"detail": exc.diagnostics()}
            if isinstance(exc, InvalidFieldsError):
                body["errors"] = exc.errors
            headers = {"retry-after": str(exc.retry_after)} if isinstance(exc, BusyError) else None
            return JSONResponse(body, status_code=status, headers=headers)
        return page_error(request, status, exc.diagnostics())

    @web.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return page_error(request, exc.status_code, str(exc.detail))

    @web.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        if _wants_json(request):
            return JSONResponse({"detail": [_clean(p) for p in problems]}, status_code=422)
        text = "; ".join(
            f"{'.'.join(str(x) for x in p.get('loc', ())[1:])}: {p.get('msg')}" for p in problems
        )
        return page_error(request, 422, f"the request was not understood: {text}")

    @web.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "internal error; the server log has the details"}, status_code=500
        )


def _clean(problem: Any) -> dict[str, Any]:
    """A validation problem without the raw input echoed back (it may be a password)."""
    return {k: v for k, v in dict(problem).items() if k in {"type", "loc", "msg"}}
