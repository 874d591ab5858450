"""The pure OCSP core: CertIDs, requests, response verification, results, cache.

Every response here is a real signed OCSP response made by ``FakeCA``. The
attack table asserts the exact could-not-tell reason and that nothing said
Good. ``now`` is always a parameter.
"""

from __future__ import annotations

import base64
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from certwarden.core.ocsp import (
    CertId,
    CertStatus,
    HashAlgorithm,
    NonceMode,
    Reason,
    ResponseCache,
    RevocationResult,
    SingleAnswer,
    TrustModel,
    ValidationOptions,
    _der,
    build_request,
    cert_id_for,
    encode_request,
    expired_result,
    get_url,
    parse_response,
    verify_parsed,
    verify_response,
)
from certwarden.core.ocsp.signature import parse_signature_algorithm, verify_signature
from certwarden.core.ocsp.validate import step_next_update
from certwarden.demo.devpki import DevCA, Issued
from tests.fakeca import DAY, T0, FakeCA, unsuccessful

NONCE = bytes(range(16))
MINUTE = timedelta(minutes=1)


@dataclass
class Pki:
    root: FakeCA
    ca: FakeCA  # the issuing CA of the leaves
    leaf: Issued
    leaf2: Issued
    leaf3: Issued
    delegated: Issued
    delegated_rsa: Issued
    no_eku: Issued
    expired_responder: Issued
    future_responder: Issued
    root_responder: Issued  # a responder the ROOT issued: not directly by the leaf's CA
    other_ca: FakeCA
    other_responder: Issued  # from an unrelated CA (TRP when trusted)
    other_no_eku: Issued
    other_expired: Issued
    other_leaf: Issued
    impostor: FakeCA  # same subject name as `ca`, different key
    rsa_ca: FakeCA
    rsa_leaf: Issued
    ed_ca: FakeCA
    ed_leaf: Issued
    extra_lsc: Issued

    def cid(self, issued: Issued, issuer: FakeCA | None = None, alg: str = "sha1") -> CertId:
        return cert_id_for(issued.cert, (issuer or self.ca).cert, HashAlgorithm(alg))


@pytest.fixture(scope="module")
def pki() -> Pki:
    root = FakeCA.root("Core Test Root")
    ca = root.intermediate("Core Test Issuing CA")
    other = FakeCA.root("Unrelated CA", org="someone else")
    impostor = FakeCA(
        DevCA.root(
            "Core Test Issuing CA",
            not_before=T0 - 300 * DAY,
            not_after=T0 + 1800 * DAY,
            org="certwarden dev PKI",
        )
    )
    rsa_ca = root.intermediate("RSA Issuing CA", key_type="rsa")
    ed_ca = root.intermediate("Ed25519 Issuing CA", key_type="ed25519")
    return Pki(
        root=root,
        ca=ca,
        leaf=ca.leaf("one.example.test"),
        leaf2=ca.leaf("two.example.test"),
        leaf3=ca.leaf("three.example.test"),
        delegated=ca.responder("Core OCSP"),
        delegated_rsa=ca.responder("Core OCSP RSA", key_type="rsa"),
        no_eku=ca.responder("Core not-a-responder", with_eku=False),
        expired_responder=ca.responder(
            "Core OCSP expired", not_before=T0 - 100 * DAY, not_after=T0 - DAY
        ),
        future_responder=ca.responder(
            "Core OCSP future", not_before=T0 + DAY, not_after=T0 + 100 * DAY
        ),
        root_responder=root.responder("Root OCSP"),
        other_ca=other,
        other_responder=other.responder("Unrelated OCSP"),
        other_no_eku=other.responder("Unrelated no EKU", with_eku=False),
        other_expired=other.responder(
            "Unrelated expired", not_before=T0 - 100 * DAY, not_after=T0 - DAY
        ),
        other_leaf=other.leaf("elsewhere.example.test"),
        impostor=impostor,
        rsa_ca=rsa_ca,
        rsa_leaf=rsa_ca.leaf("rsa.example.test"),
        ed_ca=ed_ca,
        ed_leaf=ed_ca.leaf("ed.example.test"),
        extra_lsc=ca.lsc("SEP00AABBCCDDEE", days=5 * 365),
    )


# ----------------------------------------------------------------- the case table


@dataclass(frozen=True)
class Case:
    """One response and how to judge it."""

    make: Callable[[Pki], bytes]
    status: CertStatus
    reason: Reason | None = None
    model: TrustModel | None = None
    cert: str = "leaf"  # attribute of Pki naming the certificate asked about
    issuer: str = "ca"
    alg: str = "sha1"
    now: datetime = T0
    trusted: tuple[str, ...] = ()  # attributes of Pki naming trusted responders
    nonce: bytes | None = None
    options: ValidationOptions = field(default_factory=ValidationOptions)
    revocation_reason: str | None = None


def _trusted(pki: Pki, names: tuple[str, ...]) -> list[x509.Certificate]:
    return [getattr(pki, n).cert for n in names]


def _judge(pki: Pki, case: Case) -> RevocationResult:
    issuer: FakeCA = getattr(pki, case.issuer)
    results = verify_response(
        case.make(pki),
        cert_ids=[pki.cid(getattr(pki, case.cert), issuer, case.alg)],
        issuers=[issuer.cert],
        now=case.now,
        trusted_responders=_trusted(pki, case.trusted),
        nonce=case.nonce,
        options=case.options,
        responder_url="http://127.0.0.1:9/ocsp",
    )
    assert len(results) == 1
    return results[0]


