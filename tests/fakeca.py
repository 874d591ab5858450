"""``FakeCA``: a test PKI that also makes real, signed OCSP responses.

In the spirit of trustme (``CA()``, ``issue_cert``, ``create_child_ca``), built
on :class:`certwarden.demo.devpki.DevCA`: roots, intermediates, delegated OCSP
responders, leaves and LSCs with chosen lifetimes — and OCSP responses,
including every bad kind a validator must refuse.

Typical use::

    ca = FakeCA.root("Test Root", now=T0)
    sub = ca.intermediate("Test Issuing CA")
    leaf = sub.leaf("www.example.test")
    delegate = sub.responder("Test OCSP")

    good = sub.response(sub.answer(leaf.cert, this_update=T0))            # CA signs
    by_delegate = sub.response(sub.answer(leaf.cert, this_update=T0), signer=delegate)
    revoked = sub.response(
        sub.answer(leaf.cert, status="revoked", revoked_at=T0 - DAY,
                   revocation_reason=x509.ReasonFlags.key_compromise, this_update=T0)
    )
    batch = sub.response(*(sub.answer(c, this_update=T0) for c in certs))  # several
    forged = sub.response(sub.answer(leaf.cert, this_update=T0), tamper_signature=True)
    tryLater = unsuccessful("tryLater")

How responses are made. Each SingleResponse comes out of ``cryptography``'s
``OCSPResponseBuilder`` (so CertID hashes, statuses and times are encoded by
code independent of certwarden's). The builder takes one answer per response,
signs with PKCS#1 v1.5/ECDSA/Ed25519 only and stamps producedAt with the wall
clock, so the response is then reassembled by DER surgery: the SingleResponses
of several builder outputs are spliced into one ResponseData, producedAt is set
to the value asked for (default: the first answer's thisUpdate, so nothing
depends on the wall clock), and tbsResponseData is signed again — with RSA-PSS
when asked (RFC 4055 parameters written here). ``tests/test_ocsp_core.py``
checks that ``openssl ocsp -respin ... -verify`` accepts these responses, so
this surgery is tested against an independent implementation.

The API below is used by other test modules: keep it stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from certwarden.core import _der
from certwarden.demo.devpki import DevCA, Issued, KeyType, PrivateKey

__all__ = [
    "DAY",
    "T0",
    "Answer",
    "FakeCA",
    "ResponderId",
    "Status",
    "make_response",
    "resign",
    "unsuccessful",
]

# The same fixed "now" as tests/conftest.py.
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

Status = Literal["good", "revoked", "unknown"]
ResponderId = Literal["name", "key"]
UnsuccessfulStatus = Literal[
    "malformedRequest", "internalError", "tryLater", "sigRequired", "unauthorized"
]

_CERT_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}
_UNSUCCESSFUL = {
    "malformedRequest": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    "internalError": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
    "tryLater": ocsp.OCSPResponseStatus.TRY_LATER,
    "sigRequired": ocsp.OCSPResponseStatus.SIG_REQUIRED,
    "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
}
_PSS_OID = "1.2.840.113549.1.1.10"
_MGF1_OID = "1.2.840.113549.1.1.8"
_HASH_OIDS = {"sha1": "1.3.14.3.2.26", "sha256": "2.16.840.1.101.3.4.2.1"}
_HASH_OIDS["sha384"] = "2.16.840.1.101.3.4.2.2"
_HASH_OIDS["sha512"] = "2.16.840.1.101.3.4.2.3"


@dataclass(frozen=True)
class Answer:
    """One SingleResponse: which certificate, what status, which times.

    ``cert``/``issuer`` name the certificate the usual way; the ``*_override``
    fields replace one CertID field to make a mismatching answer (wrong
    serial, wrong issuer name hash, wrong issuer key hash). ``next_update``
    None leaves nextUpdate out.
    """

    cert: x509.Certificate
    issuer: x509.Certificate
    status: Status = "good"
    this_update: datetime = T0
    next_update: datetime | None = T0 + DAY
    revoked_at: datetime | None = None
    revocation_reason: x509.ReasonFlags | None = None
    hash_algorithm: Literal["sha1", "sha256"] = "sha1"
    serial_override: int | None = None
    name_hash_override: bytes | None = None
    key_hash_override: bytes | None = None

    def with_(self, **changes: object) -> Answer:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


class FakeCA:
    """A certificate authority for tests: issues certificates and OCSP responses.

    Attributes:
        dev: the underlying :class:`DevCA`.
        now: the reference time lifetimes default around.
    """

    def __init__(self, dev: DevCA, now: datetime = T0) -> None:
        self.dev = dev
        self.now = now

    # -- the CA itself -------------------------------------------------------

    @classmethod
    def root(
        cls,
        name: str = "FakeCA Root",
        *,
        now: datetime = T0,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key_type: KeyType = "ec",
        org: str = "certwarden FakeCA",
    ) -> FakeCA:
        """A self-signed root, valid from a year before ``now`` to ten years after."""
        dev = DevCA.root(
            name,
            not_before=not_before or now - 365 * DAY,
            not_after=not_after or now + 3650 * DAY,
            key_type=key_type,
            org=org,
        )
        return cls(dev, now)

    def intermediate(
        self,
        name: str = "FakeCA Issuing CA",
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key_type: KeyType = "ec",
    ) -> FakeCA:
        """An intermediate CA signed by this one."""
        dev = self.dev.child_ca(
            name,
            not_before=not_before or self.now - 300 * DAY,
            not_after=not_after or self.now + 1800 * DAY,
            key_type=key_type,
        )
        return FakeCA(dev, self.now)

    @property
    def cert(self) -> x509.Certificate:
        return self.dev.cert

    @property
    def key(self) -> PrivateKey:
        return self.dev.key

    @property
    def issued(self) -> Issued:
        return self.dev.issued

    def chain(self) -> list[x509.Certificate]:
        """This CA and its parents, nearest first."""
        return self.dev.chain()

    # -- certificates it issues ---------------------------------------------

    def leaf(
        self,
        name: str = "leaf.example.test",
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        days: float | None = None,
        key_type: KeyType = "ec",
        serial: int | None = None,
        ocsp_url: str | None = None,
    ) -> Issued:
        """A TLS leaf. Lifetime: ``not_before``..``not_after``, or ``days`` from
        ``not_before`` (default: 30 days before ``now`` to 365 days after)."""
        start = not_before or self.now - 30 * DAY
        end = not_after or (
            start + timedelta(days=days) if days is not None else self.now + 365 * DAY
        )
        return self.dev.issue(
            name,
            not_before=start,
            not_after=end,
            sans=[name] if "." in name else (),
            key_type=key_type,
            serial=serial,
            ocsp_url=ocsp_url,
        )

    def lsc(
        self,
        device: str = "SEP00AABBCCDDEE",
        *,
        not_before: datetime | None = None,
        days: float = 5 * 365,
        key_type: KeyType = "ec",
        ocsp_url: str | None = None,
    ) -> Issued:
        """A Locally Significant Certificate for an endpoint (CN = device name)."""
        start = not_before or self.now - 30 * DAY
        return self.dev.issue(
            device,
            not_before=start,
            not_after=start + timedelta(days=days),
            key_type=key_type,
            ocsp_url=ocsp_url,
            eku=(ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH),
        )

    def responder(
        self,
        name: str = "FakeCA OCSP Responder",
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key_type: KeyType = "ec",
        with_eku: bool = True,
        ocsp_nocheck: bool | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
        key_usage: x509.KeyUsage | None = None,
        ocsp_url: str | None = None,
    ) -> Issued:
        """A delegated OCSP responder certificate (id-kp-OCSPSigning unless ``with_eku=False``;
        id-pkix-ocsp-nocheck with the EKU unless ``ocsp_nocheck=False``)."""
        return self.dev.issue_ocsp_responder(
            name,
            not_before=not_before or self.now - 10 * DAY,
            not_after=not_after or self.now + 300 * DAY,
            key_type=key_type,
            with_eku=with_eku,
            ocsp_nocheck=ocsp_nocheck,
            extensions=extensions,
            key_usage=key_usage,
            ocsp_url=ocsp_url,
        )

    # -- OCSP ----------------------------------------------------------------

    def answer(
        self,
        cert: x509.Certificate,
        status: Status = "good",
        *,
        this_update: datetime | None = None,
        next_update: datetime | Literal["default"] | None = "default",
        **kw: object,
    ) -> Answer:
        """An :class:`Answer` about ``cert`` (issued by this CA). thisUpdate
        defaults to ``now``, nextUpdate to a day after thisUpdate (None: absent)."""
        start = this_update or self.now
        nxt = start + DAY if next_update == "default" else next_update
        revoked_at = kw.pop("revoked_at", None)
        if status == "revoked" and revoked_at is None:
            revoked_at = start - DAY
        return Answer(
            cert,
            self.cert,
            status,
            start,
            nxt,  # type: ignore[arg-type]
            revoked_at,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    def response(
        self,
        *answers: Answer,
        signer: Issued | None = None,
        **kw: object,
    ) -> bytes:
        """A successful response (DER) about ``answers``, signed by this CA or ``signer``.

        Keyword arguments are those of :func:`make_response`. A ``signer``
        other than the CA is included in the response by default.
        """
        chosen = signer or self.issued
        if "certs" not in kw and chosen is not self.issued:
            kw["certs"] = [chosen.cert]
        return make_response(list(answers), signer=chosen, **kw)  # type: ignore[arg-type]

    def write(self, directory: Path, stem: str = "ca") -> Path:
        """Write this CA's certificate as PEM; return the path."""
        path = directory / f"{stem}.pem"
        path.write_bytes(self.issued.cert_pem())
        return path


