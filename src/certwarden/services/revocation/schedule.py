"""The Check Every schedule: every monitored certificate, once per interval.

The server loop (and the tests, with an injected clock) call :meth:`atick`;
a run is due when OCSP and Revocation Check are both on and Check Every has
passed since the last run (at once when there was none). The service's state
(``service_state`` row ``revocation-check``: running or stopped, last and
next run, last counts) survives restarts.

It must not check anything itself: a due run is an ordinary
:meth:`.query.CheckRunner.acheck` of every monitored certificate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ServiceState
from certwarden.clock import Clock, ensure_utc
from certwarden.core.ocsp.results import iso_z
from certwarden.errors import StorageError
from certwarden.services.revocation.model import CheckReport, TickReport, Trigger
from certwarden.services.revocation.query import CheckRunner
from certwarden.services.revocation.settings import RevocationSettingsStore
from certwarden.services.shared.sync_bridge import run_sync

__all__ = ["SERVICE_NAME", "CheckSchedule"]

SERVICE_NAME = "revocation-check"


class CheckSchedule:
    """Runs the scheduled check when it is due (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: RevocationSettingsStore,
        checks: CheckRunner,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._checks = checks

    def tick(
        self, now: datetime | None = None, *, fence: Callable[[Session], None] | None = None
    ) -> TickReport:
        """Run the scheduled check if it is due (every Check Every).

        ``fence`` (several instances): the revocation lease's check, called in
        the transaction that records the run (checks, latest statuses, alerts,
        notices and the schedule's last run) before it commits; when it raises
        :class:`~certwarden.errors.LeaseLostError` none of it is stored.
        """
        return run_sync(lambda: self.atick(now, fence=fence))

    async def atick(
        self, now: datetime | None = None, *, fence: Callable[[Session], None] | None = None
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
        next_run = now + settings.check_interval

        def finish(s: Session, report: CheckReport) -> None:
            # The schedule's state commits with the run it records, fenced.
            state = s.get(ServiceState, SERVICE_NAME)
            if state is None:  # pragma: no cover - created above
                raise StorageError(f"service state {SERVICE_NAME!r} vanished")
            state.last_run_at = now
            state.next_run_at = next_run
            state.detail = {
                "last_counts": report.counts(),
                "last_refused": len(report.refused),
            }
            if fence is not None:
                s.flush()
                fence(s)

        # Judged and recorded at the same ``now`` (issue 10 item 6).
        report = await self._checks.acheck(
            all_monitored=True, trigger=Trigger.SCHEDULE, now=now, finish=finish
        )
        return TickReport(True, "Check Every interval reached", report, next_run)
