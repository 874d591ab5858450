"""The API's fast read path (Core rows on a plain connection, records built from
plain values) gives exactly what the ORM path gives, for real certificates."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from certwarden.composition import App
from certwarden.core.timefmt import iso_z
from certwarden.errors import NotFoundError, StorageError
from certwarden.services.inventory import CertificateRecord, ListFilter
from certwarden.services.readmodel import CertificateQuery
from tests.conftest import T0
from tests.pki_files import p7b, pem, small_pki, write


@pytest.fixture
def stored(app: App, tmp_path: Path) -> App:
    pki = small_pki(T0)
    app.inventory.import_paths(
        [write(tmp_path / "chain.p7b", p7b(pki.sub.cert, pki.root.cert, pki.responder.cert))],
        store="tomcat-trust",
    )
    app.inventory.import_paths(
        [write(tmp_path / "leaves.pem", pem(*(leaf.cert for leaf in pki.leaves)))],
        store="tomcat",
    )
    with app.db.engine.begin() as conn:  # a recorded revocation, as the checker stores it
        conn.execute(
            sa.text(
                "UPDATE certificates SET revocation_status = 'revoked', "
                "revocation_reason = 'keyCompromise', revocation_checked_at = :at, "
                "revoked_at = :at WHERE subject_cn = 'leaf3.test'"
            ),
            {"at": (T0 - timedelta(days=1)).replace(tzinfo=None)},
        )
    return app


def test_records_match_the_orm_path_field_for_field(stored: App) -> None:
    now = stored.clock.now()
    everything = stored.inventory.list(ListFilter())
    assert len(everything) == 7
    assert any(r.sans and r.ocsp_uris and r.issuer_sha256 for r in everything)
    assert any(r.revocation_status == "revoked" and r.revoked_at for r in everything)
    for expected in everything:
        fast = stored.overview.record(expected.id)
        assert fast == expected
        assert fast.to_json(now) == expected.to_json(now)
        # Every field is set (the record is filled without its __init__).
        assert CertificateRecord(**dataclasses.asdict(fast)) == fast
        assert isinstance(fast.sans, tuple) and isinstance(fast.key_usage, tuple)
    with pytest.raises(NotFoundError, match="no certificate with ID 999"):
        stored.overview.record(999)


@pytest.mark.parametrize("sort", ["not_after", "-not_after", "subject", "id", "-id"])
def test_pages_match_the_orm_path_in_every_order(stored: App, sort: str) -> None:
    now = stored.clock.now()
    window = timedelta(days=30)
    everything = {r.id: r for r in stored.inventory.list(ListFilter())}
    page = stored.overview.search(CertificateQuery(sort=sort, limit=500), window=window)
    assert page.total == len(page.items) == 7
    assert [r.to_json(now) for r in page.items] == [
        everything[r.id].to_json(now) for r in page.items
    ]
    second = stored.overview.search(CertificateQuery(sort=sort, limit=3, offset=3), window=window)
    assert [r.id for r in second.items] == [r.id for r in page.items[3:6]]
    assert (second.total, second.limit, second.offset) == (7, 3, 3)


def test_filters_use_their_bound_values(stored: App) -> None:
    window = timedelta(days=30)

    def ids(**kw: object) -> list[int]:
        query = CertificateQuery(limit=500, **kw)  # type: ignore[arg-type]
        return [r.id for r in stored.overview.search(query, window=window).items]

    expired = [r.id for r in stored.inventory.list(ListFilter(expired=True))]
    expiring = [
        r.id
        for r in stored.inventory.list(ListFilter(expiring_within=window))
        if r.id not in expired
    ]
    tomcat = [r.id for r in stored.inventory.list(ListFilter(store="tomcat"))]
    assert expired and expiring and len(tomcat) == 4
    assert ids(state="expired") == expired
    assert ids(state="expiring") == expiring
    assert ids(store="tomcat") == tomcat
    assert ids(store="tomcat", state="revoked") == [
        r.id for r in stored.inventory.list(ListFilter()) if r.revocation_status == "revoked"
    ]
    assert ids(min_days=0, max_days=50) == [
        r.id for r in stored.inventory.list(ListFilter()) if 0 <= r.days_left(T0) <= 50
    ]
    leaf = stored.inventory.list(ListFilter(store="tomcat"))[0]
    assert ids(text="LEAF0.test") == [
        r.id for r in stored.inventory.list(ListFilter()) if "leaf0.test" in r.subject
    ]
    assert ids(text=leaf.sha256[:12].upper()) == [leaf.id]
    assert ids(text="100%_") == []
    with pytest.raises(NotFoundError, match="no store named 'nope'"):
        ids(store="nope")


def test_a_broken_database_is_a_storage_error(stored: App) -> None:
    with stored.db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE certificates RENAME TO certificates_gone"))
    with pytest.raises(StorageError, match="database error"):
        stored.overview.search(CertificateQuery(), window=timedelta(0))
    with pytest.raises(StorageError, match="database error"):
        stored.overview.record(1)


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 6, 1, 12, 3, 4, 999_999, tzinfo=UTC),
        datetime(2049, 12, 31, 23, 59, 59),  # naive: taken as UTC
        datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5))),  # converted
        datetime(1950, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC),  # four digits, whatever the C library does
    ],
)
def test_iso_is_the_strftime_text(when: datetime) -> None:
    """The one formatter: UTC, to the second (microseconds dropped), a four-digit year."""
    aware = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    assert iso_z(when) == f"{aware.year:04d}" + aware.strftime("-%m-%dT%H:%M:%SZ")
    assert iso_z(None) is None


def test_totals_follow_every_commit(stored: App, tmp_path: Path) -> None:
    """Totals are reused between pages only while nothing was committed, by any
    connection: this process's sessions, or another process's connection."""
    window = timedelta(0)

    def total(**kw: object) -> int:
        query = CertificateQuery(limit=2, **kw)  # type: ignore[arg-type]
        return stored.overview.search(query, window=window).total

    assert total(store="tomcat") == total(store="tomcat", lsc=False) == 4
    assert total(store="tomcat") == 4  # again, from the same version
    extra = small_pki(T0).leaves[0].cert
    stored.inventory.import_paths([write(tmp_path / "x.pem", pem(extra))], store="tomcat")
    assert total(store="tomcat") == 5
    assert total(store="tomcat", lsc=False) == 5
    other = sqlite3.connect(stored.config.data_dir / "certwarden.db")  # another process's view
    try:
        with other:
            other.execute("DELETE FROM certificates WHERE subject_cn = 'leaf0.test'")
        assert total(store="tomcat") == 3
        with other:
            other.execute("UPDATE certificates SET is_lsc = 1 WHERE subject_cn = 'leaf1.test'")
        assert total(store="tomcat", lsc=False) == 2
        assert total(store="tomcat", lsc=True) == 1
    finally:
        other.close()
