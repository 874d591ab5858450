"""Races against the real server (issue 11 item 9): simultaneous uploads of the
same certificates answer "duplicate", two simultaneous run-now answer "a run is
in progress", and a database error never shows its SQL to the client."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert, select

from certwarden.adapters.db.models import CertificateRow
from certwarden.composition import App
from certwarden.errors import ConflictError, ConflictingWriteError, StorageError
from certwarden.services.monitor import MonitorService
from tests.conftest import T0
from tests.pki_files import pem, small_pki
from tests.web_support import make_setup, serve_in_thread

DAY = timedelta(days=1)
SQL_WORDS = ("INSERT", "SELECT", "UPDATE", "DELETE FROM", "[SQL", "sqlite3.", "psycopg")


def _bundle(count: int) -> bytes:
    pki = small_pki(T0)
    leaves = [
        pki.sub.issue(f"race{i}.test", not_before=T0 - DAY, not_after=T0 + 90 * DAY)
        for i in range(count)
    ]
    return pem(*(leaf.cert for leaf in leaves))


def test_simultaneous_uploads_of_the_same_certificates_answer_duplicate(app: App) -> None:
    setup = make_setup(app)
    bundle = _bundle(150)  # a long insert: a wide window for the race
    with serve_in_thread(setup.web) as served:
        headers = {"authorization": f"Bearer {setup.admin_token}"}

        def upload(_: int) -> httpx.Response:
            return httpx.post(
                f"{served.base_url}/api/v1/certificates",
                headers=headers,
                files=[("files", ("race.pem", bundle, "application/x-pem-file"))],
                data={"store": "tomcat-trust"},
                timeout=120,
            )

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(upload, range(6)))
    for answer in answers:
        assert answer.status_code in {200, 201}, answer.text
        assert not any(word in answer.text for word in SQL_WORDS), answer.text
    reports = [a.json() for a in answers]
    assert sum(len(r["imported"]) for r in reports) == 150  # each stored once
    assert sum(len(r["duplicates"]) for r in reports) == 150 * 5
    assert len(app.inventory.list()) == 150


def test_a_racing_insert_is_a_conflicting_write_without_sql(app: App) -> None:
    prepared = app.inventory.prepare_bytes([("one.pem", _bundle(1))], store="tomcat-trust")
    app.inventory.commit(prepared)
    with app.db.session() as s:
        row = s.scalars(select(CertificateRow)).one()
        values = {c.name: getattr(row, c.name) for c in CertificateRow.__table__.columns}
    values.pop("id")
    with pytest.raises(ConflictingWriteError) as info, app.db.session() as s:
        s.execute(insert(CertificateRow), [values])  # what a second writer would do
    assert isinstance(info.value, ConflictError) and not isinstance(info.value, StorageError)
    assert not any(word in str(info.value) for word in SQL_WORDS), str(info.value)


def test_two_simultaneous_run_now_answer_a_run_is_in_progress(app: App) -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow_probe(_now: datetime) -> None:  # the endpoint probe every run starts with
        entered.set()
        release.wait(30)

    app.__dict__["monitor"] = MonitorService(app.db, app.clock, before_run=slow_probe)
    setup = make_setup(app)
    with serve_in_thread(setup.web) as served:
        headers = {"authorization": f"Bearer {setup.admin_token}"}
        url = f"{served.base_url}/api/v1/services/monitor/run-now"
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(httpx.post, url, headers=headers, timeout=60)
            assert entered.wait(30)
            second = httpx.post(url, headers=headers, timeout=60)
            release.set()
            done = first.result()
    assert done.status_code == 200, done.text
    assert second.status_code == 409, second.text
    assert "a run is in progress" in second.json()["detail"]
    assert app.monitor.status().runs == {"manual": 1}


def test_a_database_failure_names_the_failure_not_the_statement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from certwarden.adapters.db import storage_error

    failure = OperationalError(
        "INSERT INTO certificates (sha256) VALUES (?)",
        ("ab" * 32,),
        sqlite3.OperationalError("attempt to write a readonly database"),
    )
    with caplog.at_level("WARNING", logger="certwarden.storage"):
        error = storage_error(failure)
    assert isinstance(error, StorageError)
    assert str(error) == "database error: OperationalError: attempt to write a readonly database"
    assert "INSERT" in caplog.text  # the statement is in the server's log
