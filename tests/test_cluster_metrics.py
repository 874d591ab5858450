"""Metrics for several instances (issue 14 item 6): the loop's counters carry the
instance (node id), each instance exports who leads each job and how many
nodes are alive or gone, and deploy/prometheus/certwarden-cluster-rules.yml
alerts on a gone node (promtool's unit tests) using only exported names."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.interfaces.cli._serve import run_round
from certwarden.interfaces.web.metrics import LoopMetrics, MetricsRegistry
from certwarden.services.cluster import ClusterService
from tests.conftest import T0
from tests.web_support import make_setup

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
CLUSTER_RULES = RULES / "certwarden-cluster-rules.yml"
CLUSTER_RULE_TESTS = RULES / "certwarden-cluster-rules.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)"
)
OURS = re.compile(r"\b(?:x509_cert|certwarden)_[a-zA-Z0-9_]+\b")


def _samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float | None:  # fmt: skip
    return samples.get((name, frozenset(labels.items())))


def _cluster_round(app: App) -> None:
    registry = CollectorRegistry(auto_describe=False)
    me = app.cluster.node_id
    metrics = LoopMetrics(registry, instance=me)
    other = ClusterService(app.db, ManualClock(T0), node_id="node-b", host="b", pid=2)
    other.register()
    assert other.acquire("outbox") is not None  # b delivers the outbox
    run_round(app, metrics)
    seen = _samples(registry)
    leader = "certwarden_cluster_leader"
    for job in ("monitor", "revocation", "syslog", "ari"):
        assert _value(seen, leader, instance=me, job=job) == 1.0, job
    assert _value(seen, leader, instance=me, job="outbox") == 0.0
    assert _value(seen, "certwarden_cluster_nodes", state="alive") == 2.0
    assert _value(seen, "certwarden_cluster_nodes", state="gone") == 0.0
    # The round's counters are this instance's.
    assert _value(seen, "certwarden_revocation_runs_total", instance=me) == 0.0
    assert _value(seen, "certwarden_outbox_sent_total", instance=me) == 0.0

    # b stops beating its heart: after the lease it is gone, and its job moves here.
    app.clock.advance(other.lease + timedelta(seconds=1))  # type: ignore[attr-defined]
    run_round(app, metrics)
    seen = _samples(registry)
    assert _value(seen, leader, instance=me, job="outbox") == 1.0
    assert _value(seen, "certwarden_cluster_nodes", state="alive") == 1.0
    assert _value(seen, "certwarden_cluster_nodes", state="gone") == 1.0
    errors = [v for (name, _), v in seen.items() if name == "certwarden_loop_errors_total"]
    assert all(v == 0 for v in errors)


def test_cluster_gauges_follow_the_leases_on_sqlite(app: App) -> None:
    _cluster_round(app)


@pytest.mark.postgres
def test_cluster_gauges_follow_the_leases_on_postgres(pg_app: App) -> None:
    _cluster_round(pg_app)


def test_the_loop_counters_carry_the_node_id_on_metrics(app: App) -> None:
    registry: MetricsRegistry = make_setup(app).web.state.metrics
    registry.loop.loop_errors.labels("monitor").inc()
    registry.loop.outbox_sent.inc(2)
    text = registry.scrape().decode()
    me = app.cluster.node_id
    assert f'certwarden_loop_errors_total{{instance="{me}",task="monitor"}} 1.0' in text
    assert f'certwarden_outbox_sent_total{{instance="{me}"}} 2.0' in text
    assert "# TYPE certwarden_cluster_leader gauge" in text
    assert "# TYPE certwarden_cluster_nodes gauge" in text


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=RULES)


@needs_promtool
def test_the_cluster_rules_pass_promtool_check_and_their_unit_tests() -> None:
    checked = _promtool("check", "rules", CLUSTER_RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rules found" in checked.stdout
    tested = _promtool("test", "rules", CLUSTER_RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_cluster_rules_use_only_exported_metrics(app: App) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML (a schemathesis dependency) is missing")
    registry: MetricsRegistry = make_setup(app).web.state.metrics
    exported = {
        line.split()[2] for line in registry.scrape().decode().splitlines()
        if line.startswith("# TYPE ")
    }  # fmt: skip
    loaded = yaml.safe_load(CLUSTER_RULES.read_text())
    rules = [(r["alert"], r["expr"]) for g in loaded["groups"] for r in g["rules"]]
    assert {name for name, _ in rules} == {"CertwardenNodeGone", "CertwardenJobWithoutLeader"}
    for name, expr in rules:
        used = set(OURS.findall(expr))
        assert used, f"rule {name}: {expr} uses no certwarden metric"
        assert used <= exported, f"rule {name}: {sorted(used - exported)} are not exported"
