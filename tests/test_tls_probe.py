"""``certwarden probe``, monitored endpoints, and mail delivery, against real servers.

Servers: ``openssl s_server`` (good, revoked, stapled), a real aiosmtpd SMTP
server with STARTTLS and with implicit TLS, IMAP / POP3 / LDAP STARTTLS test
servers and the TLS syslog receiver; a real ``openssl ocsp`` responder
answers for every certificate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.hashes import SHA256

from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.ocsp.results import iso_z
from certwarden.services.shared.alerts import list_alerts
from certwarden.services.shared.lifecycle import list_conditions
from certwarden.services.shared.outbox import enqueue
from tests.conftest import Cli
from tests.ocsp_responders import OpensslResponder, free_port
from tests.smtp_fixture import SmtpServer
from tests.tls_servers import (
    SServer,
    StartTlsServer,
    SyslogReceiver,
    TlsPki,
    fetch_response,
    server_context,
    start_responder,
    start_s_server,
    tls_pki,
)


@dataclass
class World:
    pki: TlsPki
    responder: OpensslResponder
    good: SServer
    revoked: SServer
    stapled: SServer
    smtp: SmtpServer
    starttls: dict[str, StartTlsServer]
    syslog: SyslogReceiver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    pki = tls_pki(tmp_path_factory.mktemp("tls-probe"))
    stops: list[object] = []
    try:
        responder = start_responder(pki)
        stops.append(responder)
        good = start_s_server(pki, "good")
        stops.append(good)
        revoked = start_s_server(pki, "revoked")
        stops.append(revoked)
        stapled = start_s_server(pki, "good", staple=fetch_response(pki, "good"))
        stops.append(stapled)
        smtp = SmtpServer()
        smtp.start(tls=server_context(pki, "good"))
        stops.append(smtp)
        starttls = {}
        for kind in ("imap", "pop3", "ldap"):
            starttls[kind] = StartTlsServer(kind, server_context(pki, "good")).start()
            stops.append(starttls[kind])
        syslog = SyslogReceiver(server_context(pki, "syslog")).start()
        stops.append(syslog)
        yield World(pki, responder, good, revoked, stapled, smtp, starttls, syslog)
    finally:
        for server in reversed(stops):
            server.stop()  # type: ignore[attr-defined]


@pytest.fixture
def cli(tmp_path: Path, world: World) -> Cli:
    runner = Cli(tmp_path / "cli-data", world.pki.now + timedelta(seconds=1))
    assert runner("revocation", "settings", "set", "--enable-ocsp").code == 0
    # The issuing CA is trusted (in tomcat-trust), as an administrator sets it up:
    # the chains the servers send then lead to a trust store.
    ca = str(world.pki.path("ca.pem"))
    assert runner("import", "--store", "tomcat-trust", ca).code == 0
    return runner


def probe_json(cli: Cli, *args: str) -> tuple[int, dict[str, object]]:
    result = cli("probe", *args, "--json")
    assert result.stdout, result
    return result.code, json.loads(result.stdout)


# ------------------------------------------------------------------ must show


def test_probe_json_revoked_server_reports_revoked_and_refused_in_both_modes(
    cli: Cli, world: World
) -> None:
    code, out = probe_json(cli, f"127.0.0.1:{world.revoked.port}")
    assert code == 1  # refused under the mode in force
    status = out["status"]
    assert isinstance(status, dict)
    assert status["status"] == "revoked"
    assert status["revoked_at"] == iso_z(world.pki.revoked_at)
    assert status["revocation_reason"] == "keyCompromise"
    assert status["source"] == "responder"
    policy = out["policy"]
    assert isinstance(policy, dict)
    for mode in ("common_criteria_on", "common_criteria_off"):
        assert policy[mode]["decision"] == "deny" and policy[mode]["allowed"] is False
        assert "revoked" in policy[mode]["why"]
    chain = out["chain"]
    assert isinstance(chain, list) and len(chain) == 2
    assert chain[0]["role"] == "leaf" and chain[0]["ocsp"]["status"] == "revoked"
    assert chain[0]["subject"] == world.pki.leaves["revoked"].cert.subject.rfc4514_string()
    assert chain[1]["role"] == "intermediate"
    assert out["stapled"] == {"state": "not_sent", "sent": False, "valid": None, "result": None}


def test_probe_json_good_server_reports_good_and_allowed(cli: Cli, world: World) -> None:
    code, out = probe_json(cli, f"127.0.0.1:{world.good.port}")
    assert code == 0
    assert out["status"]["status"] == "good"  # type: ignore[index]
    for mode in ("common_criteria_on", "common_criteria_off"):
        assert out["policy"][mode] == {  # type: ignore[index]
            "decision": "allow",
            "allowed": True,
            "why": out["policy"][mode]["why"],  # type: ignore[index]
        }
    leaf = out["chain"][0]  # type: ignore[index]
    assert leaf["not_after"] == iso_z(world.pki.leaves["good"].cert.not_valid_after_utc)
    assert leaf["expired"] is False and leaf["days_left"] > 190
    assert leaf["ocsp"]["status"] == "good" and leaf["ocsp"]["trust_model"] == "delegated"
    # The issuing CA is asked about too; its issuer (the root) is not in the chain
    # nor the inventory, so that answer is could-not-tell, plainly.
    assert out["chain"][1]["ocsp"]["reason"] == "issuer_not_found"  # type: ignore[index]


def test_probe_reads_a_stapled_response(cli: Cli, world: World) -> None:
    code, out = probe_json(cli, f"127.0.0.1:{world.stapled.port}")
    assert code == 0
    assert out["stapled"]["sent"] is True and out["stapled"]["valid"] is True  # type: ignore[index]
    assert out["stapled"]["result"]["status"] == "good"  # type: ignore[index]
    assert out["status"]["source"] == "stapled"  # type: ignore[index]


def test_probe_human_output(cli: Cli, world: World) -> None:
    result = cli("probe", f"127.0.0.1:{world.stapled.port}")
    assert result.code == 0, result
    text = result.stdout
    assert "good.tls.test" in text and "TLS Test Issuing CA" in text
    assert "stapled OCSP response: sent, valid: good" in text
    assert "Common Criteria on : allowed" in text and "Common Criteria off: allowed" in text
    assert "hostname:  matches: 127.0.0.1 matches IP:127.0.0.1" in text
    assert "chain:     trusted: leads to CN=TLS Test Issuing CA" in text
    assert "verdict:   accepted (Common Criteria off)" in text
    revoked = cli("probe", f"127.0.0.1:{world.revoked.port}")
    assert revoked.code == 1
    assert "stapled OCSP response: not sent" in revoked.stdout
    assert "revoked at" in revoked.stdout and "keyCompromise" in revoked.stdout
    assert revoked.stdout.count("Common Criteria o") == 3  # two revocation lines, one verdict
    assert "verdict:   REFUSED (Common Criteria off):\n  - revocation: refused:" in revoked.stdout


def test_probe_a_wrong_servername_is_refused_although_ocsp_says_good(
    cli: Cli, world: World
) -> None:
    code, out = probe_json(cli, f"127.0.0.1:{world.good.port}", "--servername", "wrong.example")
    assert code == 1
    assert out["status"]["status"] == "good"  # type: ignore[index]
    assert out["hostname"]["matched"] is False  # type: ignore[index]
    assert out["chain_trust"]["trusted"] is True  # type: ignore[index]
    for mode in ("common_criteria_on", "common_criteria_off"):
        (why,) = out["refusals"][mode]  # type: ignore[index]
        assert why.startswith("the name does not match: wrong.example is not among")
    text = cli("probe", f"127.0.0.1:{world.good.port}", "--servername", "wrong.example")
    assert text.code == 1
    assert "hostname:  DOES NOT MATCH: wrong.example is not among the certificate's" in text.stdout
    assert "verdict:   REFUSED (Common Criteria off)" in text.stdout
    assert "accepted" not in text.stdout
    # The right name, sent as SNI: accepted.
    assert cli("probe", f"127.0.0.1:{world.good.port}", "--servername", "good.tls.test").code == 0


@pytest.mark.parametrize("kind", ["smtp", "imap", "pop3", "ldap", "syslog"])
def test_probe_each_server_kind(cli: Cli, world: World, kind: str) -> None:
    if kind == "smtp":
        port, args, leaf = world.smtp.port, ["--starttls", "smtp"], "good"
    elif kind == "syslog":
        port, args, leaf = world.syslog.port, [], "syslog"
    else:
        port, args, leaf = world.starttls[kind].port, ["--starttls", kind], "good"
    code, out = probe_json(cli, f"127.0.0.1:{port}", *args)
    assert code == 0, out
    assert out["starttls"] == (None if kind == "syslog" else kind)
    assert out["chain"][0]["sha256"] == (  # type: ignore[index]
        world.pki.leaves[leaf].cert.fingerprint(SHA256()).hex()
    )
    assert out["status"]["status"] == "good"  # type: ignore[index]
    assert str(out["tls_version"]).startswith("TLSv1.")


def test_probe_errors_are_plain(cli: Cli, world: World) -> None:
    dead = free_port()
    result = cli("probe", f"127.0.0.1:{dead}")
    assert result.code == 1 and f"127.0.0.1:{dead}" in result.stderr
    assert "cannot connect" in result.stderr
    # STARTTLS against a server that speaks TLS from the first byte: no answer.
    wrong = cli("probe", f"127.0.0.1:{world.good.port}", "--starttls", "pop3", "--timeout", "1")
    assert wrong.code == 1 and "pop3" in wrong.stderr.lower()
    assert cli("probe", "127.0.0.1").code == 1  # no port: named in the error
    assert cli("probe", f"127.0.0.1:{world.good.port}", "--starttls", "ftp").code == 2


def test_probe_import_adds_the_chain_with_its_status(cli: Cli, world: World) -> None:
    code, out = probe_json(cli, f"127.0.0.1:{world.revoked.port}", "--import", "--store", "tomcat")
    assert code == 1
    assert len(out["import"]["imported"]) == 2  # type: ignore[index]
    listed = json.loads(cli("list", "--store", "tomcat", "--json").stdout)
    by_role = {c["role"]: c for c in listed}
    assert by_role["leaf"]["revocation"]["status"] == "revoked"
    assert by_role["leaf"]["revocation"]["reason"] == "keyCompromise"
    assert cli("probe", f"127.0.0.1:{world.good.port}", "--import").code == 2


# ----------------------------------------------------------------- endpoints


@pytest.fixture
def app(tmp_path: Path, world: World) -> Iterator[App]:
    application = build_app(
        AppConfig(data_dir=tmp_path / "data", database_url=""),
        clock=ManualClock(world.pki.now + timedelta(seconds=1)),
    )
    application.revocation.update_settings({"enable_ocsp": True})
    yield application
    application.close()


def _endpoint_rows(app: App) -> list[dict[str, object]]:
    """What the inventory holds for endpoints (minus days_left, which moves with the clock)."""
    rows = [c.to_json(app.clock.now()) for c in app.inventory.list() if c.store == "endpoints"]
    return [{k: v for k, v in r.items() if k != "days_left"} for r in rows]


def test_endpoint_certificates_join_the_inventory_and_survive_an_outage(
    app: App, world: World
) -> None:
    pki = world.pki
    server = start_s_server(pki, "expired")
    try:
        record = app.endpoints.add(f"127.0.0.1:{server.port}")
        report = app.monitor.run_now()  # the run probes first, then looks for due certificates
        (notice,) = report.notices
        assert notice.kind.value == "expired" and notice.certificate.store == "endpoints"
        leaf_sha = pki.leaves["expired"].cert.fingerprint(SHA256()).hex()
        (listed,) = app.endpoints.list()
        assert listed.last_status == "ok" and listed.leaf_sha256 == leaf_sha
        assert listed.certificate_id is not None and listed.revocation_status == "revoked"
        rows = _endpoint_rows(app)
        assert {r["role"] for r in rows} == {"leaf", "intermediate"}
        seen_at = listed.last_seen_at
    finally:
        server.stop()

    # Down: reported as such, the certificate and its data stay.
    app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    app.monitor.run_now()
    app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    app.monitor.run_now()
    (down,) = app.endpoints.list()
    assert down.last_status == "unreachable" and "cannot connect" in (down.last_error or "")
    assert down.leaf_sha256 == leaf_sha and down.last_seen_at == seen_at
    assert down.certificate_id == listed.certificate_id
    assert _endpoint_rows(app) == rows
    with app.db.session() as s:
        (unreachable,) = list_alerts(s, kind="endpoint_unreachable")  # once per outage
    assert record.where in unreachable.message and "kept" in unreachable.message
    with app.db.session() as s:
        (outage,) = [a for a in list_conditions(s) if a.kind == "endpoint_unreachable"]
    assert outage.state == "open" and record.where in outage.subject + outage.message

    # Back, serving a renewed certificate on the same port: that is a renewal.
    renewed = start_s_server(pki, "mail", port=record.port)
    try:
        (probe,) = app.endpoints.probe_all()
    finally:
        renewed.stop()
    assert probe.ok and probe.renewed_from == leaf_sha
    with app.db.session() as s:
        (ended,) = [a for a in list_conditions(s) if a.kind == "endpoint_unreachable"]
    assert (ended.id, ended.state) == (outage.id, "cleared")  # the endpoint answers again
    assert ended.cleared_reason == "the endpoint answers again"
    (now_serving,) = app.endpoints.list()
    assert now_serving.leaf_sha256 == pki.leaves["mail"].cert.fingerprint(SHA256()).hex()
    subjects = {r["subject_cn"] for r in _endpoint_rows(app)}
    assert subjects == {"mail.tls.test", "TLS Test Issuing CA"}


def test_endpoints_cli(cli: Cli, world: World) -> None:
    target = f"127.0.0.1:{world.smtp.port}"
    assert cli("endpoints", "add", target, "--starttls", "smtp").code == 0
    again = cli("endpoints", "add", target)
    assert again.code == 1 and "already monitored" in again.stderr
    assert cli("endpoints", "add", "127.0.0.1:99999").code == 1
    probed = json.loads(cli("endpoints", "probe", "--json").stdout)
    assert probed[0]["ok"] is True and probed[0]["imported"] == 2
    (listed,) = json.loads(cli("endpoints", "list", "--json").stdout)
    assert listed["endpoint"] == target and listed["starttls"] == "smtp"
    assert (
        listed["certificate"]["subject"] == world.pki.leaves["good"].cert.subject.rfc4514_string()
    )
    assert listed["certificate"]["revocation_status"] == "good"
    removed = cli("endpoints", "remove", target)
    assert removed.code == 0 and "1 certificate(s) removed" in removed.stdout
    assert json.loads(cli("endpoints", "list", "--json").stdout) == []


# ------------------------------------------------------------- mail delivery


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_delivery_refuses_a_revoked_mail_server(
    app: App, world: World, security: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default client context trusts the test root (the environment, not our code).
    monkeypatch.setenv("SSL_CERT_FILE", str(world.pki.path("root.pem")))
    app.outbox.update_smtp_settings(
        {"host": "127.0.0.1", "security": security, "timeout_seconds": 5}
    )
    for leaf, delivered in (("mail_revoked", False), ("mail", True)):
        server = SmtpServer()
        server.start(tls=server_context(world.pki, leaf), implicit=security == "tls")
        try:
            app.outbox.update_smtp_settings({"port": server.port})
            with app.db.session() as s:
                enqueue(
                    s, now=app.clock.now(), kind="t", dedupe_key=f"{leaf}-{security}",
                    recipients=["admin@example.org"], subject=f"to {leaf}", body="hello",
                )  # fmt: skip
            report = app.outbox.deliver_due(app.clock.now() + timedelta(days=1))
        finally:
            server.stop()
        if delivered:
            assert len(report.sent) >= 1 and not report.failed
            assert {m.subject for m in server.messages} >= {"to mail"}
        else:
            (error,) = report.failed.values()
            assert "refused" in error and "revoked" in error and "keyCompromise" in error
            assert server.messages == []
            with app.db.session() as s:
                (refused,) = list_alerts(s, kind="connection_refused")
            assert "(mail)" in refused.message
