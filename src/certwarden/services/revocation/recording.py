"""Writing what checks found: the checks, the latest status, alerts and notices.

Every check is recorded in ``ocsp_checks`` with its evidence (trust model,
signer fingerprint, raw response; a batched response shared by many checks
is stored once in ``ocsp_responses``), and the latest outcome on
``certificates``. A status change records an alert and, when e-mail notices
are on, queues one notice at once through the outbox; a refused upload
records an ``upload_refused`` alert.

All of it in the caller's session, so it commits (or not) with the caller's
other work. It must not contact responders or judge answers: it records
results and applies :func:`certwarden.core.policy.decide` to them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import CertificateRow, OcspCheck, OcspResponse
from certwarden.core.notices import subject as notice_subject
from certwarden.core.notices import when as notice_time
from certwarden.core.ocsp import CertStatus, RevocationResult
from certwarden.core.ocsp.results import describe
from certwarden.core.policy import decide
from certwarden.services.revocation.model import CheckOutcome, Target, Trigger
from certwarden.services.revocation.settings import load_monitor
from certwarden.services.shared.alerts import AlertKind, NewAlert, Severity, record_alerts
from certwarden.services.shared.lifecycle import clear_for_certificates
from certwarden.services.shared.outbox import enqueue

__all__ = [
    "CheckItem",
    "check_evidence",
    "notice_headline",
    "notice_line",
    "queue_notice",
    "record_checks",
    "stored_reason",
]

# Lines listed in one notice; the rest are counted (the alerts list them all).
NOTICE_LINES = 500

# IDs or digests per IN (...) lookup: well under every backend's parameter limit.
_CHUNK = 900
# Tables written in bulk through Core (executemany; no ORM object per row).
_CERTIFICATES = cast("Table", CertificateRow.__table__)
_OCSP_CHECKS = cast("Table", OcspCheck.__table__)
_OCSP_RESPONSES = cast("Table", OcspResponse.__table__)

# One result to record: the stored row's ID (None: not stored), the target,
# the store's name and the result.
CheckItem = tuple[int | None, Target, str, RevocationResult]


def _state_key(status: str | None, reason: str | None) -> tuple[str | None, str | None]:
    """What counts as a status change: revoked reasons matter, could-not-tell reasons not."""
    if status == CertStatus.REVOKED.value:
        return status, reason
    return status, None


def stored_reason(result: RevocationResult) -> str | None:
    """The ``certificates.revocation_reason`` column: CRL reason, or why we could not tell."""
    if result.status is CertStatus.REVOKED:
        return "expired" if result.expired else result.revocation_reason
    return result.reason.value if result.reason else None


def record_checks(
    s: Session,
    items: Sequence[CheckItem],
    *,
    now: datetime,
    trigger: Trigger,
    common_criteria: bool,
    imported: frozenset[int] = frozenset(),
    refused: frozenset[str] = frozenset(),
    run_key: str | None = None,
) -> tuple[list[CheckOutcome], int]:
    """Store every check, update the latest status, alert and notify on change.

    ``run_key`` (a chunk of a scheduled run, :mod:`.chunks`): each alert's
    dedupe key is the run's and the certificate's (a chunk done again records
    none twice), and no notice is queued here — the run's completion queues
    one for all its chunks.

    Returns the outcomes (one per item, in order) and how many notices were
    queued. ``imported``: rows the same upload just stored (their status was
    written by the commit; they count as "not checked" before). ``refused``:
    SHA-256 of uploaded certificates refused by the policy (an
    ``upload_refused`` alert each).

    Raises:
        StorageError: a status changed and the stored Certificate Monitor
            settings (who gets notices) do not validate; nothing is recorded.
    """
    outcomes: list[CheckOutcome] = []
    changes: list[CheckOutcome] = []
    ids = sorted({row_id for row_id, *_ in items if row_id is not None})
    before: dict[int, tuple[str | None, str | None]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        before.update(
            (r.id, (r.revocation_status, r.revocation_reason))
            for r in s.execute(
                select(
                    CertificateRow.id,
                    CertificateRow.revocation_status,
                    CertificateRow.revocation_reason,
                ).where(CertificateRow.id.in_(chunk))
            )
        )
    shared = _store_shared_responses(s, items, now)
    checks: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    alerts: list[NewAlert] = []
    for row_id, target, store, result in items:
        known = row_id is not None and row_id in before
        stored_id = row_id if known else None
        checks.append(
            _check_values(
                stored_id,
                target.sha256,
                now,
                trigger,
                result,
                shared.get(result.raw_response) if result.raw_response else None,
            )
        )
        verdict = decide(result, common_criteria=common_criteria)
        previous: str | None = None
        changed = False
        if stored_id is not None:
            prev_status, prev_reason = before[stored_id]
            if stored_id in imported:
                prev_status = prev_reason = None
            previous = prev_status
            status, reason = result.status.value, stored_reason(result)
            updates.append(
                {
                    "b_id": stored_id,
                    "b_status": status,
                    "b_reason": reason,
                    "b_revoked_at": result.revoked_at,
                }
            )
            # A first check tells only definite bad news (revoked, unknown);
            # after that, every change counts (good -> could not tell too) but
            # becoming exempt (an ocsp-nocheck responder, not checked by design:
            # nothing to act on, so no alert).
            changed = (
                _state_key(prev_status, prev_reason) != _state_key(status, reason)
                and result.status is not CertStatus.EXEMPT
                and (
                    previous is not None
                    or result.status in (CertStatus.REVOKED, CertStatus.UNKNOWN)
                )
            )
        outcome = CheckOutcome(
            stored_id,
            target.sha256,
            target.subject,
            store,
            result,
            verdict,
            previous,
            changed,
        )
        outcomes.append(outcome)
        if changed:
            changes.append(outcome)
            alert = _alert_change(outcome)
            if run_key is not None:
                alert = replace(alert, dedupe_key=f"{run_key}:{stored_id or target.sha256}")
            alerts.append(alert)
        if stored_id is None and target.sha256 in refused:
            alerts.append(_alert_refused(outcome))
    # Bulk statements through Core, each executed many times in this
    # transaction: no ORM object, flush or identity-map work per row.
    record_alerts(s, alerts, now=now)
    _clear_ended(s, outcomes, now)
    if checks:
        s.execute(insert(_OCSP_CHECKS), checks)
    if updates:
        s.execute(_latest_status_update(now), updates)
    queued = 0 if run_key is not None else _notify(s, changes, now)
    return outcomes, queued


def notice_line(c: CheckOutcome) -> str:
    """A status change as its notice lists it."""
    return (
        f"{c.subject} (store {c.store or '-'}, #{c.certificate_id}): "
        f"{c.previous_status or 'not checked'} -> {describe(c.result)}; {c.verdict.why}"
    )


def notice_headline(c: CheckOutcome) -> str:
    """A notice's subject when this is its only change."""
    return f"{c.subject} is now {c.result.status.value.replace('_', ' ')}"


