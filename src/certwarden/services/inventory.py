"""The trust-store inventory: stores, imports, listing, export and deletion.

An import happens in two steps so that other services can stand in between
(the revocation check on upload decides what may be stored):

    prepared = inventory.prepare(paths, store="tomcat-trust")   # parse, no writes
    report = inventory.commit(prepared)                          # one transaction

A file that cannot be read is rejected whole, with its reason; the good files
of the same import are stored. A failed commit stores nothing.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cryptography import x509
from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from sqlalchemy import Table

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.clock import Clock, ensure_utc
from certwarden.core.certs import CertFacts, Role, facts_from_certificate, find_issuer, signed_by
from certwarden.errors import ConflictError, InputError, NotFoundError
from certwarden.services._import_pipeline import (
    PARALLEL_BYTES,
    Digested,
    Job,
    digest_all,
    plan_file,
    verify_issuers,
)

__all__ = [
    "LSC_STORE",
    "RECORD_COLUMNS",
    "CertificateRecord",
    "ImportReport",
    "InventoryService",
    "ListFilter",
    "PreparedCertificate",
    "PreparedImport",
    "Rejection",
    "StoreInfo",
]

LSC_STORE = "lsc"
_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HEX = re.compile(r"^[0-9a-fA-F:]+$")


def iso(when: datetime | None) -> str | None:
    """ISO-8601 UTC with a ``Z`` (the JSON time format everywhere)."""
    if when is None:
        return None
    when = ensure_utc(when)
    if when.year < 1000:  # strftime's %Y pads (or not) as the platform's C library does
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    # The same text as that strftime, at a third of the cost (a list page formats hundreds).
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 - twice as fast as an f-string
        when.year,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
    )


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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "builtin": self.builtin,
            "certificates": self.certificates,
        }


@dataclass(frozen=True)
class Rejection:
    """A file (or one certificate in it) that was not imported, and why."""

    source: str
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.source, "problem": self.problem}


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
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "days_left": round(self.days_left(now), 2),
            "expired": now > self.not_after,
            "sha256": self.sha256,
            "sha1": self.sha1,
            "sans": list(self.sans),
            "key_type": self.key_type,
            "key_size": self.key_size,
            "signature_algorithm": self.signature_algorithm,
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
            "imported_at": iso(self.imported_at),
            "revocation": {
                "status": self.revocation_status or "not_checked",
                "reason": self.revocation_reason,
                "checked_at": iso(self.revocation_checked_at),
                "revoked_at": iso(self.revoked_at),
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


def iter_files(paths: Sequence[Path]) -> Iterator[Path | Rejection]:
    """Files under ``paths`` (directories recursively, sorted), or a Rejection per bad path."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not child.name.startswith("."):
                    yield child
        elif path.is_file():
            yield path
        elif path.exists():
            yield Rejection(str(path), "is not a regular file or directory")
        else:
            yield Rejection(str(path), "does not exist")


class InventoryService:
    """Stores and certificates."""

    def __init__(self, db: Database, clock: Clock, *, workers: int | None = None) -> None:
        self._db = db
        self._clock = clock
        # Processes for the CPU-heavy part of big imports (parsing, signatures).
        self._workers = workers if workers is not None else min(os.cpu_count() or 1, 8)

    # ---------------------------------------------------------------- stores

    def list_stores(self) -> list[StoreInfo]:
        with self._db.session() as s:
            counts = dict(
                s.execute(
                    select(CertificateRow.store_id, func.count()).group_by(CertificateRow.store_id)
                ).all()
            )
            return [
                StoreInfo(st.name, st.description, st.builtin, counts.get(st.id, 0))
                for st in s.scalars(select(Store).order_by(Store.name))
            ]

    def create_store(self, name: str, description: str = "") -> StoreInfo:
        if not _STORE_NAME.match(name):
            raise InputError(
                f"store name {name!r} is not valid: use letters, digits, '.', '_' or '-', "
                "starting with a letter or digit, at most 128 characters"
            )
        with self._db.session() as s:
            if s.scalar(select(Store).where(Store.name == name)) is not None:
                raise ConflictError(f"store {name!r} already exists")
            s.add(
                Store(
                    name=name, description=description, builtin=False, created_at=self._clock.now()
                )
            )
        return StoreInfo(name, description, False, 0)

    def delete_store(self, name: str, *, force: bool = False) -> int:
        """Delete a store; a non-empty one only with ``force``. Returns certificates removed."""
        with self._db.session() as s:
            store = self._store(s, name)
            count = (
                s.scalar(
                    select(func.count())
                    .select_from(CertificateRow)
                    .where(CertificateRow.store_id == store.id)
                )
                or 0
            )
            if count and not force:
                raise ConflictError(
                    f"store {name!r} holds {count} certificate(s); use --force to delete it with them"
                )
            s.execute(delete(CertificateRow).where(CertificateRow.store_id == store.id))
            s.delete(store)
            return count

    def ensure_store(self, name: str, description: str = "") -> None:
        """Create ``name`` if it does not exist (used for stores the product owns)."""
        with self._db.session() as s:
            if s.scalar(select(Store.id).where(Store.name == name)) is None:
                s.add(
                    Store(
                        name=name,
                        description=description,
                        builtin=False,
                        created_at=self._clock.now(),
                    )
                )

    @staticmethod
    def _store(s: Session, name: str) -> Store:
        store = s.scalar(select(Store).where(Store.name == name))
        if store is None:
            known = ", ".join(s.scalars(select(Store.name).order_by(Store.name)))
            raise NotFoundError(f"no store named {name!r} (stores: {known})")
        return store

    # ---------------------------------------------------------------- import

    def prepare(
        self,
        paths: Sequence[Path],
        *,
        store: str,
        lsc: bool = False,
        password: bytes | None = None,
        how: str = "cli",
        progress: Callable[[int], None] | None = None,
    ) -> PreparedImport:
        """Read and parse ``paths``; nothing is written.

        Big inputs are parsed by worker processes that read the files
        themselves (a big PEM bundle in slices), so this process never holds
        the raw bytes and the parsed certificates at once.
        """
        found: list[tuple[Path, int]] = []
        rejected: list[Rejection] = []
        for entry in iter_files(paths):
            if isinstance(entry, Rejection):
                rejected.append(entry)
                continue
            try:
                found.append((entry, entry.stat().st_size))
            except OSError as exc:
                rejected.append(Rejection(str(entry), f"cannot be read: {exc.strerror}"))
        total = sum(size for _, size in found)
        workers = self._workers if total >= PARALLEL_BYTES else 1
        jobs: list[Job] = []
        for path, size in found:
            if workers > 1 and size > PARALLEL_BYTES // 4:
                jobs.extend(plan_file(path, password, blocks_per_part=2000))
            else:
                jobs.append(Job(str(path), 0, None, password))
        prepared = self._prepare(jobs, workers, store=store, lsc=lsc, how=how, progress=progress)
        prepared.files += len(rejected)
        prepared.rejected[:0] = rejected
        return prepared

    def prepare_bytes(
        self,
        files: Iterable[tuple[str, bytes]],
        *,
        store: str,
        lsc: bool = False,
        password: bytes | None = None,
        how: str = "upload",
    ) -> PreparedImport:
        """Like :meth:`prepare`, for uploaded contents (``(file name, bytes)`` pairs)."""
        jobs = [Job(name, 0, data, password) for name, data in files]
        total = sum(len(job.data or b"") for job in jobs)
        workers = self._workers if total >= PARALLEL_BYTES else 1
        return self._prepare(jobs, workers, store=store, lsc=lsc, how=how, progress=None)

    def _prepare(
        self,
        jobs: list[Job],
        workers: int,
        *,
        store: str,
        lsc: bool,
        how: str,
        progress: Callable[[int], None] | None,
    ) -> PreparedImport:
        with self._db.session() as s:
            self._store(s, store)
        prepared = PreparedImport(store=store, lsc=lsc or store == LSC_STORE, how=how)
        prepared.files = len({job.source for job in jobs})
        by_source: dict[str, list[Digested]] = {}
        for result in digest_all(jobs, workers):
            by_source.setdefault(result.source, []).append(result)
            if progress and result.part == 0:
                progress(1)
        for source, parts in by_source.items():
            problem = _merged_problem(parts)
            if problem is not None:
                prepared.rejected.append(Rejection(source, problem))
                continue
            for digested_part in parts:
                prepared.notes.extend(f"{source}: {note}" for note in digested_part.notes)
                prepared.items.extend(
                    PreparedCertificate(der, facts, source) for der, facts in digested_part.items
                )
        return prepared

    def commit(
        self,
        prepared: PreparedImport,
        *,
        exclude: frozenset[str] = frozenset(),
        revocation: dict[str, tuple[str, str | None, datetime | None, datetime | None]]
        | None = None,
        session: Session | None = None,
    ) -> ImportReport:
        """Store what ``prepared`` holds, in one transaction.

        Args:
            exclude: SHA-256 fingerprints not to store (refused by a check).
            revocation: per SHA-256, ``(status, reason, checked_at, revoked_at)``
                recorded on the new rows (the check done at upload).
            session: the caller's transaction to join (the upload check stores
                its evidence in the same one), instead of a transaction of its own.
        """
        now = self._clock.now()
        duplicates: list[ImportedCertificate] = []
        with nullcontext(session) if session is not None else self._db.session() as s:
            store = self._store(s, prepared.store)
            existing = _existing_in_store(s, store.id, {i.facts.sha256 for i in prepared.items})
            fresh: dict[str, PreparedCertificate] = {}
            for item in prepared.items:
                sha = item.facts.sha256
                if sha in exclude:
                    continue
                if sha in existing or sha in fresh:
                    duplicates.append(
                        ImportedCertificate(
                            existing.get(sha, 0),
                            sha,
                            item.facts.subject,
                            prepared.store,
                            "",
                            item.source,
                        )
                    )
                    continue
                fresh[sha] = item
            items = list(fresh.values())
            roles = {
                i.facts.sha256: i.facts.role(
                    signed_by_self=i.facts.self_issued and signed_by(i.cert, i.cert)
                )
                for i in items
            }
            issuers = self._find_issuers(s, items, roles)
            # A certificate whose issuer was stored before gets its link as it is
            # inserted; one issued by a CA of this same import, once both have IDs.
            rows = (
                _row_values(
                    i,
                    roles[i.facts.sha256],
                    store.id,
                    prepared,
                    now,
                    (revocation or {}).get(i.facts.sha256),
                    _stored_issuer_id(issuers.get(i.facts.sha256)),
                )
                for i in items
            )
            ids = _insert_rows(s, rows, store.id, set(fresh))
            table = cast("Table", CertificateRow.__table__)
            statement = (
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(issuer_id=bindparam("new_issuer_id"))
            )
            links: list[dict[str, int]] = []
            for item in items:
                ref = issuers.get(item.facts.sha256)
                if ref is None or ref[0] != "new":
                    continue
                target = ids.get(ref[1])
                if target is not None and target != ids[item.facts.sha256]:
                    links.append({"row_id": ids[item.facts.sha256], "new_issuer_id": target})
                if len(links) == 5_000:
                    s.execute(statement, links)
                    links = []
            if links:
                s.execute(statement, links)
            del issuers
            _link_orphans(s, [(ids[i.facts.sha256], i) for i in items if i.facts.is_ca])
        imported = tuple(
            ImportedCertificate(
                ids[i.facts.sha256], i.facts.sha256, i.facts.subject, prepared.store,
                roles[i.facts.sha256].value, i.source,
            )
            for i in items
        )  # fmt: skip
        return ImportReport(
            imported,
            tuple(duplicates),
            tuple(prepared.rejected),
            tuple(prepared.notes),
            prepared.files,
        )

    def _find_issuers(
        self, s: Session, items: Sequence[PreparedCertificate], roles: dict[str, Role]
    ) -> dict[str, tuple[str, str]]:
        """Each new non-root certificate's issuer: ``("new", sha256)`` or ``("stored", id)``.

        Candidates are CAs named as the issuer (new in this import, or stored),
        narrowed by key identifier and confirmed by the signature.
        """
        wanted = {i.facts.issuer for i in items if roles[i.facts.sha256] is not Role.ROOT}
        candidates: list[tuple[tuple[str, str], bytes, CertFacts]] = [
            (("new", i.facts.sha256), i.der, i.facts)
            for i in items
            if i.facts.is_ca and i.facts.subject in wanted
        ]
        if wanted:
            names = list(wanted)
            for chunk_start in range(0, len(names), 500):
                for rid, der, ski, subject in s.execute(
                    select(
                        CertificateRow.id,
                        CertificateRow.der,
                        CertificateRow.subject_key_id,
                        CertificateRow.subject,
                    )
                    .where(
                        CertificateRow.is_ca.is_(True),
                        CertificateRow.subject.in_(names[chunk_start : chunk_start + 500]),
                    )
                    .order_by(CertificateRow.id)
                ):
                    stub = _CandidateFacts(subject, ski)
                    candidates.append((("stored", str(rid)), der, stub))  # type: ignore[arg-type]
        by_name: dict[str, list[int]] = {}
        for index, (_, _, cfacts) in enumerate(candidates):
            by_name.setdefault(cfacts.subject, []).append(index)
        jobs: list[tuple[bytes, tuple[int, ...]]] = []
        owners: list[str] = []
        for item in items:
            f = item.facts
            if roles[f.sha256] is Role.ROOT:
                continue
            options = tuple(
                idx
                for idx in by_name.get(f.issuer, ())
                if candidates[idx][0] != ("new", f.sha256)
                and not (f.authority_key_id and candidates[idx][2].subject_key_id
                         and f.authority_key_id != candidates[idx][2].subject_key_id)
            )  # fmt: skip
            if options:
                jobs.append((item.der, options))
                owners.append(f.sha256)
        found = verify_issuers([c[1] for c in candidates], jobs, self._workers)
        return {
            sha: candidates[idx][0]
            for sha, idx in zip(owners, found, strict=True)
            if idx is not None
        }

    def import_paths(self, paths: Sequence[Path], **kwargs: Any) -> ImportReport:
        """Prepare and commit in one go (no check in between)."""
        return self.commit(self.prepare(paths, **kwargs))

    # ------------------------------------------------------------------ read

    def list(self, flt: ListFilter = ListFilter()) -> list[CertificateRecord]:
        now = self._clock.now()
        issuer = CertificateRow.__table__.alias("issuer_cert")
        query = (
            select(CertificateRow, Store.name, issuer.c.sha256)
            .join(Store, Store.id == CertificateRow.store_id)
            .outerjoin(issuer, issuer.c.id == CertificateRow.issuer_id)
        )
        if flt.store is not None:
            query = query.where(Store.name == flt.store)
        if flt.lsc is not None:
            query = query.where(CertificateRow.is_lsc.is_(flt.lsc))
        windows = []
        if flt.expiring_within is not None:
            windows.append(
                and_(
                    CertificateRow.not_after >= now,
                    CertificateRow.not_after <= now + flt.expiring_within,
                )
            )
        if flt.expired:
            windows.append(CertificateRow.not_after < now)
        if windows:
            query = query.where(or_(*windows))
        query = query.order_by(CertificateRow.not_after, CertificateRow.id).offset(flt.offset)
        if flt.limit is not None:
            query = query.limit(flt.limit)
        with self._db.session() as s:
            if flt.store is not None:
                self._store(s, flt.store)
            return [CertificateRecord.from_row(row, st, isha) for row, st, isha in s.execute(query)]

    def get(self, ref: str | int) -> CertificateRecord:
        """By numeric ID, or by SHA-256 fingerprint (or a unique prefix of 8+ hex digits)."""
        with self._db.session() as s:
            row = self._resolve(s, ref)
            store = s.get_one(Store, row.store_id).name
            isha = s.get(CertificateRow, row.issuer_id).sha256 if row.issuer_id else None  # type: ignore[union-attr]
            return CertificateRecord.from_row(row, store, isha)

    def der(self, ref: str | int) -> bytes:
        with self._db.session() as s:
            return self._resolve(s, ref).der

    def delete(self, ref: str | int) -> CertificateRecord:
        record = self.get(ref)
        with self._db.session() as s:
            s.execute(delete(CertificateRow).where(CertificateRow.id == record.id))
        return record

    @staticmethod
    def _resolve(s: Session, ref: str | int) -> CertificateRow:
        text = str(ref).strip()
        if text.isdigit() and len(text) < 19:
            row = s.get(CertificateRow, int(text))
            if row is None:
                raise NotFoundError(f"no certificate with ID {text}")
            return row
        digest = text.replace(":", "").lower()
        if not _HEX.match(text) or len(digest) < 8 or len(digest) > 64:
            raise InputError(
                f"{text!r} is neither a certificate ID nor a SHA-256 fingerprint (or 8+ hex digit prefix)"
            )
        rows = list(
            s.scalars(
                select(CertificateRow)
                .where(
                    CertificateRow.sha256 == digest
                    if len(digest) == 64
                    else CertificateRow.sha256.startswith(digest)
                )
                .limit(10)
            )
        )
        if not rows:
            raise NotFoundError(f"no certificate with SHA-256 {digest}")
        if len(rows) > 1:
            ids = ", ".join(str(r.id) for r in rows)
            raise ConflictError(f"{digest} matches several certificates (IDs {ids}); give an ID")
        return rows[0]


