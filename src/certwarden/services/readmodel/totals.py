"""List totals, reused until anything is committed to the database (SQLite only).

Counting a big filtered list costs more than reading its page, and paging
through a list asks for the same total each time. Nothing here reads
certificates; it only remembers counts that :mod:`.certificates` made.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from certwarden.adapters.db import Database

__all__ = ["Totals"]


class Totals:
    """List totals, reused until anything is committed to the database (SQLite only).

    Counting a big filtered list (a store of 90,000 certificates) costs more than
    reading its page, and paging through a list asks for the same total each time.
    ``PRAGMA data_version`` on a connection that never writes changes whenever any
    other connection, in this process or another, commits; a total counted after
    the version was read is reused only while the version stays the same.
    """

    _MAX = 1024

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._watcher: Any = None  # a DB-API connection of its own, never used to write
        self._version: int | None = None
        self._totals: dict[Hashable, int] = {}

    def version(self) -> int | None:
        """The database's change counter now, or None (no reuse: not SQLite, or failing)."""
        if self._db.dialect != "sqlite":
            return None
        with self._lock:
            try:
                if self._watcher is None:
                    self._watcher = self._db.engine.raw_connection()
                    self._watcher.detach()  # its own, outside the pool
                cursor = self._watcher.cursor()
                try:
                    cursor.execute("PRAGMA data_version")
                    version = int(cursor.fetchone()[0])
                finally:
                    cursor.close()
            except (SQLAlchemyError, self._db.engine.dialect.loaded_dbapi.Error):
                self._watcher = None  # the count itself then runs, and reports any error
                return None
            if version != self._version:
                self._version = version
                self._totals.clear()
            return version

    def get(self, version: int | None, key: Hashable) -> int | None:
        if version is None:
            return None
        with self._lock:
            return self._totals.get(key) if version == self._version else None

    def put(self, version: int | None, key: Hashable, total: int) -> None:
        if version is None:
            return
        with self._lock:
            if version == self._version:
                if len(self._totals) >= self._MAX:
                    self._totals.clear()
                self._totals[key] = total
