"""Several ``certwarden serve`` on one database: nodes, job leases, fencing.

Every instance registers itself (node id, host, pid, version, started) and
beats its heart each round of the background loop. Each scheduled job
(:data:`JOBS`) runs on one instance at a time, the holder of its lease:

* a free or expired lease is taken with one conditional UPDATE (``expires_at
  < now``), which also increments its ``token``; a held one is renewed by its
  holder (``holder = me AND token = mine``), which leaves the token alone;
* :meth:`ClusterService.fence` is called inside the job's own transaction,
  just before it commits: it renews the lease under a row lock (an UPDATE
  of the row, which on PostgreSQL holds the lock until the commit) if it is
  still this tenure (same holder, same token), and otherwise refuses —
  :class:`LeaseLostError`, the transaction rolls back. A leader paused past
  its lease (SIGSTOP, a long GC, a lost network) whose job another instance
  took therefore commits nothing, and a takeover waits for a fenced commit
  in flight; a long run whose lease ran out with nobody taking it commits;
* a job longer than the lease keeps it while it runs
  (:class:`~certwarden.services.cluster.keeper.LeaseKeeper`, :meth:`renew`);
* a node whose heartbeat is older than the lease is gone: shown as such, and
  its leases expire on their own.

The schedule is the cluster's: the monitor's next run and the revocation
check's last run are rows in the database, so a failover is not a restart.
On SQLite there is one instance (a second refuses to start), and the same
code runs with one node.
"""

from __future__ import annotations

import contextlib
import os
import platform
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certwarden import __version__
from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ClusterLease, ClusterNode
from certwarden.clock import Clock, ensure_utc
from certwarden.core.timefmt import iso_z
from certwarden.errors import LeaseLostError

__all__ = [
    "DEFAULT_LEASE",
    "JOBS",
    "ClusterService",
    "ClusterStatus",
    "Lease",
    "LeaseInfo",
    "NodeInfo",
]

DEFAULT_LEASE = timedelta(seconds=30)
# The jobs that must run on one instance at a time. Long-lived TLS connections
# are each instance's own, and so are their re-checks: not a cluster job.
JOBS = ("monitor", "revocation", "outbox", "syslog", "ari")


@dataclass(frozen=True)
class Lease:
    """A lease this node holds: ``token`` names this tenure (fencing)."""

    job: str
    holder: str
    token: int
    expires_at: datetime


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    gone: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started_at": iso_z(self.started_at),
            "heartbeat_at": iso_z(self.heartbeat_at),
            "state": "gone" if self.gone else "alive",
        }


@dataclass(frozen=True)
class LeaseInfo:
    job: str
    holder: str | None
    token: int
    expires_at: datetime
    expired: bool
    acquired_at: datetime | None = None  # when this tenure began (the holder took the job)

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "holder": None if self.expired else self.holder,
            "last_holder": self.holder,
            "token": self.token,
            "acquired_at": iso_z(self.acquired_at) if self.acquired_at else None,
            "expires_at": iso_z(self.expires_at),
            "state": "expired" if self.expired else "held",
        }


@dataclass(frozen=True)
class ClusterStatus:
    at: datetime
    this_node: str
    lease: timedelta
    nodes: tuple[NodeInfo, ...]
    leases: tuple[LeaseInfo, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "this_node": self.this_node,
            "lease_seconds": int(self.lease.total_seconds()),
            "nodes": [n.to_json() for n in self.nodes],
            "leases": [lease.to_json() for lease in self.leases],
        }


