"""Importing: read and parse files (no writes), then store them in one transaction.

    prepared = prepare(db, workers, paths, store="tomcat-trust")   # parse, no writes
    report = commit(db, clock, workers, prepared)                   # one transaction

A file that cannot be read is rejected whole, with its reason; the good files
of the same import are stored. A failed commit stores nothing. The CPU-heavy
parsing runs in :mod:`.pipeline` (over processes when the input is big); the
issuer links are made by :mod:`.issuers`. Nothing here decides whether a
certificate may be stored: the revocation check on upload does that between
the two steps (``commit(..., exclude=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from sqlalchemy import Table

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow
from certwarden.clock import Clock
from certwarden.core.certs import Role, signed_by
from certwarden.core.expiry import lifetime_start
from certwarden.services.inventory.issuers import find_issuers, link_orphans, stored_issuer_id
from certwarden.services.inventory.pipeline import (
    PARALLEL_BYTES,
    Digested,
    Job,
    digest_all,
    plan_file,
)
from certwarden.services.inventory.records import (
    ImportedCertificate,
    ImportReport,
    PreparedCertificate,
    PreparedImport,
    Rejection,
)
from certwarden.services.inventory.stores import LSC_STORE, store_row
from certwarden.services.shared.lifecycle import clear_renewed

__all__ = ["commit", "iter_files", "prepare", "prepare_bytes"]


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


def prepare(
    db: Database,
    max_workers: int,
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
    workers = max_workers if total >= PARALLEL_BYTES else 1
    jobs: list[Job] = []
    for path, size in found:
        if workers > 1 and size > PARALLEL_BYTES // 4:
            jobs.extend(plan_file(path, password, blocks_per_part=2000))
        else:
            jobs.append(Job(str(path), 0, None, password))
    prepared = _prepare(db, jobs, workers, store=store, lsc=lsc, how=how, progress=progress)
    prepared.files += len(rejected)
    prepared.rejected[:0] = rejected
    return prepared


def prepare_bytes(
    db: Database,
    max_workers: int,
    files: Iterable[tuple[str, bytes]],
    *,
    store: str,
    lsc: bool = False,
    password: bytes | None = None,
    how: str = "upload",
    digester: Callable[[Sequence[Job]], list[Digested]] | None = None,
) -> PreparedImport:
    """Like :func:`prepare`, for uploaded contents (``(file name, bytes)`` pairs).

    ``digester`` parses the jobs instead of this process (a
    :class:`~.bounded.ParseBudget`: a worker process with a deadline).
    """
    jobs = [Job(name, 0, data, password) for name, data in files]
    total = sum(len(job.data or b"") for job in jobs)
    workers = max_workers if total >= PARALLEL_BYTES else 1
    return _prepare(
        db, jobs, workers, store=store, lsc=lsc, how=how, progress=None, digester=digester
    )


def _prepare(
    db: Database,
    jobs: list[Job],
    workers: int,
    *,
    store: str,
    lsc: bool,
    how: str,
    progress: Callable[[int], None] | None,
    digester: Callable[[Sequence[Job]], list[Digested]] | None = None,
) -> PreparedImport:
    with db.session() as s:
        store_row(s, store)
    prepared = PreparedImport(store=store, lsc=lsc or store == LSC_STORE, how=how)
    prepared.files = len({job.source for job in jobs})
    by_source: dict[str, list[Digested]] = {}
    results = digester(jobs) if digester is not None else digest_all(jobs, workers)
    for result in results:
        by_source.setdefault(result.source, []).append(result)
        if progress and result.part == 0:
            progress(1)
    for source, parts in by_source.items():
        problem = _merged_problem(parts)
        if problem is not None:
            code = parts[0].code if len(parts) == 1 else ""
            prepared.rejected.append(Rejection(source, problem, code))
            continue
        for digested_part in parts:
            prepared.notes.extend(f"{source}: {note}" for note in digested_part.notes)
            prepared.items.extend(
                PreparedCertificate(der, facts, source) for der, facts in digested_part.items
            )
    return prepared


def commit(
    db: Database,
    clock: Clock,
    workers: int,
    prepared: PreparedImport,
    *,
    exclude: frozenset[str] = frozenset(),
    revocation: dict[str, tuple[str, str | None, datetime | None, datetime | None]] | None = None,
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
    now = clock.now()
    duplicates: list[ImportedCertificate] = []
    with nullcontext(session) if session is not None else db.session() as s:
        store = store_row(s, prepared.store)
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
        issuers = find_issuers(s, items, roles, workers)
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
                stored_issuer_id(issuers.get(i.facts.sha256)),
                share=store.lifetime_share,
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
        link_orphans(s, [(ids[i.facts.sha256], i) for i in items if i.facts.is_ca])
        if items:
            # A renewal clears its predecessor's expiry alert at once (one notice).
            clear_renewed(s, now=now, keys=[(store.id, i.facts.subject) for i in items])
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
    *,
    share: float | None = None,
) -> dict[str, Any]:
    facts = item.facts
    # The store's lifetime-share threshold, if any, gives the notification start.
    notice_from = (
        lifetime_start(facts.not_before, facts.not_after, share) if share is not None else None
    )
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
        "weak_signature": facts.weak_signature,
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
        "notice_from": notice_from,
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
