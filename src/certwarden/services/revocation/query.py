"""Checks asked for now: stored certificates (``check``) and one-off queries (``query``).

``check`` loads what to check (:mod:`.selection`), asks the engine and
records every result (:mod:`.recording`): by ID or SHA-256, or every
monitored certificate (the scheduled run, :mod:`.schedule`, uses it too).
``query`` asks a responder about one certificate given with its issuer and
stores nothing.

It must not judge answers (the core does) or decide when checks run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.clock import Clock
from certwarden.core.algorithms import LegacySignatures
from certwarden.core.certs import facts_from_certificate, signed_by
from certwarden.core.ocsp import RevocationResult
from certwarden.core.ocsp.results import NonceMode
from certwarden.core.policy import Verdict, decide
from certwarden.errors import InputError
from certwarden.services.revocation.engine import RevocationEngine
from certwarden.services.revocation.model import CheckReport, Target, Trigger
from certwarden.services.revocation.ocsp_source import choose_url
from certwarden.services.revocation.recording import record_checks
from certwarden.services.revocation.selection import load_selection
from certwarden.services.revocation.settings import load_revocation, load_security
from certwarden.services.shared.sync_bridge import run_sync
from certwarden.services.shared.trust_inputs import trusted_responders

__all__ = ["CheckRunner"]


class CheckRunner:
    """On-demand checks of stored certificates, and one-off queries."""

    def __init__(self, db: Database, clock: Clock, engine: RevocationEngine) -> None:
        self._db = db
        self._clock = clock
        self._engine = engine

    def check(
        self,
        refs: Sequence[str | int] = (),
        *,
        all_monitored: bool = False,
        trigger: Trigger = Trigger.MANUAL,
        use_cache: bool = False,
        now: datetime | None = None,
    ) -> CheckReport:
        """Check stored certificates (``refs`` by ID or SHA-256, or every monitored one).

        Checks run even when OCSP is disabled in the settings — an administrator
        asked — but the scheduled run does not. Answers are judged and the
        checks recorded at ``now`` (default: the clock's), the same instant.
        """
        return run_sync(
            lambda: self.acheck(
                refs, all_monitored=all_monitored, trigger=trigger, use_cache=use_cache, now=now
            )
        )

    async def acheck(
        self,
        refs: Sequence[str | int] = (),
        *,
        all_monitored: bool = False,
        trigger: Trigger = Trigger.MANUAL,
        use_cache: bool = False,
        now: datetime | None = None,
        finish: Callable[[Session, CheckReport], None] | None = None,
    ) -> CheckReport:
        """:meth:`check` for async code.

        ``finish`` (the scheduled run): called with the report in the recording
        transaction, last before it commits — it records the schedule's state
        and calls the lease's fence (several instances), whose refusal rolls
        back every check, alert and notice of the run.
        """
        if not refs and not all_monitored:
            raise InputError("name certificates to check (IDs or SHA-256), or ask for all")
        now = now or self._clock.now()
        with self._db.session() as s:
            selection = load_selection(s, refs, all_monitored)
        results = await self._engine.evaluate(
            selection.targets,
            settings=selection.settings,
            common_criteria=selection.common_criteria,
            trusted_responders=selection.trusted_responders,
            now=now,
            use_cache=use_cache,
        )
        with self._db.session() as s:
            outcomes, queued = record_checks(
                s,
                [
                    (row.row_id, row.target, row.store, result)
                    for (group, result) in zip(selection.groups.values(), results, strict=True)
                    for row in group
                ],
                now=now,
                trigger=trigger,
                common_criteria=selection.common_criteria,
            )
            report = CheckReport(
                now,
                trigger,
                selection.common_criteria,
                tuple(outcomes),
                tuple(selection.skipped),
                queued,
            )
            if finish is not None:
                s.flush()
                finish(s, report)
        return report

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
        """Ask a responder about one certificate now (no cache, nothing stored).

        ``allow_legacy_signatures`` (``ocsp query --allow-legacy-signatures``)
        accepts SHA-1 signatures for this query, except in Common Criteria mode;
        otherwise the Certificate Revocation setting decides.

        Raises:
            InputError: ``issuer`` did not sign ``cert``, or no responder URL is
                known (none given, none configured, none in the certificate).
        """
        with self._db.session() as s:
            settings = load_revocation(s)
        changes: dict[str, Any] = {}
        if hash_algorithm:
            changes["hash_algorithm"] = hash_algorithm
        if not nonce:
            changes["nonce"] = NonceMode.OFF.value
        if allow_legacy_signatures:
            changes["legacy_signatures"] = LegacySignatures.ACCEPT.value
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
            url = choose_url(settings, target)
            if url is None:
                raise InputError(
                    f"{facts.subject} names no http(s) OCSP responder in its AIA extension; "
                    "give one with --url"
                )
        with self._db.session() as s:
            trusted = trusted_responders(s, settings.trusted_responder_store)
            common_criteria = load_security(s).common_criteria
        (result,) = run_sync(
            lambda: self._engine.evaluate(
                [target],
                settings=settings,
                common_criteria=common_criteria,
                trusted_responders=trusted,
                now=self._clock.now(),
                url_override=url,
                use_cache=False,
            )
        )
        return result, decide(result, common_criteria=common_criteria)
