"""The OCSP response cache shared by every instance on one database.

:class:`SharedResponseCache` is the in-process :class:`ResponseCache` (the
accelerator: a hit costs no database round trip) plus table
``shared_ocsp_answers``. Every validated REVOKED or UNKNOWN answer new to this
instance is written there (one transaction per batch, the response's DER once
in ``shared_ocsp_blobs`` as evidence), and so is a GOOD that replaces a
REVOKED or UNKNOWN this instance held (a hold released); other GOODs stay in
memory unless ``share_good`` (most answers are GOOD: a run of 20,000 would
write 20,000 rows for nothing the others must know). Rows are stamped with the
``ocsp`` counter (:mod:`certwarden.services.shared.generations`). At most once
a second (of the caller's ``now``), before serving or storing, an instance
reads the rows stamped after the last it saw and merges them into memory by
the cache's one rule: the later thisUpdate stands, and a REVOKED is not
overridden by a GOOD of the same instant (the upsert applies the same rule, so
the table never goes back either). So a certificate found REVOKED on one
instance is not served as GOOD from another's cache more than a second later,
and that answer is reused by the others. What is served still passes the
reader's own checks at every hit (freshness under its options, designated
signers trusted now, legacy signatures accepted).

Counter ``ocsp_clear`` ends every instance's cache at once when the judging
rules change (:meth:`SharedResponseCache.clear`). Could-not-tell results stay
in the instance that saw them (its back-off), as do expiry results. Per read,
at most :data:`SYNC_ROWS` rows are taken (the rest at the next one); the first
read of a process takes the newest :data:`SYNC_ROWS`.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import SharedOcspAnswer, SharedOcspBlob
from certwarden.core.ocsp import CertId, ResponseCache, RevocationResult
from certwarden.core.ocsp.freshness import fresh_until
from certwarden.core.ocsp.results import (
    CertStatus,
    Reason,
    Source,
    TrustModel,
    ValidationOptions,
)
from certwarden.errors import StorageError
from certwarden.services.shared.generations import SYNC_EVERY, Watch, bump

__all__ = ["SYNC_ROWS", "SharedResponseCache", "decode_result", "encode_result"]

SYNC_ROWS = 20_000  # rows read per sync at most
_CHUNK = 500  # rows per statement
_PURGE_EVERY = 200  # shares between two sweeps of rows past their freshness
log = logging.getLogger("certwarden.revocation")

_ENUMS: dict[str, type[enum.Enum]] = {
    "status": CertStatus,
    "reason": Reason,
    "trust_model": TrustModel,
    "source": Source,
}
_TIMES = frozenset({"revoked_at", "this_update", "next_update", "produced_at"})
_FIELDS = tuple(f.name for f in dataclasses.fields(RevocationResult) if f.name != "raw_response")


def encode_result(result: RevocationResult) -> dict[str, Any]:
    """Every field but the raw response, JSON-ready (full-precision ISO times)."""
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(result, name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def decode_result(data: dict[str, Any], raw: bytes | None) -> RevocationResult:
    """:func:`encode_result`'s inverse (ValueError/KeyError/TypeError when it is not one)."""
    kwargs: dict[str, Any] = {}
    for name in _FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is not None and name in _ENUMS:
            value = _ENUMS[name](value)
        elif value is not None and name in _TIMES:
            value = datetime.fromisoformat(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return RevocationResult(raw_response=raw, **kwargs)


def _shareable(result: RevocationResult) -> bool:
    return result.validated and result.this_update is not None and result.source is Source.OCSP


class SharedResponseCache(ResponseCache):
    """:class:`ResponseCache` shared through the database (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        sync_every: timedelta = SYNC_EVERY,
        max_entries: int = 100_000,
        max_lifetime: timedelta = timedelta(days=7),
        failure_backoff: timedelta = timedelta(minutes=5),
        share_good: bool = False,
    ) -> None:
        super().__init__(
            max_entries=max_entries, max_lifetime=max_lifetime, failure_backoff=failure_backoff
        )
        self._db = db
        self.share_good = share_good
        self._every = sync_every
        self._clears = Watch(db, "ocsp_clear", every=sync_every)
        self._seen: int | None = None  # the last ``ocsp`` stamp merged
        self._synced_at: datetime | None = None
        self._lock = threading.RLock()
        self._shares = 0

    # ----------------------------------------------------------------- reads

    def get(
        self,
        cert_id: CertId,
        now: datetime,
        *,
        trusted_responders: Sequence[x509.Certificate],
        options: ValidationOptions,
    ) -> RevocationResult | None:
        self.sync(now, options)
        with self._lock:
            return super().get(cert_id, now, trusted_responders=trusted_responders, options=options)

    def sync(self, now: datetime, options: ValidationOptions, *, force: bool = False) -> int:
        """Merge what other instances stored since the last sync (at most once per
        ``sync_every`` unless ``force``); how many rows were read."""
        with self._lock:
            last = self._synced_at
            if not force and last is not None and timedelta(0) <= now - last < self._every:
                return 0
            self._synced_at = now
            try:
                if self._clears.moved(now):
                    super().clear()
                return self._pull(now, options)
            except StorageError as exc:
                # The accelerator goes on with what it holds; the next sync tries again.
                log.warning("could not read the shared OCSP answers: %s",
                            exc.diagnostics().splitlines()[0][:300])  # fmt: skip
                return 0

    def _pull(self, now: datetime, options: ValidationOptions) -> int:
        a = SharedOcspAnswer
        columns = (a.cert_key, a.generation, a.result, a.response_sha256)
        with self._db.session() as s:
            if self._seen is None:
                # Every row stamped up to the top is committed (bump serialises writers).
                top = int(s.scalar(select(func.max(a.generation))) or 0)
                query = select(*columns).where(a.generation <= top, a.until > now)
                query = query.order_by(a.generation.desc()).limit(SYNC_ROWS)
                rows = list(reversed(s.execute(query).all()))
                self._seen = top
            else:
                query = select(*columns).where(a.generation > self._seen)
                rows = list(s.execute(query.order_by(a.generation).limit(SYNC_ROWS)))
            digests = {row.response_sha256 for row in rows if row.response_sha256}
            blobs = _blobs(s, digests)
        for row in rows:
            self._seen = max(self._seen, int(row.generation))
            try:
                result = decode_result(row.result, blobs.get(row.response_sha256 or ""))
            except (ValueError, KeyError, TypeError):
                continue  # not one of ours: never served
            ResponseCache.put_key(self, row.cert_key, result, now, options=options)
        return len(rows)

    # ---------------------------------------------------------------- writes

    def put(
        self,
        cert_id: CertId,
        result: RevocationResult,
        now: datetime,
        *,
        options: ValidationOptions,
    ) -> bool:
        return self.put_many([(cert_id, result)], now, options=options) > 0

    def put_many(
        self,
        items: Sequence[tuple[CertId, RevocationResult]],
        now: datetime,
        *,
        options: ValidationOptions,
    ) -> int:
        """Into memory; what is new and validated also into the shared table.

        A GOOD is written only where it replaces a REVOKED or UNKNOWN held here
        (this instance's own, or one merged from the table: the sync first), unless
        ``share_good``: most answers are GOOD, and a run of 20,000 would otherwise
        write 20,000 rows. REVOKED and UNKNOWN are always written.
        """
        self.sync(now, options)
        new: dict[str, RevocationResult] = {}
        with self._lock:
            for cert_id, result in items:
                key = cert_id.key()
                before = self._entries.get(key)
                if not ResponseCache.put_key(self, key, result, now, options=options):
                    continue
                if not _shareable(result):
                    continue
                overrides = (
                    before is not None
                    and before.result.validated
                    and before.result.status is not CertStatus.GOOD
                )
                if result.status is not CertStatus.GOOD or overrides or self.share_good:
                    new[key] = result
        if new:
            try:
                self._share(new, now, options)
            except StorageError as exc:
                # Bookkeeping for the others: this answer stands here all the same.
                log.warning("could not share %d OCSP answers with the other instances: %s",
                            len(new), exc.diagnostics().splitlines()[0][:300])  # fmt: skip
        return len(new)

    def _share(
        self, new: dict[str, RevocationResult], now: datetime, options: ValidationOptions
    ) -> None:
        chosen = list(new.items())
        with self._db.session() as s:
            # The counter's row lock, from here to the commit, orders the writers.
            stamp = bump(s, "ocsp", len(chosen)) - len(chosen)
            rows: list[dict[str, Any]] = []
            blobs: dict[str, bytes] = {}
            for key, result in chosen:
                stamp += 1
                if result.this_update is None:
                    continue
                digest = None
                if result.raw_response is not None:
                    digest = hashlib.sha256(result.raw_response).hexdigest()
                    blobs[digest] = result.raw_response
                fresh = fresh_until(result.this_update, result.next_update, options)
                until = now + self.max_lifetime
                rows.append(
                    {
                        "cert_key": key,
                        "generation": stamp,
                        "status": result.status.value,
                        "this_update": result.this_update,
                        "until": min(until, fresh) if fresh is not None else until,
                        "result": encode_result(result),
                        "response_sha256": digest,
                    }
                )
            _upsert_answers(s, rows)
            _insert_blobs(s, blobs)
            self._shares += 1
            if self._shares % _PURGE_EVERY == 0:
                purge(s, now)

    def clear(self) -> None:
        """Forget every answer, here, in the shared table and (within a second) on
        every other instance: the rules answers were judged under changed."""
        with self._lock:
            super().clear()
            with self._db.session() as s:
                bump(s, "ocsp_clear")
                s.execute(delete(SharedOcspAnswer))
                s.execute(delete(SharedOcspBlob))


def purge(s: Session, now: datetime) -> None:
    """Drop answers past their freshness, and the responses no answer names."""
    a = SharedOcspAnswer
    s.execute(delete(a).where(a.until <= now))
    named = select(a.response_sha256).where(a.response_sha256.is_not(None))
    s.execute(delete(SharedOcspBlob).where(SharedOcspBlob.sha256.not_in(named)))


def _blobs(s: Session, digests: set[str]) -> dict[str, bytes]:
    wanted = sorted(digests)
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(SharedOcspBlob.sha256, SharedOcspBlob.der).where(
            SharedOcspBlob.sha256.in_(wanted[start : start + _CHUNK])
        )
        found.update((digest, bytes(der)) for digest, der in s.execute(query))
    return found


def _insert(s: Session) -> Any:
    insert: Any
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _upsert_answers(s: Session, rows: list[dict[str, Any]]) -> None:
    """One statement, compiled once, executed for every row (executemany)."""
    if not rows:
        return
    table = SharedOcspAnswer.__table__
    statement = _insert(s)(table)
    excluded = statement.excluded
    columns = ("generation", "status", "this_update", "until", "result", "response_sha256")
    s.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.cert_key],
            set_={name: getattr(excluded, name) for name in columns},
            # The cache's rule, in the statement: never an older answer over a newer
            # one, nor a GOOD over a revocation of the same instant.
            where=(table.c.this_update < excluded.this_update)
            | (
                (table.c.this_update == excluded.this_update)
                & ((excluded.status != CertStatus.GOOD.value) | (table.c.status == excluded.status))
            ),
        ),
        rows,
    )


def _insert_blobs(s: Session, blobs: dict[str, bytes]) -> None:
    if not blobs:
        return
    table = SharedOcspBlob.__table__
    s.execute(
        _insert(s)(table).on_conflict_do_nothing(index_elements=[table.c.sha256]),
        [{"sha256": digest, "der": der} for digest, der in blobs.items()],
    )
