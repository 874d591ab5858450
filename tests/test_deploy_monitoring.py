"""deploy/prometheus and deploy/grafana (issue 12 item 10): the alert rules pass
``promtool check rules`` and their unit tests (``promtool test rules``), and the
rules and the dashboard use only metric names /metrics exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from certwarden.composition import App
from certwarden.demo.pki import build_demo_pki, import_demo
from certwarden.interfaces.web.metrics import MetricsRegistry
from tests.web_support import make_setup

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "certwarden-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "certwarden-rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "certwarden-dashboard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)"
)
OURS = re.compile(r"\b(?:x509_cert|certwarden)_[a-zA-Z0-9_]+\b")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=RULES.parent
    )


@needs_promtool
def test_the_alert_rules_pass_promtool_check() -> None:
    checked = _promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout


@needs_promtool
def test_the_alert_rules_pass_their_unit_tests() -> None:
    tested = _promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def _exported(app: App, tmp_path: Path) -> set[str]:
    """Every series name /metrics can carry (histograms with their _bucket/_sum/_count)."""
    import_demo(app.inventory, build_demo_pki(tmp_path / "pki", app.clock.now()))
    registry: MetricsRegistry = make_setup(app).web.state.metrics
    names: set[str] = set()
    for line in registry.scrape().decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def _dashboard_exprs() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def _rule_exprs() -> list[tuple[str, str]]:
    yaml = pytest.importorskip("yaml", reason="PyYAML (a schemathesis dependency) is missing")
    loaded = yaml.safe_load(RULES.read_text())
    return [(rule["alert"], rule["expr"]) for g in loaded["groups"] for rule in g["rules"]]


def test_the_dashboard_uses_only_exported_metrics(app: App, tmp_path: Path) -> None:
    exported = _exported(app, tmp_path)
    assert {"x509_cert_not_after", "certwarden_monitor_runs_total"} <= exported
    exprs = _dashboard_exprs()
    assert len(exprs) >= 15
    for title, expr in exprs:
        used = set(OURS.findall(expr))
        assert used, f"panel {title!r}: {expr} uses no certwarden metric"
        assert used <= exported, f"panel {title!r}: {sorted(used - exported)} are not exported"


def test_the_alert_rules_use_only_exported_metrics(app: App, tmp_path: Path) -> None:
    exported = _exported(app, tmp_path)
    rules = _rule_exprs()
    assert {name for name, _ in rules} >= {
        "CertificateExpiresSoon",
        "CertificateRevoked",
        "RevocationCouldNotTell",
        "CertificateMonitorStopped",
    }
    for name, expr in rules:
        used = set(OURS.findall(expr))
        assert used, f"rule {name}: {expr} uses no certwarden metric"
        assert used <= exported, f"rule {name}: {sorted(used - exported)} are not exported"


def test_the_dashboard_is_importable_json() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "certwarden" and board["__inputs"][0]["pluginId"] == "prometheus"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