def resign(
    issued: Issued,
    key: PrivateKey,
    *,
    digest: hashes.HashAlgorithm | None = None,
    pss: bool = False,
) -> Issued:
    """``issued``'s certificate signed again by ``key`` with ``digest`` (default SHA-1).

    ``cryptography`` refuses to sign certificates with SHA-1, which legacy
    PKIs still do, so the signature fields are rewritten here by DER surgery:
    both AlgorithmIdentifiers (tbsCertificate.signature and
    Certificate.signatureAlgorithm, RFC 5280 4.1.1.2) and the signature.
    ``openssl x509 -sha1`` makes the same certificates (test_legacy_signatures
    checks that certwarden reads openssl's too).
    """
    digest = digest or hashes.SHA1()
    der = issued.cert_der()
    top = _der.children(der, _der.read_tlv(der))
    tbs = top[0].whole(der)
    fields = _der.children(tbs, _der.read_tlv(tbs))
    at = 2 if fields[0].tag == 0xA0 else 1
    algorithm, _ = _sign(key, b"probe", digest, pss)
    new_tbs = _der.sequence(*(algorithm if i == at else f.whole(tbs) for i, f in enumerate(fields)))
    _, signature = _sign(key, new_tbs, digest, pss)
    cert = x509.load_der_x509_certificate(
        _der.sequence(new_tbs, algorithm, _der.tlv(_der.BIT_STRING, b"\x00" + signature))
    )
    return Issued(cert, issued.key)


