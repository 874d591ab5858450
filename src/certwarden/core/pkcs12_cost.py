"""What opening a PKCS#12 file will cost, read before any key is derived.

A PKCS#12 file (RFC 7292) names its own key-derivation work: the MAC's
iteration count (``macData.iterations``) and, for each encrypted part, the
iteration count of its password-based encryption (PKCS#12 PBE, PKCS#5 PBES1,
or PBES2 with PBKDF2 or scrypt, RFC 8018). OpenSSL runs that work before it
can tell whether the password is right, so a 1 KB file asking for 2^31-1
iterations keeps a core busy for minutes, whatever the password.

``check_pkcs12_cost`` walks the file's structure with a bounded BER reader and
refuses it, naming the part, its count and the bound, when

* one key derivation asks for more than :data:`MAX_ITERATIONS` iterations
  (OpenSSL's default is 2,048; strong settings in current tools are around
  600,000, so 2,000,000 leaves room and still costs about a second),
* all of them together ask for more than :data:`MAX_TOTAL_ITERATIONS`, or
* an scrypt derivation's N*r*p exceeds :data:`MAX_SCRYPT_WORK`.

A file whose structure cannot be read, or that is protected by an algorithm
this module does not know, is refused too: what it would cost is unknown.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from certwarden.core import _ber
from certwarden.core._ber import BerError, Element
from certwarden.errors import ParseError

__all__ = [
    "MAX_ITERATIONS",
    "MAX_SCRYPT_WORK",
    "MAX_TOTAL_ITERATIONS",
    "Derivation",
    "Pkcs12Outline",
    "check_pkcs12_cost",
    "pkcs12_derivations",
    "pkcs12_outline",
]

MAX_ITERATIONS: Final = 2_000_000
MAX_TOTAL_ITERATIONS: Final = 10_000_000
MAX_SCRYPT_WORK: Final = 1 << 22

_DATA = "1.2.840.113549.1.7.1"
_SIGNED_DATA = "1.2.840.113549.1.7.2"
_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
_SAFE_CONTENTS_BAG = "1.2.840.113549.1.12.10.1.6"
_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
_X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"
_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_PBMAC1 = "1.2.840.113549.1.5.14"
_SCRYPT = "1.3.6.1.4.1.11591.4.11"
# pkcs-12PbeIds (RFC 7292 appendix C) and PBES1 (RFC 8018 A.3): params are
# SEQUENCE { salt OCTET STRING, iterations INTEGER }.
_PBE_WITH_COUNT = {
    **{f"1.2.840.113549.1.12.1.{n}": "PKCS#12 PBE" for n in range(1, 7)},
    **{f"1.2.840.113549.1.5.{n}": "PBES1" for n in (1, 3, 4, 6, 10, 11)},
}


@dataclass(frozen=True, slots=True)
class Derivation:
    """One key derivation the file asks for: where it is and how much work."""

    where: str
    scheme: str
    iterations: int
    scrypt_work: int = 0  # N*r*p, for scrypt


def check_pkcs12_cost(data: bytes, source: str) -> Pkcs12Outline:
    """The file's outline, or :class:`ParseError` when its key derivations cost too much."""
    try:
        outline = pkcs12_outline(data)
    except _RefusedError as exc:
        raise ParseError(source, exc.problem) from None
    except BerError as exc:
        raise ParseError(
            source, f"is a PKCS#12 file whose structure cannot be read ({exc})"
        ) from None
    derivations = outline.derivations
    for d in derivations:
        if d.iterations < 1:
            raise ParseError(
                source,
                f"is a PKCS#12 file whose {d.where} has an invalid iteration count "
                f"({d.iterations})",
            )
        if d.iterations > MAX_ITERATIONS:
            raise ParseError(
                source,
                f"is a PKCS#12 file whose {d.where} asks for {d.iterations:,} {d.scheme} "
                f"iterations; certwarden opens PKCS#12 files with at most {MAX_ITERATIONS:,} "
                "per key derivation (OpenSSL's default is 2,048) and refused it before "
                "deriving any key. Re-export it with a lower iteration count.",
            )
        if d.scrypt_work > MAX_SCRYPT_WORK:
            raise ParseError(
                source,
                f"is a PKCS#12 file whose {d.where} asks for scrypt work N*r*p = "
                f"{d.scrypt_work:,}; certwarden allows at most {MAX_SCRYPT_WORK:,} and refused "
                "it before deriving any key. Re-export it with lower scrypt parameters.",
            )
    total = sum(d.iterations for d in derivations)
    if total > MAX_TOTAL_ITERATIONS:
        raise ParseError(
            source,
            f"is a PKCS#12 file whose {len(derivations)} key derivations ask for "
            f"{total:,} iterations in all; certwarden allows at most "
            f"{MAX_TOTAL_ITERATIONS:,} per file and refused it before deriving any key.",
        )
    return outline


