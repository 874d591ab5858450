"""Real, signed CRLs for tests, made with ``cryptography``'s CRL builder.

In the spirit of :mod:`tests.fakeca` (which makes the PKI): complete and delta
CRLs, partitions with an Issuing Distribution Point, indirect CRLs with
certificateIssuer entries, and every bad kind a validator must refuse
(forged signature, unknown critical extension, truncated bytes)::

    ca = FakeCA.root("Root").intermediate("Issuing CA")
    leaf = issue_with_dp(ca, "www.example.test", urls=["http://crl.test/ca.crl"])
    der = make_crl(ca, [Revoke(leaf.cert.serial_number, reason=KEY_COMPROMISE)], number=7)
    delta = make_crl(ca, [Revoke(serial, reason=REMOVE)], number=8, delta_base=7)
    forged = tamper_signature(der)

The CRL encoding is cryptography's (independent of certwarden's reader);
``tests/test_crl_openssl.py`` adds CRLs made by ``openssl ca -gencrl``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certwarden.core.ocsp import _der
from certwarden.demo.devpki import Issued, new_key
from tests.fakeca import DAY, T0, FakeCA

__all__ = [
    "UNKNOWN_OID",
    "Revoke",
    "crl_issuer_cert",
    "issue_with_dp",
    "make_crl",
    "resign",
    "tamper_signature",
    "unknown_extension",
]

HOUR = timedelta(hours=1)
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")
KEY_COMPROMISE = x509.ReasonFlags.key_compromise
HOLD = x509.ReasonFlags.certificate_hold
REMOVE = x509.ReasonFlags.remove_from_crl


def unknown_extension() -> x509.UnrecognizedExtension:
    """An extension no validator knows (value: NULL)."""
    return x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00")


@dataclass(frozen=True)
class Revoke:
    """One revokedCertificates entry."""

    serial: int
    at: datetime = T0 - DAY
    reason: x509.ReasonFlags | None = None
    invalidity_date: datetime | None = None
    certificate_issuer: x509.Name | None = None  # indirect CRLs (RFC 5280 5.3.3)
    extra: Sequence[tuple[x509.ExtensionType, bool]] = field(default=())


def _hash(key: object) -> hashes.HashAlgorithm | None:
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def make_crl(
    signer: FakeCA | Issued,
    revoked: Sequence[Revoke] = (),
    *,
    issuer_name: x509.Name | None = None,
    this_update: datetime = T0 - HOUR,
    next_update: datetime | None = T0 + DAY,
    number: int | None = 1,
    delta_base: int | None = None,
    idp: x509.IssuingDistributionPoint | None = None,
    freshest: Sequence[str] = (),
    aki: bool = True,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    pem: bool = False,
) -> bytes:
    """A signed CRL (DER, or PEM with ``pem=True``) by ``signer`` (a CA or a CRL issuer)."""
    cert = signer.cert
    key = signer.key
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_name or cert.subject)
        .last_update(this_update)
    )
    # cryptography insists on nextUpdate: without one, it is cut out below.
    builder = builder.next_update(next_update or this_update + DAY)
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    if delta_base is not None:
        builder = builder.add_extension(x509.DeltaCRLIndicator(delta_base), critical=True)
    if idp is not None:
        builder = builder.add_extension(idp, critical=True)
    if freshest:
        builder = builder.add_extension(
            x509.FreshestCRL(
                [
                    x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
                    for u in freshest
                ]
            ),
            critical=False,
        )
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    for entry in revoked:
        rb = x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.at)
        if entry.reason is not None:
            rb = rb.add_extension(x509.CRLReason(entry.reason), critical=False)
        if entry.invalidity_date is not None:
            rb = rb.add_extension(x509.InvalidityDate(entry.invalidity_date), critical=False)
        if entry.certificate_issuer is not None:
            rb = rb.add_extension(
                x509.CertificateIssuer([x509.DirectoryName(entry.certificate_issuer)]),
                critical=True,
            )
        for ext, critical in entry.extra:
            rb = rb.add_extension(ext, critical=critical)
        builder = builder.add_revoked_certificate(rb.build())
    crl = builder.sign(key, _hash(key))  # type: ignore[arg-type]
    der = crl.public_bytes(serialization.Encoding.DER)
    if next_update is None:
        der = _without_next_update(der, key)
    if pem:
        body = base64.encodebytes(der).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return b"-----BEGIN X509 CRL-----\n" + b"\n".join(lines) + b"\n-----END X509 CRL-----\n"
    return der


def _sign_tbs(key: object, tbs: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(tbs)  # type: ignore[attr-defined, no-any-return]


def resign(der: bytes, tbs: bytes, key: object) -> bytes:
    """``der``'s signatureAlgorithm over a new ``tbs``, signed again with ``key``."""
    top = _der.read_tlv(der)
    algorithm = _der.children(der, top)[1].whole(der)
    signature = _der.tlv(_der.BIT_STRING, b"\x00" + _sign_tbs(key, tbs))
    return _der.sequence(tbs, algorithm, signature)


