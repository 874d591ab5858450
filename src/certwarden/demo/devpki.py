"""A small throwaway PKI for demos and tests, in the spirit of ``trustme``.

Builds roots, intermediates, delegated OCSP responder certificates, leaves and
LSCs with chosen lifetimes. Every time is passed in (no clock is read). Never
use these keys for anything real. It knows nothing of certwarden's services or
database; the demo and the tests' FakeCA build on it, the product never does.

    root = DevCA.root("Demo Root", not_before=t0, not_after=t0 + 20 * YEAR)
    sub = root.child_ca("Demo Issuing CA", not_before=t0, not_after=...)
    responder = sub.issue_ocsp_responder("Demo OCSP", not_before=t0, not_after=...)
    leaf = sub.issue("www.example.test", not_before=t0, not_after=..., ocsp_url=url)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

__all__ = ["DevCA", "Issued", "KeyType", "PrivateKey", "new_key"]

KeyType = Literal["ec", "rsa", "ed25519"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def new_key(key_type: KeyType = "ec") -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _hash_for(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _name(common_name: str, org: str = "certwarden dev PKI") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


class DevCA:
    """A certificate authority that can issue children, responders and leaves."""

    def __init__(self, issued: Issued, parent: DevCA | None = None) -> None:
        self.issued = issued
        self.parent = parent
        self._next_serial = 0x1000

    @property
    def cert(self) -> x509.Certificate:
        return self.issued.cert

    @property
    def key(self) -> PrivateKey:
        return self.issued.key

    def chain(self) -> list[x509.Certificate]:
        """This CA and its parents, nearest first."""
        out = [self.cert]
        node = self.parent
        while node is not None:
            out.append(node.cert)
            node = node.parent
        return out

    @classmethod
    def root(
        cls,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        key_type: KeyType = "ec",
        key: PrivateKey | None = None,
        org: str = "certwarden dev PKI",
    ) -> DevCA:
        key = key or new_key(key_type)
        name = _name(common_name, org)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, _hash_for(key))
        )
        return cls(Issued(cert, key))

    def next_serial(self) -> int:
        self._next_serial += 1
        return self._next_serial

    def _builder(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey,
        not_before: datetime,
        not_after: datetime,
        serial: int | None,
        ocsp_url: str | None,
        ca_issuers_url: str | None = None,
    ) -> x509.CertificateBuilder:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(serial if serial is not None else self.next_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        access: list[x509.AccessDescription] = []
        if ocsp_url:
            access.append(
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                )
            )
        if ca_issuers_url:
            access.append(
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(ca_issuers_url),
                )
            )
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        return builder

    def child_ca(
        self,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        key_type: KeyType = "ec",
        ocsp_url: str | None = None,
    ) -> DevCA:
        """An intermediate CA signed by this one."""
        key = new_key(key_type)
        cert = (
            self._builder(
                _name(common_name), key.public_key(), not_before, not_after, None, ocsp_url
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .sign(self.key, _hash_for(self.key))
        )
        return DevCA(Issued(cert, key), parent=self)

    def issue(
        self,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        sans: Sequence[str] = (),
        ocsp_url: str | None = None,
        key_type: KeyType = "ec",
        key: PrivateKey | None = None,
        serial: int | None = None,
        eku: Sequence[x509.ObjectIdentifier] = (
            ExtendedKeyUsageOID.SERVER_AUTH,
            ExtendedKeyUsageOID.CLIENT_AUTH,
        ),
        ocsp_nocheck: bool = False,
        crl_url: str | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
        key_usage: x509.KeyUsage | None = None,
    ) -> Issued:
        """A leaf certificate. ``sans`` are DNS names (IP literals become IP SANs).

        ``extensions``: more ``(extension, critical)`` pairs (e.g. an
        :class:`x509.UnrecognizedExtension` marked critical); ``key_usage``
        replaces the default keyUsage.
        """
        key = key or new_key(key_type)
        builder = self._builder(
            _name(common_name), key.public_key(), not_before, not_after, serial, ocsp_url
        ).add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            key_usage
            or x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not isinstance(
                    key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                ),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(s) for s in sans]), critical=False
            )
        if ocsp_nocheck:
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        if crl_url:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(crl_url)], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return Issued(builder.sign(self.key, _hash_for(self.key)), key)

    def issue_ocsp_responder(
        self,
        common_name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        key_type: KeyType = "ec",
        with_eku: bool = True,
        ocsp_nocheck: bool | None = None,
        extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
        key_usage: x509.KeyUsage | None = None,
        ocsp_url: str | None = None,
    ) -> Issued:
        """A delegated OCSP responder certificate (RFC 6960 4.2.2.2): EKU id-kp-OCSPSigning.

        It carries id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1) unless
        ``ocsp_nocheck=False`` (default: with the EKU).
        """
        return self.issue(
            common_name,
            not_before=not_before,
            not_after=not_after,
            key_type=key_type,
            eku=(ExtendedKeyUsageOID.OCSP_SIGNING,)
            if with_eku
            else (ExtendedKeyUsageOID.SERVER_AUTH,),
            ocsp_nocheck=with_eku if ocsp_nocheck is None else ocsp_nocheck,
            extensions=extensions,
            key_usage=key_usage,
            ocsp_url=ocsp_url,
        )


def _general_name(value: str) -> x509.GeneralName:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def lifetime(start: datetime, days: float) -> tuple[datetime, datetime]:
    """``(not_before, not_after)`` starting at ``start`` and lasting ``days``."""
    return start, start + timedelta(days=days)
