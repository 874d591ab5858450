"""The Monitored endpoints and Syslog forwarding pages and their API routes,
over plain HTTP, against a real ``openssl s_server``: list, add (each bad
field refused beside itself), probe, remove; syslog settings with their CA;
viewers read, admins change, every change audited."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from certwarden.composition import App
from tests.tls_servers import SServer, TlsPki, start_s_server, tls_pki
from tests.web_support import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    WebSetup,
    asgi_client,
    login,
    make_setup,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return tls_pki(tmp_path_factory.mktemp("tls-pages"))


@pytest.fixture
def server(pki: TlsPki) -> Iterator[SServer]:
    running = start_s_server(pki, "good")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def setup(app: App) -> WebSetup:
    return make_setup(app)


def _error(html: str, name: str) -> str:
    match = re.search(rf'<div class="error" id="e-{name}" role="alert">(.*?)</div>', html, re.S)
    assert match, f"no error beside {name}"
    return match.group(1)


async def test_add_probe_and_remove_an_endpoint_from_the_page(
    setup: WebSetup, server: SServer, pki: TlsPki
) -> None:
    app = setup.app
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        empty = await browser.get("/endpoints")
        assert empty.status_code == 200 and "No monitored endpoints yet." in empty.text
        bad = await browser.post(
            "/endpoints",
            data={
                "csrf_token": csrf,
                "target": "127.0.0.1",
                "starttls": "telnet",
                "servername": "bad name!",
            },
        )
        assert bad.status_code == 422
        assert "give the port too" in _error(bad.text, "target")
        assert "telnet" in _error(bad.text, "starttls")
        assert "not a host name" in _error(bad.text, "servername")
        assert 'value="127.0.0.1"' in bad.text  # what was typed stays
        assert app.endpoints.list() == []
        target = f"127.0.0.1:{server.port}"
        added = await browser.post(
            "/endpoints", data={"csrf_token": csrf, "target": target, "starttls": ""}
        )
        assert added.status_code == 303
        again = await browser.post("/endpoints", data={"csrf_token": csrf, "target": target})
        assert again.status_code == 409 and "already monitored" in _error(again.text, "target")
        (record,) = app.endpoints.list()
        probed = await browser.post(f"/endpoints/{record.id}/probe", data={"csrf_token": csrf})
        assert probed.status_code == 303
        page = await browser.get("/endpoints")
        assert f"Probed {target}: ok." in page.text
        (seen,) = app.endpoints.list()
        assert seen.last_status == "ok" and seen.certificate_id is not None
        assert f'<a href="/certificates/{seen.certificate_id}">' in page.text
        assert "good.tls.test" in page.text
        removed = await browser.post(f"/endpoints/{record.id}/remove", data={"csrf_token": csrf})
        assert removed.status_code == 303
        after = await browser.get("/endpoints")
        assert f"Stopped monitoring {target}" in after.text
        assert app.endpoints.list() == []
        twice = await browser.post(f"/endpoints/{record.id}/remove", data={"csrf_token": csrf})
        assert twice.status_code == 303
        gone = await browser.get("/endpoints")
        assert "not monitored any more" in gone.text and "certwarden endpoints" not in gone.text
    entries, _ = app.users.list_audit()
    actions = [e.action for e in entries]
    assert {"endpoint.add", "endpoint.probe", "endpoint.remove"} <= set(actions)


async def test_a_viewer_sees_the_endpoints_but_cannot_change_them(
    setup: WebSetup, server: SServer
) -> None:
    setup.app.endpoints.add(f"127.0.0.1:{server.port}")
    async with asgi_client(setup.web) as viewer:
        csrf = await login(viewer, "viewer", VIEWER_PASSWORD)
        page = await viewer.get("/endpoints")
        assert f"127.0.0.1:{server.port}" in page.text
        assert "Probe now" not in page.text and ">Remove<" not in page.text
        assert '<fieldset class="form-body" disabled' in page.text
        refused = await viewer.post(
            "/endpoints", data={"csrf_token": csrf, "target": "127.0.0.1:1"}
        )
        assert refused.status_code == 403
    assert len(setup.app.endpoints.list()) == 1


async def test_the_endpoints_api(setup: WebSetup, server: SServer) -> None:
    target = f"127.0.0.1:{server.port}"
    async with asgi_client(setup.web, setup.admin_token) as api:
        bad = await api.post("/api/v1/endpoints", json={"target": "nope"})
        assert bad.status_code == 422 and "nope" in bad.json()["detail"]
        added = await api.post("/api/v1/endpoints", json={"target": target})
        assert added.status_code == 201, added.text
        endpoint_id = added.json()["id"]
        probed = await api.post(f"/api/v1/endpoints/{endpoint_id}/probe")
        assert probed.status_code == 200 and probed.json()["ok"] is True
        listed = (await api.get("/api/v1/endpoints")).json()
        assert listed["total"] == 1
        assert listed["items"][0]["certificate"]["subject"].startswith("CN=good.tls.test")
        gone = await api.delete(f"/api/v1/endpoints/{endpoint_id}")
        assert gone.status_code == 200 and gone.json()["removed"] == target
        missing = await api.delete(f"/api/v1/endpoints/{endpoint_id}")
        assert missing.status_code == 404
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        assert (await viewer.get("/api/v1/endpoints")).status_code == 200
        assert (await viewer.post("/api/v1/endpoints", json={"target": target})).status_code == 403


async def test_the_syslog_page_saves_server_and_ca(setup: WebSetup, pki: TlsPki) -> None:
    app = setup.app
    ca_pem = pki.ca.issued.cert_pem().decode()
    async with asgi_client(setup.web) as browser:
        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        page = await browser.get("/operations/syslog")
        assert page.status_code == 200 and "None saved yet." in page.text
        refused = await browser.post(
            "/operations/syslog",
            data={"csrf_token": csrf, "enabled": "true", "server": "", "app_name": "certwarden"},
        )
        assert refused.status_code == 422
        assert "is required" in _error(refused.text, "server")
        ca_error = _error(refused.text, "ca_pem")
        assert "paste them in CA certificates" in ca_error and "--ca" not in ca_error
        assert not app.syslog.settings().enabled
        saved = await browser.post(
            "/operations/syslog",
            data={
                "csrf_token": csrf,
                "enabled": "true",
                "server": "127.0.0.1:6514",
                "ca_pem": ca_pem,
                "app_name": "certwarden",
            },
        )
        assert saved.status_code == 303
        shown = await browser.get("/operations/syslog")
        assert "Syslog forwarding settings saved." in shown.text
        assert "Saved now: CN=TLS Test" in shown.text
        # Saving again without pasting the CA keeps it.
        kept = await browser.post(
            "/operations/syslog",
            data={"csrf_token": csrf, "enabled": "true", "server": "127.0.0.1:6515"},
        )
        assert kept.status_code == 303
    settings = app.syslog.settings()
    assert settings.enabled and settings.server == "127.0.0.1:6515" and settings.ca_pem
    async with asgi_client(setup.web, setup.admin_token) as api:
        status = (await api.get("/api/v1/settings/syslog")).json()
        assert status["settings"]["server"] == "127.0.0.1:6515"
        off = await api.patch("/api/v1/settings/syslog", json={"enabled": False})
        assert off.status_code == 200 and off.json()["enabled"] is False
        wrong = await api.patch("/api/v1/settings/syslog", json={"server": "a:b"})
        assert wrong.status_code == 422 and "server" in wrong.json()["errors"]
    async with asgi_client(setup.web) as viewer:
        await login(viewer, "viewer", VIEWER_PASSWORD)
        page = await viewer.get("/operations/syslog")
        assert '<fieldset class="form-body" disabled' in page.text
        assert 'type="submit">Save' not in page.text
