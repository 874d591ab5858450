"""Reading CRL bytes (RFC 5280 5): DER or PEM in, a :class:`Crl` out, or a clear error.

:func:`load_crl` takes any bytes — a CRL, a truncated download, an HTML error
page served with 200, a 2 GB file — and either returns a :class:`Crl` (the
facts validation needs, read once, and the compact serial index) or raises
:class:`CrlParseError` naming the source and the problem; never a traceback.
The size cap is checked before anything is parsed.

It does not judge: a CRL that loads may still be forged, stale or out of
scope (:mod:`.validate`). Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from certwarden.core.crl._entries import CrlIndex, CrlIndexError, build_index
from certwarden.core.ocsp import _der
from certwarden.core.ocsp.results import Reason, iso_z
from certwarden.core.ocsp.signature import SignatureAlgorithm, parse_signature_algorithm
from certwarden.core.pem import pem_blocks
from certwarden.errors import CrlParseError

__all__ = ["DEFAULT_MAX_CRL_BYTES", "Crl", "CrlParseError", "crl_der", "load_crl"]

DEFAULT_MAX_CRL_BYTES = 50 * 1024 * 1024  # issue 13 item 1: the default size cap

# CRL extensions certwarden understands (RFC 5280 5.2): a critical one outside
# this set refuses the CRL (RFC 5280 5.2, 6.3.3).
KNOWN_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME.dotted_string,
        ExtensionOID.CRL_NUMBER.dotted_string,
        ExtensionOID.DELTA_CRL_INDICATOR.dotted_string,
        ExtensionOID.ISSUING_DISTRIBUTION_POINT.dotted_string,
        ExtensionOID.FRESHEST_CRL.dotted_string,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS.dotted_string,
    }
)


def _error(source: str, problem: str, reason: Reason = Reason.MALFORMED_CRL) -> CrlParseError:
    return CrlParseError(source, problem, reason)


def _looks_like_text(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "is an HTML/XML page, not a CRL (a portal or error page served in its place?)"
    if head.startswith((b"{", b"[")):
        return "is JSON text, not a CRL"
    return None


def crl_der(data: bytes, source: str, *, max_size: int = DEFAULT_MAX_CRL_BYTES) -> bytes:
    """The DER of a CRL given as DER or as a PEM ``X509 CRL`` block."""
    if len(data) > max_size:
        raise _error(
            source,
            f"is {len(data)} bytes, over the CRL size cap of {max_size} bytes",
            Reason.RESPONSE_TOO_LARGE,
        )
    if not data:
        raise _error(source, "is empty")
    # DER: a SEQUENCE with a long-form length (every CRL is over 127 octets);
    # PEM text that happens to start with "0" is not mistaken for it.
    if len(data) > 1 and data[0] == 0x30 and data[1] > 0x80:
        return data
    if b"-----BEGIN" in data[:4096] or b"-----BEGIN X509 CRL-----" in data:
        for label, body in pem_blocks(data):
            if label == b"X509 CRL":
                try:
                    return base64.b64decode(b"".join(body.split()), validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise _error(
                        source, f"its X509 CRL PEM block has broken base64 ({exc})"
                    ) from exc
        raise _error(source, "is PEM text without an X509 CRL block")
    text = _looks_like_text(data)
    raise _error(source, text or "is neither a DER CRL nor PEM")


@dataclass(frozen=True, slots=True)
class _Layout:
    tbs_start: int
    tbs_end: int
    revoked: tuple[int, int] | None  # content span of revokedCertificates
    outer_algorithm: bytes  # DER of the outer signatureAlgorithm
    inner_algorithm: bytes  # DER of TBSCertList.signature
    algorithm_oid: str
    algorithm_params: bytes | None


def _layout(der: bytes) -> _Layout:
    """Where the parts of CertificateList are (RFC 5280 5.1), read from the DER."""
    top = _der.read_tlv(der)
    if top.tag != 0x30 or top.end != len(der):
        raise _der.DerError("not exactly one SEQUENCE")
    parts = _der.children(der, top)
    if len(parts) != 3:
        raise _der.DerError("CertificateList is not tbsCertList, signatureAlgorithm, signature")
    tbs, alg, _signature = parts
    fields = _der.children(der, tbs)
    pos = 1 if fields and fields[0].tag == _der.INTEGER else 0  # version
    inner = fields[pos]
    # signature, issuer, thisUpdate, [nextUpdate], [revokedCertificates], [0] extensions
    rest = fields[pos + 3 :]
    if rest and rest[0].tag in (0x17, 0x18):
        rest = rest[1:]
    revoked = None
    if rest and rest[0].tag == 0x30:
        revoked = (rest[0].content_start, rest[0].end)
    alg_parts = _der.children(der, alg)
    if not alg_parts or alg_parts[0].tag != _der.OID:
        raise _der.DerError("signatureAlgorithm without an OID")
    return _Layout(
        tbs.start,
        tbs.end,
        revoked,
        alg.whole(der),
        inner.whole(der),
        _der.decode_oid(alg_parts[0].content(der)),
        alg_parts[1].whole(der) if len(alg_parts) > 1 else None,
    )


@dataclass(frozen=True, eq=False)
class Crl:
    """One loaded CRL: the facts validation and judging need, read once.

    Attributes:
        source: file name or URL it came from (for messages).
        der: the CRL's DER.
        sha256: lowercase hex SHA-256 of ``der``: the evidence key.
        issuer: the CRL issuer's name.
        this_update, next_update: RFC 5280 5.1.2.4/5.1.2.5 (next_update may be None).
        number: cRLNumber (RFC 5280 5.2.3), None when absent.
        base_number: the deltaCRLIndicator's BaseCRLNumber (RFC 5280 5.2.4);
            None for a complete CRL.
        idp: the Issuing Distribution Point (RFC 5280 5.2.5), None when absent.
        idp_der: the IDP extension value's DER (b"" when absent): scope equality.
        freshest: URIs of the Freshest CRL extension (where deltas are).
        authority_key_id: keyIdentifier of the AKI extension, if any.
        unknown_critical: OIDs of critical CRL or entry extensions not understood.
        problems: other structural problems that refuse the CRL.
        signature_algorithm: the outer signatureAlgorithm, understood or not.
        index: the compact serial index of its entries.
    """

    source: str
    der: bytes = field(repr=False)
    sha256: str
    issuer: x509.Name
    issuer_der: bytes = field(repr=False)
    this_update: datetime
    next_update: datetime | None
    number: int | None
    base_number: int | None
    idp: x509.IssuingDistributionPoint | None
    idp_der: bytes = field(repr=False)
    freshest: tuple[str, ...]
    authority_key_id: bytes | None
    unknown_critical: tuple[str, ...]
    problems: tuple[str, ...]
    signature_algorithm: SignatureAlgorithm
    index: CrlIndex = field(repr=False)
    crl: x509.CertificateRevocationList = field(repr=False)
    _layout: _Layout = field(repr=False)
    # Signature verdicts by signer key (SHA-256 of its SPKI): a CRL version is
    # verified once, however many checks and runs use it.
    signature_verdicts: dict[str, str | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def is_delta(self) -> bool:
        return self.base_number is not None

    @property
    def indirect(self) -> bool:
        return self.idp is not None and self.idp.indirect_crl

    @cached_property
    def scope_id(self) -> str:
        """Hex SHA-256 of issuer DER and IDP DER: CRLs with one scope share it.

        A store keeps the newest complete CRL, and the newest delta, per
        ``(scope_id, is_delta)``; CRL numbers are compared within a scope.
        """
        digest = hashlib.sha256()
        for part in (self.issuer_der, self.idp_der):
            digest.update(len(part).to_bytes(4, "big"))
            digest.update(part)
        return digest.hexdigest()

    @property
    def tbs(self) -> bytes:
        """The signed part (tbsCertList) as it appears in the DER."""
        return self.der[self._layout.tbs_start : self._layout.tbs_end]

    @property
    def signature(self) -> bytes:
        return self.crl.signature

    @property
    def algorithms_agree(self) -> bool:
        """RFC 5280 5.1.1.2: signatureAlgorithm equals tbsCertList.signature."""
        return self._layout.outer_algorithm == self._layout.inner_algorithm

    def to_json(self, *, entries: bool = True) -> dict[str, Any]:
        """What the CRL says (``certwarden crl show``), not whether to believe it."""
        out: dict[str, Any] = {
            "source": self.source,
            "sha256": self.sha256,
            "issuer": self.issuer.rfc4514_string(),
            "number": self.number,
            "delta_base_number": self.base_number,
            "this_update": iso_z(self.this_update),
            "next_update": iso_z(self.next_update),
            "signature_algorithm": self.signature_algorithm.describe(),
            "authority_key_id": self.authority_key_id.hex() if self.authority_key_id else None,
            "issuing_distribution_point": idp_json(self.idp),
            "freshest_crl": list(self.freshest),
            "unknown_critical_extensions": list(self.unknown_critical),
            "problems": list(self.problems),
            "entry_count": len(self.index),
        }
        if entries:
            out["entries"] = [
                {
                    "serial": f"{e.serial:x}",
                    "revoked_at": iso_z(e.revoked_at),
                    "reason": e.reason,
                    "invalidity_date": iso_z(e.invalidity_date),
                }
                for e in self.index.entries()
            ]
        return out


def _general_name_text(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DirectoryName):
        return f"dirName:{name.value.rfc4514_string()}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    return f"{type(name).__name__}:{name.value!s}"


def idp_json(idp: x509.IssuingDistributionPoint | None) -> dict[str, Any] | None:
    """The Issuing Distribution Point as JSON-ready values."""
    if idp is None:
        return None
    return {
        "full_name": [_general_name_text(n) for n in idp.full_name or ()],
        "relative_name": idp.relative_name.rfc4514_string() if idp.relative_name else None,
        "only_contains_user_certs": idp.only_contains_user_certs,
        "only_contains_ca_certs": idp.only_contains_ca_certs,
        "only_contains_attribute_certs": idp.only_contains_attribute_certs,
        "only_some_reasons": sorted(r.value for r in idp.only_some_reasons)
        if idp.only_some_reasons
        else None,
        "indirect_crl": idp.indirect_crl,
    }


def load_crl(data: bytes, *, source: str = "CRL", max_size: int = DEFAULT_MAX_CRL_BYTES) -> Crl:
    """Parse a CRL (DER or PEM) and index its entries; :class:`CrlParseError` if unusable."""
    der = crl_der(data, source, max_size=max_size)
    if len(der) >= 1 << 32:
        raise _error(source, "is too large to index", Reason.RESPONSE_TOO_LARGE)
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError as exc:
        problem = _looks_like_text(der) or f"is not a readable CRL ({_short(exc)})"
        raise _error(source, problem) from exc
    try:
        layout = _layout(der)
        this_update = crl.last_update_utc
        next_update = crl.next_update_utc
        extensions = crl.extensions
        issuer_der = crl.issuer.public_bytes()
    except (ValueError, IndexError, _der.DerError) as exc:
        raise _error(source, f"is not a usable CRL ({_short(exc)})") from exc
    unknown: set[str] = set()
    number = base = None
    idp: x509.IssuingDistributionPoint | None = None
    idp_der = b""
    freshest: list[str] = []
    aki: bytes | None = None
    for ext in extensions:
        oid = ext.oid.dotted_string
        value = ext.value
        if isinstance(value, x509.CRLNumber):
            number = value.crl_number
        elif isinstance(value, x509.DeltaCRLIndicator):
            base = value.crl_number
        elif isinstance(value, x509.IssuingDistributionPoint):
            idp = value
            idp_der = value.public_bytes()
        elif isinstance(value, x509.FreshestCRL):
            freshest = [
                n.value
                for point in value
                for n in point.full_name or ()
                if isinstance(n, x509.UniformResourceIdentifier)
            ]
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            aki = value.key_identifier
        if ext.critical and oid not in KNOWN_CRL_EXTENSIONS:
            unknown.add(oid)
    try:
        index = build_index(
            der,
            *(layout.revoked or (0, 0)),
            indirect=idp is not None and idp.indirect_crl,
            crl_issuer=issuer_der,
        )
    except CrlIndexError as exc:
        raise _error(source, f"its revoked certificates list is malformed ({exc})") from exc
    unknown.update(index.unknown_critical)
    return Crl(
        source=source,
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        issuer=crl.issuer,
        issuer_der=issuer_der,
        this_update=this_update,
        next_update=next_update,
        number=number,
        base_number=base,
        idp=idp,
        idp_der=idp_der,
        freshest=tuple(freshest),
        authority_key_id=aki,
        unknown_critical=tuple(sorted(unknown)),
        problems=index.problems,
        signature_algorithm=parse_signature_algorithm(
            layout.algorithm_oid, layout.algorithm_params
        ),
        index=index,
        crl=crl,
        _layout=layout,
    )


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"