def _clear_ended(s: Session, outcomes: Sequence[CheckOutcome], now: datetime) -> None:
    """Revoked / could-not-tell alerts whose condition a validated answer ended."""
    good = [o.certificate_id for o in outcomes if o.certificate_id is not None
            and o.result.status is CertStatus.GOOD]  # fmt: skip
    known = [o.certificate_id for o in outcomes if o.certificate_id is not None
             and o.result.status in (CertStatus.REVOKED, CertStatus.EXEMPT)]  # fmt: skip
    if good:
        clear_for_certificates(
            s, good, ("revoked", "check_failed"), now=now,
            why="checked good again (a validated answer says the certificate is not revoked)",
        )  # fmt: skip
    if known:
        clear_for_certificates(
            s, known, ("check_failed",), now=now,
            why="its revocation status can be told again",
        )  # fmt: skip


def _notify(s: Session, changes: Sequence[CheckOutcome], now: datetime) -> int:
    """One notice for this run's status changes, queued now (no digest wait)."""
    if not changes:
        return 0
    key = hashlib.sha256(
        "\n".join(f"{c.certificate_id}:{c.sha256}:{c.result.status}" for c in changes).encode()
        + now.isoformat().encode()
    ).hexdigest()
    return queue_notice(
        s,
        [notice_line(c) for c in changes],
        notice_headline(changes[0]),
        now=now,
        dedupe_key=f"revocation:{key}",
    )


def queue_notice(
    s: Session, lines: Sequence[str], headline: str, *, now: datetime, dedupe_key: str
) -> int:
    """One revocation notice listing ``lines`` (status changes), when e-mail
    notices are on; ``headline``: the subject when there is one change. Returns
    how many were queued (0 or 1: never twice for one ``dedupe_key``)."""
    if not lines:
        return 0
    monitor = load_monitor(s)
    if not monitor.email_enabled or not monitor.emails:
        return 0
    subject = notice_subject(
        "Revocation status",
        headline if len(lines) == 1 else f"{len(lines)} certificates changed",
    )
    shown = list(lines[:NOTICE_LINES])
    if len(lines) > NOTICE_LINES:
        shown.append(f"... and {len(lines) - NOTICE_LINES} more (see the alerts)")
    body = (
        f"Revocation check at {notice_time(now)}: the revocation status of "
        f"{len(lines)} certificate(s) changed.\n\n" + "\n".join(shown) + "\n"
    )
    queued = enqueue(
        s,
        now=now,
        kind="revocation",
        dedupe_key=dedupe_key,
        recipients=list(monitor.emails),
        subject=subject,
        body=body,
        link="/alerts",
    )
    return 1 if queued else 0


