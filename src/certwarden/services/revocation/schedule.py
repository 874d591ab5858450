"""The Check Every schedule: every monitored certificate, once per interval.

The server loop (and the tests, with an injected clock) call :meth:`atick`;
a run is due when OCSP and Revocation Check are both on and Check Every has
passed since the last run (at once when there was none), and no earlier run
is still being worked on. The service's state (``service_state`` row
``revocation-check``: running or stopped, last and next run, last counts)
survives restarts.

A due run is planned, not checked here: :func:`.chunks.plan_run` stores it as
chunks in the caller's fenced transaction (the holder of the revocation
lease), which every instance then claims and checks (:mod:`.chunk_worker`).
With ``work`` (one instance: SQLite, the tests, ``work_chunks``' callers
that want the run done now) the tick also checks every chunk left itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ServiceState
from certwarden.clock import Clock, ensure_utc
from certwarden.core.ocsp.results import iso_z
from certwarden.errors import StorageError
from certwarden.services.revocation.chunk_worker import ChunkResult, ChunkWorker
from certwarden.services.revocation.chunks import CHUNK_SIZE, open_run, plan_run
from certwarden.services.revocation.model import (
    SERVICE_NAME,
    CheckOutcome,
    CheckReport,
    TickReport,
    Trigger,
)
from certwarden.services.revocation.settings import RevocationSettingsStore
from certwarden.services.shared.sync_bridge import run_sync

__all__ = ["LOCAL_NODE", "SERVICE_NAME", "CheckSchedule"]

# The node name of a tick that checks its chunks itself (no cluster around it).
LOCAL_NODE = "local"
# How long a tick's own claims last (it checks them at once).
_LOCAL_HOLD = timedelta(minutes=5)


class CheckSchedule:
    """Runs the scheduled check when it is due (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: RevocationSettingsStore,
        worker: ChunkWorker,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("the chunk size must be positive")
        self._db = db
        self._clock = clock
        self._settings = settings
        self._worker = worker
        self.chunk_size = chunk_size

    def tick(
        self,
        now: datetime | None = None,
        *,
        fence: Callable[[Session], None] | None = None,
        node: str = LOCAL_NODE,
        work: bool = True,
    ) -> TickReport:
        """Plan the scheduled run if it is due (every Check Every); with ``work``,
        check its chunks here too.

        ``fence`` (several instances): the revocation lease's check, called in
        the transaction that plans the run (its chunks and the schedule's last
        run) before it commits; when it raises
        :class:`~certwarden.errors.LeaseLostError` no run is planned. ``node``:
        who planned it (and claims its chunks with ``work``).
        """
        return run_sync(lambda: self.atick(now, fence=fence, node=node, work=work))

    async def atick(
        self,
        now: datetime | None = None,
        *,
        fence: Callable[[Session], None] | None = None,
        node: str = LOCAL_NODE,
        work: bool = True,
    ) -> TickReport:
        """:meth:`tick` for async code."""
        now = now or self._clock.now()
        settings = self._settings.settings()
        with self._db.session() as s:
            state = s.get(ServiceState, SERVICE_NAME)
            status = "running" if settings.scheduled_checks_enabled else "stopped"
            if state is None:
                state = ServiceState(name=SERVICE_NAME, status=status, changed_at=now, detail={})
                s.add(state)
            elif state.status != status:
                state.status, state.changed_at = status, now
            last = ensure_utc(state.last_run_at) if state.last_run_at else None
            if not settings.scheduled_checks_enabled:
                state.next_run_at = None
                why = (
                    "OCSP is disabled (and CRLs too)"
                    if not settings.revocation_enabled
                    else "Revocation Check is disabled"
                )
                return TickReport(False, f"{why}: no scheduled check")
            due = last + settings.check_interval if last else now
            if now < due:
                state.next_run_at = due
                return TickReport(False, f"not due until {iso_z(due)}", next_run_at=due)
            running = open_run(s)
            busy = (
                None
                if running is None
                else f"run {running.id} (started {iso_z(ensure_utc(running.started_at))}) "
                "is not done yet"
            )
        if busy is not None:
            # No new run meanwhile; with ``work``, help the open one along.
            done = await self.awork_all(node, now, _LOCAL_HOLD) if work else []
            return TickReport(False, busy, _merged(done, now) if done else None)
        next_run = now + settings.check_interval
        with self._db.session() as s:
            # The schedule's state commits with the run it plans, fenced.
            state = s.get(ServiceState, SERVICE_NAME)
            if state is None:  # pragma: no cover - created above
                raise StorageError(f"service state {SERVICE_NAME!r} vanished")
            plan = plan_run(s, settings, now=now, node=node, chunk_size=self.chunk_size)
            state.last_run_at = now
            state.next_run_at = next_run
            state.detail = {**(state.detail or {}), "run_id": plan.run_id}
            if not plan.chunks:  # nothing to check: the run is complete already
                empty = CheckReport(now, Trigger.SCHEDULE, True, ())
                state.detail = {**state.detail, "last_counts": empty.counts(), "last_refused": 0}
            if fence is not None:
                s.flush()
                fence(s)
        why = (
            f"run {plan.run_id} planned: {plan.certificates} certificate(s) in "
            f"{plan.chunks} chunk(s) (Check Every interval reached)"
        )
        if not work:
            return TickReport(True, why, None, next_run)
        done = await self.awork_all(node, now, _LOCAL_HOLD)
        return TickReport(True, why, _merged(done, now), next_run)

    async def awork_all(self, node: str, now: datetime, hold: timedelta) -> list[ChunkResult]:
        """Check every chunk this node can claim, one after the other."""
        done: list[ChunkResult] = []
        while (result := await self._worker.awork_one(node, now, hold)) is not None:
            done.append(result)
        return done


def _merged(done: list[ChunkResult], now: datetime) -> CheckReport:
    """One report of the chunks a tick checked (in chunk order)."""
    outcomes: list[CheckOutcome] = []
    for result in sorted(done, key=lambda r: (r.claim.run_id, r.claim.seq)):
        outcomes.extend(result.report.outcomes)
    common_criteria = done[0].report.common_criteria if done else True
    queued = sum(r.report.notices_queued for r in done)
    return CheckReport(now, Trigger.SCHEDULE, common_criteria, tuple(outcomes), (), queued)