@dataclass(frozen=True)
class _CandidateFacts:
    """What issuer matching needs of a stored CA (without re-deriving all facts)."""

    subject: str
    subject_key_id: str | None


def _merged_problem(parts: list[Digested]) -> str | None:
    """A file split into slices is rejected when any slice is bad, or when none holds a certificate."""
    if len(parts) == 1:
        return parts[0].problem
    has_certs = any(p.items for p in parts)
    for piece in parts:
        harmless = (
            has_certs
            and piece.problem is not None
            and "certificate" in piece.problem
            and ("not a certificate" in piece.problem or "no certificate" in piece.problem)
        )
        if piece.problem and not harmless:
            return piece.problem
    return None if has_certs else parts[0].problem


def _stored_issuer_id(ref: tuple[str, str] | None) -> int | None:
    return int(ref[1]) if ref is not None and ref[0] == "stored" else None


def _existing_in_store(s: Session, store_id: int, wanted: set[str]) -> dict[str, int]:
    query = select(CertificateRow.sha256, CertificateRow.id).where(
        CertificateRow.store_id == store_id
    )
    if len(wanted) <= 500:
        query = query.where(CertificateRow.sha256.in_(wanted))
    return {sha: rid for sha, rid in s.execute(query) if sha in wanted}


def _row_values(
    item: PreparedCertificate,
    role: Role,
    store_id: int,
    prepared: PreparedImport,
    now: datetime,
    status: tuple[str, str | None, datetime | None, datetime | None] | None,
    issuer_id: int | None = None,
) -> dict[str, Any]:
    facts = item.facts
    return {
        "store_id": store_id,
        "sha256": facts.sha256,
        "sha1": facts.sha1,
        "subject": facts.subject,
        "subject_cn": facts.subject_cn[:255],
        "issuer": facts.issuer,
        "issuer_cn": facts.issuer_cn[:255],
        "serial": facts.serial,
        "not_before": facts.not_before,
        "not_after": facts.not_after,
        "sans": list(facts.sans),
        "key_type": facts.key_type,
        "key_size": facts.key_size,
        "signature_algorithm": facts.signature_algorithm,
        "is_ca": facts.is_ca,
        "role": role.value,
        "key_usage": list(facts.key_usage),
        "extended_key_usage": list(facts.extended_key_usage),
        "is_ocsp_signer": facts.is_ocsp_signer,
        "ocsp_uris": list(facts.ocsp_uris),
        "ca_issuer_uris": list(facts.ca_issuer_uris),
        "crl_uris": list(facts.crl_uris),
        "subject_key_id": facts.subject_key_id,
        "authority_key_id": facts.authority_key_id,
        "is_lsc": prepared.lsc,
        "source": prepared.how,
        "source_detail": item.source,
        "imported_at": now,
        "issuer_id": issuer_id,
        "endpoint_id": None,
        "der": item.der,
        "last_notified_at": None,
        "revocation_status": status[0] if status else None,
        "revocation_reason": status[1] if status else None,
        "revocation_checked_at": status[2] if status else None,
        "revoked_at": status[3] if status else None,
    }


