"""Persisted settings sections (one JSON row per section).

Validation belongs to the section's pure core module; this only loads and
saves dictionaries. A saved change is logged at info once its transaction
commits (``settings revocation changed: check_every, enable_ocsp``): the
names of the fields, never their values (a section may hold a password).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import Setting

__all__ = ["load_section", "save_section"]

log = logging.getLogger("certwarden.settings")
_PENDING = "certwarden.settings_changed"


def load_section(session: Session, section: str) -> dict[str, Any] | None:
    row = session.get(Setting, section)
    return dict(row.value) if row is not None else None


def save_section(session: Session, section: str, value: dict[str, Any], now: datetime) -> None:
    row = session.get(Setting, section)
    before: dict[str, Any] = {} if row is None else dict(row.value)
    if row is None:
        session.add(Setting(section=section, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now
    changed = sorted(k for k in before.keys() | value.keys() if before.get(k) != value.get(k))
    if changed:
        _log_on_commit(session, section, changed)


def _log_on_commit(session: Session, section: str, fields: list[str]) -> None:
    """Log the change when (and only if) the session commits it."""
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _emit)
        event.listen(session, "after_rollback", _forget)
    pending.append((section, fields))


def _emit(session: Session) -> None:
    for section, fields in session.info.get(_PENDING, []):
        log.info("settings %s changed: %s", section, ", ".join(fields))
    session.info[_PENDING] = []


def _forget(session: Session) -> None:
    session.info[_PENDING] = []
