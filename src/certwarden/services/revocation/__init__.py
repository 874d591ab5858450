"""Revocation checks through OCSP: scheduled, at upload, and on demand.

    service = RevocationService(db, clock)
    report = service.check(["12", "13"])        # or service.check(all_monitored=True)
    service.tick()                              # the Check Every schedule
    UploadCheck(inventory, service).commit_checked(prepared, force=False)

One job a module:

    model.py         Target, Trigger, CheckOutcome, CheckReport, TickReport (values)
    settings.py      the Certificate Revocation sections (and the Monitor's, read)
    trust_inputs.py  trusted responders and issuer candidates: what the validator is given
    engine.py        one result per certificate: expiry, unknown issuer, then the source
    ocsp_source.py   the OCSP source: responder URL, cache, batching, fetch, validation
    shared_cache.py  the OCSP cache shared by the instances (table shared_ocsp_answers)
    selection.py     what a check of stored certificates asks about (from the database)
    recording.py     checks, latest status, alerts and notices written
    query.py         checks asked for now (``check``) and one-off queries (``query``)
    schedule.py      the Check Every schedule (``tick``/``atick``): plans a run
    chunks.py        a scheduled run cut into chunks: plan, claim (SKIP LOCKED), fence, complete
    chunk_worker.py  one instance's part: claim a chunk, check it, commit it fenced
    upload.py        UploadCheck: the check before an upload is stored
    service.py       RevocationService: the facade the callers use

The core (:mod:`certwarden.core.ocsp`) judges every response and
:func:`certwarden.core.policy.decide` turns results into decisions; nothing
here reports Good unless a validated response said so.
"""

from __future__ import annotations

from certwarden.services.revocation.chunk_worker import ChunkResult
from certwarden.services.revocation.chunks import CHUNK_SIZE, ChunkClaim
from certwarden.services.revocation.engine import RevocationEngine
from certwarden.services.revocation.model import (
    SERVICE_NAME,
    CheckOutcome,
    CheckReport,
    Target,
    TickReport,
    Trigger,
)
from certwarden.services.revocation.ocsp_source import BATCH_SIZE, OcspSource
from certwarden.services.revocation.recording import check_evidence
from certwarden.services.revocation.service import RevocationService
from certwarden.services.revocation.shared_cache import decode_result, encode_result
from certwarden.services.revocation.upload import UploadCheck
from certwarden.services.shared.trust_inputs import (
    IssuerCandidate,
    StoredIssuers,
    issuer_candidates,
    trusted_responders,
)

__all__ = [
    "BATCH_SIZE",
    "CHUNK_SIZE",
    "SERVICE_NAME",
    "CheckOutcome",
    "CheckReport",
    "ChunkClaim",
    "ChunkResult",
    "IssuerCandidate",
    "OcspSource",
    "RevocationEngine",
    "RevocationService",
    "StoredIssuers",
    "Target",
    "TickReport",
    "Trigger",
    "UploadCheck",
    "check_evidence",
    "decode_result",
    "encode_result",
    "issuer_candidates",
    "trusted_responders",
]
