"""MonitorService: the Certificate Expiry Monitor as the interfaces and the server loop hold it.

    monitor.tick(now)        # the server loop: runs when the next run is due (cheap otherwise)
    monitor.run_now()        # the administrators' "run now"
    monitor.simulate(days=3) # replays schedule and rules with a simulated clock, writes nothing

One object over the monitor's modules (:mod:`.schedule`, :mod:`.runs`,
:mod:`.simulation`); it holds no logic of its own. Rules (schedule, what is
due, the digest) live in :mod:`certwarden.core.expiry`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.core.expiry import MonitorSettings, NextRun
from certwarden.errors import ConflictError, ConflictingWriteError
from certwarden.services.monitor import runs, schedule, simulation, thresholds
from certwarden.services.monitor.reports import MonitorStatus, RunReport, SimulationReport

__all__ = ["RUN_IN_PROGRESS", "MonitorService"]

RUN_IN_PROGRESS = "a run is in progress; its report is on the Control Center when it ends"


class MonitorService:
    """The Certificate Expiry Monitor (Control Center name: Certificate Expiry Monitor)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        before_run: Callable[[datetime], object] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        # Called with the run's time just before each (scheduled or manual) run,
        # outside any transaction: the monitored TLS endpoints are probed there,
        # so what they serve is part of the same run.
        self._before_run = before_run
        # One run at a time in this process: a second "run now" is told so, a
        # tick meanwhile skips (the run in progress covers it).
        self._running = threading.Lock()

    # ---------------------------------------------------------------- settings

    def settings(self) -> MonitorSettings:
        with self._db.session() as s:
            return schedule.load_settings(s)

    def update_settings(self, values: Mapping[str, Any]) -> MonitorSettings:
        """Apply ``values`` over the current settings; every field is checked and
        nothing is saved when any is bad (:class:`InvalidFieldsError` names them all)."""
        return schedule.update_settings(self._db, self._clock, values)

    def set_store_threshold(self, store: str, share: float | None) -> thresholds.Threshold:
        """Notify ``store``'s certificates when less than ``share`` (0..1) of
        their lifetime remains (None: the Notification Start Time again)."""
        return thresholds.set_store_share(self._db, store, share)

    def set_certificate_threshold(
        self, ref: str | int, share: float | None
    ) -> thresholds.Threshold:
        """One certificate's own share, overriding its store's (None: its store's again)."""
        return thresholds.set_certificate_share(self._db, ref, share)

    # ------------------------------------------------------------ state/control

    def status(self) -> MonitorStatus:
        return schedule.status(self._db, self._clock)

    def start(self) -> bool:
        """Start the service (first run 24 hours later, or 1 hour when the hourly
        condition holds). Returns False when it was already running."""
        return schedule.start(self._db, self._clock)

    def restart(self) -> NextRun:
        """Stop and start: the next run is rescheduled from now."""
        return schedule.restart(self._db, self._clock)

    def stop(self) -> bool:
        """Returns False when it was already stopped."""
        return schedule.stop(self._db, self._clock)

    # --------------------------------------------------------------------- runs

    def tick(
        self, now: datetime | None = None, *, fence: Callable[[Session], None] | None = None
    ) -> RunReport | None:
        """Run if the service is running and its next run is due at ``now``.

        Cheap when nothing is due (one primary-key read). A service that was
        down past several scheduled runs runs once, not once per missed run.
        ``fence`` (several instances): called in the run's transaction before
        it commits; it raises when this instance no longer holds the job.
        """
        if not self._running.acquire(blocking=False):
            return None
        try:
            return runs.tick(self._db, self._clock, self._before_run, now, fence=fence)
        except ConflictingWriteError:
            return None  # another process ran the same slot at the same moment
        finally:
            self._running.release()

    def run_now(self) -> RunReport:
        """One run at once (also while stopped; a stopped service stays unscheduled)."""
        if not self._running.acquire(blocking=False):
            raise ConflictError(RUN_IN_PROGRESS)
        try:
            return runs.run_now(self._db, self._clock, self._before_run)
        except ConflictingWriteError as exc:
            # Another process (a second server, the CLI) wrote the same run's rows.
            raise ConflictError(RUN_IN_PROGRESS) from exc
        finally:
            self._running.release()

    # --------------------------------------------------------------- simulation

    def simulate(self, days: int, start: datetime | None = None) -> SimulationReport:
        """What the service would do over ``days`` from ``start``: every run time
        and what each run would notify. Writes nothing, sends nothing.

        Without ``start``, a running service continues its current schedule from
        now; with ``start`` (or while stopped) it is simulated as (re)started then.
        """
        return simulation.simulate(self._db, self._clock, days, start)
