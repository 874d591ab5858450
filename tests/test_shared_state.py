"""Shared state across instances on one real PostgreSQL database (issue 14, item 4).

Two (or three) wired apps on one schema stand for instances (each its own
engine, caches and in-memory state, as another process has): login throttling
counts over all of them, a session ended on one is ended on the other, a
token revoked on one is refused by the other within the shared counter's
second, an OCSP answer validated on one is reused by the other and a newer
REVOKED is never contradicted by another's cached GOOD, and a TLS peer refused
on one is asked about afresh by the other (real ``openssl s_server`` and
``openssl ocsp``). The real-process lockout is in tests/test_cluster_processes.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.hashes import SHA256

from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.core.ocsp import CertId, CertStatus, RevocationResult, cert_id_for
from certwarden.core.ocsp.results import HashAlgorithm, TrustModel, ValidationOptions
from certwarden.errors import ConnectionRefusedByPolicy
from certwarden.services.accounts import AuthenticationError, LoginThrottledError
from tests.conftest import POSTGRES_URL, T0, _postgres_available
from tests.test_tls_guard import Servers, live_check, servers, stapled_check  # noqa: F401

pytestmark = pytest.mark.postgres

SECOND = timedelta(seconds=1)
PASSWORD = "correct horse battery staple 9"
OPTIONS = ValidationOptions()


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[Callable[..., list[App]]]:
    """``instances(n, clock)``: n apps on one fresh PostgreSQL schema (one data directory,
    so one secret file, as the README asks of instances sharing a database)."""
    why = _postgres_available()
    if why is not None:
        if os.environ.get("CERTWARDEN_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {why}")
        pytest.skip(why)
    schema = f"cw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    made: list[App] = []

    def make(n: int, clock: ManualClock) -> list[App]:
        apps = [
            build_app(AppConfig(data_dir=tmp_path / "data", database_url=url), clock=clock)
            for _ in range(n)
        ]
        made.extend(apps)
        return apps

    try:
        yield make
    finally:
        for app in made:
            app.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_login_failures_are_counted_over_every_instance(
    instances: Callable[..., list[App]],
) -> None:
    a, b = instances(2, ManualClock(T0))
    a.users.add_user("alice", PASSWORD, "admin")
    limit = a.users._login._user_limit  # the documented five
    for attempt in range(limit):
        with pytest.raises(AuthenticationError):
            (a, b)[attempt % 2].users.authenticate("alice", "wrong password!!", client="10.0.0.1")
    # Five failures in all (three on one, two on the other): locked on both,
    # even with the right password.
    for app in (a, b):
        with pytest.raises(LoginThrottledError):
            app.users.authenticate("alice", PASSWORD, client="10.0.0.2")
    assert a.users._login.attempts("alice") == b.users._login.attempts("alice") >= limit
    # Unlocked on one instance (users unlock): signed in on the other.
    a.users.unlock("alice")
    assert b.users.authenticate("alice", PASSWORD, client="10.0.0.2").username == "alice"


def test_a_session_ended_on_one_instance_is_ended_on_the_other(
    instances: Callable[..., list[App]],
) -> None:
    a, b = instances(2, ManualClock(T0))
    user = a.users.add_user("bob", PASSWORD, "viewer")
    nonce = a.users.open_session(user, timedelta(hours=8))
    found = b.users.session_user(user.id, nonce)
    assert found is not None and found.username == "bob"
    assert b.users.end_session(nonce)
    assert a.users.session_user(user.id, nonce) is None
    # A password change on one instance ends every session, on both.
    again = b.users.open_session(user, timedelta(hours=8))
    assert a.users.session_user(user.id, again) is not None
    a.users.set_password("bob", PASSWORD + "!")
    assert b.users.session_user(user.id, again) is None


def test_a_token_revoked_on_one_instance_is_refused_by_the_other_within_a_second(
    instances: Callable[..., list[App]],
) -> None:
    clock = ManualClock(T0)
    a, b = instances(2, clock)
    a.users.add_user("bot", PASSWORD, "viewer")
    info, secret = a.users.create_token("bot", "ci")
    assert b.users.verify_token(secret) is not None
    assert b.users.cached_token(secret) is not None  # B's request path: no database
    a.users.revoke_token(info.id)
    # Within the second B may still serve its copy (the documented bound) ...
    clock.advance(SECOND)
    # ... past it, B looks at the shared counter and asks the database.
    assert b.users.cached_token(secret) is None
    assert b.users.verify_token(secret) is None
    # The same for a user disabled on B while A holds a verification.
    other, secret2 = b.users.create_token("bot", "ci-2")
    assert a.users.verify_token(secret2) is not None and a.users.cached_token(secret2)
    b.users.remove_user("bot")
    clock.advance(SECOND)
    assert a.users.cached_token(secret2) is None and a.users.verify_token(secret2) is None
    del other


def _cert_id(serial: int) -> CertId:
    return CertId(HashAlgorithm.SHA1, b"\x01" * 20, b"\x02" * 20, serial)


def _answer(status: CertStatus, this_update: datetime, der: bytes) -> RevocationResult:
    revoked = status is CertStatus.REVOKED
    return RevocationResult(
        status,
        detail=f"the responder said {status.value}",
        revoked_at=this_update - timedelta(minutes=10) if revoked else None,
        revocation_reason="keyCompromise" if revoked else None,
        trust_model=TrustModel.ISSUER,
        this_update=this_update,
        next_update=this_update + timedelta(days=1),
        produced_at=this_update,
        responder_url="http://ocsp.test/",
        raw_response=der,
    )


def test_a_revocation_found_on_one_instance_is_never_contradicted_by_another_cache(
    instances: Callable[..., list[App]],
) -> None:
    clock = ManualClock(T0)
    a, b = instances(2, clock)
    cid = _cert_id(0x1234)

    def got(app: App) -> RevocationResult | None:
        return app.revocation.cache.get(cid, clock.now(), trusted_responders=[], options=OPTIONS)

    good = _answer(CertStatus.GOOD, T0 - timedelta(hours=1), b"der of the GOOD response")
    b.revocation.cache.put(cid, good, clock.now(), options=OPTIONS)
    assert got(b) == good
    clock.advance(SECOND)
    assert got(a) is None  # a GOOD is not written for the others (most answers are GOOD)
    revoked = _answer(CertStatus.REVOKED, clock.now(), b"der of the REVOKED response")
    a.revocation.cache.put(cid, revoked, clock.now(), options=OPTIONS)
    clock.advance(SECOND)
    assert got(b) == revoked  # B's GOOD gave way: every field, the evidence too
    # B is then handed the old GOOD again (a responder's pre-produced response):
    # its cache keeps the later REVOKED, and so does the shared table.
    assert not b.revocation.cache.put(cid, good, clock.now(), options=OPTIONS)
    assert got(b) == revoked
    (c,) = instances(1, clock)  # an instance started now reads the newest answers first
    assert got(c) == revoked
    # A GOOD of the same instant as the REVOKED does not override it either.
    same = _answer(CertStatus.GOOD, revoked.this_update or T0, b"der of a same-instant GOOD")
    c.revocation.cache.put(cid, same, clock.now(), options=OPTIONS)
    clock.advance(SECOND)
    assert got(a) == revoked and got(b) == revoked and got(c) == revoked
    # A later GOOD (the hold released, say) replaces the revocation everywhere.
    later = _answer(CertStatus.GOOD, clock.now(), b"der of a later GOOD")
    b.revocation.cache.put(cid, later, clock.now(), options=OPTIONS)
    clock.advance(SECOND)
    assert got(a) == later and got(c) == later
    with a.db.session() as s:
        rows = s.execute(sa.text("SELECT status, response_sha256 FROM shared_ocsp_answers")).all()
    assert [r.status for r in rows] == ["good"] and rows[0].response_sha256


def test_a_judging_rule_changed_on_one_instance_empties_every_instance_cache(
    instances: Callable[..., list[App]],
) -> None:
    clock = ManualClock(T0)
    a, b = instances(2, clock)
    cid = _cert_id(77)
    answer = _answer(CertStatus.REVOKED, T0, b"der")
    a.revocation.cache.put(cid, answer, clock.now(), options=OPTIONS)
    clock.advance(SECOND)
    assert b.revocation.cache.get(cid, clock.now(), trusted_responders=[], options=OPTIONS)
    a.revocation.update_settings({"clock_skew_seconds": 60})
    clock.advance(SECOND)
    for app in (a, b):
        assert (
            app.revocation.cache.get(cid, clock.now(), trusted_responders=[], options=OPTIONS)
            is None
        )


def test_a_revocation_a_real_responder_gave_one_instance_is_in_the_other_cache(
    instances: Callable[..., list[App]],
    servers: Servers,  # noqa: F811
) -> None:
    clock = ManualClock(servers.pki.now + SECOND)
    a, b = instances(2, clock)
    a.revocation.update_settings({"enable_ocsp": True})
    a.revocation.set_common_criteria(False)
    with pytest.raises(ConnectionRefusedByPolicy) as refused:
        live_check(a, servers, "revoked")
    first = refused.value.result  # type: ignore[attr-defined]
    assert first.status is CertStatus.REVOKED and first.responder_url
    clock.advance(SECOND)
    cid = cert_id_for(servers.pki.leaves["revoked"].cert, servers.pki.ca.cert, HashAlgorithm.SHA1)
    options = b.tls.snapshot().options
    cached = b.revocation.cache.get(cid, clock.now(), trusted_responders=[], options=options)
    assert cached is not None and cached.status is CertStatus.REVOKED
    assert cached.raw_response == first.raw_response and cached.revoked_at == first.revoked_at


def test_a_peer_refused_on_one_instance_is_asked_afresh_by_the_other(
    instances: Callable[..., list[App]],
    servers: Servers,  # noqa: F811
) -> None:
    clock = ManualClock(servers.pki.now + SECOND)
    a, b = instances(2, clock)
    a.revocation.update_settings({"enable_ocsp": True})
    a.revocation.set_common_criteria(False)
    revoked = servers.pki.leaves["revoked"].cert.fingerprint(SHA256()).hex()
    with pytest.raises(ConnectionRefusedByPolicy):
        stapled_check(a, servers.stapled["revoked"], servers.pki)
    clock.advance(SECOND)
    assert revoked in b.tls.blocked()
    # B is handed the same staple (and holds A's answer in its cache) but asks the
    # responder, as A would: the refusal lasts while the status does, on both.
    with pytest.raises(ConnectionRefusedByPolicy) as again:
        stapled_check(b, servers.stapled["revoked"], servers.pki)
    assert again.value.result.responder_url == servers.pki.responder_url  # type: ignore[attr-defined]
    assert revoked in a.tls.blocked()
