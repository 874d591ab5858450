"""Issue 10: revocation trust defects, each item with tests that fail without its fix.

Against FakeCA's responses (judged by the core) and the project's own test
responder (a real HTTP server on loopback, through the whole service). The
real-``openssl`` cases (SHA-1 signed by openssl, end to end) are in
``tests/test_legacy_signatures.py``.

1. unknown critical extensions (responder certificates, TRP, TLS peer chain,
   single responses, response extensions; the nonce stays handled);
2. signature algorithms as one policy, diagnosed truthfully;
3. the cache obeys validation's freshness rule;
4. ocsp-nocheck responders are EXEMPT;
5. 32-octet nonces, and a responder that refuses them is named;
6. the scheduled check judges at the ``now`` it records;
7. strictness chosen and written down (README "Who may sign").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certwarden.adapters.db.models import Alert, CertificateRow
from certwarden.composition import App
from certwarden.core.certs import facts_from_certificate, signed_by
from certwarden.core.ocsp import (
    CertStatus,
    HashAlgorithm,
    Reason,
    RevocationResult,
    TrustModel,
    ValidationOptions,
    cert_id_for,
    verify_response,
)
from certwarden.core.ocsp.request import NONCE_LENGTH
from certwarden.core.policy import Decision, decide
from certwarden.core.tls import PeerChain
from certwarden.demo.devpki import Issued
from certwarden.services.revocation import Target
from tests.fakeca import DAY, T0, FakeCA, resign, unsuccessful
from tests.ocsp_responders import FaultResponder, parse_request, write_pem

UNKNOWN_CRITICAL = (
    x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"),
    True,
)
LEGACY = ValidationOptions(accept_legacy_signatures=True)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass
class Pki:
    root: FakeCA
    ca: FakeCA
    rsa_ca: FakeCA
    leaf: Issued
    rsa_leaf: Issued
    files: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    files = tmp_path_factory.mktemp("trust-pki")
    root = FakeCA.root("Trust Test Root", now=T0)
    ca = root.intermediate("Trust Test Issuing CA")
    rsa_ca = root.intermediate("Trust Test RSA CA", key_type="rsa")
    leaf = ca.leaf("trust.example.test")
    rsa_leaf = rsa_ca.leaf("rsa.example.test", key_type="rsa")
    write_pem(files / "chain.pem", ca.cert, rsa_ca.cert, root.cert)
    write_pem(files / "leaf.pem", leaf.cert)
    return Pki(root, ca, rsa_ca, leaf, rsa_leaf, files)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultResponder]:
    responder = FaultResponder().start()
    yield responder
    responder.stop()


def _judge(
    pki: Pki,
    der: bytes,
    *,
    ca: FakeCA | None = None,
    leaf: Issued | None = None,
    options: ValidationOptions | None = None,
    trusted: tuple[x509.Certificate, ...] = (),
    now: datetime = T0,
    alg: str = "sha1",
) -> RevocationResult:
    ca = ca or pki.ca
    leaf = leaf or pki.leaf
    cid = cert_id_for(leaf.cert, ca.cert, HashAlgorithm(alg))
    (result,) = verify_response(
        der,
        cert_ids=[cid],
        issuers=[ca.cert],
        now=now,
        trusted_responders=trusted,
        options=options or ValidationOptions(),
    )
    return result


def _stored(app: App, pki: Pki, *paths: Path) -> list[int]:
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    report = app.inventory.import_paths(list(paths) or [pki.files / "leaf.pem"], store="tomcat")
    return [i.id for i in report.imported]


def _configure(app: App, url: str, **settings: Any) -> None:
    app.revocation.update_settings(
        {"enable_ocsp": True, "responder_source": "configured", "configured_uri": url, **settings}
    )


# ----------------------------------------------- 1. unknown critical extensions


def test_delegated_responder_with_an_unknown_critical_extension_is_refused(pki: Pki) -> None:
    """RFC 5280 4.2: before the fix this responder was trusted and its answer Good."""
    odd = pki.ca.responder("Odd Responder", extensions=[UNKNOWN_CRITICAL])
    result = _judge(pki, pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=odd))
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.UNSUPPORTED_CRITICAL_EXTENSION
    assert "1.2.3.4.5" in result.detail and "Odd Responder" in result.detail
    # Control: the same responder without it is trusted.
    plain = pki.ca.responder("Plain Responder")
    ok = _judge(pki, pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=plain))
    assert (ok.status, ok.trust_model) == (CertStatus.GOOD, TrustModel.DELEGATED)


def test_trusted_responder_with_an_unknown_critical_extension_is_refused(pki: Pki) -> None:
    elsewhere = FakeCA.root("TRP Issuer", now=T0, org="elsewhere")
    trp = elsewhere.responder("Designated Odd", extensions=[UNKNOWN_CRITICAL])
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=trp)
    result = _judge(pki, der, trusted=(trp.cert,))
    assert result.reason is Reason.UNSUPPORTED_CRITICAL_EXTENSION, result
    good_trp = elsewhere.responder("Designated Plain")
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=good_trp)
    assert _judge(pki, der, trusted=(good_trp.cert,)).trust_model is TrustModel.TRUSTED_RESPONDER


def test_responder_whose_key_usage_forbids_signing_is_refused(pki: Pki) -> None:
    usage = x509.KeyUsage(False, False, True, False, False, False, False, False, False)
    no_sign = pki.ca.responder("Encipher Only Responder", key_type="rsa", key_usage=usage)
    result = _judge(pki, pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=no_sign))
    assert result.reason is Reason.UNAUTHORIZED_SIGNER
    assert "digitalSignature" in result.detail


def test_critical_nonce_stays_understood(pki: Pki) -> None:
    from certwarden.core import _der
    from tests.test_ocsp_adversarial import _extension, _resign, _set_response_extensions

    nonce = b"n" * NONCE_LENGTH
    value = _der.encode_octet_string(nonce)
    der = _resign(
        pki.ca.response(pki.ca.answer(pki.leaf.cert)),
        pki.ca.key,
        _set_response_extensions(_extension("1.3.6.1.5.5.7.48.1.2", value, critical=True)),
    )
    cid = cert_id_for(pki.leaf.cert, pki.ca.cert)
    (result,) = verify_response(der, cert_ids=[cid], issuers=[pki.ca.cert], now=T0, nonce=nonce)
    assert result.status is CertStatus.GOOD, result
    (wrong,) = verify_response(der, cert_ids=[cid], issuers=[pki.ca.cert], now=T0, nonce=b"x" * 32)
    assert wrong.reason is Reason.NONCE_MISMATCH


def test_tls_peer_chain_with_an_unknown_critical_extension_is_refused(app: App, pki: Pki) -> None:
    """Whatever the mode and the status: RFC 5280 4.2 (the guard used to judge only
    the leaf's revocation status)."""
    odd_leaf = pki.ca.dev.issue(
        "odd.example.test",
        not_before=T0 - DAY,
        not_after=T0 + 30 * DAY,
        sans=["odd.example.test"],
        extensions=[UNKNOWN_CRITICAL],
    )
    peer = PeerChain("odd.example.test", 443, (odd_leaf.cert, pki.ca.cert))
    check = app.tls.evaluate(peer, now=T0)
    assert check.result.reason is Reason.UNSUPPORTED_CRITICAL_EXTENSION
    assert check.verdict.decision is Decision.DENY and "1.2.3.4.5" in check.verdict.why
    odd_ca = pki.root.dev.child_ca("Odd CA", not_before=T0 - DAY, not_after=T0 + 99 * DAY)
    plain = odd_ca.issue("x.example.test", not_before=T0 - DAY, not_after=T0 + 9 * DAY)
    odd_ca_cert = resign(
        Issued(
            pki.root.dev.issue(
                "Odd CA",
                not_before=T0 - DAY,
                not_after=T0 + 99 * DAY,
                extensions=[UNKNOWN_CRITICAL],
            ).cert,
            odd_ca.key,
        ),
        pki.root.key,
        digest=hashes.SHA256(),
    )
    chain = PeerChain("x.example.test", 443, (plain.cert, odd_ca_cert.cert))
    assert app.tls.evaluate(chain, now=T0).result.reason is Reason.UNSUPPORTED_CRITICAL_EXTENSION


# ----------------------------------------------------- 2. signature algorithms


def test_sha1_signed_certificates_are_issued_by_their_ca(pki: Pki) -> None:
    """cryptography's verify_directly_issued_by refuses SHA-1, which made signed_by say
    "not issued by"; certwarden checks the signature itself (identity is a key question)."""
    sha1_leaf = resign(pki.rsa_leaf, pki.rsa_ca.key)
    with pytest.raises(Exception, match="Unsupported signature algorithm"):
        sha1_leaf.cert.verify_directly_issued_by(pki.rsa_ca.cert)
    assert signed_by(sha1_leaf.cert, pki.rsa_ca.cert)
    assert not signed_by(sha1_leaf.cert, pki.ca.cert)
    assert facts_from_certificate(sha1_leaf.cert).weak_signature
    assert not facts_from_certificate(pki.rsa_leaf.cert).weak_signature
    ec_sha1 = resign(pki.leaf, pki.ca.key)
    assert (
        signed_by(ec_sha1.cert, pki.ca.cert) and facts_from_certificate(ec_sha1.cert).weak_signature
    )


def test_sha1_signed_delegated_responder_is_weak_not_unauthorized(pki: Pki) -> None:
    """Before the fix: unauthorized_signer "not issued directly by"; now the truth."""
    delegate = resign(pki.rsa_ca.responder("Legacy Responder", key_type="rsa"), pki.rsa_ca.key)
    der = pki.rsa_ca.response(pki.rsa_ca.answer(pki.rsa_leaf.cert), signer=delegate)
    refused = _judge(pki, der, ca=pki.rsa_ca, leaf=pki.rsa_leaf)
    assert refused.reason is Reason.WEAK_SIGNATURE_ALGORITHM
    assert "SHA-1" in refused.detail and "Legacy Responder" in refused.detail
    assert "not issued directly" not in refused.detail
    assert "--legacy-signatures accept" in refused.detail  # what to do
    accepted = _judge(pki, der, ca=pki.rsa_ca, leaf=pki.rsa_leaf, options=LEGACY)
    assert (accepted.status, accepted.trust_model) == (CertStatus.GOOD, TrustModel.DELEGATED)
    assert accepted.legacy_signatures and "SHA-1" in accepted.legacy_signatures[0]


def test_sha1_signed_response_is_refused_by_default(pki: Pki) -> None:
    """Before the fix a SHA-1-signed *response* was accepted while SHA-1 certificates were not."""
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert), hash_algorithm=hashes.SHA1())
    refused = _judge(pki, der)
    assert refused.reason is Reason.WEAK_SIGNATURE_ALGORITHM and "SHA-1" in refused.detail
    accepted = _judge(pki, der, options=LEGACY)
    assert accepted.status is CertStatus.GOOD
    assert accepted.legacy_signatures == ("response signature: SHA-1",)
    # A forged SHA-1 signature is a bad signature first, whatever the policy.
    forged = pki.ca.response(
        pki.ca.answer(pki.leaf.cert), hash_algorithm=hashes.SHA1(), tamper_signature=True
    )
    assert _judge(pki, forged, options=LEGACY).reason is Reason.BAD_SIGNATURE