class _RefusedError(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Pkcs12Outline:
    """What a PFX holds, read without a password: its key derivations and the
    DER of the certificates that are not encrypted."""

    derivations: tuple[Derivation, ...]
    plain_certificates: tuple[bytes, ...]


def pkcs12_derivations(data: bytes) -> tuple[Derivation, ...]:
    """Every key derivation that opening ``data`` (a PFX, RFC 7292 4) involves."""
    return pkcs12_outline(data).derivations


def pkcs12_outline(data: bytes) -> Pkcs12Outline:
    """Walk a PFX: PFX ::= SEQUENCE { version, authSafe ContentInfo, macData OPTIONAL }.

    Raises BerError when the structure cannot be read.
    """
    pfx = _ber.read(data)  # OpenSSL ignores bytes after the PFX; so does this
    fields = _ber.children(data, pfx)
    if len(fields) < 2 or fields[0].tag != _ber.INTEGER or fields[1].tag != _ber.SEQUENCE:
        raise BerError("not a PFX")
    out: list[Derivation] = []
    certificates: list[bytes] = []
    if len(fields) > 2:
        out.extend(_mac(data, fields[2]))
    content_type, content = _content_info(data, fields[1])
    if content_type == _SIGNED_DATA:
        raise _RefusedError(
            "is a PKCS#12 file in public-key integrity mode (signedData), which certwarden "
            "does not read; export it with a password"
        )
    if content_type != _DATA:
        raise BerError(f"authSafe is {content_type}, not data")
    authenticated_safe = _octets_of(data, content)
    for index, info in enumerate(_children_of(authenticated_safe), start=1):
        out.extend(_safe(authenticated_safe, info, index, certificates))
    return Pkcs12Outline(tuple(out), tuple(certificates))


def _mac(data: bytes, mac_data: Element) -> list[Derivation]:
    """MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }"""
    fields = _ber.children(data, mac_data)
    if len(fields) < 2 or fields[0].tag != _ber.SEQUENCE:
        raise BerError("malformed macData")
    iterations = _ber.integer(data, fields[2]) if len(fields) > 2 else 1
    out = [Derivation("MAC (macData)", "MAC key-derivation", iterations)]
    digest_info = _ber.children(data, fields[0])
    if digest_info and digest_info[0].tag == _ber.SEQUENCE:
        algorithm = _ber.children(data, digest_info[0])
        if algorithm and _ber.oid(data, algorithm[0]) == _PBMAC1:
            # PBMAC1-params ::= SEQUENCE { keyDerivationFunc, messageAuthScheme } (RFC 9579)
            params = _ber.children(data, _at(algorithm, 1))
            out.append(_kdf(data, _at(params, 0), "MAC (PBMAC1)"))
    return out


def _content_info(data: bytes, info: Element) -> tuple[str, Element | None]:
    """ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY OPTIONAL }"""
    fields = _ber.children(data, info)
    if not fields:
        raise BerError("empty ContentInfo")
    content_type = _ber.oid(data, fields[0])
    if len(fields) < 2:
        return content_type, None
    if not fields[1].is_context(0):
        raise BerError("ContentInfo content is not [0]")
    inner = _ber.children(data, fields[1])
    return content_type, _at(inner, 0)


def _safe(data: bytes, info: Element, index: int, certificates: list[bytes]) -> list[Derivation]:
    """One ContentInfo of the AuthenticatedSafe: plain SafeContents or encryptedData."""
    content_type, content = _content_info(data, info)
    if content is None:
        return []
    if content_type == _DATA:
        inner = _octets_of(data, content)
        return _safe_contents(inner, _ber.read(inner), f"part {index}", 0, certificates)
    if content_type == _ENCRYPTED_DATA:
        # EncryptedData ::= SEQUENCE { version, encryptedContentInfo SEQUENCE {
        #   contentType, contentEncryptionAlgorithm, [0] IMPLICIT encryptedContent } }
        fields = _ber.children(data, content)
        encrypted_info = _ber.children(data, _at(fields, 1))
        return [_algorithm(data, _at(encrypted_info, 1), f"encrypted contents (part {index})")]
    return []  # envelopedData and others: no password, OpenSSL skips them


def _safe_contents(
    data: bytes, contents: Element, where: str, depth: int, certificates: list[bytes]
) -> list[Derivation]:
    """SafeContents ::= SEQUENCE OF SafeBag { bagId, [0] EXPLICIT bagValue, bagAttributes }"""
    if depth > _ber.MAX_DEPTH:
        raise BerError("safe contents nested too deep")
    out: list[Derivation] = []
    for number, bag in enumerate(_ber.children(data, contents), start=1):
        fields = _ber.children(data, bag)
        if len(fields) < 2 or not fields[1].is_context(0):
            raise BerError("malformed SafeBag")
        bag_id = _ber.oid(data, fields[0])
        value = _at(_ber.children(data, fields[1]), 0)
        if bag_id == _SHROUDED_KEY_BAG:
            # EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData }
            algorithm = _at(_ber.children(data, value), 0)
            out.append(_algorithm(data, algorithm, f"private key (bag {number} of {where})"))
        elif bag_id == _SAFE_CONTENTS_BAG:
            inner = f"bag {number} of {where}"
            out.extend(_safe_contents(data, value, inner, depth + 1, certificates))
        elif bag_id == _CERT_BAG:
            # CertBag ::= SEQUENCE { certId, certValue [0] EXPLICIT OCTET STRING }
            cert_bag = _ber.children(data, value)
            if len(cert_bag) > 1 and _ber.oid(data, cert_bag[0]) == _X509_CERTIFICATE:
                certificates.append(_octets_of(data, _at(_ber.children(data, cert_bag[1]), 0)))
    return out


def _algorithm(data: bytes, identifier: Element, where: str) -> Derivation:
    """The derivation of one password-based encryption AlgorithmIdentifier."""
    fields = _ber.children(data, identifier)
    algorithm = _ber.oid(data, _at(fields, 0))
    if algorithm in _PBE_WITH_COUNT:
        params = _ber.children(data, _at(fields, 1))
        return Derivation(where, _PBE_WITH_COUNT[algorithm], _ber.integer(data, _at(params, 1)))
    if algorithm == _PBES2:
        # PBES2-params ::= SEQUENCE { keyDerivationFunc, encryptionScheme } (RFC 8018 A.4)
        params = _ber.children(data, _at(fields, 1))
        return _kdf(data, _at(params, 0), where)
    raise _RefusedError(
        f"is a PKCS#12 file whose {where} is encrypted with an algorithm certwarden "
        f"does not know ({algorithm})"
    )


def _kdf(data: bytes, identifier: Element, where: str) -> Derivation:
    """PBKDF2-params or scrypt-params (RFC 8018 A.2, RFC 7914 7.1)."""
    fields = _ber.children(data, identifier)
    kdf = _ber.oid(data, _at(fields, 0))
    params = _ber.children(data, _at(fields, 1))
    if kdf == _PBKDF2:
        # SEQUENCE { salt, iterationCount INTEGER, keyLength OPTIONAL, prf DEFAULT }
        return Derivation(where, "PBKDF2", _ber.integer(data, _at(params, 1)))
    if kdf == _SCRYPT:
        # SEQUENCE { salt, costParameter N, blockSize r, parallelizationParameter p, ... }
        n, r, p = (_ber.integer(data, _at(params, i)) for i in (1, 2, 3))
        if min(n, r, p) < 1:
            raise BerError("scrypt parameters must be positive")
        return Derivation(where, "scrypt", 1, scrypt_work=n * r * p)
    raise _RefusedError(
        f"is a PKCS#12 file whose {where} uses a key derivation certwarden does not know ({kdf})"
    )


def _octets_of(data: bytes, element: Element | None) -> bytes:
    if element is None or element.universal != _ber.OCTET_STRING:
        raise BerError("expected an OCTET STRING")
    return _ber.octets(data, element)


def _children_of(data: bytes) -> list[Element]:
    return _ber.children(data, _ber.read(data))


def _at(items: list[Element], index: int) -> Element:
    if index >= len(items):
        raise BerError("a required field is missing")
    return items[index]
