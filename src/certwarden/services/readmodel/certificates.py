"""Certificate lists and search: filtered pages with totals, one record, issuer chains.

The API's and the UI's list reads: one page of certificates matching a
:class:`CertificateQuery`, with the total; the page's IDs are found on the
indexes alone (a deep offset walks index entries, not rows) and only those
rows are then read in full, on a plain connection (no ORM session). Nothing
here writes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
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
    bindparam,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, defer

from certwarden.adapters.db import Database, storage_error
from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.clock import Clock
from certwarden.errors import InvalidFieldsError, NotFoundError
from certwarden.services.inventory import RECORD_COLUMNS, CertificateRecord
from certwarden.services.readmodel.states import STATES, state_clause
from certwarden.services.readmodel.totals import Totals

__all__ = ["MAX_LIMIT", "SORTS", "CertificateQuery", "Page", "chain", "issued", "record", "search"]

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
            raise InvalidFieldsError(errors)


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
        raise storage_error(exc) from exc


def _records(result: Result[Any]) -> list[dict[str, Any]]:
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


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
        conditions.append(state_clause(state, _time("now"), _time("until")))
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


def search(
    db: Database, clock: Clock, totals: Totals, query: CertificateQuery, *, window: timedelta
) -> Page:
    """One page of certificates matching ``query``, with the total count.

    The page's IDs are found on the indexes alone (a deep offset walks index
    entries, not rows); only those rows are then read in full.
    """
    query.validate()
    now = clock.now()
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
    with _reading(db) as c:
        if query.store:
            store_id = c.scalar(_STORE_ID, {"name": query.store})
            if store_id is None:
                raise NotFoundError(f"no store named {query.store!r}")
            params["store_id"] = store_id
        # The version is read before counting: a commit after it is a new version.
        version = totals.version()
        counted = (*shape.items(), *sorted(i for i in params.items() if i[0] not in _PAGING))
        total = totals.get(version, counted)
        if total is None:
            total = c.scalar(count, params) or 0
            totals.put(version, counted, total)
        rows = _records(c.execute(page, params))
    key, reverse = _SORT_KEYS[query.sort]
    rows.sort(key=key, reverse=reverse)
    items = [CertificateRecord.from_mapping(row) for row in rows]
    return Page(items, total, query.limit, query.offset)


def record(db: Database, certificate_id: int) -> CertificateRecord:
    """One certificate by ID in a single query (the API's detail read)."""
    with _reading(db) as c:
        rows = _records(c.execute(_RECORD, {"certificate_id": certificate_id}))
    if not rows:
        raise NotFoundError(f"no certificate with ID {certificate_id}")
    return CertificateRecord.from_mapping(rows[0])


def chain(db: Database, certificate_id: int, *, depth: int = 10) -> list[CertificateRecord]:
    """The issuers of a certificate as found in the inventory, nearest first."""
    out: list[CertificateRecord] = []
    seen = {certificate_id}
    with db.session() as s:
        current = s.get(CertificateRow, certificate_id)
        while current is not None and current.issuer_id is not None and len(out) < depth:
            if current.issuer_id in seen:
                break
            seen.add(current.issuer_id)
            parent = s.get(CertificateRow, current.issuer_id)
            if parent is None:
                break
            out.append(_record(s, parent))
            current = parent
    return out


def issued(
    db: Database, certificate_id: int, *, limit: int = 20
) -> tuple[list[CertificateRecord], int]:
    """Certificates in the inventory issued by this one (a page and the total)."""
    with db.session() as s:
        total = (
            s.scalar(
                select(func.count())
                .select_from(CertificateRow)
                .where(CertificateRow.issuer_id == certificate_id)
            )
            or 0
        )
        rows = s.execute(
            _BASE.where(CertificateRow.issuer_id == certificate_id)
            .order_by(CertificateRow.not_after, CertificateRow.id)
            .limit(limit)
        )
        return [CertificateRecord.from_row(r, st, isha) for r, st, isha in rows], total


def _record(s: Session, row: CertificateRow) -> CertificateRecord:
    store = s.get_one(Store, row.store_id).name
    isha = None
    if row.issuer_id is not None:
        parent = s.get(CertificateRow, row.issuer_id)
        isha = parent.sha256 if parent is not None else None
    return CertificateRecord.from_row(row, store, isha)
