"""The accounts' values: roles, users, API tokens and audit entries as every interface shows them.

Frozen dataclasses with their JSON shapes. A user's password hash never
leaves :mod:`.users`; :attr:`UserInfo.stamp` is derived from it so that a
password change ends every session opened with the old one. Nothing here
touches the database beyond reading a row handed in.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from certwarden.adapters.db.models import User
from certwarden.clock import ensure_utc
from certwarden.core.timefmt import iso_z

__all__ = ["AuditRecord", "Role", "TokenInfo", "UserInfo"]


@enum.unique
class Role(enum.StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    role: str
    created_at: datetime
    disabled: bool
    # Changes whenever the password does: sessions carry it, so a password
    # change ends every session opened with the old one.
    stamp: str = field(repr=False, default="")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "created_at": iso_z(self.created_at),
            "disabled": self.disabled,
        }

    @classmethod
    def from_row(cls, row: User) -> UserInfo:
        return cls(
            row.id,
            row.username,
            row.role,
            ensure_utc(row.created_at),
            row.disabled,
            hashlib.sha256(row.password_hash.encode()).hexdigest()[:16],
        )


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user_id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": iso_z(self.created_at),
            "last_used_at": iso_z(self.last_used_at),
            "revoked_at": iso_z(self.revoked_at),
            "active": self.active,
        }


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": iso_z(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }
