"""The inventory's values: what a stored certificate, a store and an import look like.

Frozen dataclasses with their stable JSON shapes (README, "JSON output"), and
:func:`iso`, the time format of that JSON. Nothing here touches the database:
the other inventory modules build these values from rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from certwarden.adapters.db.models import CertificateRow
from certwarden.clock import ensure_utc
from certwarden.core.certs import CertFacts
from certwarden.core.parsing import PASSWORD_REQUIRED
from certwarden.core.shares import format_share
from certwarden.core.timefmt import iso_z

__all__ = [
    "PASSWORD_REQUIRED",
    "RECORD_COLUMNS",
    "REFUSED_BY_REVOCATION_CHECK",
    "CertificateRecord",
    "ImportReport",
    "ImportedCertificate",
    "ListFilter",
    "PreparedCertificate",
    "PreparedImport",
    "Rejection",
    "StoreInfo",
]


@functools.lru_cache(maxsize=4096)
def _decoded_list(text: str) -> tuple[str, ...]:
    """A stored JSON list, decoded once per distinct text (most are shared: usages, URIs)."""
    return tuple(json.loads(text))


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return _decoded_list(value) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class StoreInfo:
    name: str
    description: str
    builtin: bool
    certificates: int
    # The store's lifetime-share threshold for expiry notices (None: the
    # monitor's Notification Start Time).
    lifetime_share: float | None = None

    @property
    def lifetime_share_text(self) -> str | None:
        return format_share(self.lifetime_share)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "builtin": self.builtin,
            "certificates": self.certificates,
            "lifetime_share": self.lifetime_share_text,
        }


# Rejection codes (see Rejection.code); PASSWORD_REQUIRED is core.parsing's.
REFUSED_BY_REVOCATION_CHECK = "refused_by_revocation_check"


@dataclass(frozen=True)
class Rejection:
    """A file (or one certificate in it) that was not imported, and why.

    Attributes:
        source: the file (name as given).
        problem: what is wrong, in words (with the CLI's remedy where there is one).
        code: a stable name for the kind of refusal, for interfaces that word
            their own remedy: ``"password_required"`` (PKCS#12 without its
            password), ``"refused_by_revocation_check"`` (the upload check
            denied it; storing it anyway is possible); empty otherwise.
        finding: for a coded refusal, the problem without any remedy.
    """

    source: str
    problem: str
    code: str = ""
    finding: str = ""

    def to_json(self) -> dict[str, str]:
        out = {"file": self.source, "problem": self.problem}
        if self.code:
            out["code"] = self.code
        return out


@dataclass(frozen=True)
class PreparedCertificate:
    """A parsed certificate waiting to be stored (DER and facts; the object on demand)."""

    der: bytes
    facts: CertFacts
    source: str

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


@dataclass
class PreparedImport:
    """Parsed input, not yet stored."""

    store: str
    lsc: bool
    how: str
    items: list[PreparedCertificate] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0


# The certificates table's columns a CertificateRecord is built from (not the DER).
RECORD_COLUMNS: tuple[str, ...] = (
    "id",
    "is_lsc",
    "role",
    "subject",
    "subject_cn",
    "issuer",
    "issuer_cn",
    "serial",
    "not_before",
    "not_after",
    "sha256",
    "sha1",
    "sans",
    "key_type",
    "key_size",
    "signature_algorithm",
    "weak_signature",
    "is_ca",
    "key_usage",
    "extended_key_usage",
    "is_ocsp_signer",
    "ocsp_uris",
    "ca_issuer_uris",
    "crl_uris",
    "subject_key_id",
    "authority_key_id",
    "issuer_id",
    "source",
    "source_detail",
    "imported_at",
    "revocation_status",
    "revocation_reason",
    "revocation_checked_at",
    "revoked_at",
)


@dataclass(frozen=True)
class CertificateRecord:
    """One stored certificate, as every interface shows it."""

    id: int
    store: str
    is_lsc: bool
    role: str
    subject: str
    subject_cn: str
    issuer: str
    issuer_cn: str
    serial: str
    not_before: datetime
    not_after: datetime
    sha256: str
    sha1: str
    sans: tuple[str, ...]
    key_type: str
    key_size: int
    signature_algorithm: str
    weak_signature: bool  # SHA-1 or MD5 (core/algorithms.py)
    is_ca: bool
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    ocsp_signing: bool
    ocsp_uris: tuple[str, ...]
    ca_issuer_uris: tuple[str, ...]
    crl_uris: tuple[str, ...]
    subject_key_id: str | None
    authority_key_id: str | None
    issuer_id: int | None
    issuer_sha256: str | None
    source: str
    source_detail: str
    imported_at: datetime
    revocation_status: str | None
    revocation_reason: str | None
    revocation_checked_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(
        cls, row: CertificateRow, store: str, issuer_sha256: str | None
    ) -> CertificateRecord:
        """From an ORM row, its store's name and its issuer's fingerprint."""
        values = {name: getattr(row, name) for name in RECORD_COLUMNS}
        values["store"] = store
        values["issuer_sha256"] = issuer_sha256
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> CertificateRecord:
        """From plain values: the certificates table's :data:`RECORD_COLUMNS` (as
        SQLAlchemy Core returns them; the JSON list columns may also be their stored
        text), ``store`` (the store's name) and ``issuer_sha256``."""
        checked_at = m["revocation_checked_at"]
        revoked_at = m["revoked_at"]
        values: dict[str, Any] = {
            "id": m["id"],
            "store": m["store"],
            "is_lsc": m["is_lsc"],
            "role": m["role"],
            "subject": m["subject"],
            "subject_cn": m["subject_cn"],
            "issuer": m["issuer"],
            "issuer_cn": m["issuer_cn"],
            "serial": m["serial"],
            "not_before": ensure_utc(m["not_before"]),
            "not_after": ensure_utc(m["not_after"]),
            "sha256": m["sha256"],
            "sha1": m["sha1"],
            "sans": _strings(m["sans"]),
            "key_type": m["key_type"],
            "key_size": m["key_size"],
            "signature_algorithm": m["signature_algorithm"],
            "weak_signature": bool(m["weak_signature"]),
            "is_ca": m["is_ca"],
            "key_usage": _strings(m["key_usage"]),
            "extended_key_usage": _strings(m["extended_key_usage"]),
            "ocsp_signing": m["is_ocsp_signer"],
            "ocsp_uris": _strings(m["ocsp_uris"]),
            "ca_issuer_uris": _strings(m["ca_issuer_uris"]),
            "crl_uris": _strings(m["crl_uris"]),
            "subject_key_id": m["subject_key_id"],
            "authority_key_id": m["authority_key_id"],
            "issuer_id": m["issuer_id"],
            "issuer_sha256": m["issuer_sha256"],
            "source": m["source"],
            "source_detail": m["source_detail"],
            "imported_at": ensure_utc(m["imported_at"]),
            "revocation_status": m["revocation_status"],
            "revocation_reason": m["revocation_reason"],
            "revocation_checked_at": ensure_utc(checked_at) if checked_at else None,
            "revoked_at": ensure_utc(revoked_at) if revoked_at else None,
        }
        # A list page builds hundreds of records: filling the instance directly skips
        # the frozen dataclass's __init__ (one object.__setattr__ per field, ten times
        # the cost). The keys above are every field (tests/test_overview_reads.py).
        record = object.__new__(cls)
        record.__dict__.update(values)
        return record

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The stable JSON shape (README, "JSON output")."""
        return {
            "id": self.id,
            "store": self.store,
            "lsc": self.is_lsc,
            "role": self.role,
            "subject": self.subject,
            "subject_cn": self.subject_cn,
            "issuer": self.issuer,
            "issuer_cn": self.issuer_cn,
            "serial": self.serial,
            "not_before": iso_z(self.not_before),
            "not_after": iso_z(self.not_after),
            "days_left": round(self.days_left(now), 2),
            "expired": now > self.not_after,
            "sha256": self.sha256,
            "sha1": self.sha1,
            "sans": list(self.sans),
            "key_type": self.key_type,
            "key_size": self.key_size,
            "signature_algorithm": self.signature_algorithm,
            "weak_signature": self.weak_signature,
            "is_ca": self.is_ca,
            "key_usage": list(self.key_usage),
            "extended_key_usage": list(self.extended_key_usage),
            "ocsp_signing": self.ocsp_signing,
            "ocsp_uris": list(self.ocsp_uris),
            "ca_issuer_uris": list(self.ca_issuer_uris),
            "crl_uris": list(self.crl_uris),
            "subject_key_id": self.subject_key_id,
            "authority_key_id": self.authority_key_id,
            "issuer_id": self.issuer_id,
            "issuer_sha256": self.issuer_sha256,
            "source": self.source,
            "source_detail": self.source_detail,
            "imported_at": iso_z(self.imported_at),
            "revocation": {
                "status": self.revocation_status or "not_checked",
                "reason": self.revocation_reason,
                "checked_at": iso_z(self.revocation_checked_at),
                "revoked_at": iso_z(self.revoked_at),
            },
        }


@dataclass(frozen=True)
class ImportedCertificate:
    id: int
    sha256: str
    subject: str
    store: str
    role: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "subject": self.subject,
            "store": self.store,
            "role": self.role,
            "file": self.source,
        }


@dataclass(frozen=True)
class ImportReport:
    imported: tuple[ImportedCertificate, ...]
    duplicates: tuple[ImportedCertificate, ...]
    rejected: tuple[Rejection, ...]
    notes: tuple[str, ...]
    files: int

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "imported": [i.to_json() for i in self.imported],
            "duplicates": [d.to_json() for d in self.duplicates],
            "rejected": [r.to_json() for r in self.rejected],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ListFilter:
    """Which certificates to list. ``expiring_within`` and ``expired`` combine with OR."""

    store: str | None = None
    lsc: bool | None = None
    expiring_within: timedelta | None = None
    expired: bool = False
    limit: int | None = None
    offset: int = 0
