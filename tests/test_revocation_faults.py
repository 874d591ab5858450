"""Every attack and fault, through the whole service, against the project's own
test responder (a real HTTP server on loopback serving FakeCA's responses).

Each case asserts the exact could-not-tell reason, that nothing reported Good,
and that the check was recorded as could-not-tell. A control case shows the
same set-up does say Good for an honest response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from certwarden.adapters.db.models import OcspCheck
from certwarden.composition import App
from certwarden.core.ocsp import CertStatus, Reason
from certwarden.demo.devpki import Issued
from certwarden.services.revocation import CheckOutcome
from tests.fakeca import DAY, T0, FakeCA, unsuccessful
from tests.ocsp_responders import FaultResponder, free_port, parse_request, write_pem


@dataclass
class Pki:
    root: FakeCA
    sub: FakeCA
    leaf: Issued
    other: FakeCA
    files: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    files = tmp_path_factory.mktemp("fault-pki")
    root = FakeCA.root("Fault Test Root", now=T0)
    sub = root.intermediate("Fault Test Issuing CA")
    leaf = sub.leaf("victim.example.test")
    other = FakeCA.root("Some Other CA", now=T0, org="elsewhere")
    write_pem(files / "chain.pem", sub.cert, root.cert)
    write_pem(files / "leaf.pem", leaf.cert)
    return Pki(root, sub, leaf, other, files)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultResponder]:
    responder = FaultResponder().start()
    yield responder
    responder.stop()


def _good(pki: Pki, **answer: Any) -> bytes:
    return pki.sub.response(pki.sub.answer(pki.leaf.cert, **answer))


def _nonce_flipped(pki: Pki) -> Callable[[bytes], bytes]:
    def make(request_der: bytes) -> bytes:
        sent = parse_request(request_der).nonce
        assert sent is not None and len(sent) == 32  # RFC 9654 2.1
        wrong = bytes(b ^ 0x5A for b in sent)
        return pki.sub.response(pki.sub.answer(pki.leaf.cert), nonce=wrong)

    return make


# (case id, how to serve it, the reason expected, settings for the check)
Serve = Callable[[FaultResponder, Pki, str], str]
CASES: list[tuple[str, Serve, Reason, dict[str, Any]]] = [
    (
        "forged-signature",
        lambda s, p, r: s.serve_bytes(
            r, p.sub.response(p.sub.answer(p.leaf.cert), tamper_signature=True)
        ),
        Reason.BAD_SIGNATURE,
        {},
    ),
    (
        "signed-with-another-key",
        lambda s, p, r: s.serve_bytes(
            r,
            p.sub.response(p.sub.answer(p.leaf.cert), signing_key=p.other.key),
        ),
        Reason.BAD_SIGNATURE,
        {},
    ),
    (
        "signer-without-ocsp-signing-eku",
        lambda s, p, r: s.serve_bytes(
            r, p.sub.response(p.sub.answer(p.leaf.cert), signer=p.sub.responder(with_eku=False))
        ),
        Reason.UNAUTHORIZED_SIGNER,
        {},
    ),
    (
        "signer-issued-by-another-ca",
        lambda s, p, r: s.serve_bytes(
            r, p.sub.response(p.sub.answer(p.leaf.cert), signer=p.other.responder())
        ),
        Reason.UNAUTHORIZED_SIGNER,
        {},
    ),
    (
        "signer-issued-by-the-root-not-the-issuing-ca",
        lambda s, p, r: s.serve_bytes(
            r, p.sub.response(p.sub.answer(p.leaf.cert), signer=p.root.responder())
        ),
        Reason.UNAUTHORIZED_SIGNER,
        {},
    ),
    (
        "expired-responder-certificate",
        lambda s, p, r: s.serve_bytes(
            r,
            p.sub.response(
                p.sub.answer(p.leaf.cert),
                signer=p.sub.responder(not_before=T0 - 90 * DAY, not_after=T0 - DAY),
            ),
        ),
        Reason.UNAUTHORIZED_SIGNER,
        {},
    ),
    (
        "stale-next-update",
        lambda s, p, r: s.serve_bytes(r, _good(p, this_update=T0 - 3 * DAY, next_update=T0 - DAY)),
        Reason.STALE,
        {},
    ),
    (
        "this-update-in-the-future",
        lambda s, p, r: s.serve_bytes(r, _good(p, this_update=T0 + timedelta(hours=1))),
        Reason.NOT_YET_VALID,
        {},
    ),
    (
        "no-next-update-and-too-old",
        lambda s, p, r: s.serve_bytes(r, _good(p, this_update=T0 - 2 * DAY, next_update=None)),
        Reason.STALE,
        {},
    ),
    (
        "wrong-serial",
        lambda s, p, r: s.serve_bytes(r, _good(p, serial_override=p.leaf.cert.serial_number + 1)),
        Reason.CERTID_MISMATCH,
        {},
    ),
    (
        "wrong-issuer-key-hash",
        lambda s, p, r: s.serve_bytes(r, _good(p, key_hash_override=b"\x01" * 20)),
        Reason.CERTID_MISMATCH,
        {},
    ),
    (
        "wrong-issuer-name-hash",
        lambda s, p, r: s.serve_bytes(r, _good(p, name_hash_override=b"\x02" * 20)),
        Reason.CERTID_MISMATCH,
        {},
    ),
    (
        "nonce-mismatch",
        lambda s, p, r: s.serve_dynamic(r, _nonce_flipped(p)),
        Reason.NONCE_MISMATCH,
        {},
    ),
    (
        "nonce-required-but-not-echoed",
        lambda s, p, r: s.serve_bytes(r, _good(p)),
        Reason.NONCE_MISMATCH,
        {"nonce": "require"},
    ),
    *[
        (
            f"unsuccessful-{status}",
            (lambda st: lambda s, p, r: s.serve_bytes(r, unsuccessful(st)))(status),
            Reason.UNSUCCESSFUL_STATUS,
            {},
        )
        for status in (
            "malformedRequest",
            "internalError",
            "tryLater",
            "sigRequired",
            "unauthorized",
        )
    ],
    (
        "http-500",
        lambda s, p, r: s.serve_bytes(r, b"boom", status=500, content_type="text/plain"),
        Reason.HTTP_ERROR,
        {},
    ),
    (
        "redirect",
        lambda s, p, r: s.serve_redirect(r, "http://127.0.0.1:9/elsewhere"),
        Reason.HTTP_ERROR,
        {},
    ),
    (
        "wrong-content-type",
        lambda s, p, r: s.serve_bytes(r, _good(p), content_type="text/html"),
        Reason.BAD_CONTENT_TYPE,
        {},
    ),
    (
        "truncated-body",
        lambda s, p, r: s.serve_bytes(r, _good(p)[:-40]),
        Reason.MALFORMED_RESPONSE,
        {},
    ),
    (
        "connection-dropped-mid-body",
        lambda s, p, r: s.serve_truncated(r, _good(p), keep=100),
        Reason.MALFORMED_RESPONSE,
        {},
    ),
    (
        "garbage-body",
        lambda s, p, r: s.serve_bytes(r, b"<html>not OCSP</html>"),
        Reason.MALFORMED_RESPONSE,
        {},
    ),
    (
        "endless-body",
        lambda s, p, r: s.serve_endless(r),
        Reason.RESPONSE_TOO_LARGE,
        {},
    ),
    (
        "slower-than-the-timeout",
        lambda s, p, r: s.serve_slow(r, _good(p), delay=1.0),
        Reason.TIMEOUT,
        {"connect_timeout": 0.2, "total_timeout": 0.3},
    ),
    (
        "connection-refused",
        lambda s, p, r: f"http://127.0.0.1:{free_port()}/",
        Reason.RESPONDER_UNREACHABLE,
        {},
    ),
]


def _stored_app(app: App, pki: Pki) -> int:
    """Store the chain and the leaf (OCSP still off); return the leaf's ID."""
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    report = app.inventory.import_paths([pki.files / "leaf.pem"], store="tomcat")
    return report.imported[0].id


