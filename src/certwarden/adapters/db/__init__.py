"""SQL storage: SQLAlchemy 2 models, engine setup and Alembic migrations."""

from certwarden.adapters.db.engine import Database, default_database_url, storage_error

__all__ = ["Database", "default_database_url", "storage_error"]
