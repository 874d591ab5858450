"""The settings a TLS connection check is judged with, read together.

One query for the three revocation sections and one for the designated
responders (:func:`certwarden.services.revocation.trusted_responders`); the
guard keeps the result for a short while so that a check answered from a
staple or the cache costs no database round trip.

It must not judge peers or write anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certwarden.adapters.db.models import Setting
from certwarden.core.ocsp import ValidationOptions
from certwarden.core.revocation_settings import (
    PARAMS_SECTION,
    REVOCATION_SECTION,
    SECURITY_SECTION,
    EnterpriseParams,
    RevocationSettings,
    SecuritySettings,
)
from certwarden.services.revocation import trusted_responders

__all__ = ["Snapshot", "read_snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """The settings a connection check needs, read together."""

    revocation: RevocationSettings
    params: EnterpriseParams
    common_criteria: bool
    trusted_responders: tuple[x509.Certificate, ...]
    loaded_at: datetime

    @property
    def options(self) -> ValidationOptions:
        """How responses are judged now (legacy signatures never in Common Criteria mode)."""
        return self.revocation.validation_options_for(common_criteria=self.common_criteria)


def read_snapshot(s: Session, now: datetime) -> Snapshot:
    """The settings in force at ``now`` (stamped with it)."""
    rows = {
        r.section: r.value
        for r in s.scalars(
            select(Setting).where(
                Setting.section.in_([REVOCATION_SECTION, PARAMS_SECTION, SECURITY_SECTION])
            )
        )
    }
    revocation = RevocationSettings.from_dict(rows.get(REVOCATION_SECTION))
    return Snapshot(
        revocation=revocation,
        params=EnterpriseParams.from_dict(rows.get(PARAMS_SECTION)),
        common_criteria=SecuritySettings.from_dict(rows.get(SECURITY_SECTION)).common_criteria,
        trusted_responders=tuple(trusted_responders(s, revocation.trusted_responder_store)),
        loaded_at=now,
    )
