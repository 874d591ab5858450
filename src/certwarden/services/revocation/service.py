"""``RevocationService``: the revocation parts behind one object, for the callers.

    service = RevocationService(db, clock)
    report = service.check(["12", "13"])        # or service.check(all_monitored=True)
    service.tick()                              # the Check Every schedule (server loop, tests)
    service.update_settings({"enable_ocsp": True})

The facade owns the response cache and builds the parts: the settings
(:mod:`.settings`), the engine with its OCSP source (:mod:`.engine`,
:mod:`.ocsp_source`), the on-demand checks and queries (:mod:`.query`) and
the schedule (:mod:`.schedule`); :class:`.upload.UploadCheck` takes it as
is. It must not hold logic of its own: each method hands over to one part.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.ocsp_http import AiohttpTransport, OcspTransport
from certwarden.clock import Clock
from certwarden.core.ocsp import ResponseCache, RevocationResult
from certwarden.core.policy import Verdict
from certwarden.core.revocation_settings import (
    EnterpriseParams,
    RevocationSettings,
    SecuritySettings,
)
from certwarden.services.revocation import crl_store
from certwarden.services.revocation.chunk_worker import ChunkResult, ChunkWorker
from certwarden.services.revocation.chunks import CHUNK_SIZE, ChunkClaim, renew_claim, run_progress
from certwarden.services.revocation.crl_core import Crl
from certwarden.services.revocation.crl_source import CrlSource, FetcherFactory
from certwarden.services.revocation.crl_views import CrlView, fetch_to_show, list_crls
from certwarden.services.revocation.engine import RevocationEngine
from certwarden.services.revocation.model import CheckReport, Target, TickReport, Trigger
from certwarden.services.revocation.ocsp_source import OcspSource, TransportFactory
from certwarden.services.revocation.query import CheckRunner
from certwarden.services.revocation.schedule import LOCAL_NODE, CheckSchedule
from certwarden.services.revocation.settings import RevocationSettingsStore
from certwarden.services.revocation.shared_cache import SharedResponseCache
from certwarden.services.shared.sync_bridge import run_sync

__all__ = ["RevocationService"]


class RevocationService:
    """OCSP revocation checks, their settings and their schedule.

    Args:
        db, clock: as every service.
        transport_factory: builds the HTTP transport for a run (default: the
            aiohttp one). Tests use the real one against real servers.
        cache: the response cache (kept for the service's lifetime).
        nonce_source: ``n -> n random bytes`` (default ``os.urandom``).
        crl_http_fetcher, crl_ldap_fetcher: build the CRL fetchers for a run
            (default: the aiohttp and ldap3 ones).
        chunk_size: certificates per chunk of a scheduled run (:mod:`.chunks`).
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        transport_factory: TransportFactory | None = None,
        cache: ResponseCache | None = None,
        nonce_source: Callable[[int], bytes] = os.urandom,
        crl_http_fetcher: FetcherFactory | None = None,
        crl_ldap_fetcher: FetcherFactory | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self._db = db
        self._clock = clock
        # Shared with every instance on the database (an in-process copy in front).
        self.cache = cache if cache is not None else SharedResponseCache(db)
        self.ocsp = OcspSource(
            self.cache,
            transport_factory=transport_factory or AiohttpTransport,
            nonce_source=nonce_source,
        )
        crl_fetchers = {
            k: v
            for k, v in (("http_fetcher", crl_http_fetcher), ("ldap_fetcher", crl_ldap_fetcher))
            if v is not None
        }
        self.crl = CrlSource(db, **crl_fetchers)
        self.engine = RevocationEngine(self.ocsp, self.crl)
        self.sections = RevocationSettingsStore(db, clock, on_rules_changed=self.cache.clear)
        self.checks = CheckRunner(db, clock, self.engine)
        self.worker = ChunkWorker(db, self.engine)
        self.schedule = CheckSchedule(db, clock, self.sections, self.worker, chunk_size=chunk_size)

    @property
    def db(self) -> Database:
        """The database the checks read and record in (the upload check joins it)."""
        return self._db

    @property
    def clock(self) -> Clock:
        return self._clock

    # ------------------------------------------------------------- settings

    def settings(self) -> RevocationSettings:
        return self.sections.settings()

    def params(self) -> EnterpriseParams:
        return self.sections.params()

    def security(self) -> SecuritySettings:
        return self.sections.security()

    def update_settings(self, changes: Mapping[str, Any]) -> RevocationSettings:
        """Validate every field, then save; nothing is saved when any is bad."""
        return self.sections.update_settings(changes)

    def update_params(self, changes: Mapping[str, Any]) -> EnterpriseParams:
        return self.sections.update_params(changes)

    def set_common_criteria(self, on: bool) -> SecuritySettings:
        return self.sections.set_common_criteria(on)

    # ------------------------------------------------------------- the engine

    async def evaluate(
        self,
        targets: Sequence[Target],
        *,
        settings: RevocationSettings,
        common_criteria: bool = True,
        trusted_responders: Sequence[x509.Certificate] = (),
        now: datetime | None = None,
        url_override: str | None = None,
        transport: OcspTransport | None = None,
        use_cache: bool = False,
    ) -> list[RevocationResult]:
        """:meth:`RevocationEngine.evaluate` at ``now`` (default: the clock's).

        ``common_criteria``: the mode in force (True, the default, refuses
        legacy signatures whatever the settings say).
        """
        return await self.engine.evaluate(
            targets,
            settings=settings,
            common_criteria=common_criteria,
            trusted_responders=trusted_responders,
            now=now or self._clock.now(),
            url_override=url_override,
            transport=transport,
            use_cache=use_cache,
        )

    # ----------------------------------------------------- stored certificates

    def check(
        self,
        refs: Sequence[str | int] = (),
        *,
        all_monitored: bool = False,
        trigger: Trigger = Trigger.MANUAL,
        use_cache: bool = False,
        now: datetime | None = None,
    ) -> CheckReport:
        """:meth:`CheckRunner.check`: stored certificates by ID or SHA-256, or all monitored.

        ``now``: judge and record at this time (default: the clock's).
        """
        return self.checks.check(
            refs, all_monitored=all_monitored, trigger=trigger, use_cache=use_cache, now=now
        )

    async def acheck(
        self,
        refs: Sequence[str | int] = (),
        *,
        all_monitored: bool = False,
        trigger: Trigger = Trigger.MANUAL,
        use_cache: bool = False,
        now: datetime | None = None,
    ) -> CheckReport:
        return await self.checks.acheck(
            refs, all_monitored=all_monitored, trigger=trigger, use_cache=use_cache, now=now
        )

    def query(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        url: str | None = None,
        hash_algorithm: str | None = None,
        nonce: bool = True,
        allow_legacy_signatures: bool = False,
    ) -> tuple[RevocationResult, Verdict]:
        """:meth:`CheckRunner.query`: ask about one certificate now, store nothing."""
        return self.checks.query(
            cert,
            issuer,
            url=url,
            hash_algorithm=hash_algorithm,
            nonce=nonce,
            allow_legacy_signatures=allow_legacy_signatures,
        )

    # -------------------------------------------------------------------- CRLs

    def crls(self, now: datetime | None = None) -> list[CrlView]:
        """Every CRL distribution point known, its freshness and the certificates naming it."""
        return list_crls(self._db, now or self._clock.now())

    def crl_blob(self, sha256: str) -> bytes | None:
        """A kept CRL's DER by its SHA-256 (the evidence of the checks it answered)."""
        with self._db.session() as s:
            return crl_store.blob(s, sha256)

    def fetch_crl(self, url: str) -> Crl:
        """The CRL at ``url`` fetched now within the size cap (not judged, not stored).

        Raises:
            InputError: not an http(s)/ldap URL, the fetch failed, or no CRL came.
        """
        settings = self.settings()
        return run_sync(lambda: fetch_to_show(url, settings))

    # ----------------------------------------------------------------- schedule

    def tick(
        self,
        now: datetime | None = None,
        *,
        fence: Callable[[Session], None] | None = None,
        node: str = LOCAL_NODE,
        work: bool = True,
    ) -> TickReport:
        """Plan the scheduled run if it is due (every Check Every) and, with
        ``work``, check its chunks here; ``fence``: :meth:`CheckSchedule.tick`'s
        (the run is planned only while the lease is held)."""
        return self.schedule.tick(now, fence=fence, node=node, work=work)

    async def atick(
        self,
        now: datetime | None = None,
        *,
        fence: Callable[[Session], None] | None = None,
        node: str = LOCAL_NODE,
        work: bool = True,
    ) -> TickReport:
        return await self.schedule.atick(now, fence=fence, node=node, work=work)

    def work_chunk(self, node: str, now: datetime, hold: timedelta) -> ChunkResult | None:
        """Claim one waiting chunk of a scheduled run for ``node`` (until ``now +
        hold``), check it and commit it while the claim holds; None: none waits.

        Raises:
            LeaseLostError: another instance took the chunk first; nothing stored.
        """
        return run_sync(lambda: self.worker.awork_one(node, now, hold))

    def claim_chunk(self, node: str, now: datetime, hold: timedelta) -> ChunkClaim | None:
        """Claim one waiting chunk for ``node`` until ``now + hold`` (None: none waits)."""
        return self.worker.claim(node, now, hold)

    def check_chunk(self, claim: ChunkClaim, now: datetime) -> ChunkResult:
        """Check a claimed chunk at ``now`` and commit it while the claim holds.

        Raises:
            LeaseLostError: another instance took the chunk meanwhile; nothing stored.
        """
        return run_sync(lambda: self.worker.acheck(claim, now))

    def renew_claim(self, claim: ChunkClaim, now: datetime, hold: timedelta) -> bool:
        """Extend a claim whose check outlasts it (the lease keeper); False: lost."""
        return renew_claim(self._db, claim, now, hold)

    def run_progress(self) -> dict[str, Any] | None:
        """The latest scheduled run: chunks done, claimed and pending, per node (JSON)."""
        with self._db.session() as s:
            return run_progress(s)
