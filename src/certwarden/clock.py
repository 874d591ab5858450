"""Time, injected.

Everything that needs "now" takes a :class:`Clock`. Only the composition root
builds a :class:`SystemClock`; tests and simulations use :class:`ManualClock`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock", "ensure_utc"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock. Built only by the composition root."""

    def now(self) -> datetime:
        return datetime.now(UTC)  # clock: the one real clock


class ManualClock:
    """A clock that moves only when told to (tests, what-if simulation)."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = ensure_utc(when)

    def advance(self, delta: timedelta) -> datetime:
        self._now = self._now + delta
        return self._now


def ensure_utc(when: datetime) -> datetime:
    """Return ``when`` as aware UTC; naive values are taken to be UTC already.

    SQLite hands back naive datetimes; everything we store is UTC.
    """
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
