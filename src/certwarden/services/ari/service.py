"""The ARI watch (RFC 9773): ask CAs when they want their certificates renewed.

Directories are configured per store or per issuing CA (an issuer's wins).
Each round (:meth:`AriService.tick`, from the server's background loop, or
``certwarden ari check``) asks about the leaf certificates whose next check
is due — at most ``batch`` a round, the longest-waiting first — and records,
in one transaction, each answer and what deserves an alert:

* ``renewal_window_open`` (warning): the window has started and no renewal
  is in the store (the monitor's renewal rule: same store and subject, a
  later notAfter, already valid);
* ``renewal_window_moved`` (critical): the window starts earlier than the
  CA said before, with its explanation URL.

Each alert once per window (its dedupe key carries the window's start). A
failed fetch records the error, keeps the last window and backs off; it never
raises an alert by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from certwarden.adapters.ari_http import AriClient
from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, RenewalInfoRow, Store
from certwarden.clock import Clock, ensure_utc
from certwarden.core.ari import (
    AriAnswerError,
    AriCondition,
    AriDirectory,
    RenewalWindow,
    backoff,
    conditions,
    next_poll,
    parse_renewal_info,
    renewal_info_url,
    validate_directory,
)
from certwarden.core.certs import Role
from certwarden.core.timefmt import iso_z
from certwarden.errors import AriFetchError, NotFoundError
from certwarden.services.ari.records import AriReport, RenewalInfo
from certwarden.services.monitor.selection import is_replaced, renewals
from certwarden.services.shared.alerts import AlertKind, NewAlert, Severity, record_alerts
from certwarden.services.shared.settings_store import load_section, save_section
from certwarden.services.shared.sync_bridge import run_sync

__all__ = ["SECTION", "AriService"]

SECTION = "ari"
_IN_FLIGHT = 8


@dataclass
class _Due:
    cert_id: int
    sha256: str
    subject: str
    store_id: int
    store: str
    not_after: datetime
    der: bytes
    directory: AriDirectory
    stored: RenewalInfoRow | None


@dataclass
class _Outcome:
    due: _Due
    url: str
    window: RenewalWindow | None = None
    retry_after: str | None = None
    error: str | None = None


class AriService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        client_factory: Callable[[], AriClient] = AriClient,
        batch: int = 200,
    ) -> None:
        self._db = db
        self._clock = clock
        self._client_factory = client_factory
        self._batch = batch

    # ------------------------------------------------------------ directories

    def directories(self) -> list[AriDirectory]:
        with self._db.session() as s:
            return _directories(s)

    def set_directory(self, scope: str, key: str, url: str) -> AriDirectory:
        """Add or replace the directory of a store or an issuer (which must be stored)."""
        entry = validate_directory(scope, key, url)
        with self._db.session() as s:
            if entry.scope == "store":
                if s.scalar(select(Store.id).where(Store.name == entry.key)) is None:
                    raise NotFoundError(f"no store named {entry.key!r}")
            elif (
                s.scalar(
                    select(CertificateRow.id).where(
                        CertificateRow.sha256 == entry.key, CertificateRow.is_ca.is_(True)
                    )
                )
                is None
            ):
                raise NotFoundError(f"no CA certificate with SHA-256 {entry.key} is stored")
            kept = [d for d in _directories(s) if (d.scope, d.key) != (entry.scope, entry.key)]
            _save(s, [*kept, entry], self._clock.now())
        return entry

    def remove_directory(self, scope: str, key: str) -> None:
        key = key.strip().lower().replace(":", "") if scope == "issuer" else key.strip()
        with self._db.session() as s:
            current = _directories(s)
            kept = [d for d in current if (d.scope, d.key) != (scope, key)]
            if len(kept) == len(current):
                raise NotFoundError(f"no ACME directory is configured for {scope} {key!r}")
            _save(s, kept, self._clock.now())

    # ------------------------------------------------------------------ reads

    def known(self) -> list[RenewalInfo]:
        with self._db.session() as s:
            return [_info(row, c, name) for row, c, name in _rows(s)]

    def get(self, certificate_id: int) -> RenewalInfo | None:
        with self._db.session() as s:
            found = _rows(s, certificate_id)
            return _info(*found[0]) if found else None

    # ----------------------------------------------------------------- rounds

    def tick(self, now: datetime | None = None) -> AriReport:
        when = now or self._clock.now()
        return run_sync(lambda: self.atick(when), name="certwarden-ari")

    async def atick(self, now: datetime) -> AriReport:
        """Ask about every due certificate (at most ``batch``) and record the answers."""
        with self._db.session() as s:
            due = _due(s, _directories(s), now, self._batch)
        if not due:
            return AriReport(now)
        outcomes = await self._ask(due)
        with self._db.session() as s:
            alerts = _record(s, outcomes, now)
        return AriReport(
            now,
            asked=len(outcomes),
            updated=sum(1 for o in outcomes if o.window is not None),
            failed={o.due.cert_id: o.error for o in outcomes if o.error is not None},
            alerts=tuple(a.message for a in alerts),
        )

    async def _ask(self, due: list[_Due]) -> list[_Outcome]:
        gate = asyncio.Semaphore(_IN_FLIGHT)
        bases: dict[str, asyncio.Task[str]] = {}
        async with self._client_factory() as client:

            async def one(item: _Due) -> _Outcome:
                url = item.stored.url if item.stored is not None else item.directory.url
                async with gate:
                    try:
                        cert = x509.load_der_x509_certificate(item.der)
                        task = bases.get(item.directory.url)
                        if task is None:
                            task = asyncio.ensure_future(
                                client.renewal_info_base(item.directory.url)
                            )
                            bases[item.directory.url] = task
                        url = renewal_info_url(await asyncio.shield(task), cert)
                        answer = await client.get(url)
                        window = parse_renewal_info(answer.body)
                    except (AriFetchError, AriAnswerError, ValueError) as exc:
                        detail = exc.detail if isinstance(exc, AriFetchError) else str(exc)
                        return _Outcome(item, url, error=detail)
                return _Outcome(item, url, window=window, retry_after=answer.retry_after)

            return list(await asyncio.gather(*(one(d) for d in due)))


# ------------------------------------------------------------------ storage


def _directories(s: Session) -> list[AriDirectory]:
    raw = load_section(s, SECTION) or {}
    return [
        AriDirectory(str(d["scope"]), str(d["key"]), str(d["url"]))
        for d in raw.get("directories", [])
    ]


def _save(s: Session, directories: list[AriDirectory], now: datetime) -> None:
    ordered = sorted(directories, key=lambda d: (d.scope, d.key))
    save_section(s, SECTION, {"directories": [d.to_json() for d in ordered]}, now)


def _due(s: Session, directories: list[AriDirectory], now: datetime, batch: int) -> list[_Due]:
    by_store = {d.key: d for d in directories if d.scope == "store"}
    by_issuer = {d.key: d for d in directories if d.scope == "issuer"}
    if not by_store and not by_issuer:
        return []
    issuer = aliased(CertificateRow)
    query = (
        select(CertificateRow, Store.name, issuer.sha256, RenewalInfoRow)
        .join(Store, Store.id == CertificateRow.store_id)
        .outerjoin(issuer, issuer.id == CertificateRow.issuer_id)
        .outerjoin(RenewalInfoRow, RenewalInfoRow.certificate_id == CertificateRow.id)
        .where(
            CertificateRow.role == Role.LEAF.value,
            CertificateRow.not_after > now,
            or_(Store.name.in_(list(by_store)), issuer.sha256.in_(list(by_issuer))),
            or_(RenewalInfoRow.next_check_at.is_(None), RenewalInfoRow.next_check_at <= now),
        )
        .order_by(RenewalInfoRow.next_check_at.is_not(None), RenewalInfoRow.next_check_at)
        .limit(batch)
    )
    due: list[_Due] = []
    for cert, store, issuer_sha, stored in s.execute(query):
        directory = by_issuer.get(issuer_sha or "") or by_store.get(store)
        if directory is None:
            continue
        due.append(
            _Due(
                cert.id,
                cert.sha256,
                cert.subject,
                cert.store_id,
                store,
                ensure_utc(cert.not_after),
                cert.der,
                directory,
                stored,
            )
        )
    return due


def _record(s: Session, outcomes: list[_Outcome], now: datetime) -> list[NewAlert]:
    renewed = renewals(s, [(o.due.store_id, o.due.subject) for o in outcomes], now)
    alerts: list[NewAlert] = []
    for o in outcomes:
        row = s.get(RenewalInfoRow, o.due.cert_id)
        if row is None:
            row = RenewalInfoRow(
                certificate_id=o.due.cert_id, url=o.url, next_check_at=now, failures=0
            )
            s.add(row)
        row.url = o.url
        if o.window is None:
            row.failures = (row.failures or 0) + 1
            row.last_error = o.error
            row.next_check_at = backoff(row.failures, now)
            continue
        previous = (
            RenewalWindow(ensure_utc(row.window_start), ensure_utc(row.window_end))
            if row.window_start is not None and row.window_end is not None
            else None
        )
        replaced = is_replaced(renewed, o.due.store_id, o.due.subject, o.due.not_after)
        for condition in conditions(o.window, previous=previous, renewed=replaced, now=now):
            alerts.append(_alert(o.due, o.url, o.window, condition, previous))
        if previous is not None and (previous.start, previous.end) != (
            o.window.start,
            o.window.end,
        ):
            row.previous_start = previous.start
        row.window_start, row.window_end = o.window.start, o.window.end
        row.explanation_url = o.window.explanation_url
        row.fetched_at = now
        row.failures = 0
        row.last_error = None
        row.next_check_at = next_poll(o.retry_after, now)
    return record_alerts(s, alerts, now=now)


def _alert(
    due: _Due,
    url: str,
    window: RenewalWindow,
    condition: AriCondition,
    previous: RenewalWindow | None,
) -> NewAlert:
    why = f"; the CA explains: {window.explanation_url}" if window.explanation_url else ""
    span = f"{iso_z(window.start)} to {iso_z(window.end)}"
    if condition is AriCondition.MOVED_EARLIER and previous is not None:
        kind, severity = AlertKind.RENEWAL_WINDOW_MOVED, Severity.CRITICAL
        message = (
            f"the CA moved the renewal window of {due.subject} earlier, from "
            f"{iso_z(previous.start)} to {span} (CAs do this before revoking early){why}"
        )
    else:
        kind, severity = AlertKind.RENEWAL_WINDOW_OPEN, Severity.WARNING
        message = (
            f"the CA suggests renewing {due.subject} now: its renewal window is {span} "
            f"and no renewal is in the store {due.store}{why}"
        )
    return NewAlert(
        kind=kind,
        severity=severity,
        message=message,
        certificate_id=due.cert_id,
        sha256=due.sha256,
        subject=due.subject,
        store=due.store,
        dedupe_key=f"{kind.value}:{due.cert_id}:{iso_z(window.start)}",
        details={
            "window": {"start": iso_z(window.start), "end": iso_z(window.end)},
            "explanation_url": window.explanation_url,
            "url": url,
        },
    )


def _rows(
    s: Session, certificate_id: int | None = None
) -> list[tuple[RenewalInfoRow, CertificateRow, str]]:
    query = (
        select(RenewalInfoRow, CertificateRow, Store.name)
        .join(CertificateRow, CertificateRow.id == RenewalInfoRow.certificate_id)
        .join(Store, Store.id == CertificateRow.store_id)
        .order_by(RenewalInfoRow.window_start.is_(None), RenewalInfoRow.window_start)
    )
    if certificate_id is not None:
        query = query.where(RenewalInfoRow.certificate_id == certificate_id)
    return [(r, c, n) for r, c, n in s.execute(query)]


def _info(row: RenewalInfoRow, cert: CertificateRow, store: str) -> RenewalInfo:
    def utc(when: datetime | None) -> datetime | None:
        return ensure_utc(when) if when is not None else None

    return RenewalInfo(
        certificate_id=cert.id,
        sha256=cert.sha256,
        subject=cert.subject,
        store=store,
        url=row.url,
        window_start=utc(row.window_start),
        window_end=utc(row.window_end),
        explanation_url=row.explanation_url,
        previous_start=utc(row.previous_start),
        fetched_at=utc(row.fetched_at),
        next_check_at=ensure_utc(row.next_check_at),
        failures=row.failures,
        last_error=row.last_error,
    )