def test_legacy_signatures_are_never_accepted_in_common_criteria_mode() -> None:
    from certwarden.core.revocation_settings import RevocationSettings

    settings = RevocationSettings().updated(legacy_signatures="accept")
    assert settings.validation_options_for(common_criteria=False).accept_legacy_signatures
    assert not settings.validation_options_for(common_criteria=True).accept_legacy_signatures
    assert (
        not RevocationSettings()
        .validation_options_for(common_criteria=False)
        .accept_legacy_signatures
    )
    with pytest.raises(Exception, match="legacy_signatures"):
        RevocationSettings().updated(legacy_signatures="sometimes")


async def test_sha1_leaf_is_weak_in_the_engine_unless_accepted(
    app: App, pki: Pki, server: FaultResponder
) -> None:
    from certwarden.core.revocation_settings import RevocationSettings

    sha1_leaf = resign(pki.rsa_leaf, pki.rsa_ca.key)
    url = server.serve_bytes("sha1-leaf", pki.rsa_ca.response(pki.rsa_ca.answer(sha1_leaf.cert)))
    facts = facts_from_certificate(sha1_leaf.cert)
    target = Target(sha1_leaf.cert, facts.sha256, facts.subject, pki.rsa_ca.cert, ())
    settings = RevocationSettings().updated(
        enable_ocsp=True, responder_source="configured", configured_uri=url
    )
    (refused,) = await app.revocation.evaluate(
        [target], settings=settings, common_criteria=False, now=T0
    )
    assert refused.reason is Reason.WEAK_SIGNATURE_ALGORITHM and facts.subject in refused.detail
    accepting = settings.updated(legacy_signatures="accept")
    (good,) = await app.revocation.evaluate(
        [target], settings=accepting, common_criteria=False, now=T0
    )
    assert good.status is CertStatus.GOOD and good.legacy_signatures
    (cc,) = await app.revocation.evaluate(
        [target], settings=accepting, common_criteria=True, now=T0
    )
    assert cc.reason is Reason.WEAK_SIGNATURE_ALGORITHM


