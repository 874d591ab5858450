"""Adversarial tests of the pure OCSP core: try to get a Good (or a wrong
Revoked/Unknown) out of responses that do not deserve trust.

Every response is real DER signed by a real key (``FakeCA``), then — where an
attack needs it — rebuilt by DER surgery and, for attacks on what the signer
says rather than on the signature, signed again with the key under test.
Each case has a readable id, the exact expected :class:`Reason` (or the
expected status where a validated answer is right) and asserts that nothing
said Good unless it should.

Judgment calls (RFC 6960 / RFC 5280) are decided in the case comments.
``now`` is always a parameter; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certwarden.core.ocsp import (
    CertId,
    CertStatus,
    HashAlgorithm,
    NonceMode,
    Reason,
    ResponseCache,
    RevocationResult,
    TrustModel,
    ValidationOptions,
    _der,
    cert_id_for,
    expired_result,
    verify_response,
)
from certwarden.core.policy import POLICY_TABLE, Decision, decide
from certwarden.demo.devpki import DevCA, Issued, new_key
from tests.fakeca import DAY, T0, FakeCA

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
SKEW = ValidationOptions().skew
MAX_AGE = ValidationOptions().max_age
NONCE = bytes(range(16))
NONCE_OID = "1.3.6.1.5.5.7.48.1.2"
BASIC_OID = "1.3.6.1.5.5.7.48.1.1"
PSS_OID = "1.2.840.113549.1.1.10"
MGF1_OID = "1.2.840.113549.1.1.8"
SHA256_OID = "2.16.840.1.101.3.4.2.1"


# ---------------------------------------------------------------- DER surgery


def _parts(data: bytes) -> list[bytes]:
    """The encoded children of the constructed element ``data``."""
    return [c.whole(data) for c in _der.children(data, _der.read_tlv(data))]


def _split(der: bytes) -> tuple[bytes, bytes, bytes, list[bytes]]:
    """(tbsResponseData, signatureAlgorithm, signature BIT STRING, [certs]) of a response."""
    top = _parts(der)
    response_bytes = _parts(top[1])[0]  # [0] EXPLICIT -> ResponseBytes
    octets = _parts(response_bytes)[1]
    basic = _der.read_tlv(octets).content(octets)
    tbs, algorithm, signature, *rest = _parts(basic)
    return tbs, algorithm, signature, rest


def _assemble(
    tbs: bytes,
    algorithm: bytes,
    signature: bytes,
    rest: Sequence[bytes] = (),
    *,
    response_type: str = BASIC_OID,
    status: int = 0,
) -> bytes:
    """An OCSPResponse around a BasicOCSPResponse made of these (already encoded) parts."""
    basic = _der.sequence(tbs, algorithm, signature, *rest)
    response_bytes = _der.sequence(_der.encode_oid(response_type), _der.encode_octet_string(basic))
    return _der.sequence(_der.tlv(0x0A, bytes([status])), _der.explicit(0, response_bytes))


def _algorithm_id(oid: str, params: bytes | None = None) -> bytes:
    return _der.sequence(_der.encode_oid(oid), *([params] if params is not None else []))


def _sign_tbs(key: Any, tbs: bytes) -> tuple[bytes, bytes]:
    """(signatureAlgorithm, signature BIT STRING) of ``tbs`` with ``key`` (SHA-256)."""
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
        algorithm = _algorithm_id("1.2.840.113549.1.1.11", _der.encode_null())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        algorithm = _algorithm_id("1.2.840.10045.4.3.2")
    else:
        sig = key.sign(tbs)
        algorithm = _algorithm_id("1.3.101.112")
    return algorithm, _der.tlv(_der.BIT_STRING, b"\x00" + sig)


def _resign(der: bytes, key: Any, mutate: Callable[[bytes], bytes]) -> bytes:
    """``der`` with its tbsResponseData changed by ``mutate`` and signed again by ``key``."""
    tbs, _, _, rest = _split(der)
    new_tbs = mutate(tbs)
    algorithm, signature = _sign_tbs(key, new_tbs)
    return _assemble(new_tbs, algorithm, signature, rest)


def _responses_index(fields: list[bytes]) -> int:
    # ResponseData: [0] version?, responderID ([1]/[2]), producedAt, responses SEQUENCE, [1] ext?
    return next(i for i, f in enumerate(fields) if f[0] == _der.SEQUENCE)


def _with_single(tbs: bytes, index: int, change: Callable[[list[bytes]], list[bytes]]) -> bytes:
    """``tbs`` with SingleResponse ``index``'s fields replaced by ``change(fields)``."""
    fields = _parts(tbs)
    at = _responses_index(fields)
    singles = _parts(fields[at])
    singles[index] = _der.sequence(*change(_parts(singles[index])))
    fields[at] = _der.sequence(*singles)
    return _der.sequence(*fields)


def _extension(oid: str, value: bytes, *, critical: bool) -> bytes:
    flag = [_der.tlv(0x01, b"\xff")] if critical else []
    return _der.sequence(_der.encode_oid(oid), *flag, _der.encode_octet_string(value))


def _add_single_extension(oid: str, value: bytes, *, critical: bool, index: int = 0) -> Any:
    def mutate(tbs: bytes) -> bytes:
        ext = _der.explicit(1, _der.sequence(_extension(oid, value, critical=critical)))
        return _with_single(tbs, index, lambda f: [*f, ext])

    return mutate


def _set_response_extensions(*extensions: bytes) -> Callable[[bytes], bytes]:
    def mutate(tbs: bytes) -> bytes:
        fields = _parts(tbs)
        keep = fields[: _responses_index(fields) + 1]
        return _der.sequence(*keep, _der.explicit(1, _der.sequence(*extensions)))

    return mutate


def _nonce_ext(nonce: bytes, *, wrapped: bool = True) -> bytes:
    # RFC 8954: extnValue is the DER of an OCTET STRING holding the nonce.
    value = _der.encode_octet_string(nonce) if wrapped else nonce
    return _extension(NONCE_OID, value, critical=False)


def _indefinite(element: bytes) -> bytes:
    """BER indefinite-length form of one element (not DER, X.690 10.1)."""
    tlv = _der.read_tlv(element)
    return element[:1] + b"\x80" + tlv.content(element) + b"\x00\x00"


def _long_form_length(element: bytes) -> bytes:
    """A non-minimal length encoding of one element (not DER, X.690 10.1)."""
    content = _der.read_tlv(element).content(element)
    return element[:1] + b"\x82" + len(content).to_bytes(2, "big") + content


