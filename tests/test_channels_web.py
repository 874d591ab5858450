"""Notification channels through the API (/api/v1/channels) and the page
Security > Notifications: admins add, test and remove; viewers read; the URL
is never answered back."""

from __future__ import annotations

import httpx

from certwarden.composition import App
from tests.receiver_fixture import Receiver
from tests.web_support import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    asgi_client,
    csrf_of,
    login,
    make_setup,
)

SECRET = "w3b-s3cr3t-token"


async def test_channels_through_the_api(app: App, receiver: Receiver) -> None:
    setup = make_setup(app)
    url = f"json://127.0.0.1:{receiver.port}/in/{SECRET}"
    async with asgi_client(setup.web, setup.admin_token) as admin:
        added = await admin.post(
            "/api/v1/channels", json={"name": "ops", "url": url, "kinds": ["expiry"]}
        )
        assert added.status_code == 201, added.text
        assert added.json()["url"] == "json://127.0.0.1" and SECRET not in added.text
        again = await admin.post("/api/v1/channels", json={"name": "ops", "url": url})
        assert again.status_code == 409
        bad = await admin.post(
            "/api/v1/channels", json={"name": "x y", "url": "", "min_severity": "loud"}
        )
        assert bad.status_code == 422
        assert set(bad.json()["errors"]) == {"name", "url", "min_severity"}
        tested = await admin.post("/api/v1/channels/ops/test")
        assert tested.status_code == 200, tested.text
        assert len(receiver.posts) == 1
    async with asgi_client(setup.web, setup.viewer_token) as viewer:
        listed = (await viewer.get("/api/v1/channels")).json()["items"]
        assert [(c["name"], c["url"], c["kinds"]) for c in listed] == [
            ("ops", "json://127.0.0.1", ["expired", "expiring"])
        ]
        assert (await viewer.delete("/api/v1/channels/ops")).status_code == 403
    receiver.stop()
    async with asgi_client(setup.web, setup.admin_token) as admin:
        down = await admin.post("/api/v1/channels/ops/test")
        assert down.status_code == 502 and SECRET not in down.text
        assert (await admin.delete("/api/v1/channels/ops")).json() == {"dropped": 0}
        assert (await admin.get("/api/v1/channels")).json()["items"] == []
        assert (await admin.delete("/api/v1/channels/ops")).status_code == 404


async def _page(client: httpx.AsyncClient) -> str:
    response = await client.get("/security/notifications")
    assert response.status_code == 200
    return response.text


async def test_notifications_page_admin_adds_viewer_reads(app: App, receiver: Receiver) -> None:
    setup = make_setup(app)
    url = f"json://127.0.0.1:{receiver.port}/in/{SECRET}"
    async with asgi_client(setup.web) as admin:
        await login(admin, "admin", ADMIN_PASSWORD)
        csrf = csrf_of(await _page(admin))
        refused = await admin.post(
            "/security/notifications",
            data={"csrf_token": csrf, "name": "ops", "url": url, "kinds": "weather"},
        )
        assert refused.status_code == 422
        assert 'id="e-kinds"' in refused.text and "unknown alert kind" in refused.text
        assert SECRET not in refused.text  # the URL is not put back in the page
        saved = await admin.post(
            "/security/notifications",
            data={"csrf_token": csrf, "name": "ops", "url": url, "min_severity": "major"},
        )
        assert saved.status_code == 303
        page = await _page(admin)
        assert "json://127.0.0.1" in page and SECRET not in page and "Send test" in page
        tested = await admin.post("/security/notifications/ops/test", data={"csrf_token": csrf})
        assert tested.status_code == 303 and len(receiver.posts) == 1
    async with asgi_client(setup.web) as viewer:
        await login(viewer, "viewer", VIEWER_PASSWORD)
        page = await _page(viewer)
        assert "ops" in page and "Read-only" in page and "Send test" not in page
    assert [c.name for c in app.channels.list()] == ["ops"]
