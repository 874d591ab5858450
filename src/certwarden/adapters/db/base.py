"""The declarative base every table shares (times stored as UTC; JSON columns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "UtcDateTime"]

UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012
