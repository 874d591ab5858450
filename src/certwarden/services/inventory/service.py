"""InventoryService: the trust-store inventory as the interfaces and other services hold it.

One object over the inventory's modules, so that callers keep one handle:

    inventory.list_stores() / create_store / delete_store / empty_store / ensure_store
    prepared = inventory.prepare(paths, store="tomcat-trust")             (importing: no writes)
    report = inventory.commit(prepared)                                   (one transaction)
    inventory.list(ListFilter(...)) / get / der / delete                  (reads)

An import happens in two steps so that other services can stand in between
(the revocation check on upload decides what may be stored). This class holds
no logic of its own: each method delegates to the module that does the job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.services.inventory import importing, reads, stores
from certwarden.services.inventory.bounded import DEFAULT_PARSE_LIMITS, ParseBudget, ParseLimits
from certwarden.services.inventory.records import (
    CertificateRecord,
    ImportReport,
    ListFilter,
    PreparedImport,
    StoreInfo,
)

__all__ = ["InventoryService"]

_EVERYTHING = ListFilter()


class InventoryService:
    """Stores and certificates."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        workers: int | None = None,
        upload_limits: ParseLimits = DEFAULT_PARSE_LIMITS,
    ) -> None:
        self._db = db
        self._clock = clock
        # Processes for the CPU-heavy part of big imports (parsing, signatures).
        self._workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
        # Untrusted uploads: parsed in a worker process, within a deadline, a few at once.
        self._uploads = ParseBudget(upload_limits)

    @property
    def upload_limits(self) -> ParseLimits:
        return self._uploads.limits

    # ---------------------------------------------------------------- stores

    def list_stores(self) -> list[StoreInfo]:
        return stores.list_stores(self._db)

    def create_store(self, name: str, description: str = "") -> StoreInfo:
        return stores.create_store(self._db, self._clock, name, description)

    def delete_store(self, name: str, *, force: bool = False) -> int:
        """Delete a store; a non-empty one only with ``force``. Returns certificates removed."""
        return stores.delete_store(self._db, name, force=force, now=self._clock.now())

    def empty_store(self, name: str) -> int:
        """Delete every certificate in ``name`` (built-in stores too); returns how many."""
        return stores.empty_store(self._db, name, now=self._clock.now())

    def ensure_store(self, name: str, description: str = "") -> None:
        """Create ``name`` if it does not exist (used for stores the product owns)."""
        stores.ensure_store(self._db, self._clock, name, description)

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
        """Read and parse ``paths``; nothing is written (:func:`.importing.prepare`)."""
        return importing.prepare(
            self._db,
            self._workers,
            paths,
            store=store,
            lsc=lsc,
            password=password,
            how=how,
            progress=progress,
        )

    def prepare_bytes(
        self,
        files: Iterable[tuple[str, bytes]],
        *,
        store: str,
        lsc: bool = False,
        password: bytes | None = None,
        how: str = "upload",
        bounded: bool = False,
    ) -> PreparedImport:
        """Like :meth:`prepare`, for uploaded contents (``(file name, bytes)`` pairs).

        ``bounded``: parse in a worker process within :attr:`upload_limits`
        (:mod:`.bounded`); a parse over the deadline raises ``ParseBudgetError``,
        one that finds every slot taken until then ``BusyError``.
        """
        return importing.prepare_bytes(
            self._db,
            self._workers,
            files,
            store=store,
            lsc=lsc,
            password=password,
            how=how,
            digester=self._uploads.digest if bounded else None,
        )

    def commit(
        self,
        prepared: PreparedImport,
        *,
        exclude: frozenset[str] = frozenset(),
        revocation: dict[str, tuple[str, str | None, datetime | None, datetime | None]]
        | None = None,
        session: Session | None = None,
    ) -> ImportReport:
        """Store what ``prepared`` holds, in one transaction (:func:`.importing.commit`).

        Args:
            exclude: SHA-256 fingerprints not to store (refused by a check).
            revocation: per SHA-256, ``(status, reason, checked_at, revoked_at)``
                recorded on the new rows (the check done at upload).
            session: the caller's transaction to join (the upload check stores
                its evidence in the same one), instead of a transaction of its own.
        """
        return importing.commit(
            self._db,
            self._clock,
            self._workers,
            prepared,
            exclude=exclude,
            revocation=revocation,
            session=session,
        )

    def import_paths(self, paths: Sequence[Path], **kwargs: Any) -> ImportReport:
        """Prepare and commit in one go (no check in between)."""
        return self.commit(self.prepare(paths, **kwargs))

    # ------------------------------------------------------------------ read

    def list(self, flt: ListFilter = _EVERYTHING) -> list[CertificateRecord]:
        return reads.list_certificates(self._db, self._clock, flt)

    def get(self, ref: str | int) -> CertificateRecord:
        """By numeric ID, or by SHA-256 fingerprint (or a unique prefix of 8+ hex digits)."""
        return reads.get_certificate(self._db, ref)

    def der(self, ref: str | int) -> bytes:
        return reads.certificate_der(self._db, ref)

    def delete(self, ref: str | int) -> CertificateRecord:
        return reads.delete_certificate(self._db, ref, now=self._clock.now())

    # The row a reference names, inside the caller's session (the revocation
    # service resolves "check this certificate" with it).
    _resolve = staticmethod(reads.resolve)
