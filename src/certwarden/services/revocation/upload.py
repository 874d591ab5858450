"""The revocation check at upload: what an upload brings is checked BEFORE it is stored.

    UploadCheck(inventory, revocation).commit_checked(prepared, force=False)

Every distinct non-root certificate of a prepared import is asked about (a
cached answer may serve), its issuer found among the upload's own CAs or the
stored ones (:class:`.trust_inputs.StoredIssuers`). The certificates and the
evidence of their checks are stored in one transaction, or nothing is.

It must not store a certificate the policy refuses unless ``force`` says so,
and never reports Good unless a validated response said so.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from certwarden.core.certs import signed_by
from certwarden.core.ocsp.results import describe
from certwarden.core.policy import Decision, decide
from certwarden.services.inventory import (
    REFUSED_BY_REVOCATION_CHECK,
    ImportReport,
    InventoryService,
    PreparedImport,
    Rejection,
)
from certwarden.services.revocation.model import Target, Trigger
from certwarden.services.revocation.recording import record_checks, stored_reason
from certwarden.services.revocation.service import RevocationService
from certwarden.services.shared.sync_bridge import run_sync
from certwarden.services.shared.trust_inputs import StoredIssuers, trusted_responders

__all__ = ["UploadCheck"]


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
        db, clock = service.db, service.clock
        now = clock.now()
        settings = service.settings()
        if not settings.revocation_enabled:
            report = self._inventory.commit(prepared)
            return replace(
                report,
                notes=(
                    *report.notes,
                    "OCSP is disabled (Security > Certificate Revocation), and CRLs too: "
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
            issuers = StoredIssuers(s)
            trusted = trusted_responders(s, settings.trusted_responder_store)
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
            targets,
            settings=settings,
            common_criteria=common_criteria,
            trusted_responders=trusted,
            now=now,
            use_cache=True,
        )
        exclude: set[str] = set()
        rejected: list[Rejection] = []
        revocation: dict[str, tuple[str, str | None, datetime | None, datetime | None]] = {}
        for target, result in zip(targets, results, strict=True):
            verdict = decide(result, common_criteria=common_criteria)
            revocation[target.sha256] = (
                result.status.value,
                stored_reason(result),
                now,
                result.revoked_at,
            )
            if verdict.decision is Decision.DENY:
                if force:
                    notes.append(
                        f"{sources[target.sha256]}: {target.subject} stored despite the "
                        f"revocation check, as asked: {describe(result)}"
                    )
                else:
                    exclude.add(target.sha256)
                    finding = (
                        f"{target.subject} refused by the revocation check: "
                        f"{describe(result)} ({verdict.why}); nothing was stored for it"
                    )
                    rejected.append(
                        Rejection(
                            sources[target.sha256],
                            f"{finding}; use --force to store it with its status recorded",
                            REFUSED_BY_REVOCATION_CHECK,
                            finding,
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
            record_checks(
                s,
                [
                    (stored.get(target.sha256), target, prepared.store, result)
                    for target, result in zip(targets, results, strict=True)
                ],
                now=now,
                trigger=Trigger.UPLOAD,
                common_criteria=common_criteria,
                imported=frozenset(i.id for i in report.imported),
                refused=frozenset(exclude),
            )
        checked = len(targets)
        notes.append(
            f"revocation check at upload: {checked} certificate(s) checked via "
            + " then ".join(
                settings.describe_source() if s == "ocsp" else "the certificates' CRLs"
                for s in settings.sources
            )
            + (f" (order {settings.order.value})" if settings.enable_crl else "")
            + (", Common Criteria mode" if common_criteria else "")
            + (f"; {len(exclude)} refused" if exclude else "")
        )
        return replace(
            report,
            rejected=(*report.rejected, *rejected),
            notes=(*report.notes, *notes),
        )
