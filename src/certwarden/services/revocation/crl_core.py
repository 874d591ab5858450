"""The seam between the CRL source and the CRL core: load a CRL, judge a certificate.

The CRL source (:mod:`.crl_source`) needs two things from the core: the bytes
of a fetched CRL turned into a :class:`LoadedCrl` (its facts: issuer, number,
thisUpdate, nextUpdate, entries, SHA-256) within the size cap, and
``judge(cert, issuer, crls, now=..., options=...)`` -> RevocationResult.

INTERIM: until the CRL core (``certwarden.core.crl``, issue 13's other half)
is merged, this module judges with the minimal steps below — issuer name,
signature by the issuing CA, thisUpdate/nextUpdate within the clock skew
(maximum age without nextUpdate), an unknown critical extension refuses, then
the serial's entry. Once the core is here, ``load_crl`` and ``judge`` hand
over to it and this module keeps only the translation.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from certwarden.core.ocsp.results import (
    CertStatus,
    Reason,
    RevocationResult,
    Source,
    ValidationOptions,
    iso_z,
)

__all__ = ["CrlLoadError", "LoadedCrl", "judge", "load_crl"]

# Extensions a CRL or an entry may mark critical that these steps understand.
_KNOWN_CRL_EXTENSIONS = frozenset(
    {
        ExtensionOID.CRL_NUMBER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    }
)
_KNOWN_ENTRY_EXTENSIONS = frozenset(
    {CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE}
)


class CrlLoadError(Exception):
    """Bytes that are not a usable CRL; ``reason`` is the could-not-tell reason."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class LoadedCrl:
    """A CRL's facts, and the parsed CRL the judge reads."""

    der: bytes
    sha256: str
    issuer: str
    this_update: datetime
    next_update: datetime | None
    number: int | None
    entries: int
    crl: x509.CertificateRevocationList


def load_crl(data: bytes, *, max_bytes: int) -> LoadedCrl:
    """``data`` (DER or PEM) as a :class:`LoadedCrl`.

    Raises:
        CrlLoadError: too large (``response_too_large``) or not a CRL (``malformed_crl``).
    """
    if len(data) > max_bytes:
        raise CrlLoadError(
            Reason.RESPONSE_TOO_LARGE,
            f"the CRL is {len(data)} bytes; the limit is {max_bytes} bytes",
        )
    try:
        if data.lstrip()[:11] == b"-----BEGIN ":
            crl = x509.load_pem_x509_crl(data)
            der = crl.public_bytes(Encoding.DER)
        else:
            crl = x509.load_der_x509_crl(data)
            der = data
        this_update = crl.last_update_utc
        next_update = crl.next_update_utc
        issuer = crl.issuer.rfc4514_string()
        entries = len(crl)
    except ValueError as exc:
        raise CrlLoadError(Reason.MALFORMED_CRL, f"not a CRL: {str(exc)[:200]}") from exc
    try:
        number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (x509.ExtensionNotFound, ValueError):
        number = None
    return LoadedCrl(
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        issuer=issuer,
        this_update=this_update,
        next_update=next_update,
        number=number,
        entries=entries,
        crl=crl,
    )


def _answer(held: LoadedCrl, status: CertStatus, **kw: object) -> RevocationResult:
    return RevocationResult(
        status=status,
        source=Source.CRL,
        this_update=held.this_update,
        next_update=held.next_update,
        crl_number=held.number,
        crl_sha256=held.sha256,
        **kw,  # type: ignore[arg-type]
    )


def _cannot(held: LoadedCrl, reason: Reason, detail: str) -> RevocationResult:
    return _answer(
        held, CertStatus.COULD_NOT_TELL, reason=reason, detail=detail, problems=(detail,)
    )


def judge(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[LoadedCrl],
    *,
    now: datetime,
    options: ValidationOptions,
) -> RevocationResult:
    """The certificate's status from its issuer's CRL (the first of ``crls``)."""
    if not crls:
        return RevocationResult.could_not_tell(
            Reason.NO_CRL_DISTRIBUTION_POINT, "no CRL to judge by", source=Source.CRL
        )
    held = crls[0]
    crl = held.crl
    if crl.issuer != cert.issuer:
        return _cannot(
            held,
            Reason.UNAUTHORIZED_SIGNER,
            f"the CRL was issued by {held.issuer}, not by the certificate's issuer "
            f"{cert.issuer.rfc4514_string()}",
        )
    try:
        signed = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        signed = False
    if not signed:
        return _cannot(
            held,
            Reason.BAD_SIGNATURE,
            f"the CRL's signature does not verify with the key of {held.issuer}",
        )
    for ext in crl.extensions:
        if ext.critical and ext.oid not in _KNOWN_CRL_EXTENSIONS:
            return _cannot(
                held,
                Reason.UNSUPPORTED_CRITICAL_EXTENSION,
                f"the CRL carries the unknown critical extension {ext.oid.dotted_string}",
            )
    if held.this_update > now + options.skew:
        return _cannot(
            held,
            Reason.NOT_YET_VALID,
            f"the CRL's thisUpdate {iso_z(held.this_update)} is in the future",
        )
    if held.next_update is not None and held.next_update < now - options.skew:
        return _cannot(
            held,
            Reason.STALE,
            f"the CRL's nextUpdate {iso_z(held.next_update)} has passed",
        )
    if held.next_update is None and now - held.this_update > options.max_age + options.skew:
        return _cannot(
            held,
            Reason.STALE,
            f"the CRL has no nextUpdate and its thisUpdate {iso_z(held.this_update)} is "
            "older than the maximum age",
        )
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is None:
        return _answer(held, CertStatus.GOOD)
    reason: str | None = None
    for ext in entry.extensions:
        if ext.critical and ext.oid not in _KNOWN_ENTRY_EXTENSIONS:
            return _cannot(
                held,
                Reason.UNSUPPORTED_CRITICAL_EXTENSION,
                f"the CRL entry carries the unknown critical extension {ext.oid.dotted_string}",
            )
        if isinstance(ext.value, x509.CRLReason):
            reason = _REASON_NAMES.get(ext.value.reason, ext.value.reason.value)
    return _answer(
        held, CertStatus.REVOKED, revoked_at=entry.revocation_date_utc, revocation_reason=reason
    )


_REASON_NAMES = {flag: flag.value for flag in x509.ReasonFlags}
