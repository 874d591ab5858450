"""Revocation checks through OCSP: scheduled, at upload, and on demand.

    service = RevocationService(db, clock)
    report = service.check(["12", "13"])        # or service.check(all_monitored=True)
    service.tick()                              # the Check Every schedule (server loop, tests)
    UploadCheck(inventory, service).commit_checked(prepared, force=False)

For each certificate: an expired one is revoked (reason ``expired``) without
asking anyone; otherwise its issuer is found (the inventory's issuer link, else
by name and key identifier among stored CAs, confirmed by signature), the
responder URL chosen (the configured one, or the certificate's AIA), a
still-fresh cached answer reused, and the rest asked for — several
certificates with the same issuer and responder in ONE request (OpenSSL's
responder answers them all), falling back to one per request when a batched
answer is unusable. The core (:mod:`certwarden.core.ocsp`) judges every
response; :func:`certwarden.core.policy.decide` turns results into decisions.

Every check is recorded in ``ocsp_checks`` with its evidence (trust model,
signer fingerprint, raw response) and the latest outcome on ``certificates``.
A status change records an alert and, when e-mail notices are on, queues one
notice at once through the outbox. Nothing here ever reports Good unless a
validated response said so.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar, cast

from cryptography import x509
from sqlalchemy import Table, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import (
    CertificateRow,
    OcspCheck,
    OcspResponse,
    ServiceState,
    Store,
)
from certwarden.adapters.ocsp_http import (
    AiohttpTransport,
    HttpMethod,
    HttpOptions,
    OcspFetchError,
    OcspTransport,
)
from certwarden.clock import Clock, ensure_utc
from certwarden.core.certs import CertFacts, Role, facts_from_certificate, find_issuer, signed_by
from certwarden.core.expiry import MonitorSettings, validate_monitor_settings
from certwarden.core.ocsp import (
    CertId,
    CertStatus,
    Reason,
    ResponseCache,
    RevocationResult,
    cert_id_for,
    encode_request,
    expired_result,
    verify_response,
)
from certwarden.core.ocsp.results import NonceMode, describe, iso_z
from certwarden.core.policy import Decision, Verdict, decide
from certwarden.core.revocation_settings import (
    PARAMS_SECTION,
    REVOCATION_SECTION,
    SECURITY_SECTION,
    EnterpriseParams,
    ResponderSource,
    RevocationSettings,
    SecuritySettings,
)
from certwarden.errors import InputError, SettingsError, StorageError
from certwarden.services._async import run_sync
from certwarden.services.alerts import AlertKind, NewAlert, Severity, record_alerts
from certwarden.services.inventory import (
    ImportReport,
    InventoryService,
    PreparedImport,
    Rejection,
)
from certwarden.services.outbox import enqueue
from certwarden.services.settings_store import load_section, save_section

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

SERVICE_NAME = "revocation-check"
MONITOR_SECTION = "monitor"  # the Certificate Monitor's section (e-mail, LSC monitoring)
# Certificates per request when a responder takes several (OpenSSL's does).
BATCH_SIZE = 200
NONCE_BYTES = 16
# IDs or digests per IN (...) lookup: well under every backend's parameter limit.
_CHUNK = 900
# Tables written in bulk through Core (executemany; no ORM object per row).
_CERTIFICATES = cast("Table", CertificateRow.__table__)
_OCSP_CHECKS = cast("Table", OcspCheck.__table__)
_OCSP_RESPONSES = cast("Table", OcspResponse.__table__)
# A batched answer that fails like this may be the batching's fault: ask singly.
_BATCH_FALLBACK = frozenset(
    {Reason.MALFORMED_RESPONSE, Reason.HTTP_ERROR, Reason.RESPONSE_TOO_LARGE}
)

T = TypeVar("T")
TransportFactory = Callable[[HttpOptions], OcspTransport]


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


@dataclass
class _Pending:
    index: int
    target: Target
    cert_id: CertId
    url: str


def _judging(settings: RevocationSettings) -> tuple[object, ...]:
    """The settings that decide whether an answer is believed."""
    return (
        settings.nonce,
        settings.clock_skew_seconds,
        settings.max_age_hours,
        settings.trusted_responder_store,
        settings.hash_algorithm,
    )


def _http_options(settings: RevocationSettings) -> HttpOptions:
    return HttpOptions(
        method=HttpMethod(settings.method.value),
        connect_timeout=min(settings.connect_timeout, settings.total_timeout),
        total_timeout=settings.total_timeout,
    )


def _state_key(status: str | None, reason: str | None) -> tuple[str | None, str | None]:
    """What counts as a status change: revoked reasons matter, could-not-tell reasons not."""
    if status == CertStatus.REVOKED.value:
        return status, reason
    return status, None


def _stored_reason(result: RevocationResult) -> str | None:
    """The ``certificates.revocation_reason`` column: CRL reason, or why we could not tell."""
    if result.status is CertStatus.REVOKED and result.reason is not Reason.EXPIRED:
        return result.revocation_reason
    return result.reason.value if result.reason else None


class RevocationService:
    """OCSP revocation checks, their settings and their schedule.

    Args:
        db, clock: as every service.
        transport_factory: builds the HTTP transport for a run (default: the
            aiohttp one). Tests use the real one against real servers.
        cache: the response cache (kept for the service's lifetime).
        nonce_source: ``n -> n random bytes`` (default ``os.urandom``).
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        transport_factory: TransportFactory | None = None,
        cache: ResponseCache | None = None,
        nonce_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._db = db
        self._clock = clock
        self._transport_factory = transport_factory or AiohttpTransport
        self.cache = cache or ResponseCache()
        self._nonce = nonce_source
        # Responders that could not answer a batched request: asked singly from then on.
        self._no_batch: set[str] = set()

    # ------------------------------------------------------------- settings

    def settings(self) -> RevocationSettings:
        with self._db.session() as s:
            return RevocationSettings.from_dict(load_section(s, REVOCATION_SECTION))

    def params(self) -> EnterpriseParams:
        with self._db.session() as s:
            return EnterpriseParams.from_dict(load_section(s, PARAMS_SECTION))

    def security(self) -> SecuritySettings:
        with self._db.session() as s:
            return SecuritySettings.from_dict(load_section(s, SECURITY_SECTION))

    def update_settings(self, changes: Mapping[str, Any]) -> RevocationSettings:
        """Validate every field, then save; nothing is saved when any is bad."""
        with self._db.session() as s:
            current = RevocationSettings.from_dict(load_section(s, REVOCATION_SECTION))
            new = current.updated(**dict(changes))
            if s.scalar(select(Store.id).where(Store.name == new.trusted_responder_store)) is None:
                raise SettingsError(
                    {
                        "trusted_responder_store": (
                            f"no store named {new.trusted_responder_store!r}; create it first "
                            "or use tomcat-trust"
                        )
                    }
                )
            save_section(s, REVOCATION_SECTION, new.to_dict(), self._clock.now())
        if _judging(new) != _judging(current):
            # Answers cached under the old rules (no nonce demanded, a wider skew,
            # another trusted-responder store) must not pass under the new ones.
            self.cache.clear()
        return new

    def update_params(self, changes: Mapping[str, Any]) -> EnterpriseParams:
        with self._db.session() as s:
            current = EnterpriseParams.from_dict(load_section(s, PARAMS_SECTION))
            new = current.updated(**dict(changes))
            save_section(s, PARAMS_SECTION, new.to_dict(), self._clock.now())
        return new

    def set_common_criteria(self, on: bool) -> SecuritySettings:
        with self._db.session() as s:
            current = SecuritySettings.from_dict(load_section(s, SECURITY_SECTION))
            new = current.updated(common_criteria=on)
            save_section(s, SECURITY_SECTION, new.to_dict(), self._clock.now())
        return new

    def _monitor(self, s: Session) -> MonitorSettings:
        try:
            return validate_monitor_settings(load_section(s, MONITOR_SECTION) or {})
        except SettingsError:
            return MonitorSettings()

    # ------------------------------------------------------------- the engine

    async def evaluate(
        self,
        targets: Sequence[Target],
        *,
        settings: RevocationSettings,
        trusted_responders: Sequence[x509.Certificate] = (),
        now: datetime | None = None,
        url_override: str | None = None,
        transport: OcspTransport | None = None,
        use_cache: bool = True,
    ) -> list[RevocationResult]:
        """One result per target, in order (the core judges every response).

        ``use_cache``: reuse a still-valid cached answer (uploads, TLS checks);
        scheduled and on-demand checks ask the responder afresh, so that Check
        Every means what it says. Every fresh answer goes into the cache.
        ``url_override`` asks that URL whatever the settings say (``ocsp query --url``).
        """
        now = now or self._clock.now()
        results: list[RevocationResult | None] = [None] * len(targets)
        pending: list[_Pending] = []
        for i, target in enumerate(targets):
            expired = expired_result(target.cert, now)
            if expired is not None:
                results[i] = expired
                continue
            if target.issuer is None:
                results[i] = RevocationResult.undetermined(
                    Reason.ISSUER_NOT_FOUND,
                    f"the issuer of {target.subject} is not in the inventory "
                    "(upload the issuing CA certificate)",
                )
                continue
            url = url_override or _choose_url(settings, target)
            if url is None:
                results[i] = RevocationResult.undetermined(
                    Reason.NO_RESPONDER_URL,
                    f"{target.subject} names no http(s) OCSP responder in its AIA extension "
                    "(configure an OCSP URI, or use one from the certificate)",
                )
                continue
            cert_id = cert_id_for(target.cert, target.issuer, settings.hash_algorithm)
            # A TRP-signed answer is reused only while its signer is still designated.
            cached = (
                self.cache.get(cert_id, now, trusted_responders=trusted_responders)
                if use_cache
                else None
            )
            if cached is not None:
                results[i] = cached
                continue
            pending.append(_Pending(i, target, cert_id, url))
        if pending:
            own = transport is None
            active = transport or self._transport_factory(_http_options(settings))
            try:
                groups: dict[tuple[str, bytes], list[_Pending]] = {}
                for p in pending:
                    groups.setdefault((p.url, p.cert_id.issuer_key_hash), []).append(p)
                jobs: list[Awaitable[list[tuple[_Pending, RevocationResult]]]] = []
                for (url, _), members in groups.items():
                    for start in range(0, len(members), BATCH_SIZE):
                        batch = members[start : start + BATCH_SIZE]
                        jobs.append(
                            self._ask(active, url, batch, settings, trusted_responders, now)
                        )
                for answered in await asyncio.gather(*jobs):
                    for p, result in answered:
                        results[p.index] = result
                        # Fresh answers always refresh the cache (TLS checks reuse them).
                        self.cache.put(p.cert_id, result, now)
            finally:
                if own:
                    closer = getattr(active, "aclose", None)
                    if closer is not None:
                        await closer()
        return [r for r in results if r is not None]

    async def _ask(
        self,
        transport: OcspTransport,
        url: str,
        batch: list[_Pending],
        settings: RevocationSettings,
        trusted: Sequence[x509.Certificate],
        now: datetime,
    ) -> list[tuple[_Pending, RevocationResult]]:
        if len(batch) > 1 and url in self._no_batch:
            singles = await asyncio.gather(
                *(self._ask(transport, url, [p], settings, trusted, now) for p in batch)
            )
            return [pair for one in singles for pair in one]
        results = await self._request(transport, url, batch, settings, trusted, now)
        if len(batch) == 1:
            return list(zip(batch, results, strict=True))
        if all(
            r.reason in _BATCH_FALLBACK
            or (r.reason is Reason.UNSUCCESSFUL_STATUS and r.ocsp_response_status != "tryLater")
            for r in results
        ):
            # The responder may not take several certificates at once: never again.
            self._no_batch.add(url)
            return await self._ask(transport, url, batch, settings, trusted, now)
        out = list(zip(batch, results, strict=True))
        # Some certificates left unanswered by a batched reply: ask for those alone.
        missing = [i for i, r in enumerate(results) if r.reason is Reason.CERTID_MISMATCH]
        if missing:
            again = await asyncio.gather(
                *(self._ask(transport, url, [batch[i]], settings, trusted, now) for i in missing)
            )
            for i, one in zip(missing, again, strict=True):
                out[i] = one[0]
        return out

    async def _request(
        self,
        transport: OcspTransport,
        url: str,
        batch: list[_Pending],
        settings: RevocationSettings,
        trusted: Sequence[x509.Certificate],
        now: datetime,
    ) -> list[RevocationResult]:
        nonce = self._nonce(NONCE_BYTES) if settings.nonce is not NonceMode.OFF else None
        cert_ids = [p.cert_id for p in batch]
        request = encode_request(cert_ids, nonce)
        try:
            der = await transport.fetch(url, request)
        except OcspFetchError as exc:
            return [
                RevocationResult.undetermined(
                    exc.code, exc.detail, responder_url=url, http_status=exc.http_status
                )
                for _ in batch
            ]
        issuers = [p.target.issuer for p in batch]
        return verify_response(
            der,
            cert_ids=cert_ids,
            issuers=[i for i in issuers if i is not None],
            now=now,
            trusted_responders=trusted,
            nonce=nonce,
            options=settings.validation_options,
            responder_url=url,
        )

    # ----------------------------------------------------- stored certificates

    def check(
        self,
        refs: Sequence[str | int] = (),
        *,
        all_monitored: bool = False,
        trigger: Trigger = Trigger.MANUAL,
        use_cache: bool = False,
    ) -> CheckReport:
        """Check stored certificates (``refs`` by ID or SHA-256, or every monitored one).

        Checks run even when OCSP is disabled in the settings — an administrator
        asked — but the scheduled run (:meth:`tick`) does not.
        """
        return run_sync(
            lambda: self.acheck(
                refs, all_monitored=all_monitored, trigger=trigger, use_cache=use_cache
            )
        )

    async def acheck(
        self,
        refs: Sequence[str | int] = (),
        *,
        all_monitored: bool = False,
        trigger: Trigger = Trigger.MANUAL,
        use_cache: bool = False,
    ) -> CheckReport:
        if not refs and not all_monitored:
            raise InputError("name certificates to check (IDs or SHA-256), or ask for all")
        now = self._clock.now()
        settings, common_criteria, selection, skipped, trusted = self._load_selection(
            refs, all_monitored
        )
        targets = [group[0][1] for group in selection.values()]
        results = await self.evaluate(
            targets,
            settings=settings,
            trusted_responders=trusted,
            now=now,
            use_cache=use_cache,
        )
        outcomes, queued = self._record(
            [
                (row_id, target, store, result)
                for (group, result) in zip(selection.values(), results, strict=True)
                for (row_id, target, store) in group
            ],
            now=now,
            trigger=trigger,
            common_criteria=common_criteria,
        )
        return CheckReport(now, trigger, common_criteria, tuple(outcomes), tuple(skipped), queued)

    def _load_selection(
        self, refs: Sequence[str | int], all_monitored: bool
    ) -> tuple[
        RevocationSettings,
        bool,
        dict[str, list[tuple[int, Target, str]]],
        list[str],
        list[x509.Certificate],
    ]:
        with self._db.session() as s:
            settings = RevocationSettings.from_dict(load_section(s, REVOCATION_SECTION))
            common_criteria = SecuritySettings.from_dict(
                load_section(s, SECURITY_SECTION)
            ).common_criteria
            stores: dict[int, str] = {
                sid: name for sid, name in s.execute(select(Store.id, Store.name))
            }
            # Only the columns a check needs (no ORM objects: thousands of rows).
            columns = select(
                CertificateRow.id,
                CertificateRow.sha256,
                CertificateRow.subject,
                CertificateRow.der,
                CertificateRow.issuer_id,
                CertificateRow.ocsp_uris,
                CertificateRow.store_id,
                CertificateRow.role,
            )
            if all_monitored:
                query = columns.where(CertificateRow.role != Role.ROOT.value)
                if not self._monitor(s).lsc_enabled:
                    query = query.where(CertificateRow.is_lsc.is_(False))
                rows = list(s.execute(query.order_by(CertificateRow.id)))
            else:
                ids: list[int] = []
                for ref in refs:
                    row_id = InventoryService._resolve(s, ref).id
                    if row_id not in ids:
                        ids.append(row_id)
                found = {r.id: r for r in s.execute(columns.where(CertificateRow.id.in_(ids)))}
                rows = [found[i] for i in ids]
            issuers = _StoredIssuers(s)
            trusted = _trusted_responders(s, settings.trusted_responder_store)
            skipped: list[str] = []
            selection: dict[str, list[tuple[int, Target, str]]] = {}
            for row in rows:
                if row.role == Role.ROOT.value:
                    skipped.append(
                        f"#{row.id} {row.subject}: a root CA is trusted by being in the store; "
                        "there is no issuer to ask about it"
                    )
                    continue
                if row.sha256 in selection:
                    target = selection[row.sha256][0][1]
                else:
                    cert = x509.load_der_x509_certificate(row.der)
                    target = Target(
                        cert=cert,
                        sha256=row.sha256,
                        subject=row.subject,
                        issuer=issuers.for_cert(row.issuer_id, cert),
                        ocsp_uris=tuple(row.ocsp_uris),
                    )
                selection.setdefault(row.sha256, []).append(
                    (row.id, target, stores.get(row.store_id, ""))
                )
        return settings, common_criteria, selection, skipped, trusted

    def _record(
        self,
        items: Sequence[tuple[int | None, Target, str, RevocationResult]],
        *,
        now: datetime,
        trigger: Trigger,
        common_criteria: bool,
        fresh: frozenset[int] = frozenset(),
        refused: frozenset[str] = frozenset(),
        session: Session | None = None,
    ) -> tuple[list[CheckOutcome], int]:
        """Store every check, update the latest status, alert and notify on change.

        ``fresh``: rows the same upload just stored (their status was written by
        the commit; they count as "not checked" before). ``refused``: SHA-256 of
        uploaded certificates refused by the policy (an upload_refused alert each).
        ``session``: the caller's transaction to join (the upload's).
        """
        outcomes: list[CheckOutcome] = []
        changes: list[CheckOutcome] = []
        with nullcontext(session) if session is not None else self._db.session() as s:
            ids = sorted({row_id for row_id, *_ in items if row_id is not None})
            before: dict[int, tuple[str | None, str | None]] = {}
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                before.update(
                    (r.id, (r.revocation_status, r.revocation_reason))
                    for r in s.execute(
                        select(
                            CertificateRow.id,
                            CertificateRow.revocation_status,
                            CertificateRow.revocation_reason,
                        ).where(CertificateRow.id.in_(chunk))
                    )
                )
            shared = _store_shared_responses(s, items, now)
            checks: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            alerts: list[NewAlert] = []
            for row_id, target, store, result in items:
                known = row_id is not None and row_id in before
                stored_id = row_id if known else None
                checks.append(
                    _check_values(
                        stored_id,
                        target.sha256,
                        now,
                        trigger,
                        result,
                        shared.get(result.raw_response) if result.raw_response else None,
                    )
                )
                verdict = decide(result, common_criteria=common_criteria)
                previous: str | None = None
                changed = False
                if stored_id is not None:
                    prev_status, prev_reason = before[stored_id]
                    if stored_id in fresh:
                        prev_status = prev_reason = None
                    previous = prev_status
                    status, reason = result.status.value, _stored_reason(result)
                    updates.append(
                        {
                            "b_id": stored_id,
                            "b_status": status,
                            "b_reason": reason,
                            "b_revoked_at": result.revoked_at,
                        }
                    )
                    # A first check tells only definite bad news (revoked, unknown);
                    # after that, every change counts (good -> could not tell too).
                    changed = _state_key(prev_status, prev_reason) != _state_key(
                        status, reason
                    ) and (
                        previous is not None
                        or result.status in (CertStatus.REVOKED, CertStatus.UNKNOWN)
                    )
                outcome = CheckOutcome(
                    stored_id,
                    target.sha256,
                    target.subject,
                    store,
                    result,
                    verdict,
                    previous,
                    changed,
                )
                outcomes.append(outcome)
                if changed:
                    changes.append(outcome)
                    alerts.append(_alert_change(outcome))
                if stored_id is None and target.sha256 in refused:
                    alerts.append(_alert_refused(outcome))
            # Bulk statements through Core, each executed many times in this
            # transaction: no ORM object, flush or identity-map work per row.
            record_alerts(s, alerts, now=now)
            if checks:
                s.execute(insert(_OCSP_CHECKS), checks)
            if updates:
                s.execute(_latest_status_update(now), updates)
            queued = self._notify(s, changes, now)
        return outcomes, queued

    def _notify(self, s: Session, changes: Sequence[CheckOutcome], now: datetime) -> int:
        """One notice for this run's status changes, queued now (no digest wait)."""
        if not changes:
            return 0
        monitor = self._monitor(s)
        if not monitor.email_enabled or not monitor.emails:
            return 0
        lines = [
            f"{c.subject} (store {c.store or '-'}, #{c.certificate_id}): "
            f"{c.previous_status or 'not checked'} -> {describe(c.result)}; {c.verdict.why}"
            for c in changes
        ]
        first = changes[0]
        subject = (
            f"certwarden: {first.subject} is now {first.result.status.value}"
            if len(changes) == 1
            else f"certwarden: revocation status changed for {len(changes)} certificates"
        )
        key = hashlib.sha256(
            "\n".join(f"{c.certificate_id}:{c.sha256}:{c.result.status}" for c in changes).encode()
            + now.isoformat().encode()
        ).hexdigest()
        body = (
            f"Revocation check at {iso_z(now)}: the OCSP status of "
            f"{len(changes)} certificate(s) changed.\n\n" + "\n".join(lines) + "\n"
        )
        queued = enqueue(
            s,
            now=now,
            kind="revocation",
            dedupe_key=f"revocation:{key}",
            recipients=list(monitor.emails),
            subject=subject,
            body=body,
        )
        return 1 if queued else 0

    # ----------------------------------------------------------------- schedule

    def tick(self, now: datetime | None = None) -> TickReport:
        """Run the scheduled check if it is due (every Check Every)."""
        return run_sync(lambda: self.atick(now))

    async def atick(self, now: datetime | None = None) -> TickReport:
        now = now or self._clock.now()
        settings = self.settings()
        with self._db.session() as s:
            state = s.get(ServiceState, SERVICE_NAME)
            status = "running" if settings.scheduled_checks_enabled else "stopped"
            if state is None:
                state = ServiceState(name=SERVICE_NAME, status=status, changed_at=now, detail={})
                s.add(state)
            elif state.status != status:
                state.status, state.changed_at = status, now
            last = ensure_utc(state.last_run_at) if state.last_run_at else None
            if not settings.scheduled_checks_enabled:
                state.next_run_at = None
                why = (
                    "OCSP is disabled"
                    if not settings.enable_ocsp
                    else "Revocation Check is disabled"
                )
                return TickReport(False, f"{why}: no scheduled check")
            due = last + settings.check_interval if last else now
            if now < due:
                state.next_run_at = due
                return TickReport(False, f"not due until {iso_z(due)}", next_run_at=due)
        report = await self.acheck(all_monitored=True, trigger=Trigger.SCHEDULE)
        next_run = now + settings.check_interval
        with self._db.session() as s:
            state = s.get(ServiceState, SERVICE_NAME)
            if state is None:  # pragma: no cover - created above
                raise StorageError(f"service state {SERVICE_NAME!r} vanished")
            state.last_run_at = now
            state.next_run_at = next_run
            state.detail = {
                "last_counts": report.counts(),
                "last_refused": len(report.refused),
            }
        return TickReport(True, "Check Every interval reached", report, next_run)

    # ------------------------------------------------------------------ query

    def query(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        url: str | None = None,
        hash_algorithm: str | None = None,
        nonce: bool = True,
    ) -> tuple[RevocationResult, Verdict]:
        """Ask a responder about one certificate now (no cache, nothing stored)."""
        settings = self.settings()
        changes: dict[str, Any] = {}
        if hash_algorithm:
            changes["hash_algorithm"] = hash_algorithm
        if not nonce:
            changes["nonce"] = NonceMode.OFF.value
        if changes:
            settings = settings.updated(**changes)
        facts = facts_from_certificate(cert)
        if not signed_by(cert, issuer):
            raise InputError(
                f"the issuer certificate ({issuer.subject.rfc4514_string()}) did not sign "
                f"{cert.subject.rfc4514_string()}"
            )
        target = Target(cert, facts.sha256, facts.subject, issuer, facts.ocsp_uris)
        if url is None:
            url = _choose_url(settings, target)
            if url is None:
                raise InputError(
                    f"{facts.subject} names no http(s) OCSP responder in its AIA extension; "
                    "give one with --url"
                )
        with self._db.session() as s:
            trusted = _trusted_responders(s, settings.trusted_responder_store)
            common_criteria = SecuritySettings.from_dict(
                load_section(s, SECURITY_SECTION)
            ).common_criteria
        (result,) = run_sync(
            lambda: self.evaluate(
                [target],
                settings=settings,
                trusted_responders=trusted,
                url_override=url,
                use_cache=False,
            )
        )
        return result, decide(result, common_criteria=common_criteria)


def _http_uris(uris: Iterable[str]) -> list[str]:
    return [u for u in uris if u.lower().startswith(("http://", "https://"))]


def _choose_url(settings: RevocationSettings, target: Target) -> str | None:
    if settings.responder_source is ResponderSource.CONFIGURED and settings.configured_uri:
        return settings.configured_uri
    found = _http_uris(target.ocsp_uris)
    return found[0] if found else None


def _check_values(
    certificate_id: int | None,
    sha256: str,
    now: datetime,
    trigger: Trigger,
    result: RevocationResult,
    response_id: int | None = None,
) -> dict[str, Any]:
    """One ``ocsp_checks`` row: the outcome and its evidence (the raw response
    inline, or by reference when several checks share one batched response)."""
    return dict(
        certificate_id=certificate_id,
        sha256=sha256,
        checked_at=now,
        trigger=trigger.value,
        status=result.status.value,
        reason=result.reason.value if result.reason else None,
        detail=result.detail or describe(result),
        revoked_at=result.revoked_at,
        revocation_reason=result.revocation_reason,
        trust_model=result.trust_model.value if result.trust_model else None,
        signer_sha256=result.signer_sha256,
        responder_url=result.responder_url,
        this_update=result.this_update,
        next_update=result.next_update,
        raw_response=result.raw_response if response_id is None else None,
        response_id=response_id,
    )


def _store_shared_responses(
    s: Session,
    items: Sequence[tuple[int | None, Target, str, RevocationResult]],
    now: datetime,
) -> dict[bytes, int]:
    """Store each response that answers several of ``items`` once; its ID by bytes.

    A batched response of 100 certificates is ~11 KB: kept once, not 100 times.
    One lookup for those stored before, one multi-row INSERT for the rest.
    """
    usage = Counter(r.raw_response for *_, r in items if r.raw_response is not None)
    digests = {raw: hashlib.sha256(raw).hexdigest() for raw, uses in usage.items() if uses >= 2}
    if not digests:
        return {}
    table = _OCSP_RESPONSES

    def stored(wanted: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = s.execute(
                select(table.c.sha256, table.c.id).where(
                    table.c.sha256.in_(wanted[start : start + _CHUNK])
                )
            )
            found.update((digest, row_id) for digest, row_id in rows)
        return found

    ids = stored(list(digests.values()))
    missing = [raw for raw, digest in digests.items() if digest not in ids]
    if missing:
        urls: dict[bytes, str | None] = {}
        for *_, r in items:
            if r.raw_response is not None and r.raw_response not in urls:
                urls[r.raw_response] = r.responder_url
        s.execute(
            insert(table),
            [
                {
                    "sha256": digests[raw],
                    "der": raw,
                    "responder_url": urls.get(raw),
                    "received_at": now,
                }
                for raw in missing
            ],
        )
        ids.update(stored([digests[raw] for raw in missing]))
    return {raw: ids[digest] for raw, digest in digests.items()}


def _latest_status_update(now: datetime) -> Update:
    """``certificates``' latest-status columns by ID, for an executemany of
    ``b_id``, ``b_status``, ``b_reason``, ``b_revoked_at``."""
    table = _CERTIFICATES
    return (
        update(table)
        .where(table.c.id == bindparam("b_id", type_=table.c.id.type))
        .values(
            revocation_status=bindparam("b_status", type_=table.c.revocation_status.type),
            revocation_reason=bindparam("b_reason", type_=table.c.revocation_reason.type),
            revocation_checked_at=now,
            revoked_at=bindparam("b_revoked_at", type_=table.c.revoked_at.type),
        )
    )


def check_evidence(s: Session, check_id: int) -> bytes | None:
    """The raw DER response a recorded check was judged on (inline or shared)."""
    row = s.get(OcspCheck, check_id)
    if row is None:
        return None
    if row.raw_response is not None:
        return row.raw_response
    if row.response_id is not None:
        return s.scalar(select(OcspResponse.der).where(OcspResponse.id == row.response_id))
    return None


def _alert_change(outcome: CheckOutcome) -> NewAlert:
    result = outcome.result
    if result.status is CertStatus.REVOKED:
        kind, severity = AlertKind.REVOKED, Severity.CRITICAL
    elif result.status is CertStatus.UNDETERMINED:
        kind, severity = AlertKind.CHECK_FAILED, Severity.WARNING
    elif result.status is CertStatus.UNKNOWN:
        kind, severity = AlertKind.STATUS_CHANGED, Severity.WARNING
    else:
        kind, severity = AlertKind.STATUS_CHANGED, Severity.INFO
    return NewAlert(
        kind=kind,
        severity=severity,
        message=(
            f"revocation status of {outcome.subject} changed: "
            f"{outcome.previous_status or 'not checked'} -> {describe(result)}"
        ),
        certificate_id=outcome.certificate_id,
        sha256=outcome.sha256,
        subject=outcome.subject,
        store=outcome.store,
        # No dedupe key: the alert commits with the status change it reports, so
        # a repeated run sees the new status and has nothing to repeat (and the
        # first check of thousands of certificates needs no lookup per alert).
        details={
            "previous_status": outcome.previous_status,
            "result": result.to_json(),
            "decision": outcome.verdict.decision.value,
        },
    )


def _alert_refused(outcome: CheckOutcome) -> NewAlert:
    return NewAlert(
        kind=AlertKind.UPLOAD_REFUSED,
        severity=Severity.WARNING,
        message=(
            f"upload of {outcome.subject} to {outcome.store} refused: {describe(outcome.result)}"
        ),
        sha256=outcome.sha256,
        subject=outcome.subject,
        store=outcome.store,
        details={"result": outcome.result.to_json(), "why": outcome.verdict.why},
    )


def _trusted_responders(s: Session, store: str) -> list[x509.Certificate]:
    """Designated OCSP signers (Trusted Responder Model): OCSPSigning certs in ``store``."""
    ders = s.scalars(
        select(CertificateRow.der)
        .join(Store, Store.id == CertificateRow.store_id)
        .where(Store.name == store, CertificateRow.is_ocsp_signer.is_(True))
        .order_by(CertificateRow.id)
    )
    return [x509.load_der_x509_certificate(d) for d in ders]


class _StoredIssuers:
    """Issuer certificates from the inventory: the stored link, else name + key id."""

    def __init__(self, s: Session) -> None:
        self._s = s
        self._by_id: dict[int, x509.Certificate] = {}
        self._by_subject: dict[str, list[tuple[x509.Certificate, CertFacts]]] = {}

    def _load(self, row_id: int) -> x509.Certificate | None:
        if row_id not in self._by_id:
            der = self._s.scalar(select(CertificateRow.der).where(CertificateRow.id == row_id))
            if der is None:
                return None
            self._by_id[row_id] = x509.load_der_x509_certificate(der)
        return self._by_id[row_id]

    def candidates(self, subject: str) -> list[tuple[x509.Certificate, CertFacts]]:
        if subject not in self._by_subject:
            ders = self._s.scalars(
                select(CertificateRow.der)
                .where(CertificateRow.subject == subject, CertificateRow.is_ca.is_(True))
                .order_by(CertificateRow.id)
            )
            found = []
            for der in ders:
                cert = x509.load_der_x509_certificate(der)
                found.append((cert, facts_from_certificate(cert)))
            self._by_subject[subject] = found
        return self._by_subject[subject]

    def for_cert(self, issuer_id: int | None, cert: x509.Certificate) -> x509.Certificate | None:
        """The linked issuer (``issuer_id``), else one found by name and key id."""
        if issuer_id is not None:
            issuer = self._load(issuer_id)
            if issuer is not None:
                return issuer
        return self.find(cert, facts_from_certificate(cert))

    def find(
        self,
        cert: x509.Certificate,
        facts: CertFacts,
        extra: Sequence[tuple[x509.Certificate, CertFacts]] = (),
    ) -> x509.Certificate | None:
        options = [*extra, *self.candidates(facts.issuer)]
        index = find_issuer(cert, facts, options)
        return options[index][0] if index is not None else None


# --------------------------------------------------------------------- uploads


class UploadCheck:
    """Checks what an upload brings BEFORE it is stored (SPEC section 3).

    A revoked certificate is refused with its time and reason; in Common
    Criteria mode an unknown or could-not-tell one too. Refused certificates
    are not stored (each is named in the report's rejected list) unless
    ``force`` is given, which stores them with their status recorded.
    """

    def __init__(self, inventory: InventoryService, revocation: RevocationService) -> None:
        self._inventory = inventory
        self._revocation = revocation

    def commit_checked(self, prepared: PreparedImport, *, force: bool = False) -> ImportReport:
        return run_sync(lambda: self.acommit_checked(prepared, force=force))

    async def acommit_checked(
        self, prepared: PreparedImport, *, force: bool = False
    ) -> ImportReport:
        service = self._revocation
        db, clock = service._db, service._clock
        now = clock.now()
        settings = service.settings()
        if not settings.enable_ocsp:
            report = self._inventory.commit(prepared)
            return replace(
                report,
                notes=(
                    *report.notes,
                    "OCSP is disabled (Security > Certificate Revocation): "
                    "the upload was not checked for revocation",
                ),
            )
        common_criteria = service.security().common_criteria
        # What to check: each distinct non-root certificate of the upload.
        batch_cas = [(i.cert, i.facts) for i in prepared.items if i.facts.is_ca]
        targets: list[Target] = []
        sources: dict[str, str] = {}
        notes: list[str] = []
        with db.session() as s:
            issuers = _StoredIssuers(s)
            trusted = _trusted_responders(s, settings.trusted_responder_store)
            for item in prepared.items:
                facts = item.facts
                if facts.sha256 in sources:
                    continue
                sources[facts.sha256] = item.source
                if facts.self_issued and facts.is_ca and signed_by(item.cert, item.cert):
                    continue  # a root: nobody above it to ask
                extra = [(c, f) for c, f in batch_cas if f.sha256 != facts.sha256]
                targets.append(
                    Target(
                        item.cert,
                        facts.sha256,
                        facts.subject,
                        issuers.find(item.cert, facts, extra),
                        facts.ocsp_uris,
                    )
                )
        results = await service.evaluate(
            targets, settings=settings, trusted_responders=trusted, now=now
        )
        exclude: set[str] = set()
        rejected: list[Rejection] = []
        revocation: dict[str, tuple[str, str | None, datetime | None, datetime | None]] = {}
        for target, result in zip(targets, results, strict=True):
            verdict = decide(result, common_criteria=common_criteria)
            revocation[target.sha256] = (
                result.status.value,
                _stored_reason(result),
                now,
                result.revoked_at,
            )
            if verdict.decision is Decision.DENY:
                if force:
                    notes.append(
                        f"{sources[target.sha256]}: {target.subject} stored despite the "
                        f"revocation check (--force): {describe(result)}"
                    )
                else:
                    exclude.add(target.sha256)
                    rejected.append(
                        Rejection(
                            sources[target.sha256],
                            f"{target.subject} refused by the revocation check: "
                            f"{describe(result)} ({verdict.why}); nothing was stored for it; "
                            "use --force to store it with its status recorded",
                        )
                    )
            elif verdict.decision is Decision.WARN:
                notes.append(
                    f"{sources[target.sha256]}: {target.subject}: {describe(result)} "
                    f"({verdict.why})"
                )
        # The certificates and the evidence of their checks are stored together
        # or not at all: an upload that fails stores nothing.
        with db.session() as s:
            report = self._inventory.commit(
                prepared, exclude=frozenset(exclude), revocation=revocation, session=s
            )
            # Evidence for every check: stored rows by ID, refused ones without one.
            stored = {i.sha256: i.id for i in (*report.imported, *report.duplicates) if i.id}
            service._record(
                [
                    (stored.get(target.sha256), target, prepared.store, result)
                    for target, result in zip(targets, results, strict=True)
                ],
                now=now,
                trigger=Trigger.UPLOAD,
                common_criteria=common_criteria,
                fresh=frozenset(i.id for i in report.imported),
                refused=frozenset(exclude),
                session=s,
            )
        checked = len(targets)
        notes.append(
            f"revocation check at upload: {checked} certificate(s) checked via "
            f"{settings.describe_source()}"
            + (", Common Criteria mode" if common_criteria else "")
            + (f"; {len(exclude)} refused" if exclude else "")
        )
        return replace(
            report,
            rejected=(*report.rejected, *rejected),
            notes=(*report.notes, *notes),
        )