def _insert_rows(
    s: Session, rows: Iterable[dict[str, Any]], store_id: int, wanted: set[str]
) -> dict[str, int]:
    """Insert with plain executemany (the DB-API fast path), a chunk of rows at a
    time so a big import never holds every row at once; SHA-256 -> new ID.

    IDs are read back afterwards: every new row has an ID above the highest one
    before the insert, and its SHA-256 is unique within this import.
    """
    if not wanted:
        return {}
    table = cast("Table", CertificateRow.__table__)
    before = s.scalar(select(func.max(CertificateRow.id))) or 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == 5_000:
            s.execute(insert(table), chunk)
            chunk = []
    if chunk:
        s.execute(insert(table), chunk)
    found = s.execute(
        select(CertificateRow.sha256, CertificateRow.id).where(
            CertificateRow.id > before, CertificateRow.store_id == store_id
        )
    )
    return {sha: rid for sha, rid in found if sha in wanted}


def _link_orphans(s: Session, new_cas: Sequence[tuple[int, PreparedCertificate]]) -> None:
    """Link stored certificates whose issuer arrived only now."""
    if not new_cas:
        return
    by_subject: dict[str, list[tuple[int, PreparedCertificate]]] = {}
    for rid, item in new_cas:
        by_subject.setdefault(item.facts.subject, []).append((rid, item))
    new_ids = {rid for rid, _ in new_cas}
    orphans = s.execute(
        select(CertificateRow.id, CertificateRow.der).where(
            CertificateRow.issuer_id.is_(None),
            CertificateRow.role != Role.ROOT.value,
            CertificateRow.issuer.in_(list(by_subject)),
        )
    ).all()
    for orphan_id, der in orphans:
        if orphan_id in new_ids:
            continue
        cert = x509.load_der_x509_certificate(der)
        facts = facts_from_certificate(cert, der)
        options = by_subject[facts.issuer]
        index = find_issuer(cert, facts, [(i.cert, i.facts) for _, i in options])
        if index is not None:
            s.execute(
                update(CertificateRow)
                .where(CertificateRow.id == orphan_id)
                .values(issuer_id=options[index][0])
            )