def test_md5_is_never_accepted(pki: Pki) -> None:
    from certwarden.core.algorithms import algorithm_problem
    from certwarden.core.signatures import parse_signature_algorithm

    md5 = parse_signature_algorithm("1.2.840.113549.1.1.4", None)
    assert "never accepted" in (algorithm_problem(md5, accept_legacy=True, what="x") or "")
    sha256 = parse_signature_algorithm("1.2.840.113549.1.1.11", None)
    assert algorithm_problem(sha256, accept_legacy=False, what="x") is None


def test_import_links_sha1_certificates_and_flags_them(app: App, pki: Pki, tmp_path: Path) -> None:
    sha1_leaf = resign(pki.rsa_leaf, pki.rsa_ca.key)
    write_pem(tmp_path / "sha1.pem", sha1_leaf.cert)
    (leaf_id,) = _stored(app, pki, tmp_path / "sha1.pem")
    record = app.inventory.get(leaf_id)
    assert record.issuer_sha256 == facts_from_certificate(pki.rsa_ca.cert).sha256
    assert record.weak_signature and record.to_json(T0)["weak_signature"] is True
    ca = app.inventory.get(record.issuer_id or 0)
    assert not ca.weak_signature


# ------------------------------------------------------------------ 3. the cache


async def test_cache_serves_no_longer_than_validation_accepts(
    app: App, pki: Pki, server: FaultResponder
) -> None:
    """--max-age 1: an answer without nextUpdate is stale after an hour, in the cache too
    (before the fix the cache served it for its own 24 hours)."""
    _stored(app, pki)
    url = server.serve_bytes(
        "no-next", pki.ca.response(pki.ca.answer(pki.leaf.cert, next_update=None))
    )
    _configure(app, url, max_age_hours=1)
    settings = app.revocation.settings()
    facts = facts_from_certificate(pki.leaf.cert)
    target = Target(pki.leaf.cert, facts.sha256, facts.subject, pki.ca.cert, ())
    (first,) = await app.revocation.evaluate([target], settings=settings, now=T0)
    assert first.status is CertStatus.GOOD
    (later,) = await app.revocation.evaluate([target], settings=settings, now=T0 + 2 * HOUR)
    assert later.status is CertStatus.COULD_NOT_TELL and later.reason is Reason.STALE


