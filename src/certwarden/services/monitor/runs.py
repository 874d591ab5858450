"""Monitor runs: the scheduled tick, "run now", and the run itself.

A run is one transaction: it records an alert per due certificate, marks them
notified, queues one digest in the outbox (when e-mail is on) and schedules the
next run, all or nothing; a crash never leaves half a run, and a repeated run
records nothing new (alerts and the digest are keyed by their slot). The
optional ``before_run`` hook runs outside any transaction, just before the
run (the composition root probes the monitored TLS endpoints there). Nothing
here sends mail: the outbox does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, ServiceState
from certwarden.clock import Clock, ensure_utc
from certwarden.core.expiry import (
    DueCertificate,
    NextRun,
    NoticeKind,
    alert_dedupe_key,
    compose_digest,
    digest_dedupe_key,
    order_for_digest,
)
from certwarden.core.timefmt import iso_z
from certwarden.services.monitor.clearing import clear_ended
from certwarden.services.monitor.reports import SERVICE_NAME, Notice, RunReport, ServiceStatus
from certwarden.services.monitor.schedule import ensure_state, load_settings, schedule_next_run
from certwarden.services.monitor.selection import CHUNK, due_certificates
from certwarden.services.shared.alerts import AlertKind, NewAlert, Severity, record_alerts
from certwarden.services.shared.outbox import enqueue

__all__ = ["DIGEST_KIND", "run", "run_now", "tick"]

DIGEST_KIND = "expiry-digest"


def tick(
    db: Database,
    clock: Clock,
    before_run: Callable[[datetime], object] | None,
    now: datetime | None = None,
    *,
    fence: Callable[[Session], None] | None = None,
) -> RunReport | None:
    """Run if the service is running and its next run is due at ``now``.

    Cheap when nothing is due (one primary-key read). A service that was
    down past several scheduled runs runs once, not once per missed run.
    """
    now = ensure_utc(now) if now is not None else clock.now()
    with db.session() as s:
        state = s.get(ServiceState, SERVICE_NAME)
        if state is None:
            ensure_state(s, now, load_settings(s))
            return None
        if state.status != ServiceStatus.RUNNING.value or state.next_run_at is None:
            return None
        if ensure_utc(state.next_run_at) > now:
            return None
        if before_run is None:
            return run(s, now, "scheduled", fence=fence)
    before_run(now)
    with db.session() as s:
        return run(s, now, "scheduled", fence=fence)


def run_now(
    db: Database, clock: Clock, before_run: Callable[[datetime], object] | None
) -> RunReport:
    """One run at once (also while stopped; a stopped service stays unscheduled)."""
    now = clock.now()
    if before_run is not None:
        before_run(now)
    with db.session() as s:
        return run(s, now, "manual")


def run(
    s: Session,
    now: datetime,
    trigger: str,
    *,
    fence: Callable[[Session], None] | None = None,
) -> RunReport:
    """One run at ``now`` inside the caller's transaction ``s`` (``trigger``:
    ``"scheduled"`` or ``"manual"``). ``fence`` is called last, before the
    caller commits: raising there leaves nothing of the run stored."""
    settings = load_settings(s)
    state = ensure_state(s, now, settings)
    due = due_certificates(s, settings, now)
    cleared = clear_ended(s, settings, now)
    notices: list[Notice] = []
    keys: list[str] = []
    wanted: list[tuple[DueCertificate, NoticeKind, float, NewAlert]] = []
    for item in due:
        kind = item.kind(now)
        days = item.days_left(now)
        key = alert_dedupe_key(item.store, item.sha256, settings.frequency, now, item.level)
        alert = NewAlert(
            kind=AlertKind.EXPIRED if kind is NoticeKind.EXPIRED else AlertKind.EXPIRING,
            severity=Severity(item.level.severity),
            message=_alert_message(item, kind, days),
            certificate_id=item.certificate_id,
            sha256=item.sha256,
            subject=item.subject,
            store=item.store,
            dedupe_key=key,
            details={
                "not_after": iso_z(item.not_after),
                "days_left": round(days, 2),
                "level": item.level.label,
                "serial": item.serial,
                "lsc": item.is_lsc,
                "run": trigger,
            },
        )
        wanted.append((item, kind, days, alert))
    # One dedupe lookup and one INSERT for the whole run (and its lifecycle alerts).
    recorded = {id(a) for a in record_alerts(s, [w[3] for w in wanted], now=now)}
    already = 0
    for item, kind, days, alert in wanted:
        if id(alert) not in recorded:
            already += 1
            continue
        notices.append(Notice(item, kind, days))
        keys.append(str(alert.dedupe_key))
    by_level: dict[int, list[int]] = {}
    for item in due:
        by_level.setdefault(int(item.level), []).append(item.certificate_id)
    for level, ids in sorted(by_level.items()):
        for start in range(0, len(ids), CHUNK):
            s.execute(
                update(CertificateRow)
                .where(CertificateRow.id.in_(ids[start : start + CHUNK]))
                .values(last_notified_at=now, notice_level=level)
                .execution_options(synchronize_session=False)
            )
    queued = False
    if notices and settings.email_enabled:
        digest = compose_digest([n.certificate for n in notices], now)
        queued = enqueue(
            s,
            now=now,
            kind=DIGEST_KIND,
            dedupe_key=digest_dedupe_key(keys),
            recipients=settings.emails,
            subject=digest.subject,
            body=digest.body,
            link="/",
        )
    nxt: NextRun | None = None
    state.last_run_at = now
    if state.status == ServiceStatus.RUNNING.value:
        nxt = schedule_next_run(s, state, now, settings, started=False)
    expired = sum(1 for n in notices if n.kind is NoticeKind.EXPIRED)
    counted = dict((state.detail or {}).get("runs") or {})
    counted[trigger] = int(counted.get(trigger, 0)) + 1
    state.detail = {
        **(state.detail or {}),
        "runs": counted,  # every run ever, per trigger (the metrics' counter)
        "last_run": {
            "at": iso_z(now),
            "trigger": trigger,
            "notified": len(notices),
            "expired": expired,
            "expiring": len(notices) - expired,
            "already_notified": already,
            "digest_queued": queued,
            "alerts_cleared": cleared,
        },
    }
    if fence is not None:
        s.flush()
        fence(s)
    ordered = order_for_digest([n.certificate for n in notices], now)
    by_id = {n.certificate.certificate_id: n for n in notices}
    return RunReport(
        at=now,
        trigger=trigger,
        notices=tuple(by_id[c.certificate_id] for c in ordered),
        already_notified=already,
        email_enabled=settings.email_enabled,
        digest_queued=queued,
        recipients=settings.emails if settings.email_enabled else (),
        next_run=nxt,
    )


def _alert_message(item: DueCertificate, kind: NoticeKind, days: float) -> str:
    when = ensure_utc(item.not_after).strftime("%Y-%m-%d %H:%M UTC")
    if kind is NoticeKind.EXPIRED:
        return f"{item.subject} in {item.store} expired {when} ({-days:.1f} days ago)"
    return f"{item.subject} in {item.store} expires {when} ({days:.1f} days left)"
