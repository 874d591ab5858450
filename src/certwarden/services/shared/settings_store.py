"""Persisted settings sections (one JSON row per section).

Validation belongs to the section's pure core module; this only loads and
saves dictionaries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from certwarden.adapters.db.models import Setting

__all__ = ["load_section", "save_section"]


def load_section(session: Session, section: str) -> dict[str, Any] | None:
    row = session.get(Setting, section)
    return dict(row.value) if row is not None else None


def save_section(session: Session, section: str, value: dict[str, Any], now: datetime) -> None:
    row = session.get(Setting, section)
    if row is None:
        session.add(Setting(section=section, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now