def _check(
    app: App, leaf_id: int, url: str, *, use_cache: bool = False, **settings: Any
) -> CheckOutcome:
    app.revocation.update_settings(
        {"enable_ocsp": True, "responder_source": "configured", "configured_uri": url, **settings}
    )
    (outcome,) = app.revocation.check([leaf_id], use_cache=use_cache).outcomes
    return outcome


def test_control_an_honest_response_is_good(app: App, pki: Pki, server: FaultResponder) -> None:
    leaf_id = _stored_app(app, pki)
    outcome = _check(app, leaf_id, server.serve_bytes("control", _good(pki)))
    assert outcome.result.status is CertStatus.GOOD
    assert outcome.result.reason is None


@pytest.mark.parametrize(("route", "serve", "reason", "settings"), CASES, ids=[c[0] for c in CASES])
def test_fault_is_could_not_tell_with_its_reason(
    app: App,
    pki: Pki,
    server: FaultResponder,
    route: str,
    serve: Serve,
    reason: Reason,
    settings: dict[str, Any],
) -> None:
    leaf_id = _stored_app(app, pki)
    url = serve(server, pki, route)
    outcome = _check(app, leaf_id, url, **settings)
    result = outcome.result
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is reason, result
    assert result.detail
    if reason is Reason.UNSUCCESSFUL_STATUS:
        assert result.ocsp_response_status == route.removeprefix("unsuccessful-")
    if route == "http-500":
        assert result.http_status == 500
    # Never Good, anywhere: the outcome, the row, the recorded check.
    assert outcome.verdict.decision.value == "allow_with_warning"  # CC off: warn, not allow
    record = app.inventory.get(leaf_id)
    assert (record.revocation_status, record.revocation_reason) == ("could_not_tell", reason.value)
    with app.db.session() as s:
        checks = list(s.scalars(sa.select(OcspCheck).where(OcspCheck.certificate_id == leaf_id)))
    assert [(c.status, c.reason) for c in checks] == [("could_not_tell", reason.value)]