GOOD_CASES: dict[str, Case] = {
    "issuer-signs-by-name": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert)), CertStatus.GOOD, model=TrustModel.ISSUER
    ),
    "issuer-signs-by-key-hash": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), responder_id="key"),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
    ),
    "delegated-by-name": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), signer=p.delegated),
        CertStatus.GOOD,
        model=TrustModel.DELEGATED,
    ),
    "delegated-by-key-hash": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), signer=p.delegated, responder_id="key"),
        CertStatus.GOOD,
        model=TrustModel.DELEGATED,
    ),
    "delegated-at-its-exact-notAfter": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 + 300 * DAY), signer=p.delegated
        ),
        CertStatus.GOOD,
        model=TrustModel.DELEGATED,
        now=T0 + 300 * DAY,  # FakeCA.responder's default notAfter (RFC 5280: inclusive)
    ),
    "revoked-keyCompromise": Case(
        lambda p: p.ca.response(
            p.ca.answer(
                p.leaf.cert,
                "revoked",
                revoked_at=T0 - 2 * DAY,
                revocation_reason=x509.ReasonFlags.key_compromise,
            )
        ),
        CertStatus.REVOKED,
        model=TrustModel.ISSUER,
        revocation_reason="keyCompromise",
    ),
    "revoked-without-reason": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, "revoked"), signer=p.delegated),
        CertStatus.REVOKED,
        model=TrustModel.DELEGATED,
    ),
    "on-hold": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, "revoked", revocation_reason=x509.ReasonFlags.certificate_hold)
        ),
        CertStatus.REVOKED,
        model=TrustModel.ISSUER,
        revocation_reason="certificateHold",
    ),
    "unknown": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, "unknown")),
        CertStatus.UNKNOWN,
        model=TrustModel.ISSUER,
    ),
    "trusted-responder-included": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), signer=p.other_responder),
        CertStatus.GOOD,
        model=TrustModel.TRUSTED_RESPONDER,
        trusted=("other_responder",),
    ),
    "trusted-responder-not-included-by-key": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert), signer=p.other_responder, certs=(), responder_id="key"
        ),
        CertStatus.GOOD,
        model=TrustModel.TRUSTED_RESPONDER,
        trusted=("other_responder",),
    ),
    "lsc": Case(
        lambda p: p.ca.response(p.ca.answer(p.extra_lsc.cert), signer=p.delegated),
        CertStatus.GOOD,
        model=TrustModel.DELEGATED,
        cert="extra_lsc",
    ),
    "sha256-certid": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, hash_algorithm="sha256")),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        alg="sha256",
    ),
    "nonce-echoed": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), nonce=NONCE),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        nonce=NONCE,
        options=ValidationOptions(nonce_mode=NonceMode.REQUIRE),
    ),
    "nonce-sent-not-echoed-send-mode": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert)),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        nonce=NONCE,
    ),
    "no-nextUpdate-fresh": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, next_update=None)),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        now=T0 + 23 * timedelta(hours=1),
    ),
    "thisUpdate-ahead-within-skew": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, this_update=T0 + 4 * MINUTE)),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
    ),
    "nextUpdate-passed-within-skew": Case(
        # thisUpdate a day earlier: a nextUpdate before thisUpdate is refused outright.
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 - DAY, next_update=T0 - 4 * MINUTE)
        ),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
    ),
    "rsa-pkcs1v15": Case(
        lambda p: p.rsa_ca.response(p.rsa_ca.answer(p.rsa_leaf.cert)),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pkcs1v15-sha512": Case(
        lambda p: p.rsa_ca.response(
            p.rsa_ca.answer(p.rsa_leaf.cert), hash_algorithm=hashes.SHA512()
        ),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss": Case(
        lambda p: p.rsa_ca.response(p.rsa_ca.answer(p.rsa_leaf.cert), pss=True),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss-sha384-delegated": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert),
            signer=p.delegated_rsa,
            pss=True,
            hash_algorithm=hashes.SHA384(),
        ),
        CertStatus.GOOD,
        model=TrustModel.DELEGATED,
    ),
    "ecdsa-sha384": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), hash_algorithm=hashes.SHA384()),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
    ),
    "ed25519": Case(
        lambda p: p.ed_ca.response(p.ed_ca.answer(p.ed_leaf.cert)),
        CertStatus.GOOD,
        model=TrustModel.ISSUER,
        cert="ed_leaf",
        issuer="ed_ca",
    ),
}


def _forged_answer(p: Pki, **kw: Any) -> bytes:
    return p.ca.response(p.ca.answer(p.leaf.cert), **kw)


