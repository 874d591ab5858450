"""Small 500s and leaks (issue 11, item 9): every path and query number is
validated, 500s carry the security headers, HEAD works where GET does, and a
viewer does not see where the mail goes."""

from __future__ import annotations

import pytest

from certwarden.composition import App
from tests.web_support import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    WebSetup,
    asgi_client,
    login,
    make_setup,
)

HARDENING = ("x-content-type-options", "x-frame-options", "referrer-policy", "cache-control")
THIRTY_DIGITS = "9" * 30


@pytest.fixture
def setup(app: App) -> WebSetup:
    return make_setup(app)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/certificates/\u00b2",
        "/api/v1/certificates/\u00b2/export",
        "/api/v1/certificates/\u00b2/chain",
        "/api/v1/certificates/\u00b2/issued",
        "/api/v1/certificates/\u0663",  # an Arabic-Indic three: int() would read it
        f"/api/v1/certificates/{THIRTY_DIGITS}",
        f"/api/v1/certificates/{THIRTY_DIGITS}/export",
        f"/api/v1/certificates/1/ocsp-checks/{THIRTY_DIGITS}/response",
        f"/api/v1/outbox/{THIRTY_DIGITS}",
        "/api/v1/outbox/\u00b2",
        f"/api/v1/tokens/{THIRTY_DIGITS}",
    ],
)
async def test_api_numbers_are_validated(setup: WebSetup, path: str) -> None:
    method = "DELETE" if path.startswith("/api/v1/tokens/") else "GET"
    async with asgi_client(setup.web, setup.admin_token) as admin:
        response = await admin.request(method, path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "query",
    ["open=\u00b2", f"open={THIRTY_DIGITS}", "open=-1", "open=0", "open=1e3", "open=\u0663"],
)
async def test_outbox_page_refuses_a_bad_open_number(setup: WebSetup, query: str) -> None:
    async with asgi_client(setup.web) as browser:
        await login(browser, "admin", ADMIN_PASSWORD)
        response = await browser.get(f"/outbox?{query}")
    assert response.status_code == 422, (query, response.status_code)
    assert "open" in response.text and "is not a number" in response.text


@pytest.mark.parametrize(
    "path", [f"/certificates/{THIRTY_DIGITS}", "/certificates/\u00b2", "/alerts?offset=\u00b2"]
)
async def test_page_numbers_are_validated(setup: WebSetup, path: str) -> None:
    async with asgi_client(setup.web) as browser:
        await login(browser, "admin", ADMIN_PASSWORD)
        response = await browser.get(path)
    # The list pages fall back to their default page; an ID path is refused.
    assert response.status_code in {200, 404, 422}, (path, response.status_code)


async def test_unexpected_errors_carry_the_security_headers(setup: WebSetup) -> None:
    def boom() -> None:
        raise RuntimeError("SELECT secret FROM somewhere")  # a bug, with SQL in its text

    setup.web.add_api_route("/api/v1/test-boom", boom, methods=["GET"])
    async with asgi_client(setup.web, setup.admin_token) as admin:
        response = await admin.get("/api/v1/test-boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error; the server log has the details"}
    for header in HARDENING:
        assert header in response.headers, header
    assert "SELECT" not in response.text


@pytest.mark.parametrize("path", ["/health", "/login", "/metrics"])
async def test_head_answers_like_get(setup: WebSetup, path: str) -> None:
    async with asgi_client(setup.web) as anonymous:
        got = await anonymous.get(path)
        head = await anonymous.head(path)
    assert got.status_code == 200
    assert head.status_code == 200, head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert "x-content-type-options" in head.headers


async def test_head_on_a_private_page_still_needs_a_session(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as anonymous:
        assert (await anonymous.head("/certificates")).status_code == 303
        assert (await anonymous.head("/api/v1/certificates")).status_code == 401


async def test_a_viewer_does_not_see_the_smtp_host_or_user(setup: WebSetup) -> None:
    setup.app.outbox.update_smtp_settings(
        {"host": "mail.internal.example", "username": "relay-user", "password": "s3cret-pw"}
    )
    async with asgi_client(setup.web) as viewer:
        await login(viewer, "viewer", VIEWER_PASSWORD)
        page = (await viewer.get("/security/mail")).text
    assert "mail.internal.example" not in page and "relay-user" not in page
    assert "s3cret-pw" not in page and "administrators only" in page
    async with asgi_client(setup.web) as admin:
        await login(admin, "admin", ADMIN_PASSWORD)
        page = (await admin.get("/security/mail")).text
    assert "mail.internal.example" in page and "relay-user" in page
    assert "s3cret-pw" not in page
