"""Read-side views of the inventory for the dashboard, the certificate list,
the detail page and the metrics: filtered pages with totals, counts by state,
the expiry timeline, issuer chains and OCSP history.

Every certificate has two states side by side, never mixed into one:

* its **expiry state**: ``valid`` (outside the notification window),
  ``expiring`` (inside it) or ``expired`` (RFC 5280: only strictly after
  notAfter);
* its **revocation state**: ``good``, ``revoked``, ``unknown``,
  ``could_not_tell`` or ``not_checked``, taken from the last check recorded by
  the revocation service. Nothing is ever counted as ``good`` without a check
  that said so.

The notification window is a parameter: it belongs to the Certificate
Monitor's settings, which the caller reads. Nothing here writes.
"""

from __future__ import annotations

import enum
import functools
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Integer,
    Result,
    Select,
    Text,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, defer

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import (
    Alert,
    CertificateRow,
    OcspCheck,
    OutboxMessage,
    ServiceState,
    Store,
)
from certwarden.clock import Clock, ensure_utc
from certwarden.errors import InputError, NotFoundError, SettingsError, StorageError
from certwarden.services.alerts import AlertRecord, list_alerts
from certwarden.services.inventory import RECORD_COLUMNS, CertificateRecord, iso

__all__ = [
    "CertificateQuery",
    "Counts",
    "ExpiryState",
    "OcspCheckRecord",
    "OverviewService",
    "Page",
    "RevocationState",
    "ServiceStateRecord",
    "TimelineBucket",
]


@enum.unique
class ExpiryState(enum.StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"


@enum.unique
class RevocationState(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    COULD_NOT_TELL = "could_not_tell"
    NOT_CHECKED = "not_checked"


STATES: tuple[str, ...] = tuple(s.value for s in ExpiryState) + tuple(
    s.value for s in RevocationState
)
SORTS = ("not_after", "-not_after", "subject", "id", "-id")
MAX_LIMIT = 500


@dataclass(frozen=True)
class CertificateQuery:
    """Filters for the certificate list (all combine with AND)."""

    store: str | None = None
    state: str | None = None
    lsc: bool | None = None
    min_days: float | None = None
    max_days: float | None = None
    text: str | None = None
    sort: str = "not_after"
    limit: int = 50
    offset: int = 0

    def validate(self) -> None:
        errors: dict[str, str] = {}
        if self.state is not None and self.state not in STATES:
            errors["state"] = f"{self.state!r} is not a state; use one of {', '.join(STATES)}"
        if self.sort not in SORTS:
            errors["sort"] = f"{self.sort!r} is not a sort order; use one of {', '.join(SORTS)}"
        if not 1 <= self.limit <= MAX_LIMIT:
            errors["limit"] = f"must be between 1 and {MAX_LIMIT}"
        if self.offset < 0:
            errors["offset"] = "must not be negative"
        for name in ("min_days", "max_days"):
            value = getattr(self, name)
            if value is not None and not -36500 <= value <= 36500:
                errors[name] = "must be between -36500 and 36500 days"
        if (
            self.min_days is not None
            and self.max_days is not None
            and self.min_days > self.max_days
        ):
            errors["max_days"] = "must not be smaller than min_days"
        if errors:
            raise SettingsError(errors)


@dataclass(frozen=True)
class Page:
    items: list[CertificateRecord]
    total: int
    limit: int
    offset: int

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "items": [r.to_json(now) for r in self.items],
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
        }


@dataclass(frozen=True)
class Counts:
    total: int
    expiry: dict[str, int]
    revocation: dict[str, int]
    window_days: float

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "expiry": dict(self.expiry),
            "revocation": dict(self.revocation),
            "window_days": self.window_days,
        }


@dataclass(frozen=True)
class TimelineBucket:
    """Certificates whose notAfter falls in ``[start, end)``; ``start`` None = already expired."""

    start: datetime | None
    end: datetime
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "count": self.count}