def test_common_criteria_denies_every_fault(app: App, pki: Pki, server: FaultResponder) -> None:
    leaf_id = _stored_app(app, pki)
    app.revocation.set_common_criteria(True)
    url = server.serve_bytes("cc-forged", pki.sub.response(
        pki.sub.answer(pki.leaf.cert), tamper_signature=True
    ))  # fmt: skip
    outcome = _check(app, leaf_id, url)
    assert outcome.result.reason is Reason.BAD_SIGNATURE
    assert outcome.refused


def test_no_responder_url_in_the_certificate(app: App, pki: Pki) -> None:
    leaf_id = _stored_app(app, pki)
    app.revocation.update_settings({"enable_ocsp": True, "responder_source": "certificate"})
    (outcome,) = app.revocation.check([leaf_id]).outcomes
    assert outcome.result.status is CertStatus.COULD_NOT_TELL
    assert outcome.result.reason is Reason.NO_RESPONDER_URL


def test_issuer_not_in_the_inventory(app: App, pki: Pki, server: FaultResponder) -> None:
    report = app.inventory.import_paths([pki.files / "leaf.pem"], store="tomcat")
    outcome = _check(app, report.imported[0].id, server.serve_bytes("no-issuer", _good(pki)))
    assert outcome.result.reason is Reason.ISSUER_NOT_FOUND
    assert "no-issuer" not in server.requests  # nobody was asked


def test_issuer_found_by_name_and_key_id_when_not_linked(
    app: App, pki: Pki, server: FaultResponder
) -> None:
    """The leaf arrives first (no issuer link), the CA later: found by name + key id."""
    report = app.inventory.import_paths([pki.files / "leaf.pem"], store="tomcat")
    app.inventory.import_paths([pki.files / "chain.pem"], store="CallManager-trust")
    outcome = _check(app, report.imported[0].id, server.serve_bytes("late-issuer", _good(pki)))
    assert outcome.result.status is CertStatus.GOOD


