"""Engine and session setup, and running the migrations.

SQLite (the default, in the data directory) runs in WAL mode with foreign keys
enforced; any SQLAlchemy URL (``CERTWARDEN_DATABASE_URL``) selects another
database, PostgreSQL included.

The database holds every password hash, so a
SQLite file is created 0600 whatever the umask (SQLite gives its ``-wal`` and
``-shm`` files the database file's mode), and one found more open is
tightened, with a warning in the log. Migrations take a lock, so that two
processes starting on a new database do not both create the schema: an
exclusive ``flock`` on ``<database>.migrate-lock`` for SQLite, a transaction
advisory lock (``pg_advisory_xact_lock``) for PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from certwarden.errors import (
    ConfigurationError,
    ConflictingWriteError,
    ConnectionLostError,
    StorageError,
)

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DATABASE_FILE_MODE",
    "Database",
    "default_database_url",
    "secure_sqlite_files",
    "sqlite_file",
    "storage_error",
]

log = logging.getLogger("certwarden.storage")

DATABASE_FILE_MODE = 0o600
# The migration lock's key: a 64-bit hash of this text and the schema, the same in
# every certwarden process on that schema (advisory locks are the whole database's:
# two schemas migrate independently).
_PG_MIGRATION_LOCK = "certwarden-migrations "

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Checked against Alembic's own view by the test suite;
# knowing it here lets a command that finds the schema current skip loading
# Alembic at all (a third of the CLI's start-up time).
HEAD_REVISION = "0015_channel_claims"


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'certwarden.db'}"


def secure_sqlite_files(database: Path) -> list[str]:
    """Create ``database`` 0600 if missing; tighten it and its companions to 0600.

    Returns (and logs as warnings) what was tightened. Companions: ``-wal``,
    ``-shm``, ``-journal`` and the migration lock file.
    """
    try:
        # O_CREAT with 0600: the umask can only take bits away from that.
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, DATABASE_FILE_MODE))
    except OSError:
        return []  # a missing directory or no access: SQLite will say so
    notes: list[str] = []
    for suffix in ("", "-wal", "-shm", "-journal", ".migrate-lock"):
        path = database.with_name(database.name + suffix)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077 == 0:
            continue
        try:
            path.chmod(DATABASE_FILE_MODE)
        except OSError as exc:
            notes.append(
                f"{path} is readable by other users (mode {mode:04o}) and could not be "
                f"tightened: {exc.strerror}; it holds the password hashes"
            )
        else:
            notes.append(
                f"tightened the permissions of {path} from {mode:04o} to "
                f"{DATABASE_FILE_MODE:04o} (it holds the password hashes)"
            )
    for note in notes:
        log.warning("%s", note)
    return notes


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, or None (memory, URI filenames, other databases)."""
    try:
        return _sqlite_path(url)
    except Exception as exc:
        raise ConfigurationError(f"cannot use database URL {url!r}: {exc}") from exc


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None (memory, URI filenames, other databases)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(name)


