"""The client-side verification API against real servers: the policy table.

``openssl s_server`` serves each leaf of the test PKI, with and without a
stapled response (``-status_file``), and a real ``openssl ocsp`` responder
answers live queries. Every row of the table is driven through the client
API — stdlib ``ssl`` sockets and asyncio streams (live status: the stdlib
cannot ask for stapling) and :meth:`TlsGuard.connect` (pyOpenSSL, stapled) —
under Common Criteria mode on and off.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.hashes import SHA256

from certwarden.adapters.tls import open_tls
from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.ocsp import CertStatus, Reason
from certwarden.core.policy import Decision
from certwarden.core.tls import ConnectionCheck, Stapling, StatusSource
from certwarden.demo.devpki import DevCA
from certwarden.errors import ConnectionRefusedByPolicy, TlsError
from certwarden.services.shared.alerts import list_alerts
from tests.fakeca import FakeCA, unsuccessful
from tests.ocsp_responders import OpensslResponder
from tests.tls_servers import (
    DAY,
    SServer,
    TlsPki,
    fetch_response,
    start_responder,
    start_s_server,
    tls_pki,
)

X509_V_FLAG_NO_CHECK_TIME = 0x200000


@dataclass
class Servers:
    pki: TlsPki
    responder: OpensslResponder
    plain: dict[str, SServer]
    stapled: dict[str, SServer]
    bad_staples: dict[str, SServer]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pki = tls_pki(tmp_path_factory.mktemp("tls-guard"))
    started: list[SServer] = []
    responder = start_responder(pki)
    try:

        def serve(leaf: str, staple: bytes | None = None) -> SServer:
            server = start_s_server(pki, leaf, staple=staple)
            started.append(server)
            return server

        plain = {
            name: serve(name) for name in ("good", "revoked", "unknown", "expired", "no_answer")
        }
        stapled = {
            name: serve(name, fetch_response(pki, name)) for name in ("good", "revoked", "unknown")
        }
        fake = FakeCA(pki.ca, pki.now)
        revoked = pki.leaves["revoked"].cert
        bad = {
            # Says "good" about the revoked leaf, but the signature is forged.
            "forged": fake.response(
                fake.answer(revoked, "good", this_update=pki.now), signer=pki.delegated,
                tamper_signature=True,
            ),
            # Honest and fresh, but about another certificate.
            "other_cert": fetch_response(pki, "good"),
            # Honest, about this certificate, but long out of date.
            "stale": fake.response(
                fake.answer(revoked, "good", this_update=pki.now - 10 * DAY,
                            next_update=pki.now - 9 * DAY),
                signer=pki.delegated,
            ),
            # Not an answer at all: the responder said "try later".
            "try_later": unsuccessful("tryLater"),
        }  # fmt: skip
        bad_staples = {kind: serve("revoked", der) for kind, der in bad.items()}
        yield Servers(pki, responder, plain, stapled, bad_staples)
    finally:
        for server in started:
            server.stop()
        responder.stop()


def make_app(directory: Path, pki: TlsPki, *, common_criteria: bool) -> App:
    app = build_app(
        AppConfig(data_dir=directory, database_url=""),
        clock=ManualClock(pki.now + timedelta(seconds=1)),
    )
    app.revocation.update_settings({"enable_ocsp": True})
    app.revocation.set_common_criteria(common_criteria)
    return app


@pytest.fixture
def cc_app(tmp_path: Path, servers: Servers, request: pytest.FixtureRequest) -> Iterator[App]:
    app = make_app(tmp_path / "data", servers.pki, common_criteria=request.param)
    yield app
    app.close()


def stdlib_socket(pki: TlsPki, port: int, *, check_time: bool = True) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki.path("root.pem")))
    if not check_time:
        # The handshake checks validity against the wall clock; the guard uses
        # the injected one. This lets an expired leaf through to the guard.
        context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def live_check(app: App, servers: Servers, leaf: str) -> ConnectionCheck:
    with stdlib_socket(servers.pki, servers.plain[leaf].port, check_time=leaf != "expired") as sock:
        return app.tls.check_socket(sock, purpose="test-client")


def stapled_check(app: App, server: SServer, pki: TlsPki) -> ConnectionCheck:
    conn, check = app.tls.connect(
        "127.0.0.1", server.port, anchors=[pki.root.cert], purpose="test-client"
    )
    conn.close()
    return check


# status, reason / CRL reason, source, decision with CC on, decision with CC off
TABLE = {
    ("good", "live"): (CertStatus.GOOD, None, StatusSource.RESPONDER, "allow", "allow"),
    ("good", "stapled"): (CertStatus.GOOD, None, StatusSource.STAPLED, "allow", "allow"),
    ("revoked", "live"): (
        CertStatus.REVOKED, "keyCompromise", StatusSource.RESPONDER, "deny", "deny"),
    ("revoked", "stapled"): (
        CertStatus.REVOKED, "keyCompromise", StatusSource.STAPLED, "deny", "deny"),
    ("unknown", "live"): (CertStatus.UNKNOWN, None, StatusSource.RESPONDER, "deny", "warn"),
    ("unknown", "stapled"): (CertStatus.UNKNOWN, None, StatusSource.STAPLED, "deny", "warn"),
    ("no_answer", "live"): (
        CertStatus.COULD_NOT_TELL, Reason.RESPONDER_UNREACHABLE.value, StatusSource.RESPONDER,
        "deny", "warn"),
    ("expired", "live"): (CertStatus.REVOKED, "expired", StatusSource.EXPIRED, "deny", "deny"),
}  # fmt: skip
DECISIONS = {"allow": Decision.ALLOW, "warn": Decision.WARN, "deny": Decision.DENY}


@pytest.mark.parametrize("cc_app", [True, False], ids=["cc-on", "cc-off"], indirect=True)
@pytest.mark.parametrize(("leaf", "path"), list(TABLE), ids=[f"{a}-{b}" for a, b in TABLE])
def test_policy_table_through_the_client_api(
    cc_app: App, servers: Servers, leaf: str, path: str
) -> None:
    status, reason, source, on, off = TABLE[(leaf, path)]
    common_criteria = cc_app.tls.snapshot().common_criteria
    expected = DECISIONS[on if common_criteria else off]

    def run() -> ConnectionCheck:
        if path == "stapled":
            return stapled_check(cc_app, servers.stapled[leaf], servers.pki)
        return live_check(cc_app, servers, leaf)

    if expected is Decision.DENY:
        with pytest.raises(ConnectionRefusedByPolicy) as info:
            run()
        refused = info.value
        subject = servers.pki.leaves[leaf].cert.subject.rfc4514_string()
        assert refused.subject == subject
        assert refused.status == status.value
        assert refused.reason == reason
        message = refused.diagnostics()
        assert subject in message and status.value in message and "refused" in message
        with cc_app.db.session() as s:
            (alert,) = list_alerts(s, kind="connection_refused")
        assert alert.subject == subject and "test-client" in alert.message
        assert alert.details["source"] == source.value
        assert alert.details["status"] == status.value
        return
    check = run()
    assert check.result.status is status
    assert check.source is source
    assert check.verdict.decision is expected
    if status is CertStatus.GOOD:
        assert check.result.validated and check.result.raw_response
    else:
        assert check.result.reason is None or check.result.reason.value == reason
    assert check.stapling is (Stapling.SENT if path == "stapled" else Stapling.NOT_REQUESTED)
    with cc_app.db.session() as s:
        assert list_alerts(s, kind="connection_refused") == []


@pytest.fixture
def app(tmp_path: Path, servers: Servers) -> Iterator[App]:
    application = make_app(tmp_path / "data", servers.pki, common_criteria=False)
    yield application
    application.close()


def test_a_live_answer_is_cached_for_the_next_connection(app: App, servers: Servers) -> None:
    first = live_check(app, servers, "good")
    second = live_check(app, servers, "good")
    assert (first.source, second.source) == (StatusSource.RESPONDER, StatusSource.CACHE)
    assert second.result.status is CertStatus.GOOD
    assert second.result.raw_response == first.result.raw_response


def test_a_validated_staple_is_cached_too(app: App, servers: Servers) -> None:
    stapled = stapled_check(app, servers.stapled["good"], servers.pki)
    assert stapled.source is StatusSource.STAPLED
    # A stdlib connection sends no staple: the staple's answer serves it from the cache.
    plain = live_check(app, servers, "good")
    assert plain.source is StatusSource.CACHE
    assert plain.result.raw_response == stapled.result.raw_response


def test_a_refused_peer_is_asked_afresh_on_every_connection(app: App, servers: Servers) -> None:
    with pytest.raises(ConnectionRefusedByPolicy) as first:
        stapled_check(app, servers.stapled["revoked"], servers.pki)
    assert first.value.result.responder_url is None  # type: ignore[attr-defined]  # the staple
    assert servers.pki.leaves["revoked"].cert.fingerprint(SHA256()).hex() in app.tls.blocked()
    # The server staples the same response again, and the answer is cached,
    # but a refused peer is asked afresh: the refusal lasts while the status does.
    with pytest.raises(ConnectionRefusedByPolicy) as again:
        stapled_check(app, servers.stapled["revoked"], servers.pki)
    result = again.value.result
    assert result.responder_url == servers.pki.responder_url  # type: ignore[attr-defined]
    with app.db.session() as s:
        assert len(list_alerts(s, kind="connection_refused")) == 1  # one per peer and hour


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("forged", Reason.BAD_SIGNATURE),
        ("other_cert", Reason.CERTID_MISMATCH),
        ("stale", Reason.STALE),
        ("try_later", Reason.UNSUCCESSFUL_STATUS),
    ],
)
def test_a_stapled_response_that_does_not_validate_is_ignored(
    app: App, servers: Servers, kind: str, why: Reason
) -> None:
    """A staple saying "good" about a revoked certificate must never let it through."""
    conn = open_tls("127.0.0.1", servers.bad_staples[kind].port)
    conn.close()
    assert conn.peer.stapling is Stapling.SENT
    check = app.tls.evaluate(conn.peer, purpose="test-client")
    assert check.stapled_result is not None
    assert check.stapled_result.status is CertStatus.COULD_NOT_TELL
    assert check.stapled_result.reason is why
    # The decision comes from the live responder instead: revoked.
    assert check.source is StatusSource.RESPONDER
    assert check.result.status is CertStatus.REVOKED
    assert check.verdict.decision is Decision.DENY


def test_asyncio_streams(app: App, servers: Servers) -> None:
    context = ssl.create_default_context(cafile=str(servers.pki.path("root.pem")))

    async def connect(port: int) -> ConnectionCheck:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        try:
            return await app.tls.acheck_stream(writer, purpose="async-client")
        finally:
            writer.close()
            await writer.wait_closed()

    good = asyncio.run(connect(servers.plain["good"].port))
    assert good.result.status is CertStatus.GOOD and good.verdict.allowed
    assert good.issuer_source == "chain"
    with pytest.raises(ConnectionRefusedByPolicy) as info:
        asyncio.run(connect(servers.plain["revoked"].port))
    assert info.value.status == "revoked" and info.value.reason == "keyCompromise"


def test_connect_verifies_the_chain_and_the_name_before_anything_else(
    app: App, servers: Servers, tmp_path: Path
) -> None:
    other = FakeCA.root("Unrelated Root", now=servers.pki.now)
    port = servers.stapled["good"].port
    with pytest.raises(TlsError, match="does not verify") as info:
        app.tls.connect("127.0.0.1", port, anchors=[other.cert], purpose="t")
    assert not isinstance(info.value, ConnectionRefusedByPolicy)
    with pytest.raises(TlsError, match=r"does not verify for 'wrong\.example'"):
        app.tls.connect(
            "127.0.0.1", port, anchors=[servers.pki.root.cert], purpose="t",
            servername="wrong.example",
        )  # fmt: skip
    with pytest.raises(TlsError, match=r"expired|does not verify"):
        app.tls.connect(
            "127.0.0.1", servers.plain["expired"].port, anchors=[servers.pki.root.cert],
            purpose="t",
        )  # fmt: skip


def test_the_issuer_comes_from_the_inventory_when_the_server_sends_only_its_leaf(
    app: App, servers: Servers, tmp_path: Path
) -> None:
    from certwarden.adapters.tls import peer_from_ders

    pki = servers.pki
    leaf_only = peer_from_ders("127.0.0.1", 1, [pki.leaves["good"].cert_der()])
    missing = app.tls.evaluate(leaf_only, purpose="t")
    assert missing.result.reason is Reason.ISSUER_NOT_FOUND
    assert missing.verdict.decision is Decision.WARN  # Common Criteria off
    app.inventory.import_paths([pki.path("chain.pem")], store="tomcat-trust")
    found = app.tls.evaluate(leaf_only, purpose="t")
    assert found.issuer_source == "inventory"
    assert found.result.status is CertStatus.GOOD


def test_with_ocsp_disabled_nothing_is_asked(tmp_path: Path, servers: Servers) -> None:
    app = make_app(tmp_path / "off", servers.pki, common_criteria=True)
    try:
        app.revocation.update_settings({"enable_ocsp": False})
        check = live_check(app, servers, "revoked")
        assert check.source is StatusSource.NOT_CHECKED
        assert check.verdict.decision is Decision.WARN
        assert "OCSP is disabled" in check.verdict.why
        # An expired leaf is still refused: the system revokes expired certificates itself.
        with pytest.raises(ConnectionRefusedByPolicy, match="expired"):
            live_check(app, servers, "expired")
    finally:
        app.close()


def test_a_cached_answer_from_a_designated_responder_is_dropped_once_it_is_removed(
    app: App, servers: Servers
) -> None:
    """Trusted Responder Model and the cache, through the TLS path.

    A staple signed by a responder an administrator designated (uploaded to
    tomcat-trust) validates and is cached. Once the administrator removes that
    responder, the cached answer must not vouch for the next connection: the
    status is asked afresh (here the real responder answers, via the Delegated
    Trust Model).
    """
    pki = servers.pki
    other = DevCA.root(
        "Unrelated OCSP Root", not_before=pki.now - DAY, not_after=pki.now + 900 * DAY
    )
    designated = other.issue_ocsp_responder(
        "Designated OCSP Signer", not_before=pki.now - DAY, not_after=pki.now + 300 * DAY
    )
    fake = FakeCA(pki.ca, pki.now)
    staple = fake.response(
        fake.answer(pki.leaves["good"].cert, "good", this_update=pki.now), signer=designated
    )
    server = start_s_server(pki, "good", staple=staple)
    try:
        report = app.inventory.commit(
            app.inventory.prepare_bytes(
                [("designated.pem", designated.cert_pem())], store="tomcat-trust"
            )
        )
        app.tls.reload()
        stapled = stapled_check(app, server, pki)
        assert stapled.source is StatusSource.STAPLED
        assert stapled.result.status is CertStatus.GOOD
        assert stapled.result.trust_model == "trusted_responder"

        app.inventory.delete(report.imported[0].id)
        app.tls.reload()
        after = live_check(app, servers, "good")
        assert after.source is StatusSource.RESPONDER  # not the designated signer's cached word
        assert after.result.status is CertStatus.GOOD
        assert after.result.trust_model == "delegated"
    finally:
        server.stop()
