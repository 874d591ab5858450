"""The accounts' values: roles, users, API tokens and audit entries as every interface shows them.

Frozen dataclasses with their JSON shapes. A user's password hash never
leaves :mod:`.users`; :attr:`UserInfo.stamp` is the user's random session
stamp, renewed when their sessions must end (password, role, disable). A
token's ``scope`` is ``full`` (the user's role) or ``read`` (GET and HEAD
only); ``expires_at`` is optional. Nothing here
touches the database beyond reading a row handed in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from certwarden.adapters.db.models import User
from certwarden.clock import ensure_utc
from certwarden.core.timefmt import iso_z

__all__ = ["AuditRecord", "Role", "TokenInfo", "TokenScope", "UserInfo"]


@enum.unique
class Role(enum.StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"


@enum.unique
class TokenScope(enum.StrEnum):
    FULL = "full"  # what the user's role allows
    READ = "read"  # GET and HEAD only, whatever the role


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    role: str
    created_at: datetime
    disabled: bool
    # Random; renewed whenever the user's sessions must end. Each session row
    # carries the stamp it was opened under.
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
            row.session_stamp,
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
    expires_at: datetime | None = None
    scope: str = TokenScope.FULL

    @property
    def active(self) -> bool:
        """Not revoked (an expired token is not active either: see :meth:`usable_at`)."""
        return self.revoked_at is None

    def expired_at(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def usable_at(self, now: datetime) -> bool:
        return self.active and not self.expired_at(now)

    @property
    def read_only(self) -> bool:
        return self.scope == TokenScope.READ

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": iso_z(self.created_at),
            "last_used_at": iso_z(self.last_used_at),
            "revoked_at": iso_z(self.revoked_at),
            "expires_at": iso_z(self.expires_at),
            "scope": self.scope,
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
