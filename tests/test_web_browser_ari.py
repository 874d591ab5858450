"""The ACME renewal window on a certificate's page, in a real Chromium (Playwright):
what the ARI watch fetched from a local RFC 9773 server is shown, the CA's
explanation URL is a link to exactly that URL, and markup in it stays text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certwarden.clock import ManualClock
from certwarden.composition import App
from tests.conftest import T0
from tests.fakeca import DAY, FakeCA
from tests.test_ari import AriServer
from tests.test_ari_page import HOSTILE, _import
from tests.test_web_browser import ARGS, CHROMIUM, sign_in
from tests.web_support import make_setup, serve_in_thread

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Page, expect, sync_playwright


@pytest.fixture
def page_on(app: App) -> Iterator[tuple[Page, str]]:
    setup = make_setup(app)
    with serve_in_thread(setup.web) as running, sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = chromium.new_context(base_url=running.base_url)
            context.set_default_timeout(10_000)
            yield context.new_page(), running.base_url
        finally:
            chromium.close()


def test_the_renewal_window_and_its_explanation_link(
    app: App, clock: ManualClock, page_on: tuple[Page, str]
) -> None:
    server = AriServer().start()
    try:
        ca = FakeCA.root()
        leaf = ca.leaf("acme.example.test", not_after=T0 + 60 * DAY).cert
        _, leaf_id = _import(app, ca.cert, leaf)
        app.ari.set_directory("store", "tomcat", server.directory)
        server.window(leaf, T0 - DAY, T0 + DAY, explanation=HOSTILE, retry_after="3600")
        assert app.ari.tick(clock.now()).updated == 1
    finally:
        server.stop()
    page, _base = page_on
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page)
    page.goto(f"/certificates/{leaf_id}")
    section = page.locator("#ari")
    expect(
        section.get_by_role("heading", name="ACME renewal information (RFC 9773)")
    ).to_be_visible()
    expect(section).to_contain_text("2026-05-31 12:00 UTC – 2026-06-02 12:00 UTC")
    expect(section).to_contain_text("open: renew now")
    expect(section).to_contain_text("2026-06-01 13:00 UTC")  # next check: Retry-After 1 hour
    link = section.get_by_role("link", name=HOSTILE)
    expect(link).to_have_attribute("href", HOSTILE)
    assert page.locator("#ari script").count() == 0 and dialogs == []
