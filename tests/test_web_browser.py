"""The web UI in a real browser: Debian's Chromium driven by Playwright,
against the app served by uvicorn on a loopback port.

Screenshots of the dashboard, a certificate's detail page and both settings
pages are saved under ``test-artifacts/`` (not committed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.demo.pki import build_demo_pki, import_demo
from certwarden.demo.responder import DemoResponder, load_responder_keys
from tests.pki_files import pem, small_pki
from tests.web_support import ADMIN_PASSWORD, Served, make_setup, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def served(app: App, tmp_path: Path) -> Iterator[Served]:
    """The app with the demo PKI, served on a free loopback port."""
    setup = make_setup(app)
    import_demo(app.inventory, build_demo_pki(tmp_path / "pki", app.clock.now()))
    with serve_in_thread(setup.web) as running:
        yield running


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    context = browser.new_context(base_url=served.base_url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def sign_in(page: Page, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def nav(page: Page, name: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_an_anonymous_visit_to_any_page_lands_on_the_login_page(page: Page) -> None:
    for path in (
        "/",
        "/certificates",
        "/certificates/3",
        "/security/monitor",
        "/security/revocation",
        "/control-center",
        "/admin/users",
        "/no-such-page",
    ):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/login(\?|$)"))
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # Signing in from a deep link returns to it.
    page.goto("/certificates?state=expired")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/certificates\?state=expired$"))
    expect(page.get_by_role("link", name="expired.demo.test")).to_be_visible()


def test_wrong_password_is_refused(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_upload_a_certificate_and_find_it_in_the_list(
    page: Page, clock: ManualClock, tmp_path: Path
) -> None:
    leaf = small_pki(clock.now()).leaves[2]  # leaf2.test, 45 days left
    file = tmp_path / "leaf2.pem"
    file.write_bytes(pem(leaf.cert))
    sign_in(page)
    nav(page, "Upload")
    page.get_by_label("Certificate files").set_input_files(str(file))
    page.get_by_label("Target trust store").select_option("tomcat")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("1 imported, 0 already there, 0 rejected")).to_be_visible()
    nav(page, "Certificates")
    page.get_by_label("Search").fill("leaf2.test")
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_role("row").filter(has_text="leaf2.test")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("tomcat")
    expect(row).to_contain_text("45.0")
    row.get_by_role("link", name="leaf2.test").click()
    expect(page.get_by_role("heading", name="leaf2.test")).to_be_visible()
    expect(page.get_by_text("Issuer chain")).to_be_visible()


def test_monitor_settings_show_the_error_beside_the_field(page: Page) -> None:
    sign_in(page)
    nav(page, "Certificate Monitor")
    page.get_by_label("Enable E-mail notification").check()
    emails = page.get_by_label("E-mail IDs")
    emails.fill("pki@example.org; not an address")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#e-emails")
    expect(error).to_be_visible()
    expect(error).to_contain_text("'not an address'")
    expect(emails).to_have_attribute("aria-invalid", "true")
    expect(emails).to_have_attribute("aria-describedby", re.compile("e-emails"))
    # The message sits right under its field.
    field_box, error_box = emails.bounding_box(), error.bounding_box()
    assert field_box and error_box and 0 <= error_box["y"] - field_box["y"] < 120
    emails.fill("pki@example.org; noc@example.org")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Certificate Monitor settings saved")
    page.reload()
    expect(page.get_by_label("E-mail IDs")).to_have_value("pki@example.org; noc@example.org")
    expect(page.get_by_label("Enable E-mail notification")).to_be_checked()
    expect(page.locator("#e-emails")).to_have_count(0)
    shot(page, "settings-certificate-monitor")


def test_enable_ocsp_with_a_configured_uri(
    page: Page, app: App, clock: ManualClock, tmp_path: Path
) -> None:
    responder = DemoResponder(
        load_responder_keys(build_demo_pki(tmp_path / "pki", clock.now())), clock
    ).start()
    try:
        sign_in(page)
        nav(page, "Certificate Revocation")
        page.get_by_label("Enable OCSP").check()
        page.get_by_label("Use configured OCSP URI").check()
        page.get_by_label("OCSP Configured URI").fill("ftp://wrong.example/")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#e-configured_uri")).to_contain_text("http:// or https://")
        page.get_by_label("OCSP Configured URI").fill(responder.url)
        page.get_by_label("Enable Revocation Check").check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Certificate Revocation settings saved")
        settings = app.revocation.settings()
        assert settings.enable_ocsp and settings.configured_uri == responder.url
        assert settings.responder_source.value == "configured"
        page.get_by_role("button", name="Check all monitored certificates now").click()
        expect(page.get_by_role("status")).to_contain_text("Checked 11 certificate(s)")
        shot(page, "settings-certificate-revocation")
        # The detail page of a revoked certificate shows the OCSP history.
        nav(page, "Certificates")
        page.get_by_label("State").select_option("revoked")
        page.get_by_role("link", name="revoked.demo.test").click()
        history = page.locator("section[aria-labelledby=h-ocsp] .table-wrap tbody tr")
        expect(history).to_have_count(1)
        expect(history).to_contain_text("keyCompromise")
        expect(history).to_contain_text("delegated")
        expect(
            page.get_by_role("link", name="certwarden Demo Issuing CA", exact=True)
        ).to_be_visible()
        shot(page, "certificate-detail")
        assert responder.requests >= 8
        app.monitor.run_now()  # alerts too, for the dashboard's picture
        nav(page, "Dashboard")
        expect(page.locator("a.tile.bad[href$='state=revoked'] .n")).to_have_text("3")
        shot(page, "dashboard")
    finally:
        responder.stop()


def test_stop_and_start_the_monitor_in_the_control_center(page: Page, app: App) -> None:
    sign_in(page)
    nav(page, "Control Center")
    status = page.locator("#monitor-status")
    expect(status).to_have_text("Running")
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_disabled()
    page.once("dialog", lambda dialog: dialog.accept())  # "Stop the ... Monitor?"
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(status).to_have_text("Stopped")
    assert app.monitor.status().status.value == "stopped"
    page.get_by_role("button", name="Start", exact=True).click()
    expect(status).to_have_text("Running")
    expect(page.get_by_role("status")).to_contain_text("Certificate Expiry Monitor started")
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("Run finished")
    nav(page, "Dashboard")
    expect(page.get_by_role("heading", name="Recent alerts")).to_be_visible()
    expect(page.locator("svg[role=img] rect")).to_have_count(27)