# ----------------------------------------------------------- 4. ocsp-nocheck


def test_nocheck_responder_is_exempt_in_both_modes(app: App, pki: Pki, tmp_path: Path) -> None:
    """RFC 6960 4.2.2.2.1. Before the fix: could_not_tell no_responder_url (refused in
    Common Criteria mode, so a designated responder could not be uploaded)."""
    responder = pki.ca.responder("Designated Nocheck")
    plain = pki.ca.responder("Delegate Without Nocheck", ocsp_nocheck=False)
    write_pem(tmp_path / "r.pem", responder.cert)
    write_pem(tmp_path / "p.pem", plain.cert)
    ids = _stored(app, pki, tmp_path / "r.pem", tmp_path / "p.pem")
    app.revocation.update_settings({"enable_ocsp": True})
    report = app.revocation.check(ids)
    exempt, checked = (o.result for o in report.outcomes)
    assert (exempt.status, exempt.reason) == (CertStatus.EXEMPT, Reason.OCSP_NOCHECK)
    assert "4.2.2.2.1" in exempt.detail
    # A delegated responder without nocheck is checked like any certificate.
    assert (checked.status, checked.reason) == (CertStatus.COULD_NOT_TELL, Reason.NO_RESPONDER_URL)
    for cc in (True, False):
        assert decide(exempt, common_criteria=cc).decision is Decision.ALLOW
    assert app.inventory.get(ids[0]).revocation_status == "exempt"
    with app.db.session() as s:
        alerts = s.scalars(sa.select(Alert).where(Alert.certificate_id == ids[0])).all()
    assert alerts == []  # no alert for it