_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")  # sha256WithRSAEncryption
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")  # sha1WithRSAEncryption (same length)


def sha1_signed(der: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """An RSA CRL (``der``) signed again with SHA-1 (cryptography no longer signs SHA-1
    CRLs itself): the algorithm named in the TBS and outside it, and the signature."""
    assert der.count(_SHA256_RSA) == 2, "an RSA/SHA-256 CRL is expected"
    der = der.replace(_SHA256_RSA, _SHA1_RSA)
    top = _der.read_tlv(der)
    tbs_node, algorithm_node, _ = _der.children(der, top)
    tbs = tbs_node.whole(der)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    return _der.sequence(
        tbs, algorithm_node.whole(der), _der.tlv(_der.BIT_STRING, b"\x00" + signature)
    )


def _without_next_update(der: bytes, key: object) -> bytes:
    top = _der.read_tlv(der)
    tbs = _der.children(der, top)[0]
    fields = [f.whole(der) for f in _der.children(der, tbs)]
    # version, signature, issuer, thisUpdate, nextUpdate, ...: drop nextUpdate.
    del fields[4]
    return resign(der, _der.sequence(*fields), key)


def tamper_signature(der: bytes) -> bytes:
    """The same CRL with one byte of its signature value changed."""
    top = _der.read_tlv(der)
    signature = _der.children(der, top)[2]
    at = signature.end - 5
    return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]


def issue_with_dp(
    ca: FakeCA,
    name: str = "leaf.example.test",
    *,
    urls: Sequence[str] = ("http://crl.example.test/ca.crl",),
    points: Sequence[x509.DistributionPoint] | None = None,
    is_ca: bool = False,
    serial: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A certificate issued by ``ca`` with the given CRL distribution points.

    ``points`` (full DistributionPoint values: reasons, cRLIssuer, relative
    names) take precedence over ``urls`` (one DP per URL); neither: no CRLDP.
    """
    key = new_key("ec")
    dps = (
        list(points)
        if points is not None
        else [
            x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None)
            for u in urls
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else ca.dev.next_serial())
        .not_valid_before(not_before or T0 - 30 * DAY)
        .not_valid_after(not_after or T0 + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if dps:
        builder = builder.add_extension(x509.CRLDistributionPoints(dps), critical=False)
    return Issued(builder.sign(ca.key, _hash(ca.key)), key)  # type: ignore[arg-type]


def crl_issuer_cert(
    ca: FakeCA,
    name: str = "FakeCA CRL Issuer",
    *,
    crl_sign: bool = True,
    issuer: FakeCA | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A CRL issuer certificate for indirect CRLs, issued by ``issuer`` (default ``ca``)."""
    parent = issuer or ca
    key = new_key("ec")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
        .issuer_name(parent.cert.subject)
        .public_key(key.public_key())
        .serial_number(parent.dev.next_serial())
        .not_valid_before(not_before or T0 - 30 * DAY)
        .not_valid_after(not_after or T0 + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not crl_sign,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=crl_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(parent.key, _hash(parent.key))  # type: ignore[arg-type]
    )
    return Issued(cert, key)