ATTACK_CASES: dict[str, Case] = {
    "forged-signature-bits-flipped": Case(
        lambda p: _forged_answer(p, tamper_signature=True),
        CertStatus.COULD_NOT_TELL,
        Reason.BAD_SIGNATURE,
    ),
    "forged-content-after-signing": Case(
        lambda p: _forged_answer(p, tamper_tbs=True),
        CertStatus.COULD_NOT_TELL,
        Reason.BAD_SIGNATURE,
    ),
    "signed-with-another-key-naming-the-ca": Case(
        lambda p: _forged_answer(p, signing_key=p.impostor.key),
        CertStatus.COULD_NOT_TELL,
        Reason.BAD_SIGNATURE,
    ),
    "signed-with-another-key-naming-the-ca-by-key-hash": Case(
        lambda p: _forged_answer(p, signing_key=p.impostor.key, responder_id="key"),
        CertStatus.COULD_NOT_TELL,
        Reason.BAD_SIGNATURE,
    ),
    "forged-delegated-signature": Case(
        lambda p: _forged_answer(p, signer=p.delegated, tamper_signature=True),
        CertStatus.COULD_NOT_TELL,
        Reason.BAD_SIGNATURE,
    ),
    "forged-revoked-says-nothing": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, "revoked"), tamper_signature=True),
        CertStatus.COULD_NOT_TELL,
        Reason.BAD_SIGNATURE,
    ),
    "signer-without-ocsp-signing-eku": Case(
        lambda p: _forged_answer(p, signer=p.no_eku),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "signer-issued-by-another-ca": Case(
        lambda p: _forged_answer(p, signer=p.other_responder),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "signer-issued-by-the-root-not-directly-by-the-ca": Case(
        lambda p: _forged_answer(p, signer=p.root_responder),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "root-ca-signs-for-its-intermediates-leaf": Case(
        lambda p: _forged_answer(p, signer=p.root.issued, certs=[p.root.cert]),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "expired-responder-certificate": Case(
        lambda p: _forged_answer(p, signer=p.expired_responder),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "responder-certificate-not-yet-valid": Case(
        lambda p: _forged_answer(p, signer=p.future_responder),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "impostor-cert-claims-the-ca-name": Case(
        lambda p: _forged_answer(p, signer=p.impostor.issued, certs=[p.impostor.cert]),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "impostor-revoked-claims-the-ca-name": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, "revoked"), signer=p.impostor.issued, certs=[p.impostor.cert]
        ),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "delegated-responder-not-included": Case(
        lambda p: _forged_answer(p, signer=p.delegated, certs=()),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    ),
    "trusted-responder-expired": Case(
        lambda p: _forged_answer(p, signer=p.other_expired),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
        trusted=("other_expired",),
    ),
    "trusted-responder-without-eku": Case(
        lambda p: _forged_answer(p, signer=p.other_no_eku),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
        trusted=("other_no_eku",),
    ),
    "trusted-ca-cert-is-not-a-responder": Case(
        lambda p: _forged_answer(p, signer=p.other_ca.issued, certs=()),
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
        trusted=("other_ca",),
    ),
    "stale-nextUpdate": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 - 3 * DAY, next_update=T0 - 6 * MINUTE)
        ),
        CertStatus.COULD_NOT_TELL,
        Reason.STALE,
    ),
    "thisUpdate-in-the-future": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, this_update=T0 + 6 * MINUTE)),
        CertStatus.COULD_NOT_TELL,
        Reason.NOT_YET_VALID,
    ),
    "no-nextUpdate-and-too-old": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 - 25 * timedelta(hours=1), next_update=None)
        ),
        CertStatus.COULD_NOT_TELL,
        Reason.STALE,
    ),
    "wrong-serial": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, serial_override=p.leaf.cert.serial_number + 1)
        ),
        CertStatus.COULD_NOT_TELL,
        Reason.CERTID_MISMATCH,
    ),
    "wrong-issuer-key-hash": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, key_hash_override=b"\x01" * 20)),
        CertStatus.COULD_NOT_TELL,
        Reason.CERTID_MISMATCH,
    ),
    "wrong-issuer-name-hash": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, name_hash_override=b"\x02" * 20)),
        CertStatus.COULD_NOT_TELL,
        Reason.CERTID_MISMATCH,
    ),
    "certid-hash-algorithm-differs": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, hash_algorithm="sha256")),
        CertStatus.COULD_NOT_TELL,
        Reason.CERTID_MISMATCH,
    ),
    "answers-for-another-certificate": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf2.cert)),
        CertStatus.COULD_NOT_TELL,
        Reason.CERTID_MISMATCH,
    ),
    "nonce-mismatch": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), nonce=b"\xff" * 16),
        CertStatus.COULD_NOT_TELL,
        Reason.NONCE_MISMATCH,
        nonce=NONCE,
    ),
    "nonce-mismatch-even-when-revoked": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, "revoked"), nonce=b"\xff" * 16),
        CertStatus.COULD_NOT_TELL,
        Reason.NONCE_MISMATCH,
        nonce=NONCE,
    ),
    "nonce-required-but-missing": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert)),
        CertStatus.COULD_NOT_TELL,
        Reason.NONCE_MISMATCH,
        nonce=NONCE,
        options=ValidationOptions(nonce_mode=NonceMode.REQUIRE),
    ),
    "garbage-bytes": Case(
        lambda p: b"\x00not an ocsp response", CertStatus.COULD_NOT_TELL, Reason.MALFORMED_RESPONSE
    ),
    "empty-body": Case(lambda p: b"", CertStatus.COULD_NOT_TELL, Reason.MALFORMED_RESPONSE),
    "truncated-response": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert))[:-40],
        CertStatus.COULD_NOT_TELL,
        Reason.MALFORMED_RESPONSE,
    ),
    "a-certificate-not-a-response": Case(
        lambda p: p.leaf.cert_der(), CertStatus.COULD_NOT_TELL, Reason.MALFORMED_RESPONSE
    ),
    "html-error-page": Case(
        lambda p: b"<html><body>502 Bad Gateway</body></html>",
        CertStatus.COULD_NOT_TELL,
        Reason.MALFORMED_RESPONSE,
    ),
    **{
        f"unsuccessful-{status}": Case(
            lambda p, s=status: unsuccessful(s),  # type: ignore[misc]
            CertStatus.COULD_NOT_TELL,
            Reason.UNSUCCESSFUL_STATUS,
        )
        for status in (
            "malformedRequest",
            "internalError",
            "tryLater",
            "sigRequired",
            "unauthorized",
        )
    },
}


