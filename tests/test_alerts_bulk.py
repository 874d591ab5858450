"""Bulk writes of a revocation check: ``record_alerts`` (one dedupe lookup, one
multi-row INSERT) and the check's Core statements (ocsp_checks, shared
responses, the certificates' latest status) — what they store, what they skip,
and that a failure anywhere in them stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from certwarden.composition import App
from certwarden.core.ocsp import RevocationResult
from certwarden.core.ocsp.results import Reason
from certwarden.errors import StorageError
from certwarden.services.revocation import Target
from certwarden.services.revocation.recording import _store_shared_responses
from certwarden.services.shared.alerts import (
    AlertKind,
    NewAlert,
    Severity,
    list_alerts,
    record_alert,
    record_alerts,
)
from tests.conftest import T0
from tests.monitor_helpers import add_cert

D = timedelta(days=1)
TABLES = ("certificates", "ocsp_checks", "ocsp_responses", "alerts", "outbox")


def _rows(app: App, table: str) -> list[Any]:
    with app.db.session() as s:
        return list(s.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).all())


def _alert(n: int, key: str | None = None, **extra: Any) -> NewAlert:
    return NewAlert(
        kind=AlertKind.REVOKED,
        severity=Severity.CRITICAL,
        message=f"alert {n}",
        subject=f"CN=host{n}.test",
        store="tomcat",
        dedupe_key=key,
        details={"n": n},
        **extra,
    )


def _without_keys(row: Any) -> tuple[Any, ...]:
    return tuple(v for k, v in row._mapping.items() if k not in ("id", "dedupe_key"))


@contextmanager
def refused_inserts(app: App, table: str) -> Iterator[str]:
    """SQLite itself refuses every INSERT into ``table`` (a trigger)."""
    message = f"injected failure: {table} refused the row"
    name = f"cw_bulk_refuse_{table}"
    with app.db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    try:
        yield message
    finally:
        with app.db.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")


def test_record_alerts_stores_what_record_alert_stores(app: App) -> None:
    cert_id, sha = add_cert(app, "a.test", T0 + 90 * D)
    fields: dict[str, Any] = {
        "kind": AlertKind.STATUS_CHANGED,
        "severity": Severity.WARNING,
        "message": "status changed",
        "certificate_id": cert_id,
        "sha256": sha,
        "subject": "CN=a.test",
        "store": "tomcat-trust",
        "details": {"previous_status": None, "nested": {"list": [1, 2]}},
    }
    with app.db.session() as s:
        record_alert(s, now=T0, dedupe_key="one", **fields)
    with app.db.session() as s:
        (recorded,) = record_alerts(s, [NewAlert(dedupe_key="two", **fields)], now=T0)
        assert recorded.dedupe_key == "two"
    one, two = _rows(app, "alerts")
    # Every column alike but the ID and the key.
    assert _without_keys(one) == _without_keys(two)
    with app.db.session() as s:
        newest = list_alerts(s)[0]
    assert newest.details == fields["details"] and newest.created_at == T0
    assert (newest.kind, newest.severity, newest.certificate_id) == (
        "status_changed",
        "warning",
        cert_id,
    )


def test_record_alerts_skips_keys_stored_before_or_repeated(app: App) -> None:
    with app.db.session() as s:
        record_alerts(s, [_alert(1, "k1"), _alert(2, "k2")], now=T0)
    with app.db.session() as s:
        # Added by record_alert and not flushed yet: it counts as recorded too.
        record_alert(
            s, now=T0, kind=AlertKind.REVOKED, severity=Severity.CRITICAL, message="p",
            dedupe_key="pending",
        )  # fmt: skip
        recorded = record_alerts(
            s,
            [
                _alert(3, "k1"),  # stored by the first call
                _alert(4, "k3"),
                _alert(5, "k3"),  # repeated in this batch: the first one wins
                _alert(6),  # no key: always recorded
                _alert(7),
                _alert(8, "pending"),
            ],
            now=T0 + D,
        )
    assert [a.message for a in recorded] == ["alert 4", "alert 6", "alert 7"]
    rows = _rows(app, "alerts")
    assert [r.message for r in rows] == ["alert 1", "alert 2", "p", "alert 4", "alert 6", "alert 7"]
    assert [r.dedupe_key for r in rows] == ["k1", "k2", "pending", "k3", None, None]


def test_record_alerts_with_nothing_writes_nothing(app: App) -> None:
    with app.db.session() as s:
        assert record_alerts(s, [], now=T0) == []
    assert _rows(app, "alerts") == []


def test_record_alerts_looks_keys_up_in_chunks(app: App) -> None:
    many = [_alert(i, f"key-{i}") for i in range(2100)]
    with app.db.session() as s:
        assert len(record_alerts(s, many[:1000], now=T0)) == 1000
    with app.db.session() as s:
        recorded = record_alerts(s, many, now=T0)
    assert [a.dedupe_key for a in recorded] == [f"key-{i}" for i in range(1000, 2100)]
    assert len(_rows(app, "alerts")) == 2100


def test_a_check_records_statuses_checks_and_alerts_in_bulk(app: App) -> None:
    expired = [add_cert(app, f"old{i}.test", T0 - D)[0] for i in range(3)]
    orphan, _ = add_cert(app, "orphan.test", T0 + 90 * D)
    report = app.revocation.check([*map(str, expired), str(orphan)])
    assert [o.result.status.value for o in report.outcomes] == ["revoked"] * 3 + ["could_not_tell"]
    # Latest status on every certificate, one check each, one alert per revocation
    # (a first could-not-tell is no news).
    for cert_id in expired:
        record = app.inventory.get(cert_id)
        assert (record.revocation_status, record.revocation_reason) == ("revoked", "expired")
        assert record.revocation_checked_at == T0
    orphan_record = app.inventory.get(orphan)
    assert (orphan_record.revocation_status, orphan_record.revocation_reason) == (
        "could_not_tell",
        "issuer_not_found",
    )
    checks = _rows(app, "ocsp_checks")
    assert [c.certificate_id for c in checks] == [*expired, orphan]
    assert [c.status for c in checks] == ["revoked"] * 3 + ["could_not_tell"]
    alerts = _rows(app, "alerts")
    assert [(a.kind, a.certificate_id) for a in alerts] == [("revoked", i) for i in expired]
    assert all("not checked -> revoked" in a.message for a in alerts)
    # The same answers again: checks recorded, no change, no alert.
    app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    again = app.revocation.check([*map(str, expired), str(orphan)])
    assert not any(o.changed for o in again.outcomes)
    assert len(_rows(app, "ocsp_checks")) == 8 and len(_rows(app, "alerts")) == 3
    assert app.inventory.get(orphan).revocation_checked_at == T0 + timedelta(hours=1)


@pytest.mark.parametrize("table", ["alerts", "ocsp_checks"])
def test_a_check_whose_alerts_or_checks_cannot_be_stored_stores_nothing(
    app: App, table: str
) -> None:
    expired, _ = add_cert(app, "old.test", T0 - D)
    before = {t: _rows(app, t) for t in TABLES}
    with refused_inserts(app, table) as message, pytest.raises(StorageError, match=message):
        app.revocation.check([str(expired)])
    assert {t: _rows(app, t) for t in TABLES} == before
    report = app.revocation.check([str(expired)])
    assert report.outcomes[0].changed
    assert (len(_rows(app, "ocsp_checks")), len(_rows(app, "alerts"))) == (1, 1)


def _item(raw: bytes | None, url: str, n: int) -> tuple[None, Target, str, RevocationResult]:
    result = replace(
        RevocationResult.could_not_tell(Reason.MALFORMED_RESPONSE, "test", responder_url=url),
        raw_response=raw,
    )
    return None, None, "", result  # type: ignore[return-value]


def test_shared_responses_are_stored_once_and_found_again(app: App) -> None:
    a, b, single = b"response A", b"response B", b"response C"
    items = [
        _item(a, "http://one/", 0),
        _item(b, "http://two/", 1),
        _item(a, "http://other/", 2),
        _item(b, "http://two/", 3),
        _item(single, "http://one/", 4),
        _item(None, "http://one/", 5),
    ]
    with app.db.session() as s:
        first = _store_shared_responses(s, items, T0)
    assert set(first) == {a, b}  # the single answer stays inline
    rows = _rows(app, "ocsp_responses")
    assert {(r.id, r.der, r.responder_url) for r in rows} == {
        (first[a], a, "http://one/"),  # the URL of the first check it answered
        (first[b], b, "http://two/"),
    }
    # Stored before: found, not stored again; a new one is added next to them.
    c = b"response D"
    with app.db.session() as s:
        second = _store_shared_responses(s, [*items, _item(c, "x", 6), _item(c, "x", 7)], T0 + D)
    assert {k: second[k] for k in (a, b)} == first and c in second
    assert len(_rows(app, "ocsp_responses")) == 3