def _ca_cert_with_ocsp_signing(parent: DevCA, name: str) -> Issued:
    """A subordinate CA certificate whose EKU lists id-kp-OCSPSigning (as many real ones do)."""
    key = new_key("ec")
    subject = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "certwarden dev PKI"),
            x509.NameAttribute(x509.NameOID.COMMON_NAME, name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(parent.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - 10 * DAY)
        .not_valid_after(T0 + 300 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.OCSP_SIGNING]
            ),
            critical=False,
        )
        .sign(parent.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Issued(cert, key)


def _forged_delegate(ca: FakeCA, attacker_key: Any) -> Issued:
    """A "delegate" naming ``ca`` as issuer and copying its key identifier, signed by
    another key: chains to the CA by name and AKI only."""
    key = new_key("ec")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Forged OCSP")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - DAY)
        .not_valid_after(T0 + 30 * DAY)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .sign(attacker_key, hashes.SHA256())
    )
    return Issued(cert, key)


# ---------------------------------------------------------------- the PKI


@dataclass
class Pki:
    root: FakeCA
    ca: FakeCA  # issues the leaves asked about
    leaf: Issued
    leaf2: Issued
    delegate: Issued
    delegate2: Issued
    impostor: FakeCA  # same subject name as `ca`, another key
    impostor_delegate: Issued
    forged_delegate: Issued
    sibling_ca_with_eku: Issued  # a sub-CA of `ca` whose EKU lists OCSPSigning
    other: FakeCA  # unrelated CA
    other_leaf: Issued
    trp: Issued  # an end-entity OCSP signer from `other` (TRP when designated)
    trp_no_eku: Issued
    trp_expired: Issued
    trp_future: Issued
    trp_ca_with_eku: Issued  # a CA certificate from `other` whose EKU lists OCSPSigning
    rsa_ca: FakeCA
    rsa_leaf: Issued

    def cid(self, issued: Issued, issuer: FakeCA | None = None, alg: str = "sha1") -> CertId:
        return cert_id_for(issued.cert, (issuer or self.ca).cert, HashAlgorithm(alg))


@pytest.fixture(scope="module")
def pki() -> Pki:
    root = FakeCA.root("Adversarial Root")
    ca = root.intermediate("Adversarial Issuing CA")
    impostor = FakeCA(
        DevCA.root(
            "Adversarial Issuing CA",
            not_before=T0 - 300 * DAY,
            not_after=T0 + 1800 * DAY,
            org="certwarden dev PKI",
        )
    )
    assert impostor.cert.subject == ca.cert.subject
    other = FakeCA.root("Adversarial Unrelated CA", org="someone else")
    rsa_ca = root.intermediate("Adversarial RSA CA", key_type="rsa")
    return Pki(
        root=root,
        ca=ca,
        leaf=ca.leaf("victim.example.test"),
        leaf2=ca.leaf("second.example.test"),
        delegate=ca.responder("Adversarial OCSP"),
        delegate2=ca.responder("Adversarial OCSP 2"),
        impostor=impostor,
        impostor_delegate=impostor.responder("Adversarial OCSP"),
        forged_delegate=_forged_delegate(ca, new_key("ec")),
        sibling_ca_with_eku=_ca_cert_with_ocsp_signing(ca.dev, "Sibling Sub-CA"),
        other=other,
        other_leaf=other.leaf("elsewhere.example.test"),
        trp=other.responder("Designated OCSP"),
        trp_no_eku=other.responder("Designated no EKU", with_eku=False),
        trp_expired=other.responder(
            "Designated expired", not_before=T0 - 100 * DAY, not_after=T0 - SECOND
        ),
        trp_future=other.responder(
            "Designated future", not_before=T0 + SECOND, not_after=T0 + 100 * DAY
        ),
        trp_ca_with_eku=_ca_cert_with_ocsp_signing(other.dev, "Unrelated Sub-CA with EKU"),
        rsa_ca=rsa_ca,
        rsa_leaf=rsa_ca.leaf("rsa.example.test"),
    )


# ---------------------------------------------------------------- the case table


@dataclass(frozen=True)
class Case:
    make: Callable[[Pki], bytes]
    status: CertStatus = CertStatus.COULD_NOT_TELL
    reason: Reason | None = None
    cert: str = "leaf"
    issuer: str = "ca"
    alg: str = "sha1"
    now: datetime = T0
    trusted: tuple[str, ...] = ()
    nonce: bytes | None = None
    options: ValidationOptions = field(default_factory=ValidationOptions)
    model: TrustModel | None = None


def _judge(pki: Pki, case: Case) -> RevocationResult:
    issuer: FakeCA = getattr(pki, case.issuer)
    (result,) = verify_response(
        case.make(pki),
        cert_ids=[pki.cid(getattr(pki, case.cert), issuer, case.alg)],
        issuers=[issuer.cert],
        now=case.now,
        trusted_responders=[getattr(pki, n).cert for n in case.trusted],
        nonce=case.nonce,
        options=case.options,
    )
    return result


def _good(p: Pki, **kw: Any) -> bytes:
    return p.ca.response(p.ca.answer(p.leaf.cert), **kw)


def _rsa_tbs(p: Pki) -> tuple[bytes, list[bytes]]:
    tbs, _, _, rest = _split(p.rsa_ca.response(p.rsa_ca.answer(p.rsa_leaf.cert)))
    return tbs, rest


def _rsa_signed(p: Pki, oid: str, params: bytes | None, sign: Callable[[bytes], bytes]) -> bytes:
    """The RSA CA's genuine answer, its signatureAlgorithm ``oid``/``params``, signature ``sign(tbs)``."""
    tbs, rest = _rsa_tbs(p)
    return _assemble(
        tbs, _algorithm_id(oid, params), _der.tlv(_der.BIT_STRING, b"\x00" + sign(tbs)), rest
    )


def _pss_params(
    *,
    digest: str = SHA256_OID,
    salt: int = 32,
    trailer: int | None = None,
    mgf: str = MGF1_OID,
) -> bytes:
    hash_id = _algorithm_id(digest, _der.encode_null())
    items = [
        _der.explicit(0, hash_id),
        _der.explicit(1, _algorithm_id(mgf, hash_id)),
        _der.explicit(2, _der.encode_integer(salt)),
    ]
    if trailer is not None:
        items.append(_der.explicit(3, _der.encode_integer(trailer)))
    return _der.sequence(*items)