def _idle_transaction_timeout(seconds: int) -> Callable[..., None]:
    """A ``do_connect`` hook adding the session setting to libpq's ``options``
    (beside any the URL gives, such as a ``search_path``)."""
    setting = f"-c idle_in_transaction_session_timeout={int(seconds) * 1000}"

    def add(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        given = str(params.get("options") or "").strip()
        params["options"] = f"{given} {setting}".strip()

    return add


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL may wait
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A bigger page cache keeps index maintenance of big imports in memory.
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


class Database:
    """One database: its engine, a session factory and its migrations."""

    def __init__(
        self, url: str, *, echo: bool = False, idle_transaction_seconds: int | None = None
    ) -> None:
        """``idle_transaction_seconds`` (PostgreSQL): every session of this engine
        is ended by the server once one of its transactions has waited that long
        for its client (``idle_in_transaction_session_timeout``), so that a
        paused or hung process cannot hold its row locks for ever; None or 0:
        the server's own setting."""
        self.url = url
        try:
            self.sqlite_path = _sqlite_path(url)
        except (SQLAlchemyError, ValueError) as exc:
            raise ConfigurationError(f"cannot use database URL {_shown(url)!r}: {exc}") from exc
        if self.sqlite_path is not None:
            secure_sqlite_files(self.sqlite_path)
        try:
            # hide_parameters: error messages never carry bound values (hashes, keys).
            self.engine: Engine = create_engine(url, echo=echo, future=True, hide_parameters=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigurationError(f"cannot use database URL {_shown(url)!r}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.engine.dialect.name == "postgresql" and idle_transaction_seconds:
            event.listen(
                self.engine, "do_connect", _idle_transaction_timeout(idle_transaction_seconds)
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def current_revision(self) -> str | None:
        """The schema's revision, or None for an empty database."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (creating it from empty)."""
        if revision == "head" and self.current_revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.script import ScriptDirectory

        cfg = self._alembic_config()
        known = {script.revision for script in ScriptDirectory.from_config(cfg).walk_revisions()}
        current = self.current_revision()
        if current is not None and current not in known:
            # Another instance of a newer release migrated this database (a
            # rolling upgrade): this older release must not run against it.
            raise StorageError(
                f"the database {self.safe_url} is at schema revision {current!r}, which this "
                f"release of certwarden does not know (its newest is {HEAD_REVISION!r}): a "
                "newer release migrated it; upgrade this instance to that release"
            )
        try:
            with self._migration_lock(), self.engine.begin() as connection:
                self._lock_migrations_in(connection)
                # Alembic reads the schema's revision only now, under the lock:
                # a process that migrated meanwhile leaves nothing to do.
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            log.debug("database migration failed: %s", exc)
            raise StorageError(
                f"database migration failed on {self.safe_url}: {_what(exc)}"
            ) from exc

    def downgrade(self, revision: str) -> None:
        from alembic import command

        cfg = self._alembic_config()
        with self._migration_lock(), self.engine.begin() as connection:
            self._lock_migrations_in(connection)
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """SQLite: an exclusive flock on ``<database>.migrate-lock``, held while migrating."""
        if self.sqlite_path is None:
            yield
            return
        try:
            import fcntl
        except ImportError:  # not POSIX: no file locks; migrations are not serialised
            yield
            return
        lock = self.sqlite_path.with_name(self.sqlite_path.name + ".migrate-lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, DATABASE_FILE_MODE)
        except OSError as exc:
            raise StorageError(f"cannot open the migration lock {lock}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close, or by the kernel if we die
            yield
        finally:
            os.close(fd)

    def _lock_migrations_in(self, connection: Any) -> None:
        """PostgreSQL: an advisory lock held until this transaction ends."""
        if self.dialect == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key || current_schema(), 0))"),
                {"key": _PG_MIGRATION_LOCK},
            )

    def head_revision(self) -> str | None:
        """The newest migration, as Alembic sees it."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def is_current(self) -> bool:
        return self.current_revision() == self.head_revision()

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error.

        SQLAlchemy errors are translated to :class:`StorageError` here, so
        nothing from SQLAlchemy leaks upward.
        """
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise storage_error(exc) from exc
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _shown(url: str) -> str:
    """``url`` as an error message may show it: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        # Not even a URL: hide whatever sits between "user:" and "@".
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)


def storage_error(exc: SQLAlchemyError) -> StorageError:
    """The error to raise for a database failure: the full text (with its SQL
    statement, never its parameters) goes to the log; the message says
    what failed, in the database's first line, without the statement.

    A unique-constraint violation is a :class:`ConflictingWriteError` (also a
    StorageError): another writer stored the same row first.
    """
    log.warning("database error: %s", exc)
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    what = _what(exc)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return ConnectionLostError(
            f"the database connection was lost ({what}); nothing of the transaction was stored"
        )
    if isinstance(exc, IntegrityError) and _is_unique_violation(orig):
        return ConflictingWriteError(
            "the database refused a change that conflicts with one stored at the same "
            f"time ({what})"
        )
    return StorageError(f"database error: {what}")


def _what(exc: SQLAlchemyError) -> str:
    """What failed, in the database's first line, without the statement (it is logged)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    lines = str(orig).strip().splitlines() if orig is not None else []
    return f"{type(orig).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _is_unique_violation(orig: object) -> bool:
    if str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "") == "23505":
        return True  # PostgreSQL unique_violation
    return str(orig).startswith("UNIQUE constraint failed")  # SQLite
