"""The web interface through its ASGI app: every route refuses anonymous
callers, viewers cannot change anything, admins can; validation errors name
their fields; CSRF, sessions, throttling, tokens, metrics.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.demo.pki import build_demo_pki, import_demo
from certwarden.demo.responder import DemoResponder, load_responder_keys
from tests.conftest import T0
from tests.monitor_helpers import add_cert
from tests.pki_files import der, p7b, p12, pem, small_pki
from tests.web_support import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    WebSetup,
    asgi_client,
    csrf_of,
    login,
    make_setup,
)


@pytest.fixture
def setup(app: App) -> WebSetup:
    return make_setup(app)


@pytest.fixture
def demo(setup: WebSetup, tmp_path: Path) -> WebSetup:
    """The demo PKI imported (20 certificates in demo-… stores)."""
    import_demo(setup.app.inventory, build_demo_pki(tmp_path / "pki", setup.app.clock.now()))
    return setup


SAMPLE = {
    "ref": "1",
    "cert_id": "1",
    "check_id": "1",
    "name": "tomcat",
    "username": "admin",
    "token_id": "1",
    "entry_id": "1",
    "action": "start",
    "sha256": "0" * 64,
    "endpoint_id": "1",
    "alert_id": "1",
}
PUBLIC = {"/login", "/health", "/api/v1/health", "/favicon.ico", "/metrics"}


def _walk(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """Every route with its full path (FastAPI keeps included routers as wrappers)."""
    out: list[tuple[str, set[str]]] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            out += _walk(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute | Route):
            out.append((prefix + route.path, set(route.methods or ())))
        else:
            assert isinstance(route, Mount), route
    return out


def _routes(setup: WebSetup) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for template, methods in _walk(list(setup.web.routes)):
        path = template
        for key, value in SAMPLE.items():
            path = path.replace("{" + key + "}", value)
        assert "{" not in path, f"no sample value for {template}"
        for method in sorted(methods):
            if method != "HEAD":
                out.append((method, path))
    return out


# ------------------------------------------------------------- who may do what


async def test_every_route_refuses_an_anonymous_caller(setup: WebSetup) -> None:
    routes = _routes(setup)
    assert len(routes) > 60
    async with asgi_client(setup.web) as anonymous:
        for method, path in routes:
            if path in PUBLIC:
                continue
            response = await anonymous.request(method, path)
            if path.startswith("/api/"):
                assert response.status_code == 401, (method, path, response.text)
                assert "detail" in response.json()
                assert response.headers["www-authenticate"].startswith("Bearer")
            else:
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/login"), (method, path)
        # Unknown paths too: nothing about the site is revealed before signing in.
        assert (await anonymous.get("/no/such/page")).status_code == 303
        assert (await anonymous.get("/api/v1/no/such")).status_code == 401


async def test_public_routes_answer_anonymous_callers(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as anonymous:
        assert (await anonymous.get("/login")).status_code == 200
        assert (await anonymous.get("/health")).json() == {"status": "ok", "database": "ok"}
        assert (await anonymous.get("/api/v1/health")).json()["status"] == "ok"
        assert (await anonymous.get("/static/style.css")).status_code == 200
        assert (await anonymous.get("/metrics")).status_code == 200


async def test_metrics_can_require_a_token(app: App) -> None:
    setup = make_setup(app, metrics_public=False)
    async with asgi_client(setup.web) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 401
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        assert (await viewer.get("/metrics")).status_code == 200


async def test_bad_revoked_and_disabled_tokens_are_refused(setup: WebSetup) -> None:
    for header in ("Bearer cwt_not-a-token", "Bearer ", "Basic YWRtaW46eA==", "cwt_x"):
        async with asgi_client(setup.web) as client:
            response = await client.get("/api/v1/me", headers={"authorization": header})
            assert response.status_code == 401, header
    async with asgi_client(setup.web, setup.admin_token) as admin:
        me = (await admin.get("/api/v1/me")).json()
        assert me["username"] == "admin" and me["via"] == "token"
        tokens = (await admin.get("/api/v1/tokens")).json()["items"]
        viewer_token = next(t for t in tokens if t["username"] == "viewer")
        assert (await admin.delete(f"/api/v1/tokens/{viewer_token['id']}")).status_code == 200
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        assert (await viewer.get("/api/v1/me")).status_code == 401
    setup.app.users.set_disabled("admin", False)  # no-op: still the only admin
    setup.app.users.add_user("second", "second-password", "admin")
    setup.app.users.set_disabled("admin", True)
    async with asgi_client(setup.web, setup.admin_token) as disabled:
        assert (await disabled.get("/api/v1/me")).status_code == 401


async def test_a_viewer_cannot_change_anything_through_the_api(setup: WebSetup) -> None:
    changing = [(m, p) for m, p in _routes(setup) if m in {"POST", "PUT", "PATCH", "DELETE"}]
    changing = [(m, p) for m, p in changing if p.startswith("/api/")]
    assert len(changing) >= 18
    before = setup.app.users.list_audit(limit=1000)[1]
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        for method, path in changing:
            if path == "/api/v1/certificates" and method == "POST":
                response = await viewer.post(
                    path, files={"files": ("a.pem", b"x")}, data={"store": "tomcat-trust"}
                )
            elif method == "DELETE":
                response = await viewer.delete(path)
            else:
                response = await viewer.request(method, path, json={})
            assert response.status_code == 403, (method, path, response.text)
            assert "viewer" in response.json()["detail"]
    assert setup.app.users.list_audit(limit=1000)[1] == before  # nothing happened


async def test_a_viewer_cannot_change_anything_through_the_pages(setup: WebSetup) -> None:
    own = {"/logout", "/account/password", "/login"}
    posts = [p for m, p in _routes(setup) if m == "POST" and not p.startswith("/api/")]
    posts = [p for p in posts if p not in own]
    assert len(posts) >= 15
    async with asgi_client(setup.web) as viewer:
        csrf = await login(viewer, "viewer", VIEWER_PASSWORD)
        for path in posts:
            response = await viewer.post(path, data={"csrf_token": csrf})
            assert response.status_code == 403, (path, response.status_code)
            assert "viewer role" in response.text


async def test_a_viewer_can_read_everything(demo: WebSetup) -> None:
    async with asgi_client(demo.web, demo.viewer_token) as viewer:
        for path in (
            "/api/v1/dashboard",
            "/api/v1/stores",
            "/api/v1/certificates",
            "/api/v1/certificates/1",
            "/api/v1/certificates/1/chain",
            "/api/v1/certificates/1/issued",
            "/api/v1/certificates/1/ocsp-checks",
            "/api/v1/alerts",
            "/api/v1/settings/monitor",
            "/api/v1/settings/revocation",
            "/api/v1/settings/enterprise",
            "/api/v1/settings/common-criteria",
            "/api/v1/services",
            "/api/v1/services/monitor",
            "/api/v1/outbox",
        ):
            assert (await viewer.get(path)).status_code == 200, path
        for admin_only in ("/api/v1/users", "/api/v1/tokens", "/api/v1/audit"):
            assert (await viewer.get(admin_only)).status_code == 403
    async with asgi_client(demo.web) as browser:
        await login(browser, "viewer", VIEWER_PASSWORD)
        for page in (
            "/",
            "/certificates",
            "/certificates/1",
            "/security/monitor",
            "/control-center",
        ):
            response = await browser.get(page)
            assert response.status_code == 200, page
            assert (
                "Viewers cannot change settings" in response.text
                or "/admin/users" not in response.text
            )
        assert (await browser.get("/admin/users")).status_code == 403


# ----------------------------------------------------------------- inventory


async def test_admin_uploads_every_format_and_finds_it(setup: WebSetup, clock: ManualClock) -> None:
    pki = small_pki(clock.now())
    async with asgi_client(setup.web, setup.admin_token) as admin:
        response = await admin.post(
            "/api/v1/certificates",
            files=[
                (
                    "files",
                    ("chain.pem", pem(pki.root.cert, pki.sub.cert), "application/x-pem-file"),
                ),
                ("files", ("leaf.der", der(pki.leaves[3].cert))),
                ("files", ("bundle.p7b", p7b(pki.sub.cert))),
            ],
            data={"store": "tomcat-trust"},
        )
        assert response.status_code == 201, response.text
        report = response.json()
        assert report["files"] == 3
        assert len(report["imported"]) == 3 and len(report["duplicates"]) == 1
        leaf_sha = hashlib.sha256(der(pki.leaves[3].cert)).hexdigest()
        record = (await admin.get(f"/api/v1/certificates/{leaf_sha}")).json()
        assert (
            record["subject_cn"]
            == pki.leaves[3].cert.subject.rfc4514_string().split("CN=")[1].split(",")[0]
        )
        assert record["revocation"]["status"] == "not_checked"
        chain = (await admin.get(f"/api/v1/certificates/{record['id']}/chain")).json()
        assert [c["role"] for c in chain["items"]] == ["intermediate", "root"]
        exported = await admin.get(f"/api/v1/certificates/{record['id']}/export?format=der")
        assert exported.content == der(pki.leaves[3].cert)
        assert exported.headers["content-type"] == "application/pkix-cert"
        # PKCS#12 with its password; a wrong password is a clear rejection.
        bundle = p12(pki.leaves[3], [pki.sub.cert], b"s3cret")
        wrong = await admin.post(
            "/api/v1/certificates",
            files={"files": ("id.p12", bundle)},
            data={"store": "tomcat", "password": "nope"},
        )
        assert wrong.status_code == 422
        assert "id.p12" in wrong.json()["report"]["rejected"][0]["file"]
        right = await admin.post(
            "/api/v1/certificates",
            files={"files": ("id.p12", bundle)},
            data={"store": "tomcat", "password": "s3cret"},
        )
        assert right.status_code == 201
        listed = (await admin.get("/api/v1/certificates?store=tomcat")).json()
        assert listed["total"] == 2
        audit = (await admin.get("/api/v1/audit")).json()["items"]
        assert any(
            a["action"] == "certificate.upload" and a["actor"].startswith("admin") for a in audit
        )


async def test_garbage_upload_is_rejected_and_stores_nothing(setup: WebSetup) -> None:
    async with asgi_client(setup.web, setup.admin_token) as admin:
        response = await admin.post(
            "/api/v1/certificates",
            files={"files": ("junk.pem", b"-----BEGIN CERTIFICATE-----\nnope\n")},
            data={"store": "tomcat-trust"},
        )
        assert response.status_code == 422
        assert response.json()["report"]["rejected"][0]["file"] == "junk.pem"
        missing = await admin.post(
            "/api/v1/certificates", files={"files": ("a.pem", b"x")}, data={"store": "nope"}
        )
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
        assert (await admin.get("/api/v1/certificates")).json()["total"] == 0


async def test_list_filters_and_paging(demo: WebSetup) -> None:
    async with asgi_client(demo.web, demo.viewer_token) as viewer:
        everything = (await viewer.get("/api/v1/certificates?limit=500")).json()
        assert everything["total"] == 20 and len(everything["items"]) == 20
        days = [c["days_left"] for c in everything["items"]]
        assert days == sorted(days)

        async def total(query: str) -> int:
            response = await viewer.get(f"/api/v1/certificates?{query}")
            assert response.status_code == 200, (query, response.text)
            return int(response.json()["total"])

        expired = await total("state=expired")
        expiring = await total("state=expiring")
        valid = await total("state=valid")
        assert (expired, expiring) == (2, 5) and expired + expiring + valid == 20
        assert await total("state=not_checked") == 20 and await total("state=good") == 0
        assert await total("lsc=true") == 8 and await total("lsc=false") == 12
        assert await total("store=demo-servers&max_days=30") == 4  # expired + 0.5/5/20 days
        assert await total("min_days=0&max_days=30") == 5
        assert await total("q=tomorrow") == 1
        first = (await viewer.get("/api/v1/certificates?limit=7")).json()
        second = (await viewer.get("/api/v1/certificates?limit=7&offset=7")).json()
        assert {c["id"] for c in first["items"]}.isdisjoint({c["id"] for c in second["items"]})
        assert (first["limit"], second["offset"]) == (7, 7)
        bad = await viewer.get("/api/v1/certificates?state=shiny")
        assert bad.status_code == 422
        assert (await viewer.get("/api/v1/certificates?store=nope")).status_code == 404
        assert (await viewer.get("/api/v1/certificates?min_days=10&max_days=5")).status_code == 422
        assert (await viewer.get("/api/v1/certificates/99999")).status_code == 404
        assert (await viewer.get("/api/v1/certificates/zz")).status_code == 422
    async with asgi_client(demo.web) as browser:
        await login(browser, "viewer", VIEWER_PASSWORD)
        page = await browser.get("/certificates?state=expiring&limit=25")
        assert page.status_code == 200
        assert "tomorrow.demo.test" in page.text and "years.demo.test" not in page.text
        assert "1–5 of 5" in page.text
        bad_days = await browser.get("/certificates?max_days=soon")
        assert 'id="e-max_days"' in bad_days.text


async def test_stores_and_delete(demo: WebSetup) -> None:
    async with asgi_client(demo.web, demo.admin_token) as admin:
        assert (
            await admin.post("/api/v1/stores", json={"name": "partner-trust"})
        ).status_code == 201
        assert (
            await admin.post("/api/v1/stores", json={"name": "partner-trust"})
        ).status_code == 409
        bad = await admin.post("/api/v1/stores", json={"name": "bad name!"})
        assert bad.status_code == 422 and "bad name!" in bad.json()["detail"]
        assert (await admin.delete("/api/v1/stores/demo-lsc")).status_code == 409
        gone = await admin.delete("/api/v1/stores/demo-lsc?force=true")
        assert gone.json()["certificates_removed"] == 8
        record = (await admin.delete("/api/v1/certificates/1")).json()
        assert record["id"] == 1
        assert (await admin.get("/api/v1/certificates/1")).status_code == 404


# ------------------------------------------------------------------ settings


async def test_monitor_settings_errors_name_the_field_and_save_nothing(setup: WebSetup) -> None:
    async with asgi_client(setup.web, setup.admin_token) as admin:
        before = (await admin.get("/api/v1/settings/monitor")).json()
        bad = await admin.patch(
            "/api/v1/settings/monitor",
            json={"emails": "ok@example.org; not-an-address", "start_days": 0},
        )
        assert bad.status_code == 422
        errors = bad.json()["errors"]
        assert "not-an-address" in errors["emails"] and "start_days" in errors
        assert (await admin.get("/api/v1/settings/monitor")).json() == before
        good = await admin.patch(
            "/api/v1/settings/monitor",
            json={"emails": "pki@example.org", "email_enabled": True, "frequency": "12h"},
        )
        assert good.status_code == 200
        saved = (await admin.get("/api/v1/settings/monitor")).json()
        assert saved["emails"] == ["pki@example.org"] and saved["frequency"] == "12h"
        audit = (await admin.get("/api/v1/audit", params={"actor": "admin (token #1)"})).json()
        audit = audit["items"]
        assert audit[0]["action"] == "settings.monitor" and audit[0]["details"]["email_enabled"]


async def test_monitor_levels_and_lifetime_thresholds_through_the_api_and_page(
    setup: WebSetup,
) -> None:
    async with asgi_client(setup.web, setup.admin_token) as admin:
        bad = await admin.patch("/api/v1/settings/monitor", json={"critical_within": "10d"})
        assert bad.status_code == 422
        assert "Major Level" in bad.json()["errors"]["critical_within"]
        good = await admin.patch(
            "/api/v1/settings/monitor", json={"major_within": "14d", "critical_within": "2d"}
        )
        assert good.status_code == 200
        saved = (await admin.get("/api/v1/settings/monitor")).json()
        assert (saved["major_within"], saved["critical_within"]) == ("14d", "2d")
        share = await admin.put(
            "/api/v1/stores/tomcat-trust/threshold", json={"lifetime_share": "33%"}
        )
        assert share.status_code == 200 and share.json()["lifetime_share"] == "33%"
        wrong = await admin.put(
            "/api/v1/stores/tomcat-trust/threshold", json={"lifetime_share": "0%"}
        )
        assert wrong.status_code == 422 and "lifetime_share" in wrong.json()["detail"]
        missing = await admin.put("/api/v1/stores/nowhere/threshold", json={"lifetime_share": None})
        assert missing.status_code == 404
        first, _ = add_cert(setup.app, "api.test", T0 + timedelta(days=90))
        cert = await admin.put(
            f"/api/v1/certificates/{first}/threshold", json={"lifetime_share": "20%"}
        )
        assert cert.status_code == 200 and cert.json()["notice_from"]
        audit = (await admin.get("/api/v1/audit", params={"actor": "admin (token #1)"})).json()
        actions = [e["action"] for e in audit["items"]]
        assert actions[:2] == ["certificate.threshold", "store.threshold"]
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        page = await browser.get("/security/monitor")
        assert 'value="14d"' in page.text and "Critical Level" in page.text
        form = {
            "csrf_token": csrf,
            "start_days": "30",
            "frequency_number": "1",
            "frequency_unit": "days",
            "major_within": "3d",
            "critical_within": "5d",
            "emails": "",
        }
        response = await browser.post("/security/monitor", data=form)
        assert response.status_code == 422 and 'id="e-critical_within"' in response.text
        saved = await browser.post("/security/monitor", data=form | {"critical_within": "12h"})
        assert saved.status_code == 303
        settings = setup.app.monitor.settings()
        assert settings.major_within == timedelta(days=3)
        assert settings.critical_within == timedelta(hours=12)


async def test_monitor_settings_page_shows_errors_beside_fields(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        form = {
            "csrf_token": csrf,
            "start_days": "30",
            "frequency_number": "1",
            "frequency_unit": "days",
            "email_enabled": "true",
            "lsc_enabled": "false",
            "emails": "someone@@example.org",
        }
        response = await browser.post("/security/monitor", data=form)
        assert response.status_code == 422
        field = re.search(
            r'id="f-emails"[^>]*>.*?<div class="error" id="e-emails"[^>]*>(.*?)</div>',
            response.text,
            re.S,
        )
        assert field and "someone@@example.org" in field.group(1)
        assert 'value="someone@@example.org"' in response.text  # what was typed stays
        assert setup.app.monitor.settings().emails == ()
        form["emails"] = "pki@example.org; noc@example.org"
        saved = await browser.post("/security/monitor", data=form)
        assert saved.status_code == 303
        page = await browser.get(saved.headers["location"])
        assert "Certificate Monitor settings saved" in page.text
        assert setup.app.monitor.settings().emails == ("pki@example.org", "noc@example.org")


async def test_revocation_enterprise_and_common_criteria(setup: WebSetup) -> None:
    async with asgi_client(setup.web, setup.admin_token) as admin:
        bad = await admin.patch(
            "/api/v1/settings/revocation",
            json={"enable_ocsp": True, "responder_source": "configured", "configured_uri": ""},
        )
        assert bad.status_code == 422 and "configured_uri" in bad.json()["errors"]
        good = await admin.patch(
            "/api/v1/settings/revocation",
            json={
                "enable_ocsp": True,
                "responder_source": "configured",
                "configured_uri": "http://127.0.0.1:9/ocsp",
                "enable_revocation_check": True,
                "check_every": 2,
                "check_every_unit": "days",
            },
        )
        assert good.status_code == 200 and good.json()["check_every_unit"] == "days"
        params = await admin.patch(
            "/api/v1/settings/enterprise",
            json={"certificate_validity_check": True, "validity_check_frequency_hours": 6},
        )
        assert params.status_code == 200
        effective = (await admin.get("/api/v1/settings/enterprise")).json()
        assert effective["effective_recheck_hours"] == 48  # Check Every takes precedence
        bad_params = await admin.patch(
            "/api/v1/settings/enterprise", json={"validity_check_frequency_hours": 0}
        )
        assert "validity_check_frequency_hours" in bad_params.json()["errors"]
        cc = await admin.put("/api/v1/settings/common-criteria", json={"common_criteria": True})
        assert cc.json() == {"common_criteria": True}
        assert (await admin.put("/api/v1/settings/common-criteria", json={})).status_code == 422


# -------------------------------------------------- Control Center and outbox


async def test_control_center_controls_the_monitor(setup: WebSetup, clock: ManualClock) -> None:
    async with asgi_client(setup.web, setup.admin_token) as admin:
        stopped = (await admin.post("/api/v1/services/monitor/stop")).json()
        assert stopped["status"]["status"] == "stopped" and stopped["status"]["next_run_at"] is None
        started = (await admin.post("/api/v1/services/monitor/start")).json()
        assert started["status"]["status"] == "running"
        assert started["status"]["next_run_at"] == (clock.now() + timedelta(hours=24)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert (await admin.post("/api/v1/services/monitor/restart")).status_code == 200
        assert (await admin.post("/api/v1/services/monitor/explode")).status_code == 422
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        done = await browser.post(
            "/control-center/monitor/stop", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert done.status_code == 303
        page = await browser.get("/control-center")
        assert 'id="monitor-status">Stopped' in page.text
        assert "Certificate Expiry Monitor stopped." in page.text


async def test_run_now_queues_a_notice_shown_in_the_outbox(demo: WebSetup) -> None:
    async with asgi_client(demo.web, demo.admin_token) as admin:
        await admin.patch(
            "/api/v1/settings/monitor",
            json={"email_enabled": True, "emails": "pki@example.org", "lsc_enabled": True},
        )
        ran = (await admin.post("/api/v1/services/monitor/run-now")).json()
        assert "notified" in ran["message"]
        alerts = (await admin.get("/api/v1/alerts")).json()
        assert alerts["total"] >= 7 and {a["kind"] for a in alerts["items"]} >= {
            "expired",
            "expiring",
        }
        outbox = (await admin.get("/api/v1/outbox?state=pending")).json()
        assert outbox["total"] == 1 and outbox["items"][0]["recipients"] == ["pki@example.org"]
        entry = (await admin.get(f"/api/v1/outbox/{outbox['items'][0]['id']}")).json()
        assert "expired.demo.test" in entry["body"]
        delivered = (await admin.post("/api/v1/outbox/deliver")).json()
        assert "no SMTP server" in delivered["skipped"]  # it stays queued
        assert (await admin.get("/api/v1/outbox?state=pending")).json()["total"] == 1
        dashboard = (await admin.get("/api/v1/dashboard")).json()
        assert dashboard["counts"]["expiry"]["expired"] == 2
        assert len(dashboard["recent_alerts"]) > 0 and len(dashboard["timeline"]) == 27


async def test_revocation_checks_against_the_demo_responder(
    demo: WebSetup, clock: ManualClock, tmp_path: Path
) -> None:
    pki = build_demo_pki(tmp_path / "pki", clock.now())  # the same files, reused
    responder = DemoResponder(load_responder_keys(pki), clock).start()
    try:
        async with asgi_client(demo.web, demo.admin_token) as admin:
            await admin.patch(
                "/api/v1/settings/revocation",
                json={
                    "enable_ocsp": True,
                    "responder_source": "configured",
                    "configured_uri": responder.url,
                },
            )
            lsc = await admin.patch("/api/v1/settings/monitor", json={"lsc_enabled": True})
            assert lsc.status_code == 200, lsc.text
            listed = (await admin.get("/api/v1/certificates?q=revoked.demo.test")).json()
            revoked_id = listed["items"][0]["id"]
            report = (await admin.post(f"/api/v1/certificates/{revoked_id}/check")).json()
            assert report["results"][0]["result"]["status"] == "revoked"
            everything = (await admin.post("/api/v1/revocation/check", json={"all": True})).json()
            # 20: the root is skipped (nobody above it to ask); 2 expired (revoked
            # without asking), 2 revoked, 1 unknown to the responder, the demo's own
            # OCSP responder exempt (ocsp-nocheck, issue 10 item 4), the other 13 good.
            assert everything["counts"] == {
                "good": 13,
                "revoked": 4,
                "unknown": 1,
                "could_not_tell": 0,
                "exempt": 1,
            }
            assert sum(everything["counts"].values()) == 19
            history = (await admin.get(f"/api/v1/certificates/{revoked_id}/ocsp-checks")).json()
            assert history["total"] == 2 and history["items"][0]["trust_model"] == "delegated"
            evidence = await admin.get(
                f"/api/v1/certificates/{revoked_id}/ocsp-checks/{history['items'][0]['id']}/response"
            )
            assert evidence.headers["content-type"] == "application/ocsp-response"
            metrics = (await admin.get("/metrics")).text
        async with asgi_client(demo.web) as browser:
            csrf = await login(browser, "admin", ADMIN_PASSWORD)
            checked = await browser.post(
                f"/certificates/{revoked_id}/check", data={"csrf_token": csrf}
            )
            page = await browser.get(checked.headers["location"])
            assert 'class="flash error"' in page.text and "revoked at" in page.text
        assert _status_line(metrics, "revoked.demo.test", "revoked")
        assert _status_line(metrics, "SEP00AABBCC0006", "unknown")
        assert _status_line(metrics, "week.demo.test", "good")
        assert 'certwarden_certificates_revocation{status="good"}' in metrics
    finally:
        responder.stop()


def _status_line(text: str, subject_cn: str, status: str) -> bool:
    pattern = (
        r"certwarden_cert_revocation_status\{"
        rf'(?=[^}}]*subject_CN="{re.escape(subject_cn)}")(?=[^}}]*status="{status}")[^}}]*\}} 1\.0'
    )
    return re.search(pattern, text) is not None


async def test_metrics_follow_exporter_conventions(demo: WebSetup) -> None:
    async with asgi_client(demo.web) as anonymous:
        text = (await anonymous.get("/metrics")).text
    record = demo.app.inventory.get(1)
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("x509_cert_not_after{") and f'fingerprint="{record.sha256[:16]}"' in line
    )
    assert f'store="{record.store}"' in line and f'serial_number="{record.serial}"' in line
    assert f'subject_CN="{record.subject_cn}"' in line and 'issuer_CN="' in line
    assert float(line.rsplit(" ", 1)[1]) == record.not_after.timestamp()
    # Never checked is not_checked, never good.
    assert text.count('status="not_checked",') == 20 and 'status="good",' not in text
    assert 'certwarden_certificates{state="expired"} 2.0' in text
    summary = (await asgi_client(demo.web).get("/metrics?detail=summary")).text
    assert "x509_cert_not_after{" not in summary and "certwarden_certificates{" in summary


# ------------------------------------------------------------ users and tokens


async def test_users_and_tokens_through_the_api(setup: WebSetup) -> None:
    async with asgi_client(setup.web, setup.admin_token) as admin:
        weak = await admin.post("/api/v1/users", json={"username": "alice", "password": "short"})
        assert weak.status_code == 422 and "password" in weak.json()["errors"]
        alice = await admin.post(
            "/api/v1/users",
            json={"username": "alice", "password": "alice-password", "role": "admin"},
        )
        assert alice.status_code == 201 and alice.json()["role"] == "admin"
        again = await admin.post(
            "/api/v1/users", json={"username": "alice", "password": "alice-password"}
        )
        assert again.status_code == 409
        demoted = await admin.patch("/api/v1/users/alice", json={"role": "viewer"})
        assert demoted.json()["role"] == "viewer"
        assert (
            await admin.patch("/api/v1/users/admin", json={"role": "viewer"})
        ).status_code == 409
        assert (await admin.delete("/api/v1/users/admin")).status_code == 422  # yourself
        created = await admin.post("/api/v1/tokens", json={"name": "ci", "username": "alice"})
        secret = created.json()["token"]
        assert secret.startswith("cwt_") and created.json()["prefix"] == secret[:12]
        listing = (await admin.get("/api/v1/tokens")).text
        assert secret not in listing and secret[12:] not in listing
        assert (await admin.delete("/api/v1/users/alice")).status_code == 200
    # Only the hash is stored.
    stored = [t.prefix for t in setup.app.users.list_tokens()]
    assert all(len(p) == 12 for p in stored)
    with setup.app.db.session() as s:
        from sqlalchemy import text

        hashes = [row[0] for row in s.execute(text("select token_hash from api_tokens"))]
    assert hashlib.sha256(setup.admin_token.encode()).hexdigest() in hashes
    assert setup.admin_token not in hashes


# --------------------------------------------------------- sessions and CSRF


async def test_login_throttling_after_repeated_failures(
    setup: WebSetup, clock: ManualClock
) -> None:
    async with asgi_client(setup.web) as browser:
        for _ in range(5):
            form = await browser.get("/login")
            wrong = await browser.post(
                "/login",
                data={"username": "admin", "password": "wrong", "csrf_token": csrf_of(form.text)},
            )
            assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        form = await browser.get("/login")
        right = await browser.post(
            "/login",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "csrf_token": csrf_of(form.text),
            },
        )
        assert right.status_code == 429 and "try again" in right.text
        clock.advance(timedelta(minutes=6))
        await login(browser, "admin", ADMIN_PASSWORD)
    failed = [a for a in setup.app.users.list_audit()[0] if a.action == "login.failed"]
    assert len(failed) == 5


async def test_login_form_needs_its_csrf_token(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        await browser.get("/login")
        forged = await browser.post(
            "/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": "x"}
        )
        assert forged.status_code == 403 and "cw_session" not in forged.headers.get(
            "set-cookie", ""
        )


async def test_csrf_rejected_on_pages_and_cookie_authenticated_api(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        form = {"start_days": "10", "frequency_number": "1", "frequency_unit": "days", "emails": ""}
        for token in (None, "forged", csrf[:-1] + ("A" if csrf[-1] != "A" else "B")):
            data = dict(form) | ({"csrf_token": token} if token else {})
            response = await browser.post("/security/monitor", data=data)
            assert response.status_code == 403 and "CSRF" in response.text
        assert setup.app.monitor.settings().start_days == 30
        assert (await browser.post("/control-center/monitor/stop")).status_code == 403
        # The session cookie also opens the API, but a change needs the header.
        assert (await browser.get("/api/v1/me")).json()["via"] == "session"
        refused = await browser.post("/api/v1/services/monitor/stop")
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
        allowed = await browser.post(
            "/api/v1/services/monitor/stop", headers={"x-csrf-token": csrf}
        )
        assert allowed.status_code == 200
        saved = await browser.post("/security/monitor", data=form | {"csrf_token": csrf})
        assert saved.status_code == 303 and setup.app.monitor.settings().start_days == 10


async def test_session_cookie_flags_and_secure_under_https(setup: WebSetup) -> None:
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        async with asgi_client(setup.web, base_url=base) as browser:
            form = await browser.get("/login")
            response = await browser.post(
                "/login",
                data={
                    "username": "viewer",
                    "password": VIEWER_PASSWORD,
                    "csrf_token": csrf_of(form.text),
                },
            )
            cookie = next(
                c for c in response.headers.get_list("set-cookie") if c.startswith("cw_session=")
            )
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
            assert ("Secure" in cookie) is secure
            if secure:
                page = await browser.get("/")
                assert page.headers["strict-transport-security"].startswith("max-age=")


async def test_password_change_ends_older_sessions(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as first, asgi_client(setup.web) as second:
        await login(first, "viewer", VIEWER_PASSWORD)
        csrf = await login(second, "viewer", VIEWER_PASSWORD)
        bad = await second.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current_password": "wrong",
                "new_password": "new-password-2",
            },
        )
        assert bad.status_code == 422 and 'id="e-current_password"' in bad.text
        changed = await second.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current_password": VIEWER_PASSWORD,
                "new_password": "new-password-2",
            },
        )
        assert changed.status_code == 303
        assert (await first.get("/")).status_code == 303  # signed out
        await login(first, "viewer", "new-password-2")


async def test_login_never_redirects_to_another_site(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        for target, expected in (
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/certificates?state=expired", "/certificates?state=expired"),
        ):
            browser.cookies.clear()
            form = await browser.get("/login")
            response = await browser.post(
                "/login",
                data={
                    "username": "viewer",
                    "password": VIEWER_PASSWORD,
                    "csrf_token": csrf_of(form.text),
                    "next": target,
                },
            )
            assert response.headers["location"] == expected


async def test_logout_and_security_headers(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "viewer", VIEWER_PASSWORD)
        page = await browser.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert (await browser.post("/logout", data={"csrf_token": "nope"})).status_code == 403
        out = await browser.post("/logout", data={"csrf_token": csrf})
        assert out.headers["location"] == "/login?bye=1"
        assert (await browser.get("/")).status_code == 303


async def test_openapi_and_docs_are_served_locally(setup: WebSetup) -> None:
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        schema = (await viewer.get("/api/openapi.json")).json()
        assert "/api/v1/certificates" in schema["paths"]
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    async with asgi_client(setup.web) as browser:
        assert (await browser.get("/api/openapi.json")).status_code == 401
        await login(browser, "viewer", VIEWER_PASSWORD)
        docs = await browser.get("/api/docs")
        assert "/static/swagger/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
        assert (await browser.get("/static/swagger/swagger-ui-bundle.js")).status_code == 200


async def test_admin_pages_manage_users_and_show_a_token_once(setup: WebSetup) -> None:
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        bad = await browser.post(
            "/admin/users",
            data={"csrf_token": csrf, "username": "bob", "password": "short", "role": "viewer"},
        )
        assert bad.status_code == 422 and 'id="e-password"' in bad.text
        ok = await browser.post(
            "/admin/users",
            data={
                "csrf_token": csrf,
                "username": "bob",
                "password": "bob-password",
                "role": "viewer",
            },
        )
        assert ok.status_code == 303
        made = await browser.post(
            "/admin/tokens", data={"csrf_token": csrf, "name": "grafana", "username": "bob"}
        )
        secret = re.search(r'id="new-token">(cwt_[^<]+)<', made.text)
        assert made.status_code == 201 and secret
        assert secret.group(1) not in (await browser.get("/admin/tokens")).text
        audit = (await browser.get("/admin/audit")).text
        assert "token.create" in audit and "user.create" in audit
    async with asgi_client(setup.web, secret.group(1)) as bob:
        assert (await bob.get("/api/v1/me")).json()["username"] == "bob"


async def test_upload_form_and_detail_page(setup: WebSetup, clock: ManualClock) -> None:
    pki = small_pki(clock.now())
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        empty = await browser.post(
            "/certificates/upload", data={"csrf_token": csrf, "store": "tomcat"}
        )
        assert empty.status_code == 422 and 'id="e-files"' in empty.text
        done = await browser.post(
            "/certificates/upload",
            data={"csrf_token": csrf, "store": "tomcat-trust"},
            files={"files": ("chain.pem", pem(pki.leaves[3].cert, pki.sub.cert, pki.root.cert))},
        )
        assert done.status_code == 200 and "3 imported" in done.text
        leaf = setup.app.inventory.get(hashlib.sha256(der(pki.leaves[3].cert)).hexdigest())
        detail = await browser.get(f"/certificates/{leaf.id}")
        for value in (leaf.sha256, leaf.sha1, leaf.serial, "Issuer chain", "OCSP history"):
            assert value in detail.text
        assert f'href="/certificates/{leaf.issuer_id}"' in detail.text
        pem_file = await browser.get(f"/certificates/{leaf.id}/download?format=pem")
        assert pem_file.content == pem(pki.leaves[3].cert)


_ = httpx  # the clients are httpx clients
