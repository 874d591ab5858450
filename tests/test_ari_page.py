"""The ACME renewal window (RFC 9773) on a certificate's page, rendered from what the
real ARI watch fetched from a local RFC 9773 server (tests/test_ari.py's AriServer).

The page itself is covered in Chromium by tests/test_web_browser.py; here the
rendered HTML: window start and end, open or not, moved earlier, the CA's
explanation URL as escaped text (a link only for http(s)), last check, next
check (Retry-After).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.interfaces.web.pages.certificates import _http_link
from tests.conftest import T0
from tests.fakeca import DAY, FakeCA
from tests.test_ari import AriServer
from tests.web_support import VIEWER_PASSWORD, WebSetup, asgi_client, login, make_setup

HOSTILE = 'https://ca.example/incident?id="><script>alert(1)</script>&x=1'


@pytest.fixture
def ari_server() -> Iterator[AriServer]:
    s = AriServer().start()
    yield s
    s.stop()


def _import(app: App, *certs: x509.Certificate) -> list[int]:
    files = [(f"c{i}.pem", c.public_bytes(serialization.Encoding.PEM)) for i, c in enumerate(certs)]
    report = app.inventory.commit(app.inventory.prepare_bytes(files, store="tomcat"))
    return [c.id for c in report.imported]


async def _page(setup: WebSetup, cert_id: int) -> str:
    async with asgi_client(setup.web) as client:
        await login(client, "viewer", VIEWER_PASSWORD)
        response = await client.get(f"/certificates/{cert_id}")
    assert response.status_code == 200
    match = re.search(r'<section[^>]*id="ari">(.*?)</section>', response.text, re.S)
    assert match, "no ARI section on the page"
    return match.group(1)


async def test_the_window_its_explanation_and_the_next_check(
    app: App, clock: ManualClock, ari_server: AriServer
) -> None:
    ca = FakeCA.root()
    leaf = ca.leaf("acme.example.test", not_after=T0 + 60 * DAY).cert
    _, leaf_id = _import(app, ca.cert, leaf)
    app.ari.set_directory("store", "tomcat", ari_server.directory)
    ari_server.window(leaf, T0 + 20 * DAY, T0 + 22 * DAY, retry_after="7200")
    assert app.ari.tick(clock.now()).updated == 1

    setup = make_setup(app)
    section = await _page(setup, leaf_id)
    assert "2026-06-21 12:00 UTC – 2026-06-23 12:00 UTC" in section
    assert "not open yet" in section
    assert "Last checked</th><td>2026-06-01 12:00 UTC" in section
    assert "Next check</th><td>2026-06-01 14:00 UTC" in section  # Retry-After: 2 hours
    assert "/renewalInfo/" in section and "moved earlier" not in section

    # The CA moves the window earlier, with an explanation full of markup.
    clock.advance(timedelta(hours=3))
    ari_server.window(leaf, T0 + DAY, T0 + 3 * DAY, explanation=HOSTILE)
    assert app.ari.tick(clock.now()).updated == 1
    clock.advance(2 * DAY)
    section = await _page(setup, leaf_id)
    assert "open: renew now" in section
    assert "moved earlier by the CA (from 2026-06-21 12:00 UTC)" in section
    assert "<script>" not in section
    escaped = (
        "https://ca.example/incident?id=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;x=1"
    )
    assert f'<a href="{escaped}" rel="noopener noreferrer nofollow">{escaped}</a>' in section


async def test_a_certificate_without_renewal_information_has_no_section(app: App) -> None:
    ca = FakeCA.root()
    (cert_id,) = _import(app, ca.cert)
    setup = make_setup(app)
    async with asgi_client(setup.web) as client:
        await login(client, "viewer", VIEWER_PASSWORD)
        html = (await client.get(f"/certificates/{cert_id}")).text
    assert 'id="ari"' not in html and "Identity" in html


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://ca.example/x", "https://ca.example/x"),
        ("HTTP://ca.example/x", "HTTP://ca.example/x"),
        ("javascript:alert(1)", None),
        ("data:text/html,<b>x</b>", None),
        ("https://ca.example/\nx", None),
        (None, None),
    ],
)
def test_only_http_urls_become_links(url: str | None, link: str | None) -> None:
    assert _http_link(url) == link
