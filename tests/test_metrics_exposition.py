"""/metrics (issue 11 item 8, issue 12 item 10): label values escaped so that a
CR (or any control character) in a CN cannot break the exposition, checked with
promtool and prometheus_client's parser; the text served from a cache; the
per-certificate switch and its threshold; the exporters' naming conventions;
monitor runs counted whatever started them."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certwarden.composition import App
from certwarden.interfaces.web import create_app
from certwarden.interfaces.web.metrics import (
    PER_CERTIFICATE_LIMIT,
    MetricsOptions,
    MetricsRegistry,
    label_value,
)
from certwarden.interfaces.web.metrics_cache import MetricsCache
from tests.conftest import T0
from tests.pki_files import pem, small_pki
from tests.web_support import asgi_client, make_setup

DAY = timedelta(days=1)
HOSTILE_CN = 'evil\r\ncn "quoted" back\\slash \x1b[31mred\x00 \u2028 end'


def _with_hostile_cn(app: App) -> None:
    pki = small_pki(T0)
    leaf = pki.sub.issue(HOSTILE_CN, not_before=T0 - DAY, not_after=T0 + 30 * DAY)
    prepared = app.inventory.prepare_bytes(
        [("hostile.pem", pem(leaf.cert, pki.sub.cert))], store="tomcat-trust"
    )
    assert not prepared.rejected, prepared.rejected
    app.inventory.commit(prepared)


def _cn_of(text: str) -> str:
    for family in text_string_to_metric_families(text):
        if family.name == "x509_cert_not_after":
            for sample in family.samples:
                if sample.labels["subject_CN"].startswith("evil"):
                    return str(sample.labels["subject_CN"])
    raise AssertionError("the hostile certificate has no x509_cert_not_after series")


def test_label_values_keep_data_visible_and_lines_whole() -> None:
    assert label_value("plain CN") == "plain CN"
    assert label_value("a\rb") == "a\\x0db"
    assert label_value("a\nb") == "a\nb"  # LF: the format's own \n escape (prometheus_client)
    assert label_value("\x1b[31m\x00\x85\u2028") == "\\x1b[31m\\x00\\x85\\u2028"
    assert label_value("é ü 中") == "é ü 中"


async def test_a_cr_in_a_cn_does_not_break_the_exposition(app: App) -> None:
    _with_hostile_cn(app)
    setup = make_setup(app)
    async with asgi_client(setup.web) as anonymous:
        response = await anonymous.get("/metrics")
    text = response.text
    # Every line is a comment or a sample, however a reader splits lines.
    for line in text.splitlines():
        assert line.startswith("#") or "} " in line or line.split(" ")[0].isidentifier(), line
    assert "\r" not in text and "\x1b" not in text and "\x00" not in text
    # The line feed is escaped as the format says; the rest is visible text.
    assert (
        r'subject_CN="evil\\x0d\ncn \"quoted\" back\\slash \\x1b[31mred\\x00 \\u2028 end"' in text
    )
    assert _cn_of(text) == 'evil\\x0d\ncn "quoted" back\\slash \\x1b[31mred\\x00 \\u2028 end'


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_exposition(app: App) -> None:
    _with_hostile_cn(app)
    registry: MetricsRegistry = make_setup(app).web.state.metrics
    body = registry.scrape()  # what GET /metrics answers
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b""  # no lint either


async def test_names_follow_the_exporters_conventions(app: App) -> None:
    _with_hostile_cn(app)
    setup = make_setup(app)
    async with asgi_client(setup.web) as anonymous:
        text = (await anonymous.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "x509_cert_not_after" in families and "x509_cert_not_before" in families
    for name, family in families.items():
        if family.type == "counter":
            assert f"# TYPE {name}_total counter" in text, name
    epoch = [
        line.split()[2]
        for line in text.splitlines()
        if line.startswith("# HELP") and ("When " in line or "epoch" in line)
    ]
    for name in epoch:
        assert name.endswith("_timestamp_seconds") or name.startswith("x509_cert_not_"), name
    assert "_created" not in text


async def test_monitor_runs_total_counts_manual_runs(app: App) -> None:
    setup = make_setup(app)
    async with asgi_client(setup.web, setup.admin_token) as admin:
        for _ in range(2):
            ran = await admin.post("/api/v1/services/monitor/run-now")
            assert ran.status_code == 200, ran.text
        text = (await admin.get("/metrics")).text
    assert 'certwarden_monitor_runs_total{trigger="manual"} 2.0' in text
    assert 'certwarden_monitor_runs_total{trigger="scheduled"} 0.0' in text
    # Persisted: another process (the CLI, a second server) sees the same count.
    assert app.monitor.status().runs == {"manual": 2}


# ------------------------------------------------------------------ the cache


def test_scrapes_are_served_from_the_cache_until_the_database_changes(app: App) -> None:
    registry = MetricsRegistry(app, lambda: 30 * DAY)
    first = registry.scrape()
    again = registry.scrape()
    assert registry.cache.renders == 1 and first == again
    _with_hostile_cn(app)  # a commit: the change counter moves
    after = registry.scrape()
    assert registry.cache.renders == 2 and b"evil" in after


def test_with_the_refresher_running_a_scrape_never_renders(app: App) -> None:
    registry = MetricsRegistry(app, lambda: 30 * DAY)
    cache = registry.cache
    assert cache.refresh() == 1  # the refresher's first round renders the default text
    cache.background = True
    _with_hostile_cn(app)
    assert b"evil" not in registry.scrape()  # served as cached: at most one refresh behind
    assert cache.renders == 1
    assert cache.refresh() == 1 and b"evil" in registry.scrape()
    assert cache.refresh() == 0  # nothing changed: nothing rendered


def test_concurrent_scrapes_of_a_cold_cache_render_once(app: App) -> None:
    import threading

    gate = threading.Event()
    calls: list[int] = []

    def slow_render(*, per_certificate: bool) -> bytes:
        calls.append(1)
        gate.wait(5)
        return b"# body\n"

    cache = MetricsCache(slow_render, lambda: 7, refresh_seconds=15)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get())) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and results == [b"# body\n"] * 8


async def test_the_web_app_refreshes_in_the_background(app: App) -> None:
    setup = make_setup(app)
    web = create_app(app, metrics=MetricsOptions(refresh_seconds=1))
    registry: MetricsRegistry = web.state.metrics
    async with web.router.lifespan_context(web):
        for _ in range(100):
            if registry.cache.renders:
                break
            await asyncio.sleep(0.05)
        assert registry.cache.renders == 1 and registry.cache.background
        async with asgi_client(web) as anonymous:
            for _ in range(5):
                assert (await anonymous.get("/metrics")).status_code == 200
        assert registry.cache.renders == 1  # five scrapes, no render of their own
    assert not registry.cache.background
    del setup


# --------------------------------------------------------- per-certificate switch


def test_per_certificate_series_follow_the_switch() -> None:
    auto = MetricsOptions()
    assert auto.limit == PER_CERTIFICATE_LIMIT == 10_000
    assert auto.wants_certificates(10_000) and not auto.wants_certificates(10_001)
    assert MetricsOptions(per_certificate="always").wants_certificates(1_000_000)
    assert not MetricsOptions(per_certificate="never").wants_certificates(1)
    with pytest.raises(ValueError, match="auto, always or never"):
        MetricsOptions(per_certificate="sometimes")


async def test_above_the_limit_the_summary_is_the_default(app: App) -> None:
    _with_hostile_cn(app)  # two certificates
    make_setup(app)
    small_limit = create_app(app, metrics=MetricsOptions(limit=1))
    never = create_app(app, metrics=MetricsOptions(per_certificate="never"))
    default = create_app(app)
    async with asgi_client(small_limit) as client:
        text = (await client.get("/metrics")).text
        assert "x509_cert_not_after{" not in text
        assert 'certwarden_certificates{state="valid"}' in text
    async with asgi_client(never) as client:
        assert "x509_cert_not_after{" not in (await client.get("/metrics")).text
    async with asgi_client(default) as client:
        assert "x509_cert_not_after{" in (await client.get("/metrics")).text
        summary = (await client.get("/metrics?detail=summary")).text
        assert "x509_cert_not_after{" not in summary and "certwarden_certificates{" in summary