def _check_values(
    certificate_id: int | None,
    sha256: str,
    now: datetime,
    trigger: Trigger,
    result: RevocationResult,
    response_id: int | None = None,
) -> dict[str, Any]:
    """One ``ocsp_checks`` row: the outcome and its evidence (the raw response
    inline, or by reference when several checks share one batched response)."""
    return dict(
        certificate_id=certificate_id,
        sha256=sha256,
        checked_at=now,
        trigger=trigger.value,
        status=result.status.value,
        reason=result.reason.value if result.reason else None,
        detail=result.detail or describe(result),
        revoked_at=result.revoked_at,
        revocation_reason=result.revocation_reason,
        trust_model=result.trust_model.value if result.trust_model else None,
        signer_sha256=result.signer_sha256,
        responder_url=result.responder_url,
        this_update=result.this_update,
        next_update=result.next_update,
        raw_response=result.raw_response if response_id is None else None,
        response_id=response_id,
        # The source that answered, and a CRL's number and hash (its DER is in crl_blobs).
        source=None if result.expired else result.source.value,
        crl_number=str(result.crl_number) if result.crl_number is not None else None,
        crl_sha256=result.crl_sha256,
        delta_crl_number=(
            str(result.delta_crl_number) if result.delta_crl_number is not None else None
        ),
        delta_crl_sha256=result.delta_crl_sha256,
    )


def _store_shared_responses(
    s: Session,
    items: Sequence[CheckItem],
    now: datetime,
) -> dict[bytes, int]:
    """Store each response that answers several of ``items`` once; its ID by bytes.

    A batched response of 100 certificates is ~11 KB: kept once, not 100 times.
    One lookup for those stored before, one multi-row INSERT for the rest.
    """
    usage = Counter(r.raw_response for *_, r in items if r.raw_response is not None)
    digests = {raw: hashlib.sha256(raw).hexdigest() for raw, uses in usage.items() if uses >= 2}
    if not digests:
        return {}
    table = _OCSP_RESPONSES

    def stored(wanted: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = s.execute(
                select(table.c.sha256, table.c.id).where(
                    table.c.sha256.in_(wanted[start : start + _CHUNK])
                )
            )
            found.update((digest, row_id) for digest, row_id in rows)
        return found

    ids = stored(list(digests.values()))
    missing = [raw for raw, digest in digests.items() if digest not in ids]
    if missing:
        urls: dict[bytes, str | None] = {}
        for *_, r in items:
            if r.raw_response is not None and r.raw_response not in urls:
                urls[r.raw_response] = r.responder_url
        s.execute(
            insert(table),
            [
                {
                    "sha256": digests[raw],
                    "der": raw,
                    "responder_url": urls.get(raw),
                    "received_at": now,
                }
                for raw in missing
            ],
        )
        ids.update(stored([digests[raw] for raw in missing]))
    return {raw: ids[digest] for raw, digest in digests.items()}


def _latest_status_update(now: datetime) -> Update:
    """``certificates``' latest-status columns by ID, for an executemany of
    ``b_id``, ``b_status``, ``b_reason``, ``b_revoked_at``."""
    table = _CERTIFICATES
    return (
        update(table)
        .where(table.c.id == bindparam("b_id", type_=table.c.id.type))
        .values(
            revocation_status=bindparam("b_status", type_=table.c.revocation_status.type),
            revocation_reason=bindparam("b_reason", type_=table.c.revocation_reason.type),
            revocation_checked_at=now,
            revoked_at=bindparam("b_revoked_at", type_=table.c.revoked_at.type),
        )
    )


def check_evidence(s: Session, check_id: int) -> bytes | None:
    """The raw DER response a recorded check was judged on (inline or shared)."""
    row = s.get(OcspCheck, check_id)
    if row is None:
        return None
    if row.raw_response is not None:
        return row.raw_response
    if row.response_id is not None:
        return s.scalar(select(OcspResponse.der).where(OcspResponse.id == row.response_id))
    return None


def _alert_change(outcome: CheckOutcome) -> NewAlert:
    result = outcome.result
    if result.status is CertStatus.REVOKED:
        kind, severity = AlertKind.REVOKED, Severity.CRITICAL
    elif result.status is CertStatus.COULD_NOT_TELL:
        kind, severity = AlertKind.CHECK_FAILED, Severity.WARNING
    elif result.status is CertStatus.UNKNOWN:
        kind, severity = AlertKind.STATUS_CHANGED, Severity.WARNING
    else:
        kind, severity = AlertKind.STATUS_CHANGED, Severity.INFO
    return NewAlert(
        kind=kind,
        severity=severity,
        message=(
            f"revocation status of {outcome.subject} changed: "
            f"{outcome.previous_status or 'not checked'} -> {describe(result)}"
        ),
        certificate_id=outcome.certificate_id,
        sha256=outcome.sha256,
        subject=outcome.subject,
        store=outcome.store,
        # No dedupe key: the alert commits with the status change it reports, so
        # a repeated run sees the new status and has nothing to repeat (and the
        # first check of thousands of certificates needs no lookup per alert).
        details={
            "previous_status": outcome.previous_status,
            "result": result.to_json(),
            "decision": outcome.verdict.decision.value,
        },
    )


def _alert_refused(outcome: CheckOutcome) -> NewAlert:
    return NewAlert(
        kind=AlertKind.UPLOAD_REFUSED,
        severity=Severity.WARNING,
        message=(
            f"upload of {outcome.subject} to {outcome.store} refused: {describe(outcome.result)}"
        ),
        sha256=outcome.sha256,
        subject=outcome.subject,
        store=outcome.store,
        details={"result": outcome.result.to_json(), "why": outcome.verdict.why},
    )
