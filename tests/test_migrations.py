"""Alembic migrations: upgrade from empty, models and migrations agree, downgrade."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Base
from certwarden.composition import App


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def test_upgrade_head_from_empty_matches_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    assert db.is_current()
    assert _diff(db) == []
    db.downgrade("base")
    db.upgrade()
    assert db.is_current()
    db.dispose()


def test_sqlite_runs_in_wal_mode(app: App) -> None:
    import sqlalchemy as sa

    with app.db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.postgres
def test_postgres_schema_matches_models(pg_app: App) -> None:
    assert pg_app.db.dialect == "postgresql"
    assert pg_app.db.is_current()
    assert _diff(pg_app.db) == []


def test_head_revision_constant_is_alembics_head(tmp_path: Path) -> None:
    from certwarden.adapters.db.engine import HEAD_REVISION

    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    assert db.current_revision() is None
    assert db.head_revision() == HEAD_REVISION
    db.upgrade()
    assert db.current_revision() == HEAD_REVISION
    db.dispose()