def _pss_sha256_salt32(p: Pki) -> Callable[[bytes], bytes]:
    key: rsa.RSAPrivateKey = p.rsa_ca.key  # type: ignore[assignment]
    return lambda tbs: key.sign(
        tbs, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()
    )


def _rsa_key(p: Pki) -> rsa.RSAPrivateKey:
    return p.rsa_ca.key  # type: ignore[return-value]


def _ec_key(p: Pki) -> ec.EllipticCurvePrivateKey:
    return p.ca.key  # type: ignore[return-value]


def _ecdsa_signed_labelled(p: Pki, algorithm: bytes) -> bytes:
    """The CA's genuine ECDSA signature over its answer, labelled as ``algorithm``."""
    tbs, _, _, rest = _split(_good(p))
    signature = _ec_key(p).sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _assemble(tbs, algorithm, _der.tlv(_der.BIT_STRING, b"\x00" + signature), rest)


def _garbage_after_basic_response(p: Pki) -> bytes:
    # Extra bytes after the BasicOCSPResponse, inside responseBytes' OCTET STRING.
    tbs, algorithm, signature, rest = _split(_good(p))
    basic = _der.sequence(tbs, algorithm, signature, *rest) + b"\x00"
    response_bytes = _der.sequence(_der.encode_oid(BASIC_OID), _der.encode_octet_string(basic))
    return _der.sequence(_der.tlv(0x0A, b"\x00"), _der.explicit(0, response_bytes))


def _revoked_turned_good_signature_kept(p: Pki) -> bytes:
    # The genuine "revoked" answer with its certStatus rewritten to good [0] NULL.
    tbs, algorithm, signature, rest = _split(p.ca.response(p.ca.answer(p.leaf.cert, "revoked")))
    forged = _with_single(tbs, 0, lambda f: [f[0], b"\x80\x00", *f[2:]])
    return _assemble(forged, algorithm, signature, rest)


def _next_update_extended_signature_kept(p: Pki) -> bytes:
    # A stale genuine answer whose nextUpdate is pushed a year ahead, signature kept.
    stale = p.ca.response(
        p.ca.answer(p.leaf.cert, this_update=T0 - 10 * DAY, next_update=T0 - 9 * DAY)
    )
    tbs, algorithm, signature, rest = _split(stale)
    later = _der.explicit(0, _der.tlv(0x18, b"20270601120000Z"))
    forged = _with_single(tbs, 0, lambda f: [*f[:3], later, *f[4:]])
    return _assemble(forged, algorithm, signature, rest)


def _delegate_swapped_for_impostor(p: Pki) -> bytes:
    # The unsigned `certs` field is replaced: the genuine delegate's response,
    # now carrying the impostor's look-alike delegate (same name) instead.
    tbs, algorithm, signature, _ = _split(_good(p, signer=p.delegate))
    certs = _der.explicit(0, _der.sequence(p.impostor_delegate.cert_der()))
    return _assemble(tbs, algorithm, signature, [certs])


def _nonminimal_serial(tbs: bytes) -> bytes:
    def change(fields: list[bytes]) -> list[bytes]:
        cert_id = _parts(fields[0])
        serial = _der.read_tlv(cert_id[3]).content(cert_id[3])
        cert_id[3] = _der.tlv(_der.INTEGER, b"\x00" + serial)  # a redundant leading zero
        return [_der.sequence(*cert_id), *fields[1:]]

    return _with_single(tbs, 0, change)


