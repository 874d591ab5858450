"""One instance's part of a scheduled run: claim a chunk, check it, commit it fenced.

:meth:`ChunkWorker.awork_one` claims a chunk (:func:`.chunks.claim_chunk`),
loads its certificates (:mod:`.selection`), has the engine judge them and
records the results (:mod:`.recording`) in one transaction that first fences
the claim (:func:`.chunks.fence_chunk`): an instance that lost its claim —
paused or slow past the claim's expiry while another took the chunk —
commits nothing. Alerts carry the run's dedupe keys; the notice is the run's
(queued by whoever commits its last chunk). A check that fails here gives its
claim back at once, for another attempt.

It must not plan runs or decide when they are due (:mod:`.schedule` does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from certwarden.adapters.db import Database
from certwarden.errors import LeaseLostError
from certwarden.services.revocation.chunks import (
    ChunkClaim,
    RunDone,
    claim_chunk,
    close_chunk,
    fence_chunk,
    release_chunk,
)
from certwarden.services.revocation.engine import RevocationEngine
from certwarden.services.revocation.model import CheckReport, Trigger
from certwarden.services.revocation.recording import (
    notice_headline,
    notice_line,
    record_checks,
)
from certwarden.services.revocation.selection import load_selection

__all__ = ["ChunkResult", "ChunkWorker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkResult:
    """A chunk checked and committed by this instance (and the run, if it was the last)."""

    claim: ChunkClaim
    report: CheckReport
    run_done: RunDone | None


class ChunkWorker:
    """Checks claimed chunks of scheduled runs (see the module docstring)."""

    def __init__(self, db: Database, engine: RevocationEngine) -> None:
        self._db = db
        self._engine = engine

    def claim(self, node: str, now: datetime, hold: timedelta) -> ChunkClaim | None:
        """Claim a chunk for ``node`` until ``now + hold`` (None: nothing to do)."""
        return claim_chunk(self._db, node, now, hold)

    async def awork_one(self, node: str, now: datetime, hold: timedelta) -> ChunkResult | None:
        """Claim one chunk and check it; None when no chunk is waiting.

        Raises:
            LeaseLostError: the claim was lost before the commit (nothing stored).
        """
        claim = self.claim(node, now, hold)
        if claim is None:
            return None
        return await self.acheck(claim, now)

    async def acheck(self, claim: ChunkClaim, now: datetime) -> ChunkResult:
        """Check a claimed chunk at ``now`` and commit it while the claim holds."""
        try:
            return await self._check(claim, now)
        except LeaseLostError:
            raise
        except Exception:
            # Another instance (or this one, later) tries again at once.
            log.warning("%s failed here; its claim is given back", claim.what)
            release_chunk(self._db, claim, now)
            raise

    async def _check(self, claim: ChunkClaim, now: datetime) -> ChunkResult:
        with self._db.session() as s:
            selection = load_selection(s, (), True, ids=claim.certificate_ids)
        results = await self._engine.evaluate(
            selection.targets,
            settings=selection.settings,
            common_criteria=selection.common_criteria,
            trusted_responders=selection.trusted_responders,
            now=now,
            use_cache=False,
        )
        with self._db.session() as s:
            # First: the chunk's row, locked until the commit, or nothing at all.
            fence_chunk(s, claim, now)
            outcomes, _ = record_checks(
                s,
                [
                    (row.row_id, row.target, row.store, result)
                    for (group, result) in zip(selection.groups.values(), results, strict=True)
                    for row in group
                ],
                now=now,
                trigger=Trigger.SCHEDULE,
                common_criteria=selection.common_criteria,
                run_key=claim.run_key,
            )
            report = CheckReport(now, Trigger.SCHEDULE, selection.common_criteria, tuple(outcomes))
            counts = {k: v for k, v in report.counts().items() if v}
            counts["refused"] = len(report.refused)
            changes = [
                {"line": notice_line(o), "headline": notice_headline(o)}
                for o in outcomes
                if o.changed
            ]
            done = close_chunk(s, claim, now, counts=counts, changes=changes)
        if done is not None:
            report = CheckReport(
                now,
                Trigger.SCHEDULE,
                selection.common_criteria,
                tuple(outcomes),
                notices_queued=done.notices_queued,
            )
        return ChunkResult(claim, report, done)
