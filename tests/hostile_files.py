"""Hostile inputs for imports, crafted by DER surgery on real files.

``cryptography``'s builders refuse to make these (a negative serial, an
extension twice, invalid UTF-8 in a UTF8String), so each is built as a normal
certificate, its TBSCertificate bytes are edited, and the result is signed
again with the issuer's key: the signature is valid, only the content is odd.
PKCS#12 bombs are normal files whose iteration-count INTEGERs are rewritten
(the MAC no longer matches, but that is found only after the key derivation
the bomb is about).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

from certwarden.core.ocsp import _der
from certwarden.demo.devpki import DevCA, Issued

BOMB_ITERATIONS = 2**31 - 1


def resign(tbs: bytes, issuer: DevCA) -> bytes:
    """A Certificate around ``tbs``, signed ECDSA-SHA256 by ``issuer`` (an EC CA)."""
    key = issuer.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    algorithm = _der.sequence(_der.encode_oid("1.2.840.10045.4.3.2"))
    return _der.sequence(tbs, algorithm, _der.tlv(0x03, b"\x00" + signature))


def _tbs_fields(cert: x509.Certificate) -> tuple[bytes, list[_der.Tlv]]:
    tbs = cert.tbs_certificate_bytes
    return tbs, _der.children(tbs, _der.read_tlv(tbs))


def bad_utf8_cert(issuer: DevCA, issued: Issued) -> bytes:
    """``issued`` with two bytes of its subject CN (a UTF8String) made invalid UTF-8."""
    cn = issued.cert.subject.rfc4514_string().split("CN=")[1].split(",")[0].encode()
    tbs = issued.cert.tbs_certificate_bytes
    utf8 = bytes([0x0C, len(cn)]) + cn
    assert tbs.count(utf8) == 1, "the CN must appear once in the TBS"
    return resign(tbs.replace(utf8, bytes([0x0C, len(cn)]) + b"\xff\xfe" + cn[2:]), issuer)


def duplicate_extension_cert(issuer: DevCA, issued: Issued) -> bytes:
    """``issued`` with its first extension (subjectKeyIdentifier) listed twice."""
    tbs, fields = _tbs_fields(issued.cert)
    wrapper = fields[-1]
    assert wrapper.tag == 0xA3, "extensions are the last TBS field"
    extensions = _der.children(tbs, _der.read_tlv(tbs, wrapper.content_start))
    whole = [e.whole(tbs) for e in extensions]
    new = _der.explicit(3, _der.sequence(*whole, whole[0]))
    return resign(_der.sequence(*(f.whole(tbs) for f in fields[:-1]), new), issuer)


def serial_cert(issuer: DevCA, issued: Issued, serial: int) -> bytes:
    """``issued`` with its serial number replaced by ``serial`` (negative or zero)."""
    tbs, fields = _tbs_fields(issued.cert)
    index = 1 if fields[0].tag == 0xA0 else 0
    assert fields[index].tag == _der.INTEGER
    parts = [f.whole(tbs) for f in fields]
    parts[index] = _der.encode_integer(serial)
    return resign(_der.sequence(*parts), issuer)


def der_to_pem(der: bytes, label: str = "CERTIFICATE") -> bytes:
    import base64

    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"".join([f"-----BEGIN {label}-----\n".encode(), *(ln + b"\n" for ln in lines),
                     f"-----END {label}-----\n".encode()])  # fmt: skip


# ---------------------------------------------------------------- PKCS#12


def small_p12(
    issued: Issued,
    password: bytes,
    *,
    rounds: int,
    algorithm: PBES = PBES.PBESv2SHA256AndAES256CBC,
    chain: tuple[x509.Certificate, ...] = (),
) -> bytes:
    """A real PKCS#12 file (an EC key and its certificate: about 1 KB)."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(rounds)
        .key_cert_algorithm(algorithm)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        b"bomb",
        issued.key,  # type: ignore[arg-type]
        issued.cert,
        list(chain),
        encryption,
    )


def rewrite_integers(data: bytes, change: Callable[[tuple[str, ...], int], int | None]) -> bytes:
    """Re-encode ``data`` (DER), replacing INTEGERs for which ``change`` returns a value.

    ``change`` gets the path (the OIDs seen on the way down) and the value. OCTET
    STRINGs holding exactly one DER SEQUENCE are walked into (PKCS#12 nests its
    structure that way); everything else is copied as is.
    """

    def walk(chunk: bytes, path: tuple[str, ...]) -> bytes:
        out: list[bytes] = []
        pos = 0
        seen = path
        while pos < len(chunk):
            element = _der.read_tlv(chunk, pos)
            content = element.content(chunk)
            if element.tag == _der.OID:
                seen = (*seen, _der.decode_oid(content))
                out.append(element.whole(chunk))
            elif element.tag == _der.INTEGER:
                value = _der.decode_integer(content)
                new = change(seen, value)
                out.append(element.whole(chunk) if new is None else _der.encode_integer(new))
            elif element.tag & 0x20 or (  # constructed, or an OCTET STRING holding DER
                element.tag == _der.OCTET_STRING and _is_one_sequence(content)
            ):
                out.append(_der.tlv(element.tag, walk(content, seen)))
            else:
                out.append(element.whole(chunk))
            pos = element.end
        return b"".join(out)

    return walk(data, ())


def _is_one_sequence(content: bytes) -> bool:
    try:
        return bool(content) and content[0] == 0x30 and _der.read_tlv(content).end == len(content)
    except ValueError:
        return False


def p12_bomb(issued: Issued, *, mac: bool = True, encryption: bool = True) -> bytes:
    """A PKCS#12 file whose MAC and/or encryption iteration counts are 2^31-1.

    Built with distinctive counts (the MAC's is cryptography's 2,048, the
    encryption's 3,001), then those INTEGERs are rewritten.
    """
    data = small_p12(issued, b"pw", rounds=3001)

    def change(_path: tuple[str, ...], value: int) -> int | None:
        if mac and value == 2048:
            return BOMB_ITERATIONS
        if encryption and value == 3001:
            return BOMB_ITERATIONS
        return None

    return rewrite_integers(data, change)


def to_ber(data: bytes) -> bytes:
    """A PFX (DER) re-encoded as BER the way Windows writes it, MAC still valid.

    The outer structure (PFX, authSafe, macData) gets indefinite lengths and the
    authSafe's OCTET STRING becomes a constructed string of two segments. Its
    value, which the MAC covers, is unchanged.
    """

    def walk(chunk: bytes) -> bytes:
        out: list[bytes] = []
        pos = 0
        while pos < len(chunk):
            element = _der.read_tlv(chunk, pos)
            content = element.content(chunk)
            if element.tag & 0x20:
                out.append(bytes([element.tag, 0x80]) + walk(content) + b"\x00\x00")
            elif element.tag == _der.OCTET_STRING and _is_one_sequence(content):
                half = len(content) // 2
                segments = _der.tlv(0x04, content[:half]) + _der.tlv(0x04, content[half:])
                out.append(b"\x24\x80" + segments + b"\x00\x00")
            else:
                out.append(element.whole(chunk))
            pos = element.end
        return b"".join(out)

    return walk(data)