ATTACKS: dict[str, Case] = {
    # -- who signed -----------------------------------------------------------
    "delegate-of-a-same-named-impostor-ca": Case(
        lambda p: _good(p, signer=p.impostor_delegate), reason=Reason.UNAUTHORIZED_SIGNER
    ),
    "delegate-of-a-same-named-impostor-ca-by-key-hash": Case(
        lambda p: _good(p, signer=p.impostor_delegate, responder_id="key"),
        reason=Reason.UNAUTHORIZED_SIGNER,
    ),
    "delegate-chained-to-the-ca-by-name-and-aki-only": Case(
        lambda p: _good(p, signer=p.forged_delegate), reason=Reason.UNAUTHORIZED_SIGNER
    ),
    "impostor-ca-cert-included-signs-by-name": Case(
        lambda p: _good(p, signer=p.impostor.issued, certs=[p.impostor.cert]),
        reason=Reason.UNAUTHORIZED_SIGNER,
    ),
    "impostor-ca-cert-included-signs-by-key-hash": Case(
        lambda p: _good(p, signer=p.impostor.issued, certs=[p.impostor.cert], responder_id="key"),
        reason=Reason.UNAUTHORIZED_SIGNER,
    ),
    "impostor-key-signs-naming-the-real-ca": Case(
        lambda p: _good(p, signing_key=p.impostor.key), reason=Reason.BAD_SIGNATURE
    ),
    "responder-id-by-key-names-delegate-signature-by-another-delegate": Case(
        # Both delegates are genuine and included, but the ResponderID names the
        # one whose key did not sign: the ResponderID identifies the signer.
        lambda p: _good(
            p,
            signer=p.delegate,
            responder_id="key",
            signing_key=p.delegate2.key,
            certs=[p.delegate.cert, p.delegate2.cert],
        ),
        reason=Reason.BAD_SIGNATURE,
    ),
    "responder-id-by-key-names-delegate-signature-by-the-ca": Case(
        lambda p: _good(p, signer=p.delegate, responder_id="key", signing_key=p.ca.key),
        reason=Reason.BAD_SIGNATURE,
    ),
    "responder-id-by-key-names-the-ca-signature-by-a-delegate": Case(
        lambda p: _good(p, responder_id="key", signing_key=p.delegate.key, certs=[p.delegate.cert]),
        reason=Reason.BAD_SIGNATURE,
    ),
    "included-certs-swapped-after-signing": Case(
        _delegate_swapped_for_impostor, reason=Reason.UNAUTHORIZED_SIGNER
    ),
    # HOLE FOUND AND FIXED: a sub-CA certificate whose EKU lists id-kp-OCSPSigning
    # (the 2020 "delegated responder" problem) was accepted as a delegated responder.
    # RFC 6960 4.2.2.2 read literally allows it; mozilla::pkix refuses CA signers, and
    # so does certwarden now (validate.py docstring).
    "delegate-is-a-sibling-sub-ca-with-ocsp-signing": Case(
        lambda p: _good(p, signer=p.sibling_ca_with_eku), reason=Reason.UNAUTHORIZED_SIGNER
    ),
    # HOLE FOUND AND FIXED: a CA certificate in tomcat-trust whose EKU lists
    # id-kp-OCSPSigning became a trusted responder for every CA's certificates.
    "trusted-responder-is-a-ca-cert-with-ocsp-signing": Case(
        lambda p: _good(p, signer=p.trp_ca_with_eku),
        reason=Reason.UNAUTHORIZED_SIGNER,
        trusted=("trp_ca_with_eku",),
    ),
    "trusted-responder-is-a-plain-ca-cert": Case(
        lambda p: _good(p, signer=p.other.issued, certs=()),
        reason=Reason.UNAUTHORIZED_SIGNER,
        trusted=("other",),
    ),
    "trusted-responder-lacks-the-eku": Case(
        lambda p: _good(p, signer=p.trp_no_eku),
        reason=Reason.UNAUTHORIZED_SIGNER,
        trusted=("trp_no_eku",),
    ),
    "trusted-responder-expired-one-second-ago": Case(
        lambda p: _good(p, signer=p.trp_expired),
        reason=Reason.UNAUTHORIZED_SIGNER,
        trusted=("trp_expired",),
    ),
    "trusted-responder-valid-one-second-from-now": Case(
        lambda p: _good(p, signer=p.trp_future),
        reason=Reason.UNAUTHORIZED_SIGNER,
        trusted=("trp_future",),
    ),
    "unrelated-responder-not-designated": Case(
        lambda p: _good(p, signer=p.trp), reason=Reason.UNAUTHORIZED_SIGNER
    ),
    "designated-responder-named-but-another-key-signed": Case(
        lambda p: _good(p, signer=p.trp, signing_key=p.other.key),
        reason=Reason.BAD_SIGNATURE,
        trusted=("trp",),
    ),
    # -- what was signed ------------------------------------------------------
    "revoked-rewritten-to-good-signature-kept": Case(
        _revoked_turned_good_signature_kept, reason=Reason.BAD_SIGNATURE
    ),
    "stale-answer-with-nextupdate-extended-signature-kept": Case(
        _next_update_extended_signature_kept, reason=Reason.BAD_SIGNATURE
    ),
    # -- which certificate ----------------------------------------------------
    "certid-issuer-key-hash-of-a-same-named-ca": Case(
        # Signed by the real CA, but naming the impostor's key: a different issuer.
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, key_hash_override=p.cid(p.leaf, p.impostor).issuer_key_hash)
        ),
        reason=Reason.CERTID_MISMATCH,
    ),
    "impostor-answers-for-the-serial-with-its-own-certid": Case(
        lambda p: p.impostor.response(p.impostor.answer(p.leaf.cert)),
        reason=Reason.CERTID_MISMATCH,
    ),
    "sha256-certid-for-a-sha1-request": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, hash_algorithm="sha256")),
        reason=Reason.CERTID_MISMATCH,
    ),
    "sha1-certid-for-a-sha256-request": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert)),
        reason=Reason.CERTID_MISMATCH,
        alg="sha256",
    ),
    "serial-plus-2-to-the-160": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, serial_override=p.leaf.cert.serial_number + 2**160)
        ),
        reason=Reason.CERTID_MISMATCH,
    ),
    "giant-serial-1000-bits": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, serial_override=2**1000 + p.leaf.cert.serial_number)
        ),
        reason=Reason.CERTID_MISMATCH,
    ),
    "serial-with-a-non-minimal-encoding": Case(
        lambda p: _resign(_good(p), p.ca.key, _nonminimal_serial),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    # -- contradictions -------------------------------------------------------
    "duplicate-good-then-revoked": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), p.ca.answer(p.leaf.cert, "revoked")),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "duplicate-revoked-then-good": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, "revoked"), p.ca.answer(p.leaf.cert)),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "duplicate-good-then-unknown": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), p.ca.answer(p.leaf.cert, "unknown")),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "duplicate-revoked-at-two-times": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, "revoked", revoked_at=T0 - DAY),
            p.ca.answer(p.leaf.cert, "revoked", revoked_at=T0 - 2 * DAY),
        ),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    # HOLE FOUND AND FIXED: the same certificate named by a SHA-1 CertID (good)
    # and a SHA-256 CertID (revoked) was GOOD for a SHA-1 request.
    "good-under-sha1-revoked-under-sha256": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert), p.ca.answer(p.leaf.cert, "revoked", hash_algorithm="sha256")
        ),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "revoked-under-sha256-first-good-under-sha1": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, "revoked", hash_algorithm="sha256"), p.ca.answer(p.leaf.cert)
        ),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "good-under-sha256-revoked-under-sha1-asked-sha256": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, hash_algorithm="sha256"),
            p.ca.answer(p.leaf.cert, "revoked"),
        ),
        reason=Reason.MALFORMED_RESPONSE,
        alg="sha256",
    ),
    # -- signature algorithms -------------------------------------------------
    "rsa-pkcs1-sha1-refused-by-default": Case(
        lambda p: _rsa_signed(
            p,
            "1.2.840.113549.1.1.5",
            _der.encode_null(),
            lambda tbs: _rsa_key(p).sign(tbs, padding.PKCS1v15(), hashes.SHA1()),
        ),
        reason=Reason.WEAK_SIGNATURE_ALGORITHM,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "md5-with-rsa": Case(
        lambda p: _rsa_signed(
            p,
            "1.2.840.113549.1.1.4",
            _der.encode_null(),
            lambda tbs: _rsa_key(p).sign(tbs, padding.PKCS1v15(), hashes.MD5()),
        ),
        reason=Reason.WEAK_SIGNATURE_ALGORITHM,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "ecdsa-oid-with-an-rsa-key": Case(
        lambda p: _rsa_signed(
            p,
            "1.2.840.10045.4.3.2",
            None,
            lambda tbs: _rsa_key(p).sign(tbs, padding.PKCS1v15(), hashes.SHA256()),
        ),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-oid-with-an-ec-key": Case(
        lambda p: _ecdsa_signed_labelled(p, _algorithm_id("1.2.840.113549.1.1.11")),
        reason=Reason.BAD_SIGNATURE,
    ),
    "rsa-pss-oid-with-an-ec-key": Case(
        lambda p: _ecdsa_signed_labelled(p, _algorithm_id(PSS_OID, _pss_params())),
        reason=Reason.BAD_SIGNATURE,
    ),
    "ed25519-oid-with-an-ec-key": Case(
        lambda p: _ecdsa_signed_labelled(p, _algorithm_id("1.3.101.112")),
        reason=Reason.BAD_SIGNATURE,
    ),
    "unknown-signature-oid": Case(
        lambda p: _rsa_signed(
            p,
            "1.2.3.4.5.6",
            None,
            lambda tbs: _rsa_key(p).sign(tbs, padding.PKCS1v15(), hashes.SHA256()),
        ),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "digest-label-sha1-signature-made-with-sha256": Case(
        lambda p: _rsa_signed(
            p,
            "1.2.840.113549.1.1.5",
            _der.encode_null(),
            lambda tbs: _rsa_key(p).sign(tbs, padding.PKCS1v15(), hashes.SHA256()),
        ),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss-salt-length-parameter-lies": Case(
        lambda p: _rsa_signed(p, PSS_OID, _pss_params(salt=0), _pss_sha256_salt32(p)),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss-digest-parameter-lies": Case(
        lambda p: _rsa_signed(
            p, PSS_OID, _pss_params(digest="2.16.840.1.101.3.4.2.3"), _pss_sha256_salt32(p)
        ),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss-md5-digest": Case(
        lambda p: _rsa_signed(
            p, PSS_OID, _pss_params(digest="1.2.840.113549.2.5"), _pss_sha256_salt32(p)
        ),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss-trailer-field-2": Case(
        lambda p: _rsa_signed(p, PSS_OID, _pss_params(trailer=2), _pss_sha256_salt32(p)),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss-mask-generation-not-mgf1": Case(
        lambda p: _rsa_signed(p, PSS_OID, _pss_params(mgf="1.2.3.4"), _pss_sha256_salt32(p)),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "rsa-pss-without-parameters": Case(
        lambda p: _rsa_signed(p, PSS_OID, None, _pss_sha256_salt32(p)),
        reason=Reason.BAD_SIGNATURE,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    # -- time (skew 5 minutes, maximum age 24 hours) --------------------------
    "thisupdate-one-second-past-the-skew": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, this_update=T0 + SKEW + SECOND)),
        reason=Reason.NOT_YET_VALID,
    ),
    "nextupdate-one-second-past-the-skew": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 - DAY, next_update=T0 - SKEW - SECOND)
        ),
        reason=Reason.STALE,
    ),
    "no-nextupdate-one-second-past-the-maximum-age": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 - MAX_AGE - SECOND, next_update=None)
        ),
        reason=Reason.STALE,
    ),
    # HOLE FOUND AND FIXED: nextUpdate before thisUpdate (both within the skew of
    # now) was GOOD. The window is empty (RFC 6960 4.2.2.1); OpenSSL refuses it too.
    "nextupdate-before-thisupdate": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, this_update=T0, next_update=T0 - MINUTE)),
        reason=Reason.STALE,
    ),
    # HOLE FOUND AND FIXED: producedAt ten years ahead was ignored. A response
    # claiming to be signed in the future is judged like a future thisUpdate.
    "producedat-ten-years-ahead": Case(
        lambda p: _good(p, produced_at=T0 + 3650 * DAY), reason=Reason.NOT_YET_VALID
    ),
    "producedat-one-second-past-the-skew": Case(
        lambda p: _good(p, produced_at=T0 + SKEW + SECOND), reason=Reason.NOT_YET_VALID
    ),
    # -- nonce ----------------------------------------------------------------
    "nonce-echoed-but-different": Case(
        lambda p: _good(p, nonce=b"\xff" * 16), reason=Reason.NONCE_MISMATCH, nonce=NONCE
    ),
    "nonce-echoed-with-the-sent-one-as-prefix": Case(
        lambda p: _good(p, nonce=NONCE + b"\x00" * 16), reason=Reason.NONCE_MISMATCH, nonce=NONCE
    ),
    "nonce-echoed-empty": Case(
        lambda p: _resign(_good(p), p.ca.key, _set_response_extensions(_nonce_ext(b""))),
        reason=Reason.NONCE_MISMATCH,
        nonce=NONCE,
    ),
    "nonce-echoed-unwrapped-and-different": Case(
        # Pre-RFC 8954 responders echo the raw bytes; a different raw nonce still mismatches.
        lambda p: _resign(
            _good(p), p.ca.key, _set_response_extensions(_nonce_ext(b"\xee" * 16, wrapped=False))
        ),
        reason=Reason.NONCE_MISMATCH,
        nonce=NONCE,
    ),
    "two-nonce-extensions-first-one-right": Case(
        lambda p: _resign(
            _good(p),
            p.ca.key,
            _set_response_extensions(_nonce_ext(NONCE), _nonce_ext(b"\xee" * 16)),
        ),
        reason=Reason.MALFORMED_RESPONSE,
        nonce=NONCE,
    ),
    "nonce-in-single-extensions-when-required": Case(
        # RFC 6960 4.4.1 / RFC 8954: the nonce is a responseExtension. One in
        # singleExtensions is no echo at all, so REQUIRE refuses the response.
        lambda p: _resign(
            _good(p),
            p.ca.key,
            _add_single_extension(NONCE_OID, _der.encode_octet_string(NONCE), critical=False),
        ),
        reason=Reason.NONCE_MISMATCH,
        nonce=NONCE,
        options=ValidationOptions(nonce_mode=NonceMode.REQUIRE),
    ),
    # -- extensions -----------------------------------------------------------
    # HOLE FOUND AND FIXED: singleExtensions were never read, so a critical one
    # was ignored (RFC 6960 4.4: critical and not understood must not be ignored).
    "critical-unknown-single-extension": Case(
        lambda p: _resign(
            _good(p), p.ca.key, _add_single_extension("1.2.3.4.5", b"\x05\x00", critical=True)
        ),
        reason=Reason.UNSUPPORTED_CRITICAL_EXTENSION,
    ),
    "critical-unknown-single-extension-on-a-revoked-answer": Case(
        lambda p: _resign(
            p.ca.response(p.ca.answer(p.leaf.cert, "revoked")),
            p.ca.key,
            _add_single_extension("1.2.3.4.5", b"\x05\x00", critical=True),
        ),
        reason=Reason.UNSUPPORTED_CRITICAL_EXTENSION,
    ),
    "critical-unknown-response-extension": Case(
        lambda p: _resign(
            _good(p),
            p.ca.key,
            _set_response_extensions(_extension("1.2.3.4.5", b"\x05\x00", critical=True)),
        ),
        reason=Reason.UNSUPPORTED_CRITICAL_EXTENSION,
    ),
    # -- encoding -------------------------------------------------------------
    "responsebytes-of-a-non-basic-type": Case(
        lambda p: _assemble(*_split(_good(p))[:3], _split(_good(p))[3], response_type="1.2.3.4"),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "garbage-after-the-der": Case(
        lambda p: _good(p) + b"\x00\x00", reason=Reason.MALFORMED_RESPONSE
    ),
    "garbage-inside-the-basic-response-octets": Case(
        _garbage_after_basic_response, reason=Reason.MALFORMED_RESPONSE
    ),
    "indefinite-length-outer-sequence": Case(
        lambda p: _indefinite(_good(p)), reason=Reason.MALFORMED_RESPONSE
    ),
    "indefinite-length-tbs-signed-as-is": Case(
        lambda p: _resign(_good(p), p.ca.key, _indefinite), reason=Reason.MALFORMED_RESPONSE
    ),
    "non-minimal-length-tbs-signed-as-is": Case(
        lambda p: _resign(_good(p), p.ca.key, _long_form_length),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "version-v2-response-data": Case(
        lambda p: _resign(
            _good(p),
            p.ca.key,
            lambda tbs: _der.sequence(_der.explicit(0, _der.encode_integer(1)), *_parts(tbs)),
        ),
        reason=Reason.MALFORMED_RESPONSE,
    ),
    "successful-without-response-bytes": Case(
        lambda p: _der.sequence(_der.tlv(0x0A, b"\x00")), reason=Reason.MALFORMED_RESPONSE
    ),
    "trylater-carrying-a-genuine-good-answer": Case(
        lambda p: _der.sequence(_der.tlv(0x0A, b"\x03"), _parts(_good(p))[1]),
        reason=Reason.UNSUCCESSFUL_STATUS,
    ),
}


# Validated answers that must stay validated (controls for the boundaries above,
# and the judgment calls that keep a status).
ACCEPTED: dict[str, Case] = {
    "thisupdate-exactly-at-the-skew": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, this_update=T0 + SKEW)),
        CertStatus.GOOD,
    ),
    "nextupdate-exactly-at-the-skew": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 - DAY, next_update=T0 - SKEW)
        ),
        CertStatus.GOOD,
    ),
    "no-nextupdate-exactly-the-maximum-age": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 - MAX_AGE, next_update=None)
        ),
        CertStatus.GOOD,
    ),
    "nextupdate-equal-to-thisupdate": Case(
        # A zero-length window is not an empty one; OpenSSL accepts it too.
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, this_update=T0, next_update=T0)),
        CertStatus.GOOD,
    ),
    "producedat-exactly-at-the-skew": Case(
        lambda p: _good(p, produced_at=T0 + SKEW), CertStatus.GOOD
    ),
    "trusted-responder-at-its-exact-notafter": Case(
        lambda p: _good(p, signer=p.trp_expired),
        CertStatus.GOOD,
        now=T0 - SECOND,  # RFC 5280 4.1.2.5: notAfter is inclusive
        trusted=("trp_expired",),
        model=TrustModel.TRUSTED_RESPONDER,
    ),
    "trusted-responder-at-its-exact-notbefore": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert, this_update=T0 + SECOND), signer=p.trp_future
        ),
        CertStatus.GOOD,
        now=T0 + SECOND,
        trusted=("trp_future",),
        model=TrustModel.TRUSTED_RESPONDER,
    ),
    # Judgment: a revocationTime after now is still REVOKED. RFC 6960 4.2.1/4.2.2
    # let only a trusted responder say "revoked", and it signed that; RFC 5280
    # 5.3.2 does not make a future date void, and refusing it would turn a signed
    # "revoked" into could-not-tell (allowed with a warning when Common Criteria
    # mode is off) — the unsafe direction. The time is reported as given.
    "revocation-time-in-the-future-stays-revoked": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert, "revoked", revoked_at=T0 + 10 * DAY)),
        CertStatus.REVOKED,
    ),
    # Judgment (issue 10 item 2): SHA-1 RSA signatures are accepted only when the
    # administrator accepts legacy signatures (many deployed responders, e.g. older
    # AD CS, sign with it); refused by default (ATTACKS); MD5 never.
    "rsa-pkcs1-sha1-is-accepted-when-legacy-accepted": Case(
        lambda p: _rsa_signed(
            p,
            "1.2.840.113549.1.1.5",
            _der.encode_null(),
            lambda tbs: _rsa_key(p).sign(tbs, padding.PKCS1v15(), hashes.SHA1()),
        ),
        CertStatus.GOOD,
        cert="rsa_leaf",
        issuer="rsa_ca",
        options=ValidationOptions(accept_legacy_signatures=True),
    ),
    "rsa-pss-honest-parameters": Case(
        lambda p: _rsa_signed(p, PSS_OID, _pss_params(), _pss_sha256_salt32(p)),
        CertStatus.GOOD,
        cert="rsa_leaf",
        issuer="rsa_ca",
    ),
    "non-critical-unknown-single-extension-is-ignored": Case(
        lambda p: _resign(
            _good(p), p.ca.key, _add_single_extension("1.2.3.4.5", b"\x05\x00", critical=False)
        ),
        CertStatus.GOOD,
    ),
    # Judgment: in SEND mode a response that does not echo the nonce is accepted
    # (pre-produced responses, RFC 5019); one in singleExtensions is not an echo.
    "nonce-in-single-extensions-send-mode-is-no-echo": Case(
        lambda p: _resign(
            _good(p),
            p.ca.key,
            _add_single_extension(
                NONCE_OID, _der.encode_octet_string(b"\xee" * 16), critical=False
            ),
        ),
        CertStatus.GOOD,
        nonce=NONCE,
    ),
    "identical-duplicate-answers": Case(
        lambda p: p.ca.response(p.ca.answer(p.leaf.cert), p.ca.answer(p.leaf.cert)),
        CertStatus.GOOD,
    ),
    "same-answer-under-sha1-and-sha256": Case(
        lambda p: p.ca.response(
            p.ca.answer(p.leaf.cert), p.ca.answer(p.leaf.cert, hash_algorithm="sha256")
        ),
        CertStatus.GOOD,
    ),
}