class ClusterService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        node_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError("the lease must be positive")
        self._db = db
        self._clock = clock
        self.node_id = node_id or uuid.uuid4().hex
        self.lease = lease
        self._host = host or platform.node() or "-"
        self._pid = pid if pid is not None else os.getpid()
        self._held: dict[str, Lease] = {}

    # ------------------------------------------------------------------ nodes

    def register(self, now: datetime | None = None) -> None:
        """Record this node (again after a restart: a new node id each process)."""
        now = now or self._clock.now()
        with self._db.session() as s:
            row = s.get(ClusterNode, self.node_id)
            if row is None:
                s.add(
                    ClusterNode(
                        node_id=self.node_id,
                        host=self._host[:255],
                        pid=self._pid,
                        version=__version__,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )
            else:
                row.heartbeat_at = now

    def heartbeat(self, now: datetime | None = None) -> None:
        """This node is alive; forget nodes gone for more than a day."""
        now = now or self._clock.now()
        with self._db.session() as s:
            done = s.execute(
                update(ClusterNode)
                .where(ClusterNode.node_id == self.node_id)
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                s.add(
                    ClusterNode(
                        node_id=self.node_id, host=self._host[:255], pid=self._pid,
                        version=__version__, started_at=now, heartbeat_at=now,
                    )
                )  # fmt: skip
            s.execute(
                delete(ClusterNode)
                .where(ClusterNode.heartbeat_at < now - timedelta(days=1))
                .execution_options(synchronize_session=False)
            )

    def leave(self) -> None:
        """A clean shutdown: release this node's leases and remove it."""
        with self._db.session() as s:
            s.execute(
                update(ClusterLease)
                .where(ClusterLease.holder == self.node_id)
                .values(expires_at=self._clock.now() - timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )
            s.execute(
                delete(ClusterNode)
                .where(ClusterNode.node_id == self.node_id)
                .execution_options(synchronize_session=False)
            )
        self._held.clear()

    # ----------------------------------------------------------------- leases

    def acquire(self, job: str, now: datetime | None = None) -> Lease | None:
        """Renew this node's lease on ``job``, or take it when free or expired; else None."""
        if job not in JOBS:
            raise ValueError(f"unknown job {job!r}")
        now = now or self._clock.now()
        expires = now + self.lease
        with self._db.session() as s:
            _ensure_row(s, job, now)
            held = self._held.get(job)
            if held is not None:
                renewed = s.execute(
                    update(ClusterLease)
                    .where(
                        ClusterLease.job == job,
                        ClusterLease.holder == self.node_id,
                        ClusterLease.token == held.token,  # nobody took it since
                    )
                    .values(expires_at=expires)
                    .execution_options(synchronize_session=False)
                )
                if renewed.rowcount == 1:  # type: ignore[attr-defined]
                    lease = Lease(job, self.node_id, held.token, expires)
                    self._held[job] = lease
                    return lease
                self._held.pop(job, None)
            taken = s.execute(
                update(ClusterLease)
                .where(ClusterLease.job == job, ClusterLease.expires_at < now)
                .values(
                    holder=self.node_id,
                    token=ClusterLease.token + 1,
                    acquired_at=now,
                    expires_at=expires,
                )
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            token = s.scalar(select(ClusterLease.token).where(ClusterLease.job == job))
        lease = Lease(job, self.node_id, int(token or 0), expires)
        self._held[job] = lease
        return lease

    def renew(self, lease: Lease, now: datetime | None = None) -> bool:
        """Extend ``lease`` to ``now`` + the lease while it is still this tenure
        (:class:`~.keeper.LeaseKeeper`, during a job longer than the lease);
        False: another instance took the job."""
        now = now or self._clock.now()
        with self._db.session() as s:
            return self._extend(s, lease, now)

    def fence(self, lease: Lease) -> Callable[[Session], None]:
        """A check for the job's own transaction: raises LeaseLostError unless still held."""

        def check(s: Session) -> None:
            # Still this tenure (a takeover changes holder and token; a lease
            # that merely ran out during a long run, with nobody taking it, is
            # still ours): renew it, which also takes the row lock until commit.
            if not self._extend(s, lease, self._clock.now()):
                self._held.pop(lease.job, None)
                raise LeaseLostError(lease.job, lease.token)

        return check

    def _extend(self, s: Session, lease: Lease, now: datetime) -> bool:
        """Move ``lease`` to expire at ``now`` + the lease if it is still this
        tenure (same holder and token), in ``s``; False: another took it."""
        kept = s.execute(
            update(ClusterLease)
            .where(
                ClusterLease.job == lease.job,
                ClusterLease.holder == lease.holder,
                ClusterLease.token == lease.token,
            )
            .values(expires_at=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        return bool(kept.rowcount == 1)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ views

    def status(self, now: datetime | None = None) -> ClusterStatus:
        now = now or self._clock.now()
        with self._db.session() as s:
            nodes = tuple(
                NodeInfo(
                    n.node_id,
                    n.host,
                    n.pid,
                    n.version,
                    ensure_utc(n.started_at),
                    ensure_utc(n.heartbeat_at),
                    gone=ensure_utc(n.heartbeat_at) < now - self.lease,
                )
                for n in s.scalars(select(ClusterNode).order_by(ClusterNode.started_at))
            )
            leases = tuple(
                LeaseInfo(
                    row.job,
                    row.holder,
                    row.token,
                    ensure_utc(row.expires_at),
                    expired=ensure_utc(row.expires_at) < now,
                    acquired_at=ensure_utc(row.acquired_at) if row.acquired_at else None,
                )
                for row in s.scalars(select(ClusterLease).order_by(ClusterLease.job))
            )
        return ClusterStatus(now, self.node_id, self.lease, nodes, leases)


def _ensure_row(s: Session, job: str, now: datetime) -> None:
    if s.get(ClusterLease, job) is not None:
        return
    # Another instance may create it first: the same row either way.
    with contextlib.suppress(IntegrityError), s.begin_nested():
        s.execute(
            insert(ClusterLease).values(
                job=job,
                holder=None,
                token=0,
                acquired_at=None,
                expires_at=now - timedelta(seconds=1),
            )
        )