@pytest.mark.parametrize("case", GOOD_CASES.values(), ids=GOOD_CASES.keys())
def test_trusted_responses(pki: Pki, case: Case) -> None:
    result = _judge(pki, case)
    assert (result.status, result.reason, result.problems) == (case.status, None, ()), result.detail
    assert result.trust_model is case.model
    assert result.signer_sha256 is not None and len(result.signer_sha256) == 64
    assert result.raw_response is not None and result.this_update is not None
    assert result.responder_url == "http://127.0.0.1:9/ocsp"
    if case.status is CertStatus.REVOKED:
        assert result.revoked_at is not None
        assert result.revocation_reason == case.revocation_reason
        assert result.on_hold is (case.revocation_reason == "certificateHold")


@pytest.mark.parametrize("case", ATTACK_CASES.values(), ids=ATTACK_CASES.keys())
def test_untrusted_responses(pki: Pki, case: Case) -> None:
    result = _judge(pki, case)
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.status is not CertStatus.GOOD
    assert result.reason is case.reason, result.problems
    assert result.problems and result.problems[0] == result.detail
    assert result.revoked_at is None and result.revocation_reason is None
    assert result.trust_model is None or case.reason not in (
        Reason.UNAUTHORIZED_SIGNER,
        Reason.BAD_SIGNATURE,
    )
    assert result.raw_response is not None  # evidence kept even when refused


def test_every_unsuccessful_status_is_named(pki: Pki) -> None:
    for status in ("malformedRequest", "internalError", "tryLater", "sigRequired", "unauthorized"):
        (result,) = verify_response(
            unsuccessful(status),  # type: ignore[arg-type]
            cert_ids=[pki.cid(pki.leaf)],
            issuers=[pki.ca.cert],
            now=T0,
        )
        assert result.reason is Reason.UNSUCCESSFUL_STATUS
        assert result.ocsp_response_status == status
        assert status in result.detail


def test_unauthorised_signer_problems_say_why(pki: Pki) -> None:
    result = _judge(pki, ATTACK_CASES["signer-without-ocsp-signing-eku"])
    assert "id-kp-OCSPSigning" in result.detail and "RFC 6960 4.2.2.2" in result.detail
    result = _judge(pki, ATTACK_CASES["signer-issued-by-another-ca"])
    assert "not issued directly by" in result.detail
    # The genuine key behind an unauthorised signature is recorded as evidence.
    assert result.signer_sha256 is not None
    result = _judge(pki, ATTACK_CASES["expired-responder-certificate"])
    assert "expired at" in result.detail


def test_every_failure_is_listed_first_decides(pki: Pki) -> None:
    der = pki.ca.response(
        pki.ca.answer(pki.leaf.cert, this_update=T0 - 3 * DAY, next_update=T0 - DAY),
        nonce=b"\xee" * 16,
        tamper_signature=True,
    )
    (result,) = verify_response(
        der, cert_ids=[pki.cid(pki.leaf)], issuers=[pki.ca.cert], now=T0, nonce=NONCE
    )
    assert result.reason is Reason.BAD_SIGNATURE
    assert len(result.problems) == 3
    assert "nextUpdate" in result.problems[1] and "nonce" in result.problems[2]


def test_unknown_critical_response_extension_is_not_understood(pki: Pki) -> None:
    """RFC 6960 4.4 / RFC 5280 4.2: a critical response extension certwarden does not
    process makes the response untrusted, with its own reason (issue 10 item 1)."""
    # cryptography's builder writes any extension it is given; mark one critical.
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            pki.leaf.cert,
            pki.ca.cert,
            hashes.SHA1(),
            ocsp.OCSPCertStatus.GOOD,
            T0,
            T0 + DAY,
            None,
            None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.NAME, pki.ca.cert)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"),
            critical=True,
        )
    )
    der = builder.sign(pki.ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]
    (result,) = verify_response(der, cert_ids=[pki.cid(pki.leaf)], issuers=[pki.ca.cert], now=T0)
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.UNSUPPORTED_CRITICAL_EXTENSION
    assert "1.2.3.4.5" in result.detail and "critical" in result.detail


def test_conflicting_duplicate_answers_are_refused(pki: Pki) -> None:
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert), pki.ca.answer(pki.leaf.cert, "revoked"))
    (result,) = verify_response(der, cert_ids=[pki.cid(pki.leaf)], issuers=[pki.ca.cert], now=T0)
    assert result.status is CertStatus.COULD_NOT_TELL
    assert result.reason is Reason.MALFORMED_RESPONSE


# ------------------------------------------------------------ multi-response


def test_batch_each_certid_matched_independently(pki: Pki) -> None:
    # Answers in a different order from the request; one revoked, one unknown.
    der = pki.ca.response(
        pki.ca.answer(pki.leaf3.cert, "unknown"),
        pki.ca.answer(pki.leaf.cert),
        pki.ca.answer(pki.leaf2.cert, "revoked", revocation_reason=x509.ReasonFlags.superseded),
        signer=pki.delegated,
    )
    results = verify_response(
        der,
        cert_ids=[pki.cid(pki.leaf), pki.cid(pki.leaf2), pki.cid(pki.leaf3)],
        issuers=[pki.ca.cert] * 3,
        now=T0,
    )
    assert [r.status for r in results] == [CertStatus.GOOD, CertStatus.REVOKED, CertStatus.UNKNOWN]
    assert results[1].revocation_reason == "superseded"
    assert {r.trust_model for r in results} == {TrustModel.DELEGATED}


def test_batch_missing_answer_is_mismatch_for_that_one_only(pki: Pki) -> None:
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert), pki.ca.answer(pki.leaf3.cert))
    results = verify_response(
        der,
        cert_ids=[pki.cid(pki.leaf), pki.cid(pki.leaf2), pki.cid(pki.leaf3)],
        issuers=[pki.ca.cert] * 3,
        now=T0,
    )
    assert [(r.status, r.reason) for r in results] == [
        (CertStatus.GOOD, None),
        (CertStatus.COULD_NOT_TELL, Reason.CERTID_MISMATCH),
        (CertStatus.GOOD, None),
    ]


