"""Revocation checks (being split into one module per job)."""

from certwarden.services.revocation.service import (
    BATCH_SIZE,
    SERVICE_NAME,
    CheckOutcome,
    CheckReport,
    RevocationService,
    Target,
    TickReport,
    Trigger,
    UploadCheck,
    check_evidence,
)

__all__ = [
    "BATCH_SIZE",
    "SERVICE_NAME",
    "CheckOutcome",
    "CheckReport",
    "RevocationService",
    "Target",
    "TickReport",
    "Trigger",
    "UploadCheck",
    "check_evidence",
]