def unsuccessful(status: UnsuccessfulStatus) -> bytes:
    """An unsuccessful OCSPResponse (no responseBytes) with RFC 6960 4.2.1 ``status``."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(_UNSUCCESSFUL[status]).public_bytes(
        serialization.Encoding.DER
    )


def make_response(
    answers: Sequence[Answer],
    *,
    signer: Issued,
    responder_id: ResponderId = "name",
    certs: Sequence[x509.Certificate] = (),
    nonce: bytes | None = None,
    produced_at: datetime | None = None,
    signing_key: PrivateKey | None = None,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    pss: bool = False,
    tamper_signature: bool = False,
    tamper_tbs: bool = False,
) -> bytes:
    """A successful, signed OCSPResponse (DER).

    Args:
        answers: the SingleResponses, in order (one or several).
        signer: the certificate the ResponderID names (and, unless
            ``signing_key`` is given, whose key signs).
        responder_id: ``"name"`` (byName) or ``"key"`` (byKey, SHA-1 key hash).
        certs: certificates to include in the response (``certs`` field).
        nonce: echo this nonce in the response extensions (RFC 8954).
        produced_at: producedAt; default the first answer's thisUpdate.
        signing_key: sign with this key instead (a forgery: the ResponderID
            still names ``signer``).
        hash_algorithm: signature digest (default SHA-256; ignored for Ed25519).
        pss: sign with RSASSA-PSS (RSA keys only; SHA-256, MGF1-SHA-256, salt 32).
        tamper_signature: flip bits in the signature after signing.
        tamper_tbs: change a byte of the signed data after signing (the
            signature then no longer covers what the response says).
    """
    if not answers:
        raise ValueError("a response needs at least one answer")
    key = signing_key or signer.key
    digest = hash_algorithm or hashes.SHA256()
    encoding = (
        ocsp.OCSPResponderEncoding.NAME
        if responder_id == "name"
        else ocsp.OCSPResponderEncoding.HASH
    )
    singles: list[bytes] = []
    template: bytes | None = None
    for answer in answers:
        builder = _add_answer(ocsp.OCSPResponseBuilder(), answer).responder_id(
            encoding, signer.cert
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        # The builder's own signature is thrown away: it only encodes.
        built = builder.sign(signer.key, _builder_hash(signer.key))
        tbs = built.tbs_response_bytes
        fields = _der.children(tbs, _der.read_tlv(tbs))
        responses = next(f for f in fields if f.tag == _der.SEQUENCE and f.start > fields[1].start)
        singles.extend(c.whole(tbs) for c in _der.children(tbs, responses))
        template = template or tbs
    assert template is not None
    tbs = _rebuild_tbs(template, singles, produced_at or answers[0].this_update)
    algorithm, signature = _sign(key, tbs, digest, pss)
    if tamper_tbs:
        # After signing, change one digit near the end of the signed data (in
        # the last nextUpdate, or the nonce when there is one).
        tbs = tbs[:-3] + bytes([tbs[-3] ^ 0x01]) + tbs[-2:]
    if tamper_signature:
        signature = signature[:8] + bytes(b ^ 0xFF for b in signature[8:16]) + signature[16:]
    basic_parts = [tbs, algorithm, _der.tlv(_der.BIT_STRING, b"\x00" + signature)]
    if certs:
        basic_parts.append(
            _der.explicit(
                0,
                _der.sequence(*(c.public_bytes(serialization.Encoding.DER) for c in certs)),
            )
        )
    basic = _der.sequence(*basic_parts)
    response_bytes = _der.sequence(
        _der.encode_oid("1.3.6.1.5.5.7.48.1.1"),  # id-pkix-ocsp-basic
        _der.encode_octet_string(basic),
    )
    return _der.sequence(_der.tlv(0x0A, b"\x00"), _der.explicit(0, response_bytes))


def _add_answer(builder: ocsp.OCSPResponseBuilder, answer: Answer) -> ocsp.OCSPResponseBuilder:
    algorithm: hashes.HashAlgorithm = (
        hashes.SHA1() if answer.hash_algorithm == "sha1" else hashes.SHA256()
    )
    status = _CERT_STATUS[answer.status]
    revoked_at = answer.revoked_at if answer.status == "revoked" else None
    reason = answer.revocation_reason if answer.status == "revoked" else None
    if answer.status == "revoked" and revoked_at is None:
        raise ValueError("a revoked answer needs revoked_at")
    if (
        answer.serial_override is None
        and answer.name_hash_override is None
        and answer.key_hash_override is None
    ):
        return builder.add_response(
            answer.cert,
            answer.issuer,
            algorithm,
            status,
            answer.this_update,
            answer.next_update,
            revoked_at,
            reason,
        )
    # The true hashes, computed by cryptography's request builder (not by certwarden).
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(answer.cert, answer.issuer, algorithm).build()
    )
    return builder.add_response_by_hash(
        answer.name_hash_override or request.issuer_name_hash,
        answer.key_hash_override or request.issuer_key_hash,
        answer.serial_override if answer.serial_override is not None else request.serial_number,
        algorithm,
        status,
        answer.this_update,
        answer.next_update,
        revoked_at,
        reason,
    )


def _builder_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _generalized_time(when: datetime) -> bytes:
    return _der.tlv(0x18, when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _rebuild_tbs(template: bytes, singles: Sequence[bytes], produced_at: datetime) -> bytes:
    """ResponseData with ``singles`` as its responses and ``produced_at`` (RFC 6960 4.2.1).

    ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, responderID,
    producedAt GeneralizedTime, responses SEQUENCE OF SingleResponse,
    responseExtensions [1] EXPLICIT Extensions OPTIONAL }
    """
    fields = _der.children(template, _der.read_tlv(template))
    out: list[bytes] = []
    for f in fields:
        if f.tag == 0x18:
            out.append(_generalized_time(produced_at))
        elif f.tag == _der.SEQUENCE:
            out.append(_der.sequence(*singles))
        else:
            out.append(f.whole(template))
    return _der.sequence(*out)


def _algorithm_identifier(oid: str, params: bytes | None = None) -> bytes:
    return _der.sequence(_der.encode_oid(oid), *([params] if params is not None else []))


def _sign(
    key: PrivateKey, tbs: bytes, digest: hashes.HashAlgorithm, pss: bool
) -> tuple[bytes, bytes]:
    """(signatureAlgorithm DER, signature) over ``tbs``."""
    name = digest.name
    if isinstance(key, rsa.RSAPrivateKey):
        if pss:
            hash_id = _algorithm_identifier(_HASH_OIDS[name], _der.encode_null())
            params = _der.sequence(
                _der.explicit(0, hash_id),
                _der.explicit(1, _algorithm_identifier(_MGF1_OID, hash_id)),
                _der.explicit(2, _der.encode_integer(digest.digest_size)),
            )
            signature = key.sign(
                tbs,
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size),
                digest,
            )
            return _algorithm_identifier(_PSS_OID, params), signature
        oids = {
            "sha1": "1.2.840.113549.1.1.5",
            "sha256": "1.2.840.113549.1.1.11",
            "sha384": "1.2.840.113549.1.1.12",
            "sha512": "1.2.840.113549.1.1.13",
        }
        return (
            _algorithm_identifier(oids[name], _der.encode_null()),
            key.sign(tbs, padding.PKCS1v15(), digest),
        )
    if pss:
        raise ValueError("RSA-PSS needs an RSA key")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        oids = {
            "sha1": "1.2.840.10045.4.1",
            "sha256": "1.2.840.10045.4.3.2",
            "sha384": "1.2.840.10045.4.3.3",
            "sha512": "1.2.840.10045.4.3.4",
        }
        return _algorithm_identifier(oids[name]), key.sign(tbs, ec.ECDSA(digest))
    return _algorithm_identifier("1.3.101.112"), key.sign(tbs)
