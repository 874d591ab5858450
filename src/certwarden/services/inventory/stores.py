"""Trust stores: list, create, delete, and the store lookup every inventory step uses.

The appliance's own stores (``tomcat``, ``tomcat-trust``, ``CallManager``,
``CAPF``, ``lsc`` ...) are created by the schema migration and marked built
in: they can be emptied, never deleted (the appliance and its imports expect
them). A store that a setting names (the Certificate Revocation settings'
trusted-responder store, see :data:`STORE_SETTINGS`) cannot be deleted while
it is named, so no setting ever changes because its store disappeared.

This module only adds and removes stores and counts what they hold. It does
not read or write certificates other than deleting a store's certificates.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import CertificateRow, Store
from certwarden.clock import Clock
from certwarden.core.revocation_settings import REVOCATION_SECTION, RevocationSettings
from certwarden.errors import ConflictError, InputError, NotFoundError
from certwarden.services.inventory.records import StoreInfo
from certwarden.services.shared.lifecycle import clear_deleted
from certwarden.services.shared.settings_store import load_section

__all__ = [
    "LSC_STORE",
    "STORE_SETTINGS",
    "create_store",
    "delete_store",
    "empty_store",
    "ensure_store",
    "list_stores",
    "settings_naming",
    "store_row",
]

LSC_STORE = "lsc"
_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Every setting that names a store: (section, field, its default, how the
# administrator knows it). A store named here cannot be deleted.
STORE_SETTINGS: tuple[tuple[str, str, str, str], ...] = (
    (
        REVOCATION_SECTION,
        "trusted_responder_store",
        RevocationSettings().trusted_responder_store,
        "the trusted-responder store of the Certificate Revocation settings",
    ),
)


def settings_naming(s: Session, name: str) -> list[str]:
    """How each setting that names store ``name`` is known (empty: none does)."""
    named = []
    for section, key, default, label in STORE_SETTINGS:
        stored = load_section(s, section) or {}
        if str(stored.get(key, default)) == name:
            named.append(label)
    return named


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
            StoreInfo(st.name, st.description, st.builtin, counts.get(st.id, 0), st.lifetime_share)
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


def _count(s: Session, store: Store) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(CertificateRow)
            .where(CertificateRow.store_id == store.id)
        )
        or 0
    )


def delete_store(db: Database, name: str, *, force: bool = False, now: datetime) -> int:
    """Delete a store; a non-empty one only with ``force``. Returns certificates removed.

    Raises:
        ConflictError: the store is built in, a setting names it, or it holds
            certificates and ``force`` is not given. Nothing is deleted then.
    """
    with db.session() as s:
        store = store_row(s, name)
        if store.builtin:
            raise ConflictError(
                f"store {name!r} is one of the appliance's built-in stores and cannot be "
                f"deleted; empty it instead (delete the certificates it holds)"
            )
        if named := settings_naming(s, name):
            raise ConflictError(
                f"store {name!r} cannot be deleted: it is {' and '.join(named)}; "
                "choose another store there first"
            )
        count = _count(s, store)
        if count and not force:
            raise ConflictError(
                f"store {name!r} holds {count} certificate(s); use --force to delete it with them"
            )
        clear_deleted(s, CertificateRow.store_id == store.id, now=now)
        s.execute(delete(CertificateRow).where(CertificateRow.store_id == store.id))
        s.delete(store)
        return count


def empty_store(db: Database, name: str, *, now: datetime) -> int:
    """Delete every certificate ``name`` holds (any store, built in or not); the store stays."""
    with db.session() as s:
        store = store_row(s, name)
        count = _count(s, store)
        clear_deleted(s, CertificateRow.store_id == store.id, now=now)
        s.execute(delete(CertificateRow).where(CertificateRow.store_id == store.id))
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
