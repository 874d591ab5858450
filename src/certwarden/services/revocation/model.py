"""The values the revocation parts pass to each other and hand to callers.

What is checked (:class:`Target`, started by a :class:`Trigger`) and what came
of it (:class:`CheckOutcome` per certificate, :class:`CheckReport` per run,
:class:`TickReport` per scheduler tick). Plain frozen values: this module must
not read the database, the clock or the network.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from certwarden.core.ocsp import CertStatus, RevocationResult
from certwarden.core.ocsp.results import iso_z
from certwarden.core.policy import Decision, Verdict

__all__ = ["SERVICE_NAME", "CheckOutcome", "CheckReport", "Target", "TickReport", "Trigger"]

# The scheduled check's row in ``services`` (its state, last and next run).
SERVICE_NAME = "revocation-check"


@enum.unique
class Trigger(enum.StrEnum):
    """What started a check (recorded with it)."""

    SCHEDULE = "schedule"
    UPLOAD = "upload"
    MANUAL = "manual"


@dataclass(frozen=True)
class Target:
    """One certificate to check, with what the check needs to know about it."""

    cert: x509.Certificate
    sha256: str
    subject: str
    issuer: x509.Certificate | None
    ocsp_uris: tuple[str, ...]


@dataclass(frozen=True)
class CheckOutcome:
    """A checked certificate (one stored row, or one uploaded certificate)."""

    certificate_id: int | None
    sha256: str
    subject: str
    store: str
    result: RevocationResult
    verdict: Verdict
    previous_status: str | None = None
    changed: bool = False

    @property
    def refused(self) -> bool:
        return self.verdict.decision is Decision.DENY

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.certificate_id,
            "sha256": self.sha256,
            "subject": self.subject,
            "store": self.store,
            "result": self.result.to_json(),
            "decision": self.verdict.decision.value,
            "why": self.verdict.why,
            "previous_status": self.previous_status,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class CheckReport:
    """One run: when, why, under which mode, and each certificate's outcome."""

    checked_at: datetime
    trigger: Trigger
    common_criteria: bool
    outcomes: tuple[CheckOutcome, ...]
    skipped: tuple[str, ...] = ()
    notices_queued: int = 0

    @property
    def refused(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.refused]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {s.value: 0 for s in CertStatus}
        for o in self.outcomes:
            out[o.result.status.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "checked_at": iso_z(self.checked_at),
            "trigger": self.trigger.value,
            "common_criteria": self.common_criteria,
            "counts": self.counts(),
            "refused": len(self.refused),
            "results": [o.to_json() for o in self.outcomes],
            "skipped": list(self.skipped),
            "notices_queued": self.notices_queued,
        }


@dataclass(frozen=True)
class TickReport:
    """What one scheduler tick did: nothing (and why), or a run."""

    ran: bool
    why: str
    report: CheckReport | None = None
    next_run_at: datetime | None = None