@dataclass(frozen=True)
class OcspCheckRecord:
    id: int
    checked_at: datetime
    trigger: str
    status: str
    reason: str | None
    detail: str
    revoked_at: datetime | None
    revocation_reason: str | None
    trust_model: str | None
    signer_sha256: str | None
    responder_url: str | None
    this_update: datetime | None
    next_update: datetime | None
    has_response: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "checked_at": iso(self.checked_at),
            "trigger": self.trigger,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
            "revoked_at": iso(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "trust_model": self.trust_model,
            "signer_sha256": self.signer_sha256,
            "responder_url": self.responder_url,
            "this_update": iso(self.this_update),
            "next_update": iso(self.next_update),
            "has_response": self.has_response,
        }


def _base_select() -> Select[Any]:
    issuer = CertificateRow.__table__.alias("issuer_cert")
    return (
        select(CertificateRow, Store.name, issuer.c.sha256)
        .join(Store, Store.id == CertificateRow.store_id)
        .outerjoin(issuer, issuer.c.id == CertificateRow.issuer_id)
        .options(defer(CertificateRow.der))
    )


def _list_rows() -> Select[Any]:
    """Plain rows (SQLAlchemy Core, no ORM objects) with the columns a record shows.

    No DER. The JSON list columns come back as their stored text, which
    :meth:`CertificateRecord.from_mapping` decodes once per distinct value.
    """
    table = CertificateRow.__table__
    issuer = table.alias("issuer_cert")
    columns = [
        type_coerce(table.c[name], Text).label(name)
        if isinstance(table.c[name].type, JSON)
        else table.c[name]
        for name in RECORD_COLUMNS
    ]
    return (
        select(*columns, Store.name.label("store"), issuer.c.sha256.label("issuer_sha256"))
        .select_from(table)
        .join(Store, Store.id == table.c.store_id)
        .outerjoin(issuer, issuer.c.id == table.c.issuer_id)
    )


# Python twins of the SQL orders, to put the page's rows back in order.
_SORT_KEYS: dict[str, tuple[Callable[[dict[str, Any]], Any], bool]] = {
    "not_after": (lambda m: (m["not_after"], m["id"]), False),
    "-not_after": (lambda m: (m["not_after"], m["id"]), True),
    "subject": (lambda m: (m["subject_cn"], m["id"]), False),
    "id": (lambda m: m["id"], False),
    "-id": (lambda m: m["id"], True),
}

# Built once: the statements are the same for every call (SQLAlchemy caches their SQL).
_BASE = _base_select()
_LIST_ROWS = _list_rows()


@contextmanager
def _reading(db: Database) -> Iterator[Connection]:
    """A plain connection for the API's hot reads: no ORM session, identity map or
    instrumentation. Database errors become :class:`StorageError`, as in sessions."""
    try:
        with db.engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise StorageError(f"database error: {exc}") from exc


def _records(result: Result[Any]) -> list[dict[str, Any]]:
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


@dataclass(frozen=True)
class ServiceStateRecord:
    name: str
    status: str
    changed_at: datetime
    last_run_at: datetime | None
    next_run_at: datetime | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "changed_at": iso(self.changed_at),
            "last_run_at": iso(self.last_run_at),
            "next_run_at": iso(self.next_run_at),
            "detail": self.detail,
        }


def _opt(when: datetime | None) -> datetime | None:
    return ensure_utc(when) if when is not None else None


_CHECKED = (
    RevocationState.GOOD.value,
    RevocationState.REVOKED.value,
    RevocationState.UNKNOWN.value,
)


def _state_clause(state: str, now: Any, until: Any) -> Any:
    """The condition for ``state``; ``now`` and ``until`` (the end of the notification
    window) are datetimes or bound parameters."""
    row = CertificateRow
    status = row.revocation_status
    match state:
        case ExpiryState.EXPIRED:
            return row.not_after < now
        case ExpiryState.EXPIRING:
            return and_(row.not_after >= now, row.not_after <= until)
        case ExpiryState.VALID:
            return row.not_after > until
        case RevocationState.NOT_CHECKED:
            return status.is_(None)
        case RevocationState.COULD_NOT_TELL:
            # Anything recorded that is not a validated answer counts here, never as good.
            return and_(status.is_not(None), status.not_in(_CHECKED))
        case _:
            return status == state


def _time(name: str) -> Any:
    return bindparam(name, type_=CertificateRow.__table__.c.not_after.type)