@pytest.mark.parametrize("case", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_is_could_not_tell_with_its_reason(pki: Pki, case: Case) -> None:
    result = _judge(pki, case)
    assert result.status is not CertStatus.GOOD
    assert result.status is CertStatus.COULD_NOT_TELL, result
    assert result.reason is case.reason, result
    assert result.detail and result.problems[0] == result.detail
    if case.reason in (Reason.UNAUTHORIZED_SIGNER, Reason.BAD_SIGNATURE):
        # Nobody is credited with a refused signature (other refusals keep the
        # signer as evidence, which is right: it did sign).
        assert result.trust_model is None


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_boundary_and_judgment_cases_are_validated(pki: Pki, case: Case) -> None:
    result = _judge(pki, case)
    assert result.status is case.status, result
    assert result.reason is None
    if case.model is not None:
        assert result.trust_model is case.model


def test_revocation_time_in_the_future_is_reported_as_given(pki: Pki) -> None:
    result = _judge(pki, ACCEPTED["revocation-time-in-the-future-stays-revoked"])
    assert result.revoked_at == T0 + 10 * DAY
    assert decide(result, common_criteria=False).decision is Decision.DENY


def test_ca_signer_refusal_says_why(pki: Pki) -> None:
    result = _judge(pki, ATTACKS["trusted-responder-is-a-ca-cert-with-ocsp-signing"])
    assert "CA certificate" in result.detail and "RFC 6960 4.2.2.2" in result.detail


# ------------------------------------------------------------ batched responses


def test_batch_good_for_a_and_forged_for_b(pki: Pki) -> None:
    """One signature over answers for two issuers: the CA's delegate may vouch for
    its own leaf only; the answer about another CA's leaf is refused."""
    der = pki.ca.response(
        pki.ca.answer(pki.leaf.cert),
        pki.other.answer(pki.other_leaf.cert),
        signer=pki.delegate,
    )
    results = verify_response(
        der,
        cert_ids=[pki.cid(pki.leaf), pki.cid(pki.other_leaf, pki.other)],
        issuers=[pki.ca.cert, pki.other.cert],
        now=T0,
    )
    assert (results[0].status, results[0].trust_model) == (CertStatus.GOOD, TrustModel.DELEGATED)
    assert (results[1].status, results[1].reason) == (
        CertStatus.COULD_NOT_TELL,
        Reason.UNAUTHORIZED_SIGNER,
    )


def test_batch_answer_for_b_about_a_same_named_issuer(pki: Pki) -> None:
    """B's answer names the impostor's key hash: B gets no answer, A keeps its own."""
    der = pki.ca.response(
        pki.ca.answer(pki.leaf.cert),
        pki.ca.answer(
            pki.leaf2.cert, key_hash_override=pki.cid(pki.leaf2, pki.impostor).issuer_key_hash
        ),
    )
    results = verify_response(
        der, cert_ids=[pki.cid(pki.leaf), pki.cid(pki.leaf2)], issuers=[pki.ca.cert] * 2, now=T0
    )
    assert [(r.status, r.reason) for r in results] == [
        (CertStatus.GOOD, None),
        (CertStatus.COULD_NOT_TELL, Reason.CERTID_MISMATCH),
    ]


def test_batch_contradiction_about_b_does_not_taint_a(pki: Pki) -> None:
    der = pki.ca.response(
        pki.ca.answer(pki.leaf.cert),
        pki.ca.answer(pki.leaf2.cert),
        pki.ca.answer(pki.leaf2.cert, "revoked", hash_algorithm="sha256"),
    )
    results = verify_response(
        der, cert_ids=[pki.cid(pki.leaf), pki.cid(pki.leaf2)], issuers=[pki.ca.cert] * 2, now=T0
    )
    assert [(r.status, r.reason) for r in results] == [
        (CertStatus.GOOD, None),
        (CertStatus.COULD_NOT_TELL, Reason.MALFORMED_RESPONSE),
    ]


def test_batch_critical_single_extension_on_any_answer_refuses_all(pki: Pki) -> None:
    """A critical extension on B's answer: the whole (one-signature) response is refused."""
    der = _resign(
        pki.ca.response(pki.ca.answer(pki.leaf.cert), pki.ca.answer(pki.leaf2.cert)),
        pki.ca.key,
        _add_single_extension("1.2.3.4.5", b"\x05\x00", critical=True, index=1),
    )
    results = verify_response(
        der, cert_ids=[pki.cid(pki.leaf), pki.cid(pki.leaf2)], issuers=[pki.ca.cert] * 2, now=T0
    )
    assert {(r.status, r.reason) for r in results} == {
        (CertStatus.COULD_NOT_TELL, Reason.UNSUPPORTED_CRITICAL_EXTENSION)
    }
    assert "single response #2" in results[0].detail


# ------------------------------------------------------------------ the cache


OPTIONS = ValidationOptions()


def _result(status: CertStatus, **kw: Any) -> RevocationResult:
    defaults: dict[str, Any] = {"this_update": T0, "next_update": T0 + DAY}
    return RevocationResult(status=status, **{**defaults, **kw})


def test_cache_never_serves_one_certid_for_another(pki: Pki) -> None:
    """SHA-1 vs SHA-256 CertIDs of one certificate, the same serial under a
    same-named issuer, and serials that differ only in sign are all distinct."""
    cache = ResponseCache()
    sha1 = pki.cid(pki.leaf)
    cache.put(sha1, _result(CertStatus.GOOD), T0, options=OPTIONS)
    assert cache.get(sha1, T0, trusted_responders=(), options=OPTIONS) is not None
    assert (
        cache.get(pki.cid(pki.leaf, alg="sha256"), T0, trusted_responders=(), options=OPTIONS)
        is None
    )
    assert (
        cache.get(pki.cid(pki.leaf, pki.impostor), T0, trusted_responders=(), options=OPTIONS)
        is None
    )
    assert (
        cache.get(pki.cid(pki.leaf, pki.other), T0, trusted_responders=(), options=OPTIONS) is None
    )
    positive = CertId(HashAlgorithm.SHA1, b"\x01" * 20, b"\x02" * 20, 0x1F)
    negative = CertId(HashAlgorithm.SHA1, b"\x01" * 20, b"\x02" * 20, -0x1F)
    cache.put(positive, _result(CertStatus.REVOKED), T0, options=OPTIONS)
    assert cache.get(negative, T0, trusted_responders=(), options=OPTIONS) is None
    assert len({c.key() for c in (sha1, pki.cid(pki.leaf, alg="sha256"), positive, negative)}) == 4


def test_cache_keeps_could_not_tell_as_could_not_tell_only_for_the_backoff(pki: Pki) -> None:
    """A refused answer (which carries the response's own nextUpdate as evidence)
    is never served as anything but could-not-tell, and only for the back-off."""
    cache = ResponseCache(failure_backoff=5 * MINUTE)
    cid = pki.cid(pki.leaf)
    refused = _result(
        CertStatus.COULD_NOT_TELL, reason=Reason.NONCE_MISMATCH, next_update=T0 + 7 * DAY
    )
    cache.put(cid, refused, T0, options=OPTIONS)
    got = cache.get(cid, T0 + 4 * MINUTE, trusted_responders=(), options=OPTIONS)
    assert got is not None and got.status is CertStatus.COULD_NOT_TELL
    assert got.reason is Reason.NONCE_MISMATCH
    assert cache.get(cid, T0 + 5 * MINUTE, trusted_responders=(), options=OPTIONS) is None


def test_cache_failure_never_erases_revoked_and_news_replace_good(pki: Pki) -> None:
    cache = ResponseCache()
    cid = pki.cid(pki.leaf)
    cache.put(cid, _result(CertStatus.GOOD), T0, options=OPTIONS)
    cache.put(cid, _result(CertStatus.REVOKED, revoked_at=T0), T0 + MINUTE, options=OPTIONS)
    cache.put(
        cid,
        _result(CertStatus.COULD_NOT_TELL, reason=Reason.TIMEOUT),
        T0 + 2 * MINUTE,
        options=OPTIONS,
    )
    got = cache.get(cid, T0 + 3 * MINUTE, trusted_responders=(), options=OPTIONS)
    assert got is not None and got.status is CertStatus.REVOKED


def test_cache_drops_a_trusted_responder_answer_once_the_responder_is_withdrawn(
    pki: Pki,
) -> None:
    """HOLE FOUND AND FIXED: a GOOD vouched for by a designated responder was
    reused until its nextUpdate after the administrator removed that responder
    from tomcat-trust (or after it expired)."""
    (validated,) = verify_response(
        _good(pki, signer=pki.trp),
        cert_ids=[pki.cid(pki.leaf)],
        issuers=[pki.ca.cert],
        now=T0,
        trusted_responders=[pki.trp.cert],
    )
    assert validated.trust_model is TrustModel.TRUSTED_RESPONDER
    cache = ResponseCache()
    cid = pki.cid(pki.leaf)
    cache.put(cid, validated, T0, options=OPTIONS)
    assert cache.get(cid, T0, trusted_responders=[pki.trp.cert], options=OPTIONS) is validated
    # Withdrawn: another responder is designated now, not this one.
    assert (
        cache.get(cid, T0 + MINUTE, trusted_responders=[pki.trp_no_eku.cert], options=OPTIONS)
        is None
    )
    assert (
        cache.get(cid, T0 + MINUTE, trusted_responders=[pki.trp.cert], options=OPTIONS) is None
    )  # dropped

    # Still designated, but expired since: dropped as well.
    (by_expiring,) = verify_response(
        _good(pki, signer=pki.trp_expired),
        cert_ids=[cid],
        issuers=[pki.ca.cert],
        now=T0 - MINUTE,
        trusted_responders=[pki.trp_expired.cert],
    )
    assert by_expiring.status is CertStatus.GOOD
    cache.put(cid, by_expiring, T0 - MINUTE, options=OPTIONS)
    assert (
        cache.get(cid, T0 - SECOND, trusted_responders=[pki.trp_expired.cert], options=OPTIONS)
        is not None
    )
    assert cache.get(cid, T0, trusted_responders=[pki.trp_expired.cert], options=OPTIONS) is None

    # The issuing CA's own answers do not depend on the designated responders.
    cache.put(cid, _result(CertStatus.GOOD, trust_model=TrustModel.ISSUER), T0, options=OPTIONS)
    assert cache.get(cid, T0, trusted_responders=[], options=OPTIONS) is not None


# ------------------------------------------------------------------ the policy


def _every_result() -> list[RevocationResult]:
    out = [
        RevocationResult(CertStatus.GOOD),
        RevocationResult(CertStatus.REVOKED, revoked_at=T0, revocation_reason="keyCompromise"),
        RevocationResult(CertStatus.REVOKED, revoked_at=T0, revocation_reason="certificateHold"),
        RevocationResult(CertStatus.REVOKED, expired=True, revoked_at=T0),
        RevocationResult(CertStatus.UNKNOWN),
    ]
    out += [RevocationResult.could_not_tell(reason, f"because {reason}") for reason in Reason]
    return out


@pytest.mark.parametrize("common_criteria", [True, False], ids=["cc-on", "cc-off"])
def test_policy_never_allows_without_a_good_answer(common_criteria: bool) -> None:
    """Only GOOD allows outright. With Common Criteria on, nothing else is let
    through; with it off, could-not-tell and unknown are let through only WITH a
    warning, and revoked (hold and expiry included) is always refused."""
    for result in _every_result():
        verdict = decide(result, common_criteria=common_criteria)
        if result.status is CertStatus.GOOD:
            assert verdict.decision is Decision.ALLOW
        elif result.status is CertStatus.REVOKED or common_criteria:
            assert verdict.decision is Decision.DENY, result
            assert not verdict.allowed
        else:
            assert verdict.decision is Decision.WARN, result
            assert "warning" in verdict.why
        if result.reason is not None and result.status is CertStatus.COULD_NOT_TELL:
            assert result.reason.value in verdict.why  # it says precisely why
    assert set(POLICY_TABLE.values()) == {Decision.ALLOW, Decision.WARN, Decision.DENY}
    assert [k for k, v in POLICY_TABLE.items() if v is Decision.ALLOW] == [
        (True, CertStatus.GOOD),
        (False, CertStatus.GOOD),
        # Not checked by design (ocsp-nocheck responders, RFC 6960 4.2.2.2.1): issue 10 item 4.
        (True, CertStatus.EXEMPT),
        (False, CertStatus.EXEMPT),
    ]


def test_an_expired_certificate_is_revoked_whatever_a_response_says(pki: Pki) -> None:
    """One instant past notAfter the certificate is revoked (reason expired), and
    the policy refuses it in both modes; at notAfter itself it is still asked about."""
    not_after = pki.leaf.cert.not_valid_after_utc
    assert expired_result(pki.leaf.cert, not_after) is None
    expired = expired_result(pki.leaf.cert, not_after + timedelta(microseconds=1))
    assert expired is not None
    assert (expired.status, expired.reason, expired.expired) == (CertStatus.REVOKED, None, True)
    for cc in (True, False):
        assert decide(expired, common_criteria=cc).decision is Decision.DENY
