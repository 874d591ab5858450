"""Certificate Expiry Monitor: does a run's cost follow what is due, or the inventory?

Builds two SQLite inventories in one process: 1,000,000 certificates with 1%
(10,000) inside the notification window, and the baseline, 100,000 certificates
with the same 10,000 inside the window. Then times one monitor run on each
(LSC monitoring and e-mail on: alerts, the notified marks, the digest queued in
the outbox and the next run scheduled, in one transaction), a repeated run
(nothing due, the window still read) and a tick with nothing due.

Target: ratio (big / baseline) under 1.5; the big run in a few seconds.

    .venv/bin/python bench/monitor_run.py             # full size (about a minute or two)
    .venv/bin/python bench/monitor_run.py --scale 0.05  # quick: 50,000 vs 5,000, 500 due
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from certwarden.adapters.db import Database, default_database_url  # noqa: E402
from certwarden.adapters.db.models import CertificateRow  # noqa: E402
from certwarden.clock import ManualClock  # noqa: E402
from certwarden.services.monitor import MonitorService  # noqa: E402

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_FMT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite
COLUMNS = (
    "store_id", "sha256", "sha1", "subject", "subject_cn", "issuer", "issuer_cn", "serial",
    "not_before", "not_after", "sans", "key_type", "key_size", "signature_algorithm", "is_ca",
    "role", "key_usage", "extended_key_usage", "is_ocsp_signer", "ocsp_uris", "ca_issuer_uris",
    "crl_uris", "subject_key_id", "authority_key_id", "is_lsc", "source", "source_detail",
    "imported_at", "issuer_id", "endpoint_id", "der", "last_notified_at",
)  # fmt: skip


def _check_storage_format(db: Database) -> None:
    """Insert one row through SQLAlchemy and make sure raw rows look the same."""
    import sqlalchemy as sa

    with db.engine.begin() as conn:
        conn.execute(sa.insert(CertificateRow), [_row_dict(0, 1, NOW, False)])
        raw = conn.exec_driver_sql(
            "SELECT not_after, sans, is_lsc FROM certificates WHERE sha256 = ?", (f"{0:064x}",)
        ).one()
        conn.exec_driver_sql("DELETE FROM certificates")
    assert raw == (NOW.strftime(_FMT), "[]", 0), raw


def _row_dict(i: int, store_id: int, not_after: datetime, lsc: bool) -> dict[str, object]:
    return dict(zip(COLUMNS, _row(i, store_id, not_after, lsc, raw=False), strict=True))


def _row(i: int, store_id: int, not_after: datetime, lsc: bool, *, raw: bool = True) -> tuple:  # type: ignore[type-arg]
    before = NOW - timedelta(days=300)
    when = (lambda d: d.strftime(_FMT)) if raw else (lambda d: d)
    empty = "[]" if raw else []
    return (
        store_id, f"{i:064x}", f"{i:040x}", f"CN=SEP{i:012X},O=Bench", f"SEP{i:012X}",
        "CN=Bench CAPF", "Bench CAPF", f"{i:x}", when(before), when(not_after), empty,
        "EC secp256r1", 256, "ecdsa-with-SHA256", 0 if raw else False, "leaf",
        empty, empty, 0 if raw else False, empty, empty, empty, None, None,
        (1 if lsc else 0) if raw else lsc, "bench", "", when(before), None, None, b"\x30\x00", None,
    )  # fmt: skip


def build(path: Path, total: int, due: int, seed: int = 7) -> Database:
    """``total`` certificates, ``due`` of them inside the 30-day window (a tenth expired)."""
    url = default_database_url(path)
    path.mkdir(parents=True)
    db = Database(url)
    db.upgrade()
    _check_storage_format(db)
    db.dispose()
    rng = random.Random(seed)
    inside = set(rng.sample(range(total), due))
    con = sqlite3.connect(path / "certwarden.db")
    con.execute("PRAGMA synchronous=OFF")
    stores = dict(con.execute("SELECT name, id FROM stores"))
    placeholders = ",".join("?" * len(COLUMNS))
    sql = f"INSERT INTO certificates ({','.join(COLUMNS)}) VALUES ({placeholders})"
    batch = []
    with con:
        for i in range(1, total + 1):
            lsc = i % 10 != 0  # mostly phones' LSCs, like a real cluster
            if i - 1 in inside:
                days = -rng.uniform(0, 30) if rng.random() < 0.1 else rng.uniform(0.1, 29.9)
            else:
                days = rng.uniform(45, 3000)
            store = stores["lsc"] if lsc else stores["tomcat-trust"]
            batch.append(_row(i, store, NOW + timedelta(days=days), lsc))
            if len(batch) == 50_000:
                con.executemany(sql, batch)
                batch.clear()
        con.executemany(sql, batch)
    con.close()
    return Database(url)


def plans(db: Database) -> dict[str, list[str]]:
    """SQLite's plan for every query on ``certificates`` that a run issues
    (captured from real runs, with LSC monitoring on and off)."""
    import sqlalchemy as sa

    seen: dict[str, tuple[object, ...]] = {}

    def capture(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM certificates" in statement:
            seen.setdefault(" ".join(statement.split()), tuple(params))  # type: ignore[arg-type]

    monitor = MonitorService(db, ManualClock(NOW + timedelta(days=2)))
    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        monitor.run_now()
        monitor.update_settings({"lsc_enabled": False})
        monitor.run_now()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    out = {}
    with db.engine.connect() as conn:
        for statement, params in seen.items():
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            out[statement[statement.index("FROM certificates") :]] = [str(r[-1]) for r in rows]
    return out


def measure(db: Database) -> dict[str, float | int]:
    monitor = MonitorService(db, ManualClock(NOW))
    monitor.update_settings(
        {"lsc_enabled": True, "email_enabled": True, "emails": "pki-team@example.org"}
    )
    monitor.status()  # the service is recorded as started
    start = time.perf_counter()
    report = monitor.run_now()
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = monitor.run_now()
    repeat = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(100):
        monitor.tick(NOW + timedelta(minutes=30))
    tick = (time.perf_counter() - start) / 100
    assert report.digest_queued and not again.notices
    return {
        "notified": len(report.notices),
        "run_s": round(first, 3),
        "repeat_run_s": round(repeat, 3),
        "idle_tick_ms": round(tick * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every size (0.05 = quick)"
    )
    args = parser.parse_args()
    big, small, due = (max(int(n * args.scale), 10) for n in (1_000_000, 100_000, 10_000))
    results: dict[str, object] = {"due": due}
    with tempfile.TemporaryDirectory(prefix="cw-bench-monitor-") as tmp:
        for label, total in (("baseline", small), ("big", big)):
            start = time.perf_counter()
            db = build(Path(tmp) / label, total, due)
            built = time.perf_counter() - start
            results[label] = {"certificates": total, "build_s": round(built, 1), **measure(db)}
            if label == "big":
                results["plans"] = plans(db)
            db.dispose()
    b, s = results["big"], results["baseline"]
    assert isinstance(b, dict) and isinstance(s, dict)
    results["ratio_run"] = round(b["run_s"] / s["run_s"], 2)
    results["ratio_repeat_run"] = round(b["repeat_run_s"] / s["repeat_run_s"], 2)
    print(json.dumps(results, indent=2))
    print(
        f"\nmonitor run, {due:,} due: {b['certificates']:,} certificates {b['run_s']:.2f}s, "
        f"{s['certificates']:,} certificates (baseline) {s['run_s']:.2f}s, "
        f"ratio {results['ratio_run']} (target < 1.5)"
    )


if __name__ == "__main__":
    main()
