"""PostgreSQL advisory locks are the whole database's; certwarden keys its own by
schema, so two certwarden clusters in two schemas of one database (each with
its own ``search_path``) do not wait on each other (real PostgreSQL):

* a notice's send lock (services/shared/claims.py) taken in one schema leaves
  the notice of the same ID in another schema free, and still excludes a
  second sender in the same schema;
* the migration lock (adapters/db/engine.py) likewise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ChannelMessage, OutboxMessage
from certwarden.composition import App
from certwarden.services.shared import claims
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres


@pytest.fixture
def same_schema(pg_app: App) -> Iterator[Database]:
    """Another process's connections to ``pg_app``'s schema."""
    db = Database(pg_app.db.url)
    try:
        yield db
    finally:
        db.engine.dispose()


@pytest.fixture
def other_schema(pg_app: App) -> Iterator[Database]:
    """Connections to a second, empty schema of the same database."""
    schema = f"cw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db = Database(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield db
    finally:
        db.engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.parametrize("model", [OutboxMessage, ChannelMessage])
def test_a_notice_lock_is_its_schemas_own(
    pg_app: App, same_schema: Database, other_schema: Database, model: claims.Model
) -> None:
    with claims.sending(pg_app.db, model, 7) as mine:
        assert mine
        with claims.sending(same_schema, model, 7) as again:
            assert not again  # the same notice, another sender: left alone
        with claims.sending(other_schema, model, 7) as elsewhere:
            assert elsewhere  # notice 7 of another cluster: free
        with claims.sending(same_schema, model, 8) as next_one:
            assert next_one
    with claims.sending(same_schema, model, 7) as after:
        assert after  # released with the first sender's context


def _try_migration_lock(db: Database) -> bool:
    """Whether ``db``'s migration lock can be taken within 300 ms."""
    with db.engine.connect() as conn:
        try:
            with conn.begin():
                conn.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                db._lock_migrations_in(conn)
        except OperationalError as exc:
            assert "lock timeout" in str(exc)
            return False
    return True


def test_the_migration_lock_is_its_schemas_own(
    pg_app: App, same_schema: Database, other_schema: Database
) -> None:
    with pg_app.db.engine.connect() as holder, holder.begin():
        pg_app.db._lock_migrations_in(holder)
        assert not _try_migration_lock(same_schema)  # a second migrator waits
        assert _try_migration_lock(other_schema)  # another cluster's does not
    assert _try_migration_lock(same_schema)  # released at the transaction's end
