"""What a check of stored certificates asks about, loaded from the database.

Named certificates (by ID or SHA-256) or every monitored one (all but roots;
LSCs only while LSC monitoring is on), each with its issuer
(:class:`.trust_inputs.StoredIssuers`) and the settings in force, in one
session. Rows with the same certificate (one certificate in several stores)
become one target asked about once.

It must not contact responders or write anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.core.certs import Role
from certwarden.core.revocation_settings import RevocationSettings
from certwarden.services.inventory import InventoryService
from certwarden.services.revocation.model import Target
from certwarden.services.revocation.settings import (
    load_monitor,
    load_revocation,
    load_security,
)
from certwarden.services.shared.trust_inputs import StoredIssuers, trusted_responders

__all__ = ["Selection", "StoredTarget", "load_selection", "monitored_filter"]

# IDs per IN (...) lookup: well under every backend's parameter limit.
_IN_CHUNK = 900


@dataclass(frozen=True)
class StoredTarget:
    """One stored row to record a result for: its ID, its target and its store's name."""

    row_id: int
    target: Target
    store: str


@dataclass
class Selection:
    """A check's input: targets by SHA-256 (rows sharing one), and what judges them."""

    settings: RevocationSettings
    common_criteria: bool
    trusted_responders: list[x509.Certificate]
    groups: dict[str, list[StoredTarget]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[Target]:
        """One target per distinct certificate, in the order of ``groups``."""
        return [group[0].target for group in self.groups.values()]


def monitored_filter(s: Session, query: Select[Any]) -> Select[Any]:
    """``query`` over ``certificates`` kept to the monitored ones: all but roots,
    LSCs only while LSC monitoring is on (the scheduled run's certificates)."""
    query = query.where(CertificateRow.role != Role.ROOT.value)
    if not load_monitor(s).lsc_enabled:
        query = query.where(CertificateRow.is_lsc.is_(False))
    return query


def load_selection(
    s: Session,
    refs: Sequence[str | int],
    all_monitored: bool,
    *,
    ids: Sequence[int] | None = None,
) -> Selection:
    """The certificates ``refs`` names (or every monitored one), with their issuers.

    ``ids`` (with ``all_monitored``): only the monitored ones among these row
    IDs (a chunk of a scheduled run; rows deleted since it was planned drop out).

    Raises:
        NotFoundError: a reference names no stored certificate.
        StorageError: a stored settings section does not validate.
    """
    settings = load_revocation(s)
    common_criteria = load_security(s).common_criteria
    stores: dict[int, str] = {sid: name for sid, name in s.execute(select(Store.id, Store.name))}
    # Only the columns a check needs (no ORM objects: thousands of rows).
    columns = select(
        CertificateRow.id,
        CertificateRow.sha256,
        CertificateRow.subject,
        CertificateRow.der,
        CertificateRow.issuer_id,
        CertificateRow.ocsp_uris,
        CertificateRow.store_id,
        CertificateRow.role,
    )
    if all_monitored and ids is not None:
        query = monitored_filter(s, columns)
        wanted = sorted(set(ids))
        rows: list[Row[Any]] = []
        for start in range(0, len(wanted), _IN_CHUNK):
            part = wanted[start : start + _IN_CHUNK]
            rows.extend(s.execute(query.where(CertificateRow.id.in_(part))))
        rows.sort(key=lambda r: r.id)
    elif all_monitored:
        rows = list(s.execute(monitored_filter(s, columns).order_by(CertificateRow.id)))
    else:
        named: list[int] = []
        for ref in refs:
            row_id = InventoryService._resolve(s, ref).id
            if row_id not in named:
                named.append(row_id)
        found = {r.id: r for r in s.execute(columns.where(CertificateRow.id.in_(named)))}
        rows = [found[i] for i in named]
    issuers = StoredIssuers(s)
    selection = Selection(
        settings, common_criteria, trusted_responders(s, settings.trusted_responder_store)
    )
    for row in rows:
        if row.role == Role.ROOT.value:
            selection.skipped.append(
                f"#{row.id} {row.subject}: a root CA is trusted by being in the store; "
                "there is no issuer to ask about it"
            )
            continue
        if row.sha256 in selection.groups:
            target = selection.groups[row.sha256][0].target
        else:
            cert = x509.load_der_x509_certificate(row.der)
            target = Target(
                cert=cert,
                sha256=row.sha256,
                subject=row.subject,
                issuer=issuers.for_cert(row.issuer_id, cert),
                ocsp_uris=tuple(row.ocsp_uris),
            )
        selection.groups.setdefault(row.sha256, []).append(
            StoredTarget(row.id, target, stores.get(row.store_id, ""))
        )
    return selection
