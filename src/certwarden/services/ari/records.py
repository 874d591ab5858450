"""What the ARI watch reports: a certificate's renewal information, a round's figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from certwarden.core.timefmt import iso_z

__all__ = ["AriReport", "RenewalInfo"]


@dataclass(frozen=True)
class RenewalInfo:
    """The latest renewal information known for one certificate."""

    certificate_id: int
    sha256: str
    subject: str
    store: str
    url: str
    window_start: datetime | None
    window_end: datetime | None
    explanation_url: str | None
    previous_start: datetime | None
    fetched_at: datetime | None
    next_check_at: datetime
    failures: int
    last_error: str | None

    def window_open(self, now: datetime) -> bool:
        return self.window_start is not None and now >= self.window_start

    def to_json(self) -> dict[str, Any]:
        return {
            "certificate_id": self.certificate_id,
            "sha256": self.sha256,
            "subject": self.subject,
            "store": self.store,
            "url": self.url,
            "window": (
                {"start": iso_z(self.window_start), "end": iso_z(self.window_end)}
                if self.window_start is not None
                else None
            ),
            "explanation_url": self.explanation_url,
            "previous_start": iso_z(self.previous_start),
            "fetched_at": iso_z(self.fetched_at),
            "next_check_at": iso_z(self.next_check_at),
            "failures": self.failures,
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class AriReport:
    """One round: certificates asked, answers kept, failures, alerts recorded."""

    at: datetime
    asked: int = 0
    updated: int = 0
    failed: dict[int, str] = field(default_factory=dict)  # certificate id -> why
    alerts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "asked": self.asked,
            "updated": self.updated,
            "failed": {str(k): v for k, v in sorted(self.failed.items())},
            "alerts": list(self.alerts),
        }