_ORDERS: dict[str, tuple[Any, ...]] = {
    "not_after": (CertificateRow.not_after, CertificateRow.id),
    "-not_after": (CertificateRow.not_after.desc(), CertificateRow.id.desc()),
    "subject": (CertificateRow.subject_cn, CertificateRow.id),
    "id": (CertificateRow.id,),
    "-id": (CertificateRow.id.desc(),),
}


@functools.lru_cache(maxsize=512)
def _search_statements(
    *,
    lsc: bool,
    state: str | None,
    min_days: bool,
    max_days: bool,
    text: bool,
    hexed: bool,
    store: bool,
    sort: str,
) -> tuple[Select[Any], Select[Any]]:
    """The count and the page statements for one combination of filters, with the
    values as bound parameters: built once, so SQLAlchemy neither rebuilds them nor
    recomputes their cache keys per request."""
    row = CertificateRow
    conditions: list[Any] = []
    if lsc:
        conditions.append(row.is_lsc.is_(bindparam("lsc", type_=Boolean())))
    if state:
        conditions.append(_state_clause(state, _time("now"), _time("until")))
    if min_days:
        conditions.append(row.not_after >= _time("min_after"))
    if max_days:
        conditions.append(row.not_after <= _time("max_after"))
    if text:
        alternatives: list[Any] = [
            row.subject.ilike(bindparam("like", type_=Text()), escape="\\"),
            row.issuer.ilike(bindparam("like", type_=Text()), escape="\\"),
        ]
        if hexed:
            alternatives.append(row.sha256.startswith(bindparam("hex", type_=Text())))
            alternatives.append(row.serial == bindparam("serial", type_=Text()))
        conditions.append(or_(*alternatives))
    if store:
        conditions.append(row.store_id == bindparam("store_id", type_=Integer()))
    count = select(func.count()).select_from(row).where(*conditions)
    # The page's IDs come from the indexes alone (a deep offset walks index entries,
    # not joined rows); the outer query reads just those rows.
    page_ids = (
        select(row.id)
        .where(*conditions)
        .order_by(*_ORDERS[sort])
        .offset(bindparam("offset", type_=Integer()))
        .limit(bindparam("limit", type_=Integer()))
    )
    return count, _LIST_ROWS.where(row.id.in_(page_ids))


_PAGING = frozenset({"offset", "limit"})
_STORE_ID = select(Store.id).where(Store.name == bindparam("name", type_=Text()))
_RECORD = _LIST_ROWS.where(CertificateRow.id == bindparam("certificate_id", type_=Integer()))


class _Totals:
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


