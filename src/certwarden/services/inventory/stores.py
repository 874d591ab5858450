"""Trust stores: list, create, delete, and the store lookup every inventory step uses.

The appliance's own stores (``tomcat``, ``tomcat-trust``, ``CallManager``,
``CAPF``, ``lsc`` ...) are created by the schema migration; this module only
adds and removes stores and counts what they hold. It does not read or write
certificates other than deleting a store's certificates with it.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.clock import Clock
from certwarden.errors import ConflictError, InputError, NotFoundError
from certwarden.services.inventory.records import StoreInfo

__all__ = [
    "LSC_STORE",
    "create_store",
    "delete_store",
    "ensure_store",
    "list_stores",
    "store_row",
]

LSC_STORE = "lsc"
_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def store_row(s: Session, name: str) -> Store:
    """The store named ``name``; :class:`NotFoundError` naming the known stores otherwise."""
    store = s.scalar(select(Store).where(Store.name == name))
    if store is None:
        known = ", ".join(s.scalars(select(Store.name).order_by(Store.name)))
        raise NotFoundError(f"no store named {name!r} (stores: {known})")
    return store


def list_stores(db: Database) -> list[StoreInfo]:
    with db.session() as s:
        counts = dict(
            s.execute(
                select(CertificateRow.store_id, func.count()).group_by(CertificateRow.store_id)
            ).all()
        )
        return [
            StoreInfo(st.name, st.description, st.builtin, counts.get(st.id, 0))
            for st in s.scalars(select(Store).order_by(Store.name))
        ]


def create_store(db: Database, clock: Clock, name: str, description: str = "") -> StoreInfo:
    if not _STORE_NAME.match(name):
        raise InputError(
            f"store name {name!r} is not valid: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 128 characters"
        )
    with db.session() as s:
        if s.scalar(select(Store).where(Store.name == name)) is not None:
            raise ConflictError(f"store {name!r} already exists")
        s.add(Store(name=name, description=description, builtin=False, created_at=clock.now()))
    return StoreInfo(name, description, False, 0)


def delete_store(db: Database, name: str, *, force: bool = False) -> int:
    """Delete a store; a non-empty one only with ``force``. Returns certificates removed."""
    with db.session() as s:
        store = store_row(s, name)
        count = (
            s.scalar(
                select(func.count())
                .select_from(CertificateRow)
                .where(CertificateRow.store_id == store.id)
            )
            or 0
        )
        if count and not force:
            raise ConflictError(
                f"store {name!r} holds {count} certificate(s); use --force to delete it with them"
            )
        s.execute(delete(CertificateRow).where(CertificateRow.store_id == store.id))
        s.delete(store)
        return count


def ensure_store(db: Database, clock: Clock, name: str, description: str = "") -> None:
    """Create ``name`` if it does not exist (used for stores the product owns)."""
    with db.session() as s:
        if s.scalar(select(Store.id).where(Store.name == name)) is None:
            s.add(
                Store(
                    name=name,
                    description=description,
                    builtin=False,
                    created_at=clock.now(),
                )
            )
