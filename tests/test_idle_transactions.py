"""A paused instance cannot hold its row locks for ever: on PostgreSQL every
certwarden session carries ``idle_in_transaction_session_timeout`` (twice the
lease, at least 10 s; ``CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS``), so the
server ends a session whose transaction waits on its client that long.

Configuration checks on their own; the session setting and the server ending
an idle transaction on real PostgreSQL. Beside them: a database URL refused is
named without its password.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from certwarden.adapters.db import Database
from certwarden.composition import App, load_config
from certwarden.errors import ConfigurationError, ConnectionLostError


def _config(**env: str) -> int:
    return load_config(data_dir=Path("unused"), environ=env).idle_transaction_timeout


def test_the_default_is_twice_the_lease_and_at_least_ten_seconds() -> None:
    assert _config() == 60
    assert _config(CERTWARDEN_CLUSTER_LEASE_SECONDS="120") == 240
    assert _config(CERTWARDEN_CLUSTER_LEASE_SECONDS="3") == 10
    assert _config(CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS="45") == 45
    assert _config(CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS="0") == 0  # the server's own


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS": "ten"}, "give whole seconds from 0"),
        ({"CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS": "-5"}, "give whole seconds from 0"),
        ({"CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS": "90000"}, "to 86400"),
        ({"CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS": "30"}, "longer than the lease (30 s"),
        (
            {
                "CERTWARDEN_CLUSTER_LEASE_SECONDS": "60",
                "CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS": "45",
            },
            "longer than the lease (60 s",
        ),
        ({"CERTWARDEN_CLUSTER_LEASE_SECONDS": "1"}, "from 2 to 3600"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config(data_dir=Path("unused"), environ=env)
    assert message in str(caught.value)
    assert next(iter(env)) in str(caught.value) or "LEASE" in str(caught.value)


@pytest.mark.postgres
def test_every_session_carries_the_timeout_beside_the_urls_own_options(pg_app: App) -> None:
    with pg_app.db.engine.connect() as c:
        assert c.execute(sa.text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
        # The URL's own options (the test schema's search_path) still apply.
        assert c.execute(sa.text("SELECT current_schema()")).scalar().startswith("cw_")
    off = Database(pg_app.db.url, idle_transaction_seconds=0)
    try:
        with off.engine.connect() as c:
            assert c.execute(sa.text("SHOW idle_in_transaction_session_timeout")).scalar() == "0"
    finally:
        off.engine.dispose()


def _ended(app: App, pid: int) -> None:
    """Wait until backend ``pid`` is gone (a transaction sees one snapshot of
    pg_stat_activity: a fresh one each time)."""
    deadline = time.monotonic() + 60
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    while True:
        with app.db.engine.connect() as watcher:
            if not watcher.execute(query, {"pid": pid}).scalar():
                return
        assert time.monotonic() < deadline, "the idle transaction was not ended"
        time.sleep(0.2)


@pytest.mark.postgres
def test_a_transaction_left_waiting_is_ended_by_the_server_and_the_next_one_works(
    pg_app: App,
) -> None:
    db = Database(pg_app.db.url, idle_transaction_seconds=1)
    try:
        with pg_app.db.session() as s:
            s.execute(sa.text("CREATE TABLE idle_probe (id integer PRIMARY KEY)"))
            s.execute(sa.text("INSERT INTO idle_probe VALUES (1)"))
        lost = pytest.raises(ConnectionLostError, match="connection was lost")
        with lost as caught, db.session() as s:
            s.execute(sa.text("SELECT id FROM idle_probe WHERE id = 1 FOR UPDATE"))
            pid = int(s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            # The client goes quiet (paused) inside its transaction: the server ends it.
            _ended(pg_app, pid)
            # Its row lock went with it: another session takes the row at once.
            with pg_app.db.engine.connect() as other, other.begin():
                other.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
                locked = other.execute(sa.text("SELECT id FROM idle_probe FOR UPDATE"))
                assert locked.scalar() == 1
            # Resumed, the paused client's transaction fails: nothing of it commits.
            s.execute(sa.text("UPDATE idle_probe SET id = 2"))
        assert "UPDATE" not in str(caught.value)  # the message names no SQL
        with db.session() as s:  # the pool gives a fresh session
            assert s.execute(sa.text("SELECT max(id) FROM idle_probe")).scalar() == 1
    finally:
        db.engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+nosuchdriver://monitor:s3cret-pw@db.example.test/certwarden",
        "nosuchdialect://monitor:s3cret-pw@db.example.test/certwarden",
    ],
)
def test_a_database_url_that_cannot_be_used_is_named_without_its_password(url: str) -> None:
    from certwarden.adapters.db import Database

    with pytest.raises(ConfigurationError) as caught:
        Database(url)
    message = str(caught.value)
    assert "cannot use database URL" in message and "monitor:***@db.example.test" in message
    assert "s3cret-pw" not in message


def test_a_database_that_does_not_answer_is_one_line_naming_it_without_its_password() -> None:
    from certwarden.adapters.db import Database
    from certwarden.errors import StorageError

    db = Database("postgresql+psycopg://monitor:s3cret-pw@127.0.0.1:1/certwarden")
    try:
        with pytest.raises(StorageError) as caught:
            db.upgrade()
    finally:
        db.dispose()
    message = str(caught.value)
    assert message.startswith("database migration failed on postgresql+psycopg://monitor:***@")
    assert "Connection refused" in message or "connection failed" in message
    assert "\n" not in message and "sqlalche.me" not in message and "s3cret-pw" not in message
