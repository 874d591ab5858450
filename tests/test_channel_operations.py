"""Channel deliveries seen by operations: ``certwarden_channel_notices{channel,state}``
and ``certwarden_channel_notices_retrying{channel}`` on /metrics (promtool-checked),
and the dashboard's line of channel notices waiting and failing. One channel
points at a real receiver on loopback, one at a port where nothing listens."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certwarden.composition import App
from certwarden.services.shared.alerts import AlertKind, Severity, record_alert
from tests.conftest import T0
from tests.receiver_fixture import Receiver
from tests.web_support import VIEWER_PASSWORD, asgi_client, free_port, login, make_setup


def _two_channels_one_down(app: App, receiver: Receiver) -> None:
    app.channels.add("ops", f"json://127.0.0.1:{receiver.port}/in")
    app.channels.add("pager", f"json://127.0.0.1:{free_port()}/in")
    app.channels.add("quiet", f"json://127.0.0.1:{receiver.port}/q", kinds="upload")
    with app.db.session() as s:
        for key in ("one", "two"):
            record_alert(
                s, now=T0, kind=AlertKind.EXPIRED, severity=Severity.CRITICAL,
                message=f"certificate {key} expired", dedupe_key=key,
            )  # fmt: skip
    report = app.channels.deliver_due(T0)
    assert len(report.sent) == 2 and len(receiver.posts) == 2


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("certwarden_channel_")
        for sample in family.samples
    }


async def test_metrics_show_each_channels_waiting_retrying_and_sent(
    app: App, receiver: Receiver
) -> None:
    _two_channels_one_down(app, receiver)
    setup = make_setup(app)
    async with asgi_client(setup.web) as anonymous:
        text = (await anonymous.get("/metrics")).text
    n = "certwarden_channel_notices"
    assert _samples(text) == {
        (n, (("channel", "ops"), ("state", "pending"))): 0,
        (n, (("channel", "ops"), ("state", "sent"))): 2,
        (n, (("channel", "pager"), ("state", "pending"))): 2,
        (n, (("channel", "pager"), ("state", "sent"))): 0,
        (n, (("channel", "quiet"), ("state", "pending"))): 0,  # a channel with no notice
        (n, (("channel", "quiet"), ("state", "sent"))): 0,
        (f"{n}_retrying", (("channel", "ops"),)): 0,
        (f"{n}_retrying", (("channel", "pager"),)): 2,
        (f"{n}_retrying", (("channel", "quiet"),)): 0,
    }


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_channel_metrics(app: App, receiver: Receiver) -> None:
    _two_channels_one_down(app, receiver)
    body = make_setup(app).web.state.metrics.scrape()
    assert b'certwarden_channel_notices_retrying{channel="pager"} 2.0' in body
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b""


async def test_the_dashboard_shows_channel_notices_waiting_and_failing(
    app: App, receiver: Receiver
) -> None:
    _two_channels_one_down(app, receiver)
    setup = make_setup(app)
    async with asgi_client(setup.web) as client:
        await login(client, "viewer", VIEWER_PASSWORD)
        html = (await client.get("/")).text
    start = html.index('id="channel-notices"')
    line = html[start : html.index("</p>", start)]
    assert '<span class="channel">pager</span> <span class="badge failed">2 failed' in line
    assert '<span class="channel">ops</span> <span class="badge sent">0 waiting' in line
    assert "2 sent" in line and 'href="/security/notifications"' in line


async def test_no_channel_no_line(app: App) -> None:
    setup = make_setup(app)
    async with asgi_client(setup.web) as client:
        await login(client, "viewer", VIEWER_PASSWORD)
        html = (await client.get("/")).text
    assert 'id="channel-notices"' not in html