def test_batch_signer_authorised_per_issuer(pki: Pki) -> None:
    # The CA may answer for its own leaf, not for a leaf another CA issued.
    der = pki.ca.response(
        pki.ca.answer(pki.leaf.cert),
        pki.other_ca.answer(pki.other_leaf.cert),
    )
    results = verify_response(
        der,
        cert_ids=[pki.cid(pki.leaf), pki.cid(pki.other_leaf, pki.other_ca)],
        issuers=[pki.ca.cert, pki.other_ca.cert],
        now=T0,
    )
    assert results[0].status is CertStatus.GOOD
    assert (results[1].status, results[1].reason) == (
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    )


def test_other_certs_supply_a_delegate_the_response_omits(pki: Pki) -> None:
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=pki.delegated, certs=())
    parsed = parse_response(der)
    common: dict[str, Any] = {"cert_ids": [pki.cid(pki.leaf)], "issuers": [pki.ca.cert], "now": T0}
    (without,) = verify_parsed(parsed, **common)
    assert without.reason is Reason.UNAUTHORIZED_SIGNER
    (with_delegate,) = verify_parsed(parsed, other_certs=[pki.delegated.cert], **common)
    assert (with_delegate.status, with_delegate.trust_model) == (
        CertStatus.GOOD,
        TrustModel.DELEGATED,
    )
    # An unauthorised "other" certificate does not help.
    (still,) = verify_parsed(parsed, other_certs=[pki.no_eku.cert], **common)
    assert still.status is CertStatus.COULD_NOT_TELL


def test_check_freshness_off_judges_only_authenticity(pki: Pki) -> None:
    der = pki.ca.response(pki.ca.answer(pki.leaf.cert, this_update=T0 - 30 * DAY))
    parsed = parse_response(der)
    kw: dict[str, Any] = {"cert_ids": [pki.cid(pki.leaf)], "issuers": [pki.ca.cert], "now": T0}
    assert verify_parsed(parsed, **kw)[0].reason is Reason.STALE
    assert verify_parsed(parsed, check_freshness=False, **kw)[0].status is CertStatus.GOOD


def test_validation_options_are_checked() -> None:
    with pytest.raises(ValueError, match="skew"):
        ValidationOptions(skew=-MINUTE)
    with pytest.raises(ValueError, match="max_age"):
        ValidationOptions(max_age=timedelta(0))


def test_mismatched_lengths_are_a_programming_error(pki: Pki) -> None:
    with pytest.raises(ValueError, match="one issuer per CertID"):
        verify_response(b"", cert_ids=[pki.cid(pki.leaf)], issuers=[], now=T0)


# ------------------------------------------------------------------ signatures


def test_signature_algorithm_must_fit_the_key() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    data = b"tbsResponseData"
    ecdsa = parse_signature_algorithm("1.2.840.10045.4.3.2", None)
    signature = ec_key.sign(data, ec.ECDSA(hashes.SHA256()))
    assert verify_signature(ec_key.public_key(), ecdsa, data, signature) is None
    assert "cannot come from an RSA key" in (
        verify_signature(rsa_key.public_key(), ecdsa, data, signature) or ""
    )
    # MD5 is understood (so it can be diagnosed: core/algorithms.py refuses it always).
    md5 = parse_signature_algorithm("1.2.840.113549.1.1.4", None)
    assert (md5.family, md5.digest) == ("rsa", "md5")
    assert verify_signature(rsa_key.public_key(), md5, data, b"x") is not None
    no_params = parse_signature_algorithm("1.2.840.113549.1.1.10", None)
    assert no_params.family == "unsupported"


def test_pss_parameters_are_honoured() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = b"tbsResponseData"
    signature = key.sign(
        data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )

    def pss(salt: int) -> bytes:
        sha256 = _der.sequence(_der.encode_oid("2.16.840.1.101.3.4.2.1"), _der.encode_null())
        return _der.sequence(
            _der.explicit(0, sha256),
            _der.explicit(1, _der.sequence(_der.encode_oid("1.2.840.113549.1.1.8"), sha256)),
            _der.explicit(2, _der.encode_integer(salt)),
        )

    right = parse_signature_algorithm("1.2.840.113549.1.1.10", pss(32))
    wrong = parse_signature_algorithm("1.2.840.113549.1.1.10", pss(20))
    assert verify_signature(key.public_key(), right, data, signature) is None
    assert "does not verify" in (verify_signature(key.public_key(), wrong, data, signature) or "")
    # RFC 4055 defaults (SHA-1, MGF1-SHA-1, salt 20) when the SEQUENCE is empty.
    defaults = parse_signature_algorithm("1.2.840.113549.1.1.10", _der.sequence())
    assert (defaults.digest, defaults.mgf1_digest, defaults.salt_length) == ("sha1", "sha1", 20)
    assert parse_signature_algorithm("1.2.840.113549.1.1.10", b"\x30\x03\xa2\x01").family == (
        "unsupported"
    )


def test_pss_parameters_are_read_from_the_response(pki: Pki) -> None:
    parsed = parse_response(
        pki.ca.response(pki.ca.answer(pki.leaf.cert), signer=pki.delegated_rsa, pss=True)
    )
    algorithm = parsed.signature_algorithm
    assert algorithm is not None
    assert (algorithm.family, algorithm.digest, algorithm.mgf1_digest, algorithm.salt_length) == (
        "rsa-pss",
        "sha256",
        "sha256",
        32,
    )