def test_nocheck_responder_uploads_in_common_criteria_mode(
    cli: Any, pki: Pki, tmp_path: Path
) -> None:
    responder = pki.ca.responder("Designated For Upload")
    write_pem(tmp_path / "r.pem", responder.cert)
    assert cli("import", str(pki.files / "chain.pem"), "--store", "tomcat-trust").code == 0
    assert cli("revocation", "settings", "set", "--enable-ocsp").code == 0
    assert cli("security", "common-criteria", "on").code == 0
    result = cli("import", str(tmp_path / "r.pem"), "--store", "tomcat-trust")
    assert result.code == 0, result
    listed = cli("list", "--store", "tomcat-trust", "--json")
    assert "exempt" in listed.stdout


def test_nocheck_means_nothing_on_a_leaf(pki: Pki) -> None:
    from certwarden.core.ocsp.results import exempt_result

    leaf = pki.ca.dev.issue("n.example.test", not_before=T0, not_after=T0 + DAY, ocsp_nocheck=True)
    assert exempt_result(leaf.cert) is None
    assert exempt_result(pki.ca.responder("R").cert) is not None


# ----------------------------------------------------------------- 5. nonce


def test_nonce_is_32_octets(app: App, pki: Pki, server: FaultResponder) -> None:
    (leaf_id,) = _stored(app, pki)
    seen: list[bytes | None] = []

    def echo(request_der: bytes) -> bytes:
        nonce = parse_request(request_der).nonce
        seen.append(nonce)
        return pki.ca.response(pki.ca.answer(pki.leaf.cert), nonce=nonce)

    _configure(app, server.serve_dynamic("echo-32", echo), nonce="require")
    (outcome,) = app.revocation.check([leaf_id]).outcomes
    assert outcome.result.status is CertStatus.GOOD
    assert [len(n or b"") for n in seen] == [32]


def test_responder_refusing_the_nonce_is_named(app: App, pki: Pki, server: FaultResponder) -> None:
    """send mode: asked again without a nonce, and the result says so (not silently)."""
    (leaf_id,) = _stored(app, pki)

    def picky(request_der: bytes) -> bytes:
        if parse_request(request_der).nonce is not None:
            return unsuccessful("malformedRequest")
        return pki.ca.response(pki.ca.answer(pki.leaf.cert))

    url = server.serve_dynamic("no-nonce-please", picky)
    _configure(app, url, nonce="send")
    (outcome,) = app.revocation.check([leaf_id]).outcomes
    assert outcome.result.status is CertStatus.GOOD
    assert url in outcome.result.detail and "rejected the request" in outcome.result.detail
    _configure(app, url, nonce="require")  # require: no second request without a nonce
    (strict,) = app.revocation.check([leaf_id]).outcomes
    assert strict.result.reason is Reason.UNSUCCESSFUL_STATUS


