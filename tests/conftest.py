"""Shared fixtures: an injected clock, a migrated database (SQLite, or PostgreSQL
where marked), the wired app, and a CLI runner bound to the same data directory."""

from __future__ import annotations

import logging
import os

# The terminal's size is each test's own (the Cli fixture says COLUMNS=200, the
# narrow-output tests 80): none inherited, fixed at import in the CLI's Rich
# consoles (pytest-xdist's workers inherit COLUMNS=80).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer.testing
from typer.testing import CliRunner

from certwarden.adapters.db.engine import HEAD_REVISION
from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app, prepare_data_dir
from tests.receiver_fixture import receiver  # noqa: F401  (a real HTTP receiver, channels)
from tests.smtp_fixture import silent_server, smtp_server  # noqa: F401  (real aiosmtpd fixtures)

# A fixed "now" for tests; every test that needs another moves the ManualClock.
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

POSTGRES_URL = os.environ.get(
    "CERTWARDEN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _serve_logging_undone() -> Iterator[None]:
    """``serve`` run in-process points the root logger at the stderr of the moment
    (pytest's capture, closed after the test): take that handler away again, so a
    later test's record (aiosmtpd's thread logs late) is not written to a closed file."""
    from certwarden.interfaces.cli._logs import JsonFormatter, TextFormatter

    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler.formatter, JsonFormatter | TextFormatter):
            root.removeHandler(handler)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database file the migrations brought to head, once per run.

    Alembic takes ~0.1 s per new database (more on a loaded machine); the ``app``
    fixture copies this file instead. The migrations themselves are tested on
    empty databases elsewhere (tests/test_migrations.py, the serve tests).
    """
    data_dir = tmp_path_factory.mktemp("migrated-template") / "data"
    template = build_app(AppConfig(data_dir=data_dir, database_url=""), clock=ManualClock(T0))
    with template.db.engine.connect() as connection:  # everything into the main file
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    template.close()
    return data_dir / "certwarden.db"


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock, migrated_sqlite_template: Path) -> Iterator[App]:
    """The wired app on a fresh SQLite database (a copy of the migrated template)."""
    data_dir = tmp_path / "data"
    prepare_data_dir(data_dir)
    database = data_dir / "certwarden.db"
    database.touch(mode=0o600)
    shutil.copyfile(migrated_sqlite_template, database)
    application = build_app(AppConfig(data_dir=data_dir, database_url=""), clock=clock)
    assert application.db.current_revision() == HEAD_REVISION
    yield application
    application.close()


def _postgres_available() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(url, connect_timeout=2):
            return None
    except Exception as exc:
        return f"no PostgreSQL server answers at {POSTGRES_URL} ({exc.__class__.__name__})"


@pytest.fixture
def pg_app(clock: ManualClock, tmp_path: Path) -> Iterator[App]:
    """The wired app on a fresh schema of a real PostgreSQL database."""
    why = _postgres_available()
    if why is not None:
        if os.environ.get("CERTWARDEN_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {why}")
        pytest.skip(why)
    import sqlalchemy as sa

    schema = f"cw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    application = build_app(AppConfig(data_dir=tmp_path, database_url=url), clock=clock)
    try:
        yield application
    finally:
        application.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# typer's CliRunner.invoke rebuilds the whole click command tree from the Typer app on
# every call (signatures, type hints, options of every command): ~150 ms, nine tenths of
# an in-process CLI call. The tree does not change within a run, so it is built once per
# app object; each call still parses its arguments and runs the command afresh.
_build_command = typer.testing._get_command
_built_commands: dict[int, tuple[object, object]] = {}


def _command_built_once(typer_app: typer.Typer) -> Any:
    built = _built_commands.get(id(typer_app))
    if built is None or built[0] is not typer_app:
        built = (typer_app, _build_command(typer_app))
        _built_commands[id(typer_app)] = built
    return built[1]


typer.testing._get_command = _command_built_once  # type: ignore[assignment]


class Cli:
    """Runs ``certwarden`` commands in-process against one data directory."""

    def __init__(self, data_dir: Path, now: datetime) -> None:
        self.data_dir = data_dir
        self.now = now
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        from certwarden.interfaces.cli import app

        full_env = {
            "CERTWARDEN_DATA_DIR": str(self.data_dir),
            "CERTWARDEN_TESTING_FIXED_NOW": self.now.isoformat(),
            "COLUMNS": "200",
            **(env or {}),
        }
        result = self.runner.invoke(app, list(args), env=full_env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)


class CliResult:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "cli-data", T0)