def test_expired_certificate_is_revoked_without_asking(
    app: App, pki: Pki, server: FaultResponder, tmp_path: Path
) -> None:
    old = pki.sub.leaf("old.example.test", not_before=T0 - 400 * DAY, days=399)
    write_pem(tmp_path / "old.pem", old.cert)
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    report = app.inventory.import_paths([tmp_path / "old.pem"], store="tomcat")
    outcome = _check(app, report.imported[0].id, server.serve_bytes("expired", _good(pki)))
    assert outcome.result.status is CertStatus.REVOKED
    assert outcome.result.expired and outcome.result.reason is None
    assert outcome.refused
    assert "expired" not in server.requests


def test_failures_are_not_cached_beyond_the_backoff(
    app: App, pki: Pki, server: FaultResponder
) -> None:
    """A failed check is retried after the short back-off, and then can succeed."""
    leaf_id = _stored_app(app, pki)
    url = server.serve_bytes("flaky", b"x", status=503, content_type="text/plain")
    assert _check(app, leaf_id, url, use_cache=True).result.reason is Reason.HTTP_ERROR
    server.serve_bytes("flaky", _good(pki))
    # Within the back-off the failure stands (the responder is not hammered) ...
    assert _check(app, leaf_id, url, use_cache=True).result.reason is Reason.HTTP_ERROR
    assert len(server.methods["flaky"]) == 1
    # ... after it, the responder is asked again.
    app.clock.advance(timedelta(minutes=6))  # type: ignore[attr-defined]
    assert _check(app, leaf_id, url, use_cache=True).result.status is CertStatus.GOOD
    assert len(server.methods["flaky"]) == 2
    # A validated answer is then reused (no request) by cached checks ...
    assert _check(app, leaf_id, url, use_cache=True).result.status is CertStatus.GOOD
    assert len(server.methods["flaky"]) == 2
    # ... while an on-demand check asks afresh.
    assert _check(app, leaf_id, url).result.status is CertStatus.GOOD
    assert len(server.methods["flaky"]) == 3


@pytest.mark.parametrize(
    ("settings", "this_update", "next_update", "expected"),
    [
        pytest.param({}, T0 + timedelta(minutes=10), T0 + DAY, Reason.NOT_YET_VALID, id="skew-5m-default"),
        pytest.param({"clock_skew_seconds": 900}, T0 + timedelta(minutes=10), T0 + DAY, None, id="skew-15m"),
        pytest.param({}, T0 - timedelta(hours=30), None, Reason.STALE, id="max-age-24h-default"),
        pytest.param({"max_age_hours": 48}, T0 - timedelta(hours=30), None, None, id="max-age-48h"),
    ],
)  # fmt: skip
def test_freshness_follows_the_settings(
    app: App,
    pki: Pki,
    server: FaultResponder,
    settings: dict[str, Any],
    this_update: datetime,
    next_update: datetime | None,
    expected: Reason | None,
) -> None:
    """Clock skew and the maximum age are settings (RFC 6960 4.2.2.1)."""
    leaf_id = _stored_app(app, pki)
    route = f"fresh-{len(settings)}-{this_update.timestamp():.0f}-{next_update is None}"
    url = server.serve_bytes(route, _good(pki, this_update=this_update, next_update=next_update))
    outcome = _check(app, leaf_id, url, **settings)
    if expected is None:
        assert outcome.result.status is CertStatus.GOOD, outcome.result
    else:
        assert outcome.result.status is CertStatus.COULD_NOT_TELL
        assert outcome.result.reason is expected


def test_stricter_rules_drop_answers_cached_under_the_old_ones(
    app: App, pki: Pki, server: FaultResponder
) -> None:
    """A good answer cached without a nonce echo must not pass once a nonce is required."""
    leaf_id = _stored_app(app, pki)
    url = server.serve_bytes("no-echo", _good(pki))  # never echoes the nonce
    first = _check(app, leaf_id, url, use_cache=True)
    assert first.result.status is CertStatus.GOOD
    assert _check(app, leaf_id, url, use_cache=True).result.status is CertStatus.GOOD  # cached
    stricter = _check(app, leaf_id, url, use_cache=True, nonce="require")
    assert stricter.result.status is CertStatus.COULD_NOT_TELL
    assert stricter.result.reason is Reason.NONCE_MISMATCH