# ---------------------------------------------------------- 6. the scheduled clock


async def test_scheduled_check_judges_at_its_now(
    app: App, pki: Pki, server: FaultResponder
) -> None:
    """atick(now) recorded now but judged at the clock's time: an answer valid only at
    ``now`` was refused as not yet valid (the app clock stays at T0)."""
    (leaf_id,) = _stored(app, pki)
    later = T0 + 3 * DAY
    url = server.serve_bytes(
        "later", pki.ca.response(pki.ca.answer(pki.leaf.cert, this_update=later - HOUR))
    )
    _configure(app, url, enable_revocation_check=True)
    tick = await app.revocation.atick(later)
    assert tick.ran and tick.report is not None
    (outcome,) = [o for o in tick.report.outcomes if o.certificate_id == leaf_id]
    assert outcome.result.status is CertStatus.GOOD, outcome.result
    assert tick.report.checked_at == later
    assert app.inventory.get(leaf_id).revocation_checked_at == later


# -------------------------------------------------- 7. strictness, written down


def test_strict_responder_id_names_someone_else(pki: Pki) -> None:
    """The ResponderID names the delegate, the CA's key signed: refused (bad_signature),
    never believed because some other authorised key happens to verify."""
    delegate = pki.ca.responder("Named Delegate")
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=delegate, signing_key=pki.ca.key)
    assert _judge(pki, der).reason is Reason.BAD_SIGNATURE


def test_strict_produced_at_in_the_future(pki: Pki) -> None:
    """Beyond the clock skew: not_yet_valid; within it: accepted."""
    far = pki.ca.response(pki.ca.answer(pki.leaf.cert), produced_at=T0 + HOUR)
    assert _judge(pki, far).reason is Reason.NOT_YET_VALID
    near = pki.ca.response(pki.ca.answer(pki.leaf.cert), produced_at=T0 + 4 * MINUTE)
    assert _judge(pki, near).status is CertStatus.GOOD


def test_strict_trailing_bytes_after_the_der(pki: Pki) -> None:
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert)) + b"\x00"
    assert _judge(pki, der).reason is Reason.MALFORMED_RESPONSE


def test_strict_cert_id_hash_the_engine_cannot_compute(pki: Pki) -> None:
    """A SHA-384 CertID: certwarden asks in SHA-1 or SHA-256 only, so it cannot match."""
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            pki.leaf.cert, pki.ca.cert, hashes.SHA384(), ocsp.OCSPCertStatus.GOOD,
            T0, T0 + DAY, None, None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.NAME, pki.ca.cert)
    )  # fmt: skip
    der = builder.sign(pki.ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]
    result = _judge(pki, der)
    assert result.reason is Reason.CERTID_MISMATCH and "sha384" in result.detail


def test_strict_sha256_cert_id_answering_a_sha1_request(pki: Pki) -> None:
    """RFC 6960 4.1.1: the CertID must match on all four fields, the hash included."""
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert, hash_algorithm="sha256"))
    result = _judge(pki, der, alg="sha1")
    assert result.reason is Reason.CERTID_MISMATCH and "sha256" in result.detail
    assert _judge(pki, der, alg="sha256").status is CertStatus.GOOD


def test_weak_flag_column_is_stored(app: App, pki: Pki, tmp_path: Path) -> None:
    sha1_leaf = resign(pki.rsa_leaf, pki.rsa_ca.key)
    write_pem(tmp_path / "w.pem", sha1_leaf.cert)
    (leaf_id,) = _stored(app, pki, tmp_path / "w.pem")
    with app.db.session() as s:
        assert s.get(CertificateRow, leaf_id).weak_signature is True  # type: ignore[union-attr]
