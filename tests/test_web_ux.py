"""The web UI speaks its own language (plain HTTP through the app): upload
refusals name the page's fields, not CLI options; the Control Center names no
command; a browser gets pages (404, sign-in for the API docs) while API
clients keep JSON; a viewer sees read-only forms.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.demo.pki import build_demo_pki, import_demo
from certwarden.demo.responder import DemoResponder, load_responder_keys
from tests.pki_files import p12, small_pki
from tests.web_support import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    WebSetup,
    asgi_client,
    login,
    make_setup,
)

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
CLI_WORDS = ("--password-file", "--password-env", "--force", "certwarden import")


@pytest.fixture
def setup(app: App) -> WebSetup:
    return make_setup(app)


def _rejected(html: str) -> list[str]:
    block = re.search(r"<h3 class=\"small\">Rejected</h3>(.*?)</ul>", html, re.S)
    assert block, "no Rejected list on the page"
    return re.findall(r"<li role=\"alert\">(.*?)</li>", block.group(1), re.S)


async def test_a_pkcs12_without_its_password_is_refused_in_the_pages_words(
    setup: WebSetup, clock: ManualClock
) -> None:
    pki = small_pki(clock.now())
    data = p12(pki.leaves[0], [pki.root.cert], b"s3cret-pw")
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        response = await browser.post(
            "/certificates/upload",
            data={"csrf_token": csrf, "store": "tomcat"},
            files={"files": ("bundle.p12", data, "application/x-pkcs12")},
        )
        assert response.status_code == 422
        (problem,) = _rejected(response.text)
        assert "enter the password in the PKCS#12 password field" in problem
        assert not any(word in problem for word in CLI_WORDS), problem
        # The field it names is on the page.
        assert '<label for="f-password">PKCS#12 password</label>' in response.text
        # With the password it is stored.
        stored = await browser.post(
            "/certificates/upload",
            data={"csrf_token": csrf, "store": "tomcat", "password": "s3cret-pw"},
            files={"files": ("bundle.p12", data, "application/x-pkcs12")},
        )
        assert (
            stored.status_code == 200 and "2 imported, 0 already there, 0 rejected" in stored.text
        )


async def test_a_revoked_upload_says_tick_store_anyway(
    setup: WebSetup, clock: ManualClock, tmp_path: Path
) -> None:
    app = setup.app
    pki = build_demo_pki(tmp_path / "pki", clock.now())
    import_demo(app.inventory, pki)
    responder = DemoResponder(load_responder_keys(pki), clock).start()
    try:
        app.revocation.update_settings(
            {"enable_ocsp": True, "responder_source": "configured", "configured_uri": responder.url}
        )
        leaf = (pki.servers_dir / "revoked.demo.test.pem").read_bytes()
        async with asgi_client(setup.web) as browser:
            csrf = await login(browser, "admin", ADMIN_PASSWORD)
            refused = await browser.post(
                "/certificates/upload",
                data={"csrf_token": csrf, "store": "tomcat"},
                files={"files": ("revoked.pem", leaf, "application/x-pem-file")},
            )
            assert refused.status_code == 422
            (problem,) = _rejected(refused.text)
            assert "refused by the revocation check" in problem and "revoked" in problem
            assert "tick Store anyway" in problem
            assert not any(word in problem for word in CLI_WORDS), problem
            assert "> Store anyway</label>" in refused.text
            forced = await browser.post(
                "/certificates/upload",
                data={"csrf_token": csrf, "store": "tomcat", "force": "true"},
                files={"files": ("revoked.pem", leaf, "application/x-pem-file")},
            )
            assert forced.status_code == 200 and "1 imported" in forced.text
            assert "stored despite the revocation check, as asked" in forced.text
            assert "--force" not in forced.text
        async with asgi_client(setup.web, setup.admin_token) as api:
            again = await api.post(
                "/api/v1/certificates",
                data={"store": "tomcat-trust"},
                files={"files": ("revoked.pem", leaf, "application/x-pem-file")},
            )
            rejected = again.json()["report"]["rejected"]
            assert rejected[0]["code"] == "refused_by_revocation_check"
    finally:
        responder.stop()


async def test_the_control_center_names_no_command(setup: WebSetup) -> None:
    setup.app.monitor.stop()
    async with asgi_client(setup.web) as browser:
        await login(browser, "admin", ADMIN_PASSWORD)
        page = await browser.get("/control-center")
        assert page.status_code == 200
        assert "certwarden monitor" not in page.text
        assert "Press Start to schedule them" in page.text
        monitor = await browser.get("/security/monitor")
        assert "certwarden monitor" not in monitor.text


async def test_a_browser_gets_a_404_page_and_an_api_client_json(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        await login(browser, "admin", ADMIN_PASSWORD)
        page = await browser.get("/no/such/page", headers=HTML)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in page.text
        assert "there is no page at /no/such/page" in page.text
        assert 'href="/"' in page.text  # the way back
        wants_json = await browser.get("/no/such/page", headers={"accept": "application/json"})
        assert wants_json.status_code == 404 and wants_json.json() == {"detail": "Not Found"}
        api = await browser.get("/api/v1/no-such-thing", headers=HTML)
        assert api.status_code == 404 and api.headers["content-type"] == "application/json"
        button = await browser.get("/control-center/monitor/stop", headers=HTML)
        assert button.status_code == 405 and "<h1>Not a page</h1>" in button.text
        missing = await browser.get("/certificates/999999", headers=HTML)
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    async with asgi_client(setup.web, setup.admin_token) as token_client:
        unknown = await token_client.get("/no/such/page")
        assert unknown.status_code == 404 and unknown.json() == {"detail": "Not Found"}


async def test_the_api_docs_send_a_signed_out_browser_to_sign_in(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as anonymous:
        browser = await anonymous.get("/api/docs", headers=HTML)
        assert browser.status_code == 303
        assert browser.headers["location"] == "/login?next=%2Fapi%2Fdocs"
        client = await anonymous.get("/api/docs", headers={"accept": "application/json"})
        assert client.status_code == 401 and "detail" in client.json()
        spec = await anonymous.get("/api/openapi.json", headers=HTML)
        assert spec.status_code == 401 and spec.headers["content-type"] == "application/json"
        api = await anonymous.get("/api/v1/certificates", headers=HTML)
        assert api.status_code == 401


SETTINGS_PAGES = (
    "/security/monitor",
    "/security/revocation",
    "/security/enterprise",
    "/security/common-criteria",
    "/security/mail",
)


@pytest.mark.parametrize("path", SETTINGS_PAGES)
async def test_a_viewer_sees_read_only_forms_and_an_admin_editable_ones(
    setup: WebSetup, path: str
) -> None:
    async with asgi_client(setup.web) as viewer:
        await login(viewer, "viewer", VIEWER_PASSWORD)
        page = (await viewer.get(path)).text
        form = re.search(r"<form class=\"panel\" method=\"post\".*?</form>", page, re.S)
        assert form, path
        assert '<fieldset class="form-body" disabled' in form.group(0)
        assert 'type="submit"' not in form.group(0)
        assert "Read-only: viewers cannot change settings." in page
    async with asgi_client(setup.web) as admin:
        await login(admin, "admin", ADMIN_PASSWORD)
        page = (await admin.get(path)).text
        form = re.search(r"<form class=\"panel\" method=\"post\".*?</form>", page, re.S)
        assert form, path
        assert "disabled aria-describedby" not in form.group(0)
        assert 'type="submit"' in form.group(0)


async def test_field_errors_use_one_markup_everywhere(setup: WebSetup) -> None:
    """The frequency (a fieldset) and the e-mail list (a field) show alike."""
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        response = await browser.post(
            "/security/monitor",
            data={
                "csrf_token": csrf,
                "start_days": "30",
                "frequency_number": "0",
                "frequency_unit": "hours",
                "email_enabled": "true",
                "emails": "not-an-address",
            },
        )
        assert response.status_code == 422
        errors = re.findall(r'<div class="error" id="e-(\w+)" role="alert">', response.text)
        assert set(errors) >= {"frequency", "emails"}
    css = (
        Path(__file__).parent.parent / "src/certwarden/interfaces/web/static/style.css"
    ).read_text()
    assert 'div.error[id^="e-"] {' in css and ".field .error" not in css


async def test_stop_asks_first_and_changes_nothing_until_confirmed(setup: WebSetup) -> None:
    app = setup.app
    app.monitor.start()
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        asked = await browser.post("/control-center/monitor/stop", data={"csrf_token": csrf})
        assert asked.status_code == 200
        assert "Stop the Certificate Expiry Monitor?" in asked.text
        assert '<input type="hidden" name="confirm" value="yes">' in asked.text
        assert 'href="/control-center">Cancel</a>' in asked.text
        assert app.monitor.status().status.value == "running"
        done = await browser.post(
            "/control-center/monitor/stop", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert done.status_code == 303
        assert app.monitor.status().status.value == "stopped"
        # The confirmation is a form like any other: without the CSRF token it is refused.
        forged = await browser.post("/control-center/monitor/start", data={"confirm": "yes"})
        assert forged.status_code == 403
        # Start needs no confirmation.
        started = await browser.post("/control-center/monitor/start", data={"csrf_token": csrf})
        assert started.status_code == 303 and app.monitor.status().status.value == "running"


async def test_common_criteria_on_asks_first_off_does_not(setup: WebSetup) -> None:
    app = setup.app
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        asked = await browser.post(
            "/security/common-criteria", data={"csrf_token": csrf, "common_criteria": "true"}
        )
        assert asked.status_code == 200 and "Turn Common Criteria mode on?" in asked.text
        assert '<input type="hidden" name="common_criteria" value="true">' in asked.text
        assert not app.revocation.security().common_criteria
        done = await browser.post(
            "/security/common-criteria",
            data={"csrf_token": csrf, "common_criteria": "true", "confirm": "yes"},
        )
        assert done.status_code == 303 and app.revocation.security().common_criteria
        off = await browser.post(
            "/security/common-criteria", data={"csrf_token": csrf, "common_criteria": "false"}
        )
        assert off.status_code == 303 and not app.revocation.security().common_criteria
    # The API is for scripts: it takes the change as asked.
    async with asgi_client(setup.web, setup.admin_token) as api:
        stop = await api.post("/api/v1/services/monitor/stop")
        assert stop.status_code == 200, stop.text
        assert app.monitor.status().status.value == "stopped"