class OverviewService:
    """Queries behind the dashboard, the certificate list, the detail page and metrics."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._totals = _Totals(db)

    def _base(self) -> Select[Any]:
        return _BASE

    def search(self, query: CertificateQuery, *, window: timedelta) -> Page:
        """One page of certificates matching ``query``, with the total count.

        The page's IDs are found on the indexes alone (a deep offset walks index
        entries, not rows); only those rows are then read in full.
        """
        query.validate()
        now = self._clock.now()
        params: dict[str, Any] = {"offset": query.offset, "limit": query.limit}
        if query.lsc is not None:
            params["lsc"] = query.lsc
        if query.state:
            params["now"] = now
            params["until"] = now + window
        if query.min_days is not None:
            params["min_after"] = now + timedelta(days=query.min_days)
        if query.max_days is not None:
            params["max_after"] = now + timedelta(days=query.max_days)
        text = query.text.strip() if query.text else ""
        hexed = text.replace(":", "").lower()
        is_hex = bool(hexed) and all(c in "0123456789abcdef" for c in hexed)
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            params["like"] = "%" + escaped + "%"
            if is_hex:
                params["hex"] = hexed
                params["serial"] = hexed.lstrip("0")
        shape = dict(
            lsc=query.lsc is not None,
            state=query.state or None,
            min_days=query.min_days is not None,
            max_days=query.max_days is not None,
            text=bool(text),
            hexed=bool(text) and is_hex,
            store=bool(query.store),
            sort=query.sort,
        )
        count, page = _search_statements(**shape)
        with _reading(self._db) as c:
            if query.store:
                store_id = c.scalar(_STORE_ID, {"name": query.store})
                if store_id is None:
                    raise NotFoundError(f"no store named {query.store!r}")
                params["store_id"] = store_id
            # The version is read before counting: a commit after it is a new version.
            version = self._totals.version()
            counted = (*shape.items(), *sorted(i for i in params.items() if i[0] not in _PAGING))
            total = self._totals.get(version, counted)
            if total is None:
                total = c.scalar(count, params) or 0
                self._totals.put(version, counted, total)
            rows = _records(c.execute(page, params))
        key, reverse = _SORT_KEYS[query.sort]
        rows.sort(key=key, reverse=reverse)
        items = [CertificateRecord.from_mapping(row) for row in rows]
        return Page(items, total, query.limit, query.offset)

    def record(self, certificate_id: int) -> CertificateRecord:
        """One certificate by ID in a single query (the API's detail read)."""
        with _reading(self._db) as c:
            rows = _records(c.execute(_RECORD, {"certificate_id": certificate_id}))
        if not rows:
            raise NotFoundError(f"no certificate with ID {certificate_id}")
        return CertificateRecord.from_mapping(rows[0])

    def counts(self, *, window: timedelta) -> Counts:
        """How many certificates are in each expiry state and each revocation state."""
        now = self._clock.now()
        columns = [func.count().label("total")]
        for state in STATES:
            columns.append(
                func.sum(case((_state_clause(state, now, now + window), 1), else_=0)).label(state)
            )
        with self._db.session() as s:
            row = s.execute(select(*columns).select_from(CertificateRow)).one()
        values = row._asdict()
        return Counts(
            total=int(values["total"] or 0),
            expiry={st.value: int(values[st.value] or 0) for st in ExpiryState},
            revocation={st.value: int(values[st.value] or 0) for st in RevocationState},
            window_days=window.total_seconds() / 86400,
        )

    def timeline(self, *, weeks: int = 26) -> list[TimelineBucket]:
        """Expiries per week for the coming ``weeks``, after a bucket of expired ones."""
        if not 1 <= weeks <= 520:
            raise InputError(f"weeks={weeks} is out of range; use 1 to 520")
        now = self._clock.now()
        week = timedelta(days=7)
        end = now + weeks * week
        with self._db.session() as s:
            expired = (
                s.scalar(
                    select(func.count())
                    .select_from(CertificateRow)
                    .where(CertificateRow.not_after < now)
                )
                or 0
            )
            times = s.scalars(
                select(CertificateRow.not_after).where(
                    CertificateRow.not_after >= now, CertificateRow.not_after < end
                )
            ).all()
        counts = [0] * weeks
        for when in times:
            index = int((ensure_utc(when) - now) / week)
            counts[min(max(index, 0), weeks - 1)] += 1
        buckets = [TimelineBucket(None, now, expired)]
        buckets += [
            TimelineBucket(now + i * week, now + (i + 1) * week, counts[i]) for i in range(weeks)
        ]
        return buckets

    def chain(self, certificate_id: int, *, depth: int = 10) -> list[CertificateRecord]:
        """The issuers of a certificate as found in the inventory, nearest first."""
        out: list[CertificateRecord] = []
        seen = {certificate_id}
        with self._db.session() as s:
            current = s.get(CertificateRow, certificate_id)
            while current is not None and current.issuer_id is not None and len(out) < depth:
                if current.issuer_id in seen:
                    break
                seen.add(current.issuer_id)
                parent = s.get(CertificateRow, current.issuer_id)
                if parent is None:
                    break
                out.append(self._record(s, parent))
                current = parent
        return out

    def issued(
        self, certificate_id: int, *, limit: int = 20
    ) -> tuple[list[CertificateRecord], int]:
        """Certificates in the inventory issued by this one (a page and the total)."""
        with self._db.session() as s:
            total = (
                s.scalar(
                    select(func.count())
                    .select_from(CertificateRow)
                    .where(CertificateRow.issuer_id == certificate_id)
                )
                or 0
            )
            rows = s.execute(
                self._base()
                .where(CertificateRow.issuer_id == certificate_id)
                .order_by(CertificateRow.not_after, CertificateRow.id)
                .limit(limit)
            )
            return [CertificateRecord.from_row(r, st, isha) for r, st, isha in rows], total

    @staticmethod
    def _record(s: Session, row: CertificateRow) -> CertificateRecord:
        store = s.get_one(Store, row.store_id).name
        isha = None
        if row.issuer_id is not None:
            parent = s.get(CertificateRow, row.issuer_id)
            isha = parent.sha256 if parent is not None else None
        return CertificateRecord.from_row(row, store, isha)

    def ocsp_history(
        self, certificate_id: int, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[OcspCheckRecord], int]:
        """Recorded revocation checks of one certificate, newest first, and their total."""
        with self._db.session() as s:
            total = (
                s.scalar(
                    select(func.count())
                    .select_from(OcspCheck)
                    .where(OcspCheck.certificate_id == certificate_id)
                )
                or 0
            )
            rows = s.execute(
                select(OcspCheck, OcspCheck.raw_response.is_not(None))
                .where(OcspCheck.certificate_id == certificate_id)
                .options(defer(OcspCheck.raw_response))
                .order_by(OcspCheck.checked_at.desc(), OcspCheck.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return [
                OcspCheckRecord(
                    r.id,
                    ensure_utc(r.checked_at),
                    r.trigger,
                    r.status,
                    r.reason,
                    r.detail,
                    _opt(r.revoked_at),
                    r.revocation_reason,
                    r.trust_model,
                    r.signer_sha256,
                    r.responder_url,
                    _opt(r.this_update),
                    _opt(r.next_update),
                    bool(has),
                )
                for r, has in rows
            ], total

    def ocsp_response(self, certificate_id: int, check_id: int) -> bytes | None:
        """The raw OCSP response kept as evidence for one check, if any."""
        with self._db.session() as s:
            row = s.get(OcspCheck, check_id)
            if row is None or row.certificate_id != certificate_id:
                raise NotFoundError(f"no OCSP check {check_id} for certificate {certificate_id}")
            return row.raw_response

    def ocsp_check_counts(self) -> dict[str, int]:
        """How many revocation checks were recorded, per status."""
        with self._db.session() as s:
            return {
                status: int(n)
                for status, n in s.execute(
                    select(OcspCheck.status, func.count()).group_by(OcspCheck.status)
                )
            }

    def metric_rows(self) -> list[tuple[str, str, str, str, str, datetime, datetime, str | None]]:
        """``(store, subject CN, issuer CN, serial, sha256, notBefore, notAfter, status)`` for all."""
        with self._db.session() as s:
            rows = s.execute(
                select(
                    Store.name,
                    CertificateRow.subject_cn,
                    CertificateRow.issuer_cn,
                    CertificateRow.serial,
                    CertificateRow.sha256,
                    CertificateRow.not_before,
                    CertificateRow.not_after,
                    CertificateRow.revocation_status,
                )
                .join(Store, Store.id == CertificateRow.store_id)
                .order_by(CertificateRow.id)
            ).all()
        return [
            (st, cn, icn, serial, sha, ensure_utc(nb), ensure_utc(na), status)
            for st, cn, icn, serial, sha, nb, na, status in rows
        ]

    def alerts(
        self, *, limit: int = 100, offset: int = 0, kind: str | None = None
    ) -> tuple[list[AlertRecord], int]:
        """The alert log, newest first, and how many alerts match."""
        counted = select(func.count()).select_from(Alert)
        if kind:
            counted = counted.where(Alert.kind == kind)
        with self._db.session() as s:
            total = s.scalar(counted) or 0
            return list_alerts(s, limit=limit, offset=offset, kind=kind), total

    def service_states(self) -> list[ServiceStateRecord]:
        """Every background service's persisted state (the Control Center's table)."""
        with self._db.session() as s:
            return [
                ServiceStateRecord(
                    r.name,
                    r.status,
                    ensure_utc(r.changed_at),
                    _opt(r.last_run_at),
                    _opt(r.next_run_at),
                    dict(r.detail or {}),
                )
                for r in s.scalars(select(ServiceState).order_by(ServiceState.name))
            ]

    def outbox_counts(self) -> dict[str, int]:
        """Notices in the outbox per state (pending also counts those failing and retrying)."""
        with self._db.session() as s:
            return {
                state: int(n)
                for state, n in s.execute(
                    select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
                )
            }

    def outbox_failing(self) -> int:
        """Pending notices that have failed at least once (being retried)."""
        with self._db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state == "pending", OutboxMessage.attempts > 0)
                )
                or 0
            )
