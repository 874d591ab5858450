"""The alert lifecycle in the API and the UI: alerts listed by state, one
acknowledged (audited, with its note stored as data), the errors named, and
the Open alerts page's Acknowledge button in a real Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from certwarden.adapters.db.models import AuditEntry
from certwarden.composition import App
from tests.conftest import T0
from tests.monitor_helpers import add_cert
from tests.web_support import ADMIN_PASSWORD, WebSetup, asgi_client, login, make_setup

H = timedelta(hours=1)


@pytest.fixture
def setup(app: App) -> WebSetup:
    """Two certificates expiring in 12 hours and a monitor run: two open alerts."""
    made = make_setup(app)
    add_cert(app, "soon.test", T0 + 12 * H)
    add_cert(app, "later.test", T0 + 13 * H)
    app.monitor.run_now()
    return made


async def test_the_api_lists_by_state_and_acknowledges(setup: WebSetup) -> None:
    async with asgi_client(setup.web, setup.admin_token) as admin:
        listed = (await admin.get("/api/v1/alert-conditions", params={"state": "open"})).json()
        assert listed["total"] == 2 and {a["state"] for a in listed["items"]} == {"open"}
        first = next(a for a in listed["items"] if a["subject"].startswith("soon.test")
                     or "soon.test" in a["message"])  # fmt: skip
        assert first["severity"] == "critical" and len(first["sha256"]) == 64
        bad = await admin.get("/api/v1/alert-conditions", params={"state": "sleeping"})
        assert bad.status_code == 422 and "is not an alert state" in bad.text
        note = "renewal ordered <b>CHG-1</b>"
        done = await admin.post(f"/api/v1/alert-conditions/{first['id']}/ack", json={"note": note})
        assert done.status_code == 200, done.text
        acked = done.json()
        assert acked["state"] == "acknowledged"
        assert acked["acknowledged"]["note"] == note  # stored as given: data, not markup
        assert acked["acknowledged"]["by"] == "admin (token #1)"  # who, and how
        again = await admin.post(f"/api/v1/alert-conditions/{first['id']}/ack", json={})
        assert again.status_code == 409 and "acknowledged already" in again.text
        missing = await admin.post("/api/v1/alert-conditions/999999/ack", json={})
        assert missing.status_code == 404
        control = await admin.post(
            f"/api/v1/alert-conditions/{first['id'] + 1}/ack", json={"note": "a\nb"}
        )
        assert control.status_code == 422 and "note" in control.text
        one = (await admin.get(f"/api/v1/alert-conditions/{first['id'] + 1}")).json()
        assert one["state"] == "open"  # the refused note changed nothing
        still = (await admin.get("/api/v1/alert-conditions", params={"state": "open"})).json()
        assert still["total"] == 1
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        assert (await viewer.get("/api/v1/alert-conditions")).status_code == 200
        refused = await viewer.post(f"/api/v1/alert-conditions/{first['id'] + 1}/ack", json={})
        assert refused.status_code == 403
    with setup.app.db.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry))]
    assert actions.count("alert.acknowledge") == 1


async def test_the_open_alerts_page_acknowledges_with_a_note(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        page = (await browser.get("/alerts/open")).text
        ids = [int(x) for x in re.findall(r'action="/alerts/(\d+)/ack"', page)]
        assert len(ids) == 2
        done = await browser.post(
            f"/alerts/{ids[0]}/ack", data={"csrf_token": csrf, "note": "<script>x</script>"}
        )
        assert done.status_code == 303
        shown = (await browser.get("/alerts/open?state=acknowledged")).text
        assert f"Alert #{ids[0]} acknowledged." in shown
        assert "&lt;script&gt;x&lt;/script&gt;" in shown and "<script>x</script>" not in shown
        again = await browser.post(f"/alerts/{ids[0]}/ack", data={"csrf_token": csrf})
        assert again.status_code == 303
        assert "acknowledged already" in (await browser.get("/alerts/open")).text
        forged = await browser.post(f"/alerts/{ids[1]}/ack", data={"csrf_token": "forged"})
        assert forged.status_code in (400, 403)
    async with asgi_client(setup.web) as viewer:
        await login(viewer, "viewer", "viewer-password-1")
        assert "/ack" not in (await viewer.get("/alerts/open")).text


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium_page(setup: WebSetup) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from tests.test_web_browser import ARGS
    from tests.web_support import serve_in_thread

    with serve_in_thread(setup.web) as running, sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = chromium.new_context(base_url=running.base_url)
            context.set_default_timeout(10_000)
            yield context.new_page()
        finally:
            chromium.close()


@pytest.mark.browser
def test_acknowledge_in_a_real_browser(chromium_page: object, setup: WebSetup) -> None:
    from playwright.sync_api import Page, expect

    page = chromium_page
    assert isinstance(page, Page)
    page.goto("/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Open alerts").click()
    rows = page.locator("#alert-conditions tbody tr")
    expect(rows).to_have_count(2)
    first = rows.first
    alert_id = first.locator("td").first.inner_text().strip()
    first.get_by_label(f"Note for alert {alert_id}").fill("ordered the renewal")
    first.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text(f"Alert #{alert_id} acknowledged.")
    expect(page.locator("#alert-conditions tbody tr")).to_have_count(1)  # one still open
    page.select_option("#f-state", "acknowledged")
    expect(page.locator(f"#alert-{alert_id}")).to_contain_text("ordered the renewal")
    with setup.app.db.session() as s:
        assert [e.action for e in s.scalars(select(AuditEntry))].count("alert.acknowledge") == 1
