"""Test inputs for imports: a small PKI written out in every container format,
plus the bad files an administrator might feed certwarden by mistake."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from certwarden.demo.devpki import DevCA, Issued

DAY = timedelta(days=1)


@dataclass
class SmallPki:
    root: DevCA
    sub: DevCA
    responder: Issued
    leaves: list[Issued]


def small_pki(now: datetime) -> SmallPki:
    root = DevCA.root("Test Root", not_before=now - 100 * DAY, not_after=now + 3650 * DAY)
    sub = root.child_ca("Test Issuing CA", not_before=now - 100 * DAY, not_after=now + 1800 * DAY)
    responder = sub.issue_ocsp_responder(
        "Test OCSP", not_before=now - DAY, not_after=now + 300 * DAY
    )
    leaves = [
        sub.issue(
            f"leaf{i}.test",
            not_before=now - 10 * DAY,
            not_after=now + days * DAY,
            sans=[f"leaf{i}.test"],
            ocsp_url="http://127.0.0.1:9/ocsp",
        )
        for i, days in enumerate((-5, 10, 45, 400))
    ]
    return SmallPki(root, sub, responder, leaves)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def p7b(*certs: x509.Certificate, encoding: str = "der") -> bytes:
    enc = serialization.Encoding.DER if encoding == "der" else serialization.Encoding.PEM
    return pkcs7.serialize_certificates(list(certs), enc)


def p12(issued: Issued, chain: list[x509.Certificate], password: bytes) -> bytes:
    key = issued.key
    return pkcs12.serialize_key_and_certificates(
        b"test",
        key,  # type: ignore[arg-type]
        issued.cert,
        chain,
        serialization.BestAvailableEncryption(password),
    )


def csr_der(issued: Issued) -> bytes:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr.test")]))
        .sign(issued.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return request.public_bytes(serialization.Encoding.DER)


def csr_pem(issued: Issued) -> bytes:
    request = x509.load_der_x509_csr(csr_der(issued))
    return request.public_bytes(serialization.Encoding.PEM)


def broken_base64_pem(cert: x509.Certificate) -> bytes:
    text = pem(cert).decode().splitlines()
    text[3] = text[3][:10] + "!!*#" + text[3][14:]
    return ("\n".join(text) + "\n").encode()


def random_bytes(size: int = 512) -> bytes:
    """Junk that is neither PEM nor DER: random, but never starting as a DER
    SEQUENCE (0x30) does (one in 256 would, and then reads as malformed DER)."""
    data = os.urandom(size)
    return data if data[:1] != b"\x30" else b"\x00" + data[1:]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
