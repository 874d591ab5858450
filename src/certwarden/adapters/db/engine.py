"""Engine and session setup, and running the migrations.

SQLite (the default, in the data directory) runs in WAL mode with foreign keys
enforced; any SQLAlchemy URL (``CERTWARDEN_DATABASE_URL``) selects another
database, PostgreSQL included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from certwarden.errors import ConfigurationError, StorageError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Database", "default_database_url"]

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Checked against Alembic's own view by the test suite;
# knowing it here lets a command that finds the schema current skip loading
# Alembic at all (a third of the CLI's start-up time).
HEAD_REVISION = "0001"


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'certwarden.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # A bigger page cache keeps index maintenance of big imports in memory.
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


class Database:
    """One database: its engine, a session factory and its migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        try:
            # hide_parameters: error messages never carry bound values (hashes, keys).
            self.engine: Engine = create_engine(url, echo=echo, future=True, hide_parameters=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigurationError(f"cannot use database URL {url!r}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
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

        cfg = self._alembic_config()
        try:
            with self.engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StorageError(f"database migration failed on {self.safe_url}: {exc}") from exc

    def downgrade(self, revision: str) -> None:
        from alembic import command

        cfg = self._alembic_config()
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)

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
            raise StorageError(f"database error: {exc}") from exc
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
