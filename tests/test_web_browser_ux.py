"""The UI's own language in a real browser (Debian's Chromium through
Playwright): confirmations before Stop and before Common Criteria on (with
JavaScript and without), a viewer's read-only forms, the 404 page, the test
e-mail to a real aiosmtpd server and the monitored endpoints page against a
real ``openssl s_server``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from certwarden.composition import App
from tests.smtp_fixture import SmtpServer
from tests.test_web_browser import ARGS, CHROMIUM, nav, shot, sign_in
from tests.tls_servers import SServer, TlsPki, start_s_server, tls_pki
from tests.web_support import VIEWER_PASSWORD, Served, make_setup, serve_in_thread

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
def served(app: App) -> Iterator[Served]:
    setup = make_setup(app)
    with serve_in_thread(setup.web) as running:
        yield running


def _page(browser: Browser, served: Served, *, javascript: bool) -> Iterator[Page]:
    context = browser.new_context(
        base_url=served.base_url,
        viewport={"width": 1360, "height": 900},
        java_script_enabled=javascript,
    )
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    yield from _page(browser, served, javascript=True)


@pytest.fixture
def plain_page(browser: Browser, served: Served) -> Iterator[Page]:
    """JavaScript off: every confirmation must still happen."""
    yield from _page(browser, served, javascript=False)


def test_stop_asks_first_in_a_dialog(page: Page, app: App) -> None:
    sign_in(page)
    nav(page, "Control Center")
    status = page.locator("#monitor-status")
    expect(status).to_have_text("Running")
    questions: list[str] = []

    def dismiss(dialog: object) -> None:
        questions.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_timeout(300)
    assert questions and questions[0].startswith("Stop the Certificate Expiry Monitor?")
    expect(status).to_have_text("Running")
    assert app.monitor.status().status.value == "running"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(status).to_have_text("Stopped")
    expect(page.locator("#monitor-explanation")).to_have_text(
        "Stopped: no runs are scheduled. Press Start to schedule them."
    )
    assert app.monitor.status().status.value == "stopped"


def test_stop_asks_first_on_a_page_without_javascript(plain_page: Page, app: App) -> None:
    page = plain_page
    sign_in(page)
    nav(page, "Control Center")
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.get_by_role("heading", name="Stop the Certificate Expiry Monitor?")).to_be_visible()
    assert app.monitor.status().status.value == "running"
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#monitor-status")).to_have_text("Running")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_role("button", name="Stop the monitor").click()
    expect(page.locator("#monitor-status")).to_have_text("Stopped")
    expect(page.get_by_role("status")).to_contain_text("Certificate Expiry Monitor stopped")
    assert app.monitor.status().status.value == "stopped"


def test_common_criteria_on_asks_first_with_and_without_javascript(
    page: Page, plain_page: Page, app: App
) -> None:
    sign_in(page)
    nav(page, "Common Criteria mode")
    page.get_by_label("Enable Common Criteria mode").check()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Save").click()
    page.wait_for_timeout(300)
    assert not app.revocation.security().common_criteria
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Common Criteria mode is now on")
    assert app.revocation.security().common_criteria
    # Turning it off asks nothing.
    page.get_by_label("Enable Common Criteria mode").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Common Criteria mode is now off")

    plain = plain_page
    sign_in(plain)
    nav(plain, "Common Criteria mode")
    plain.get_by_label("Enable Common Criteria mode").check()
    plain.get_by_role("button", name="Save").click()
    expect(plain.get_by_role("heading", name="Turn Common Criteria mode on?")).to_be_visible()
    assert not app.revocation.security().common_criteria
    plain.get_by_role("button", name="Turn Common Criteria mode on").click()
    expect(plain.get_by_role("status")).to_contain_text("Common Criteria mode is now on")
    assert app.revocation.security().common_criteria


def test_a_viewer_sees_read_only_forms(page: Page) -> None:
    sign_in(page, "viewer", VIEWER_PASSWORD)
    for link, field in (
        ("Certificate Monitor", "E-mail IDs"),
        ("Certificate Revocation", "OCSP Configured URI"),
        ("Mail server", "Host"),
        ("Common Criteria mode", "Enable Common Criteria mode"),
        ("Syslog forwarding", "Syslog server (HOST:PORT)"),
        ("Monitored endpoints", "Endpoint (HOST:PORT)"),
    ):
        nav(page, link)
        expect(page.get_by_label(field, exact=True)).to_be_disabled()
        expect(page.locator("main button[type=submit]")).to_have_count(0)
        expect(page.get_by_text("Read-only: viewers cannot change settings.").first).to_be_visible()
    nav(page, "Control Center")
    expect(page.get_by_role("button", name="Stop", exact=True)).to_have_count(0)
    shot(page, "viewer-control-center")


def test_an_unknown_address_shows_a_page(page: Page) -> None:
    sign_in(page)
    response = page.goto("/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("there is no page at /no/such/page")
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_the_api_docs_ask_a_signed_out_browser_to_sign_in(page: Page) -> None:
    page.goto("/api/docs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fapi%2Fdocs$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_send_a_test_email_to_a_real_server(page: Page, app: App, smtp_server: SmtpServer) -> None:
    sign_in(page)
    nav(page, "Mail server")
    page.get_by_label("Host", exact=True).fill("127.0.0.1")
    page.get_by_label("Port", exact=True).fill(str(smtp_server.port))
    page.get_by_label("Connection security").select_option("none")
    page.get_by_label("Public URL of this UI").fill("https://certwarden.example.org/")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Mail server settings saved")
    page.get_by_label("Send to").fill("ops@example.org")
    page.get_by_role("button", name="Send test e-mail").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Test message sent to ops@example.org through 127.0.0.1:{smtp_server.port}"
    )
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ("ops@example.org",)
    assert mail.subject == "[certwarden] Test message: mail delivery works"
    assert "https://certwarden.example.org/security/mail" in mail.body
    # A refusal is shown, not hidden.
    smtp_server.refuse("554 5.7.1 No thanks")
    page.get_by_label("Send to").fill("ops@example.org")
    page.get_by_role("button", name="Send test e-mail").click()
    expect(page.get_by_role("status")).to_contain_text("The test message was not sent")
    expect(page.get_by_role("status")).to_contain_text("554")
    # The inputs are wide enough for an address list.
    box = page.get_by_label("Send to").bounding_box()
    assert box is not None and box["width"] >= 400
    shot(page, "settings-mail-server")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return tls_pki(tmp_path_factory.mktemp("browser-tls"))


@pytest.fixture
def tls_server(pki: TlsPki) -> Iterator[SServer]:
    running = start_s_server(pki, "good")
    try:
        yield running
    finally:
        running.stop()


def test_the_endpoints_page(page: Page, app: App, tls_server: SServer, tmp_path: Path) -> None:
    target = f"127.0.0.1:{tls_server.port}"
    sign_in(page)
    nav(page, "Monitored endpoints")
    expect(page.get_by_text("No monitored endpoints yet.")).to_be_visible()
    page.get_by_label("Endpoint (HOST:PORT)").fill("127.0.0.1")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#e-target")).to_contain_text("give the port too")
    expect(page.get_by_label("Endpoint (HOST:PORT)")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Endpoint (HOST:PORT)").fill(target)
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("status")).to_contain_text(f"Monitoring {target}")
    row = page.get_by_role("row").filter(has_text=target)
    expect(row).to_contain_text("not probed")
    row.get_by_role("button", name=f"Probe {target} now").click()
    expect(page.get_by_role("status")).to_contain_text(f"Probed {target}: ok.")
    row = page.get_by_role("row").filter(has_text=target)
    expect(row.get_by_role("link", name=re.compile("good.tls.test"))).to_be_visible()
    shot(page, "monitored-endpoints")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Remove {target}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Stopped monitoring {target}")
    assert app.endpoints.list() == []