@pytest.mark.parametrize("kind", ["pss", "delegated-multi", "ed25519", "issuer-by-key"])
def test_openssl_accepts_fakeca_responses(pki: Pki, tmp_path: Path, kind: str) -> None:
    """FakeCA reassembles and re-signs responses: an independent verifier agrees."""
    if kind == "pss":
        issuer, der = (
            pki.rsa_ca,
            pki.rsa_ca.response(pki.rsa_ca.answer(pki.rsa_leaf.cert), pss=True),
        )
    elif kind == "delegated-multi":
        issuer = pki.ca
        der = pki.ca.response(
            pki.ca.answer(pki.leaf.cert),
            pki.ca.answer(pki.leaf2.cert, "revoked"),
            signer=pki.delegated,
        )
    elif kind == "ed25519":
        issuer, der = pki.ed_ca, pki.ed_ca.response(pki.ed_ca.answer(pki.ed_leaf.cert))
    else:
        issuer, der = pki.ca, pki.ca.response(pki.ca.answer(pki.leaf.cert), responder_id="key")
    (tmp_path / "r.der").write_bytes(der)
    (tmp_path / "chain.pem").write_bytes(pki.root.issued.cert_pem() + issuer.issued.cert_pem())
    out = subprocess.run(
        ["openssl", "ocsp", "-respin", str(tmp_path / "r.der"), "-CAfile", str(tmp_path / "chain.pem"),
         "-verify_other", str(tmp_path / "chain.pem"), "-no_cert_checks", "-resp_text"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "Response verify OK" in out.stderr, out.stderr
    tampered = pki.ca.response(pki.ca.answer(pki.leaf.cert), tamper_signature=True)
    (tmp_path / "bad.der").write_bytes(tampered)
    (tmp_path / "ca.pem").write_bytes(pki.root.issued.cert_pem() + pki.ca.issued.cert_pem())
    bad = subprocess.run(
        ["openssl", "ocsp", "-respin", str(tmp_path / "bad.der"), "-CAfile", str(tmp_path / "ca.pem"),
         "-verify_other", str(tmp_path / "ca.pem"), "-no_cert_checks"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "Response verify OK" not in bad.stderr


# -------------------------------------------------------------------- CertID


@pytest.mark.parametrize("key_type", ["ec", "rsa", "ed25519"])
@pytest.mark.parametrize("alg", ["sha1", "sha256"])
def test_cert_id_matches_cryptography(pki: Pki, key_type: str, alg: str) -> None:
    issuer = {"ec": pki.ca, "rsa": pki.rsa_ca, "ed25519": pki.ed_ca}[key_type]
    leaf = {"ec": pki.leaf, "rsa": pki.rsa_leaf, "ed25519": pki.ed_leaf}[key_type]
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if alg == "sha1" else hashes.SHA256()
    reference = ocsp.OCSPRequestBuilder().add_certificate(leaf.cert, issuer.cert, algorithm).build()
    cid = cert_id_for(leaf.cert, issuer.cert, HashAlgorithm(alg))
    assert (cid.issuer_name_hash, cid.issuer_key_hash, cid.serial_number) == (
        reference.issuer_name_hash,
        reference.issuer_key_hash,
        reference.serial_number,
    )
    assert (
        cid.key()
        == f"{alg}:{cid.issuer_name_hash.hex()}:{cid.issuer_key_hash.hex()}:{leaf.cert.serial_number:x}"
    )


def test_cert_id_fields_all_count() -> None:
    base = CertId(HashAlgorithm.SHA1, b"n" * 20, b"k" * 20, 7)
    variants = [
        CertId(HashAlgorithm.SHA256, b"n" * 20, b"k" * 20, 7),
        CertId(HashAlgorithm.SHA1, b"N" * 20, b"k" * 20, 7),
        CertId(HashAlgorithm.SHA1, b"n" * 20, b"K" * 20, 7),
        CertId(HashAlgorithm.SHA1, b"n" * 20, b"k" * 20, 8),
    ]
    assert all(v != base and v.key() != base.key() for v in variants)


# ------------------------------------------------------------------- requests


@pytest.mark.parametrize("alg", ["sha1", "sha256"])
@pytest.mark.parametrize("nonce", [None, NONCE], ids=["no-nonce", "nonce"])
def test_single_request_is_byte_identical_to_cryptography(
    pki: Pki, alg: str, nonce: bytes | None
) -> None:
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if alg == "sha1" else hashes.SHA256()
    builder = ocsp.OCSPRequestBuilder().add_certificate(pki.leaf.cert, pki.ca.cert, algorithm)
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    reference = builder.build().public_bytes(serialization.Encoding.DER)
    request = build_request(
        [(pki.leaf.cert, pki.ca.cert)], hash_algorithm=HashAlgorithm(alg), nonce=nonce
    )
    assert request.der == reference
    assert request.cert_ids == (pki.cid(pki.leaf, alg=alg),)
    assert request.nonce == nonce


def test_multi_request_parsed_by_openssl(pki: Pki, tmp_path: Path) -> None:
    request = build_request(
        [
            (pki.leaf.cert, pki.ca.cert),
            (pki.leaf2.cert, pki.ca.cert),
            (pki.rsa_leaf.cert, pki.rsa_ca.cert),
        ],
        nonce=NONCE,
    )
    (tmp_path / "req.der").write_bytes(request.der)
    out = subprocess.run(
        ["openssl", "ocsp", "-reqin", str(tmp_path / "req.der"), "-req_text"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    text = out.stdout
    assert text.count("Certificate ID:") == 3
    for leaf in (pki.leaf, pki.leaf2, pki.rsa_leaf):
        assert f"Serial Number: {leaf.cert.serial_number:X}" in text
    assert "OCSP Nonce" in text and NONCE.hex().upper() in text.replace(":", "").upper()
    assert len(request.cert_ids) == 3


def test_request_rejects_bad_input(pki: Pki) -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_request([])
    with pytest.raises(ValueError, match="1 to 32 bytes"):
        encode_request([pki.cid(pki.leaf)], nonce=b"")
    with pytest.raises(ValueError, match="1 to 32 bytes"):
        encode_request([pki.cid(pki.leaf)], nonce=b"x" * 33)


@pytest.mark.parametrize(
    "base", ["http://ocsp.example.test", "http://ocsp.example.test/", "http://h.test/ocsp/"]
)
def test_get_url_rfc6960_a1(base: str) -> None:
    der = bytes([0xFB, 0xFF, 0xFE]) * 20  # base64 with '+', '/' and '=' in it
    url = get_url(base, der)
    prefix, _, tail = url.rpartition("/")
    assert prefix == base.rstrip("/")
    assert "+" not in tail and "/" not in tail and "=" not in tail
    assert base64.b64decode(urllib.parse.unquote(tail)) == der


def test_openssl_responder_answers_a_batch_end_to_end(tmp_path: Path) -> None:
    """A real ``openssl ocsp`` answers one request about several certificates,
    over a raw urllib POST, and every answer verifies."""
    from tests.ocsp_responders import openssl_pki, start_openssl_responder

    # openssl stamps wall-clock times on its answers, so this PKI is built
    # around the wall clock; the verdict then uses the response's producedAt.
    wall = datetime.now(UTC)
    pki = openssl_pki(tmp_path, wall)
    responder = start_openssl_responder(
        index=pki.path("index.txt"),
        ca=pki.path("ca.pem"),
        signer=pki.path("delegated.pem"),
        signer_key=pki.path("delegated.key"),
        probe_cert=pki.leaves["good"].cert,
        probe_issuer=pki.ca.cert,
        multi=None,
    )
    try:
        names = ["good", "revoked_key", "on_hold", "unknown"]
        request = build_request([(pki.leaves[n].cert, pki.ca.cert) for n in names], nonce=NONCE)
        http = urllib.request.Request(
            responder.url,
            data=request.der,
            headers={"Content-Type": "application/ocsp-request"},
            method="POST",
        )
        with urllib.request.urlopen(http, timeout=10) as reply:
            body = reply.read()
    finally:
        responder.stop()
    parsed = parse_response(body)
    assert len(parsed.singles) == 4 and parsed.produced_at is not None
    results = verify_parsed(
        parsed,
        cert_ids=request.cert_ids,
        issuers=[pki.ca.cert] * 4,
        now=parsed.produced_at,
        nonce=NONCE,
        options=ValidationOptions(nonce_mode=NonceMode.REQUIRE),
    )
    assert [r.status for r in results] == [
        CertStatus.GOOD,
        CertStatus.REVOKED,
        CertStatus.REVOKED,
        CertStatus.UNKNOWN,
    ], [r.problems for r in results]
    assert results[1].revocation_reason == "keyCompromise"
    assert results[2].on_hold
    assert {r.trust_model for r in results} == {TrustModel.DELEGATED}


# ------------------------------------------------------------ results and expiry


def test_expired_result_notafter_inclusive(pki: Pki) -> None:
    not_after = pki.leaf.cert.not_valid_after_utc
    assert expired_result(pki.leaf.cert, not_after) is None
    result = expired_result(pki.leaf.cert, not_after + timedelta(microseconds=1))
    assert result is not None
    assert (result.status, result.reason, result.expired, result.revoked_at) == (
        CertStatus.REVOKED,
        None,  # expiry is not a could-not-tell reason
        True,
        not_after,
    )


def test_result_json_is_stable_and_omits_raw_by_default() -> None:
    result = RevocationResult(
        status=CertStatus.REVOKED,
        revoked_at=datetime(2026, 5, 1, 8, 30, tzinfo=UTC),
        revocation_reason="certificateHold",
        this_update=T0,
        raw_response=b"\x30\x03\x0a\x01\x00",
        trust_model=TrustModel.DELEGATED,
    )
    data = result.to_json()
    assert data["revoked_at"] == "2026-05-01T08:30:00Z"
    assert data["this_update"] == "2026-06-01T12:00:00Z"
    assert data["on_hold"] is True and data["trust_model"] == "delegated"
    assert "raw_response" not in data
    assert result.to_json(include_raw=True)["raw_response"] == "MAMKAQA="
    undetermined = RevocationResult.could_not_tell(
        Reason.HTTP_ERROR, "HTTP 500 from x", http_status=500
    )
    assert undetermined.problems == ("HTTP 500 from x",) and undetermined.http_status == 500
    assert not undetermined.on_hold


# ---------------------------------------------------------------------- cache


def _cid(serial: int) -> CertId:
    return CertId(HashAlgorithm.SHA1, b"n" * 20, b"k" * 20, serial)


def _good(this_update: datetime, next_update: datetime | None) -> RevocationResult:
    return RevocationResult(CertStatus.GOOD, this_update=this_update, next_update=next_update)


SKEW = ValidationOptions().skew
OPTIONS = ValidationOptions()


@pytest.mark.parametrize(
    ("result", "last_usable"),
    [
        pytest.param(_good(T0, T0 + 6 * timedelta(hours=1)), T0 + 6 * timedelta(hours=1) + SKEW, id="until-nextUpdate-plus-skew"),
        pytest.param(_good(T0, T0 + 30 * DAY), T0 + 7 * DAY - timedelta(seconds=1), id="bounded-by-max-lifetime"),
        pytest.param(_good(T0 - timedelta(hours=20), None), T0 + 4 * timedelta(hours=1), id="no-nextUpdate-max-age"),
        pytest.param(RevocationResult.could_not_tell(Reason.TIMEOUT, "slow"), T0 + 5 * MINUTE - timedelta(seconds=1), id="failure-backoff"),
    ],
)  # fmt: skip
def test_cache_lifetimes(result: RevocationResult, last_usable: datetime) -> None:
    """The cache serves a validated answer exactly while validation would accept it."""
    cache = ResponseCache()
    cache.put(_cid(1), result, T0, options=OPTIONS)
    assert cache.get(_cid(1), last_usable, trusted_responders=(), options=OPTIONS) == result
    after = last_usable + timedelta(seconds=1)
    assert cache.get(_cid(1), after, trusted_responders=(), options=OPTIONS) is None
    assert len(cache) == 0


def test_cache_obeys_the_validators_max_age() -> None:
    """Issue 10 item 3: with max_age 1 h, an answer without nextUpdate is served from
    the cache for an hour (as validation would accept it), not for a cache default of 24 h."""
    strict = ValidationOptions(max_age=timedelta(hours=1))
    cache = ResponseCache()
    answer = _good(T0, None)
    cache.put(_cid(1), answer, T0, options=strict)
    assert cache.get(_cid(1), T0 + timedelta(minutes=59), trusted_responders=(), options=strict)
    assert (
        cache.get(_cid(1), T0 + timedelta(hours=2), trusted_responders=(), options=strict) is None
    )
    # And the same rule as validation's, to the second.
    single = SingleAnswer("sha1", b"", b"", 1, None, CertStatus.GOOD, T0, None, None, None)
    assert step_next_update(single, T0 + timedelta(hours=2), strict)
    cache.put(_cid(2), answer, T0, options=OPTIONS)
    assert (
        cache.get(_cid(2), T0 + timedelta(hours=2), trusted_responders=(), options=strict) is None
    )


def test_cache_get_needs_the_trust_inputs() -> None:
    """Fail closed: the trusted-responder re-check cannot be skipped by a default."""
    cache = ResponseCache()
    with pytest.raises(TypeError):
        cache.get(_cid(1), T0)  # type: ignore[call-arg]


def test_cache_does_not_store_already_stale_and_keeps_valid_over_failure() -> None:
    cache = ResponseCache()
    cache.put(_cid(1), _good(T0 - 2 * DAY, T0 - DAY), T0, options=OPTIONS)
    assert cache.get(_cid(1), T0, trusted_responders=(), options=OPTIONS) is None
    good = _good(T0, T0 + DAY)
    cache.put(_cid(2), good, T0, options=OPTIONS)
    cache.put(
        _cid(2),
        RevocationResult.could_not_tell(Reason.TIMEOUT, "slow"),
        T0 + MINUTE,
        options=OPTIONS,
    )
    assert cache.get(_cid(2), T0 + 2 * MINUTE, trusted_responders=(), options=OPTIONS) == good
    revoked = RevocationResult(CertStatus.REVOKED, this_update=T0 + MINUTE, next_update=T0 + DAY)
    cache.put(_cid(2), revoked, T0 + MINUTE, options=OPTIONS)
    assert cache.get(_cid(2), T0 + 2 * MINUTE, trusted_responders=(), options=OPTIONS) == revoked


def test_cache_is_bounded_lru() -> None:
    cache = ResponseCache(max_entries=2)
    for serial in (1, 2):
        cache.put(_cid(serial), _good(T0, T0 + DAY), T0, options=OPTIONS)
    assert (
        cache.get(_cid(1), T0, trusted_responders=(), options=OPTIONS) is not None
    )  # 1 is now most recently used
    cache.put(_cid(3), _good(T0, T0 + DAY), T0, options=OPTIONS)
    assert len(cache) == 2
    assert cache.get(_cid(2), T0, trusted_responders=(), options=OPTIONS) is None
    assert (
        cache.get(_cid(1), T0, trusted_responders=(), options=OPTIONS) is not None
        and cache.get(_cid(3), T0, trusted_responders=(), options=OPTIONS) is not None
    )


# ------------------------------------------------------------- never Good by accident


@pytest.mark.parametrize("signer", ["issuer", "delegated"])
def test_no_single_byte_change_turns_into_a_different_good(pki: Pki, signer: str) -> None:
    """Flip every byte of a genuine response: the verifier never raises, and
    whenever it still says Good, what was signed is exactly what the genuine
    signer signed (only unsigned encoding details, such as a BIT STRING's
    unused-bits octet, can change without consequence)."""
    kw: dict[str, Any] = {"signer": pki.delegated} if signer == "delegated" else {}
    genuine = pki.ca.response(pki.ca.answer(pki.leaf.cert), **kw)
    original = parse_response(genuine)
    cid = pki.cid(pki.leaf)
    seen: set[Reason | None] = set()
    for position in range(len(genuine)):
        for mask in (0x01, 0x80, 0xFF):
            mutated = bytearray(genuine)
            mutated[position] ^= mask
            (result,) = verify_response(
                bytes(mutated), cert_ids=[cid], issuers=[pki.ca.cert], now=T0
            )
            seen.add(result.reason)
            if result.status is not CertStatus.COULD_NOT_TELL:
                assert result.status is CertStatus.GOOD
                again = parse_response(bytes(mutated))
                assert (again.tbs, again.signature) == (original.tbs, original.signature)
    assert {Reason.MALFORMED_RESPONSE, Reason.BAD_SIGNATURE, Reason.CERTID_MISMATCH} <= seen
