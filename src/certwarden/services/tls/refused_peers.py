"""The TLS peers refused by the policy, shared by every instance on the database.

A peer refused once is asked about afresh (no staple, no cache) on every
later connection until its status allows it again (:class:`TlsGuard`). The
set is table ``tls_refused_peers`` with an in-process copy in front: a
refusal or a release changes the row and bumps counter ``tls_refused``
(:mod:`certwarden.services.shared.generations`); each instance reloads its
copy when the counter moved, reading it at most once a second. So a peer
refused on one instance is refused afresh on all of them within a second,
and a check that finds the status unchanged costs no database write.

At most :data:`MAX_PEERS` (the most recently refused) are held; rows older
than :data:`FORGET_AFTER` are dropped.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import RefusedPeer
from certwarden.core.ocsp import Reason, RevocationResult
from certwarden.errors import StorageError
from certwarden.services.revocation import decode_result, encode_result
from certwarden.services.shared.generations import SYNC_EVERY, Watch, bump

__all__ = ["FORGET_AFTER", "MAX_PEERS", "RefusedPeers"]

MAX_PEERS = 10_000
FORGET_AFTER = timedelta(days=30)
log = logging.getLogger("certwarden.tls")


class RefusedPeers:
    """Leaf SHA-256 -> the result that refused it (see the module docstring)."""

    def __init__(self, db: Database, *, every: timedelta = SYNC_EVERY) -> None:
        self._db = db
        self._watch = Watch(db, "tls_refused", every=every)
        self._held: dict[str, RevocationResult] = {}
        self._lock = threading.Lock()

    def _sync(self, now: datetime) -> None:
        try:
            if not self._watch.moved(now):
                return
            with self._db.session() as s:
                rows = s.execute(
                    select(RefusedPeer.sha256, RefusedPeer.result)
                    .order_by(RefusedPeer.refused_at.desc())
                    .limit(MAX_PEERS)
                ).all()
        except StorageError as exc:
            log.warning("could not read the refused TLS peers (the copy held goes on): %s",
                        exc.diagnostics().splitlines()[0][:300])  # fmt: skip
            return
        loaded: dict[str, RevocationResult] = {}
        for sha256, data in rows:
            try:
                loaded[sha256] = decode_result(data, None)
            except (ValueError, KeyError, TypeError):
                # Not one of ours: still refused afresh (asking again is the safe side).
                loaded[sha256] = RevocationResult.could_not_tell(
                    Reason.MALFORMED_RESPONSE, "a refused-peer row that does not read"
                )
        with self._lock:
            self._held = loaded

    def all(self, now: datetime) -> dict[str, RevocationResult]:
        self._sync(now)
        with self._lock:
            return dict(self._held)

    def __contains__(self, sha256: object) -> bool:
        with self._lock:
            return sha256 in self._held

    def is_refused(self, sha256: str, now: datetime) -> bool:
        self._sync(now)
        return sha256 in self

    def refuse(self, sha256: str, result: RevocationResult, now: datetime) -> None:
        """``sha256``'s peer was refused with ``result``: here and on every instance."""
        with self._lock:
            before = self._held.get(sha256)
            self._held[sha256] = result
        if before is not None and before.status is result.status:
            return  # refused already, for the same status: nothing new to tell
        self._write(sha256, result, now)

    def release(self, sha256: str, now: datetime) -> None:
        """``sha256``'s status allows it again: no longer refused afresh anywhere."""
        with self._lock:
            if self._held.pop(sha256, None) is None:
                return
        self._write(sha256, None, now)

    def _write(self, sha256: str, result: RevocationResult | None, now: datetime) -> None:
        try:
            with self._db.session() as s:
                if result is None:
                    s.execute(delete(RefusedPeer).where(RefusedPeer.sha256 == sha256))
                else:
                    values = {"refused_at": now, "result": encode_result(result)}
                    s.execute(
                        _insert(s)(RefusedPeer)
                        .values(sha256=sha256, **values)
                        .on_conflict_do_update(index_elements=[RefusedPeer.sha256], set_=values)
                    )
                    s.execute(
                        delete(RefusedPeer).where(RefusedPeer.refused_at < now - FORGET_AFTER)
                    )
                bump(s, "tls_refused")
        except StorageError as exc:
            log.warning("could not share the refusal state of TLS peer %s: %s", sha256[:16],
                        exc.diagnostics().splitlines()[0][:300])  # fmt: skip


def _insert(s: Session) -> Any:
    insert: Any
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert
