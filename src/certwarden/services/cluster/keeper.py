"""Keeps a job's lease (or a chunk's claim) from running out while the job runs.

The background loop renews its leases between jobs, once a round. A job that
takes longer than the lease — a monitor run over a large inventory, a chunk
against a slow responder, a long delivery round — would otherwise lose its
lease half-way: another instance takes the job and does it again, and the
first one's commit is refused by the fence. With several instances and every
run as long, no run would ever commit.

:meth:`LeaseKeeper.holding` marks the job in progress; a thread of its own
renews, every third of the lease, the node's heartbeat (it is alive, not
gone) and what the job holds (``renew``), in transactions of their own. Only
that job's: the instance's other leases run out as before, so a long monitor
run does not hold up outbox delivery on the other instances.

What the keeper does not change:

* a paused process (SIGSTOP, a frozen VM) pauses its keeper too: its lease
  runs out and another instance takes the job, fenced as before;
* a job that has run for :data:`KEEP_AT_MOST` is no longer kept (logged
  once): a job stuck for good does not keep the job from the cluster for
  ever. Its commit still goes through if nobody took the job meanwhile;
* one instance on SQLite (no other can take anything over): the keeper
  stays off, and its writes never wait on the run's write transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from certwarden.clock import Clock
from certwarden.services.cluster.service import ClusterService, Lease

__all__ = ["KEEP_AT_MOST", "LeaseKeeper"]

log = logging.getLogger(__name__)

# How long one job keeps what it holds, at most (then the lease runs out as
# if the keeper were not there).
KEEP_AT_MOST = timedelta(hours=1)

Renew = Callable[[datetime], bool]


@dataclass
class _Job:
    what: str
    renew: Renew
    since: datetime
    kept: bool = True


class LeaseKeeper:
    """Renews the lease of the job in progress; see the module docstring."""

    def __init__(
        self,
        cluster: ClusterService,
        clock: Clock,
        *,
        active: bool = True,
        every: float | None = None,
        at_most: timedelta = KEEP_AT_MOST,
    ) -> None:
        self._cluster = cluster
        self._clock = clock
        self._active = active
        self._every = every if every is not None else cluster.lease.total_seconds() / 3
        if self._every <= 0:
            raise ValueError("the keeper's interval must be positive")
        self._at_most = at_most
        self._job: _Job | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0  # renewals made (for tests and the curious)

    def start(self) -> None:
        """Start the keeper's thread (serve's background loop); a no-op when off."""
        if not self._active or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="certwarden-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @contextmanager
    def holding(self, what: str, renew: Renew) -> Iterator[None]:
        """While the block runs, ``renew(now)`` is called every interval (False:
        lost, not called again). Not nested: one job at a time per instance."""
        with self._lock:
            self._job = _Job(what, renew, self._clock.now())
        try:
            yield
        finally:
            with self._lock:
                self._job = None

    def lease(self, lease: Lease | None) -> AbstractContextManager[None]:
        """:meth:`holding` for a cluster lease (None: nothing held, nothing kept)."""
        if lease is None:
            return nullcontext()
        return self.holding(
            f"the {lease.job} lease (tenure {lease.token})",
            lambda now: self._cluster.renew(lease, now),
        )

    def keep_once(self) -> None:
        """One renewal of the job in progress, if any (what the thread does each interval)."""
        with self._lock:
            job = self._job
            if job is None or not job.kept:
                return
            now = self._clock.now()
            if now - job.since > self._at_most:
                job.kept = False
                log.warning(
                    "%s has been kept for %s on this instance; it is no longer renewed "
                    "(another instance may take the job over)",
                    job.what,
                    self._at_most,
                )
                return
        try:
            self._cluster.heartbeat(now)
        except Exception as exc:
            log.warning("the keeper's heartbeat failed (tried again in %.0f s): %s",
                        self._every, exc)  # fmt: skip
        try:
            kept = job.renew(now)
        except Exception as exc:
            log.warning(
                "could not renew %s (tried again in %.0f s): %s", job.what, self._every, exc
            )
            return
        self.renewals += 1
        if not kept:
            job.kept = False
            log.info("%s is no longer this instance's; not renewed", job.what)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.keep_once()
