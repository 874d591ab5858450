"""A scheduled revocation check cut into chunks that every instance claims.

The holder of the revocation lease, when a run is due, plans it
(:func:`plan_run`, in its fenced transaction): the monitored certificates,
sorted by issuer and responder (so that a chunk asks each responder about many
certificates of one issuer in one request: OCSP batching still works), cut
into chunks of ``chunk_size`` rows (never between two rows of one certificate)
and stored as a run (``revocation_runs``) with its chunk rows
(``revocation_chunks``).

Every instance then claims chunks (:func:`claim_chunk`): on PostgreSQL
``SELECT ... FOR UPDATE SKIP LOCKED`` (two instances never wait on, nor take,
the same chunk), on SQLite (one instance) the same statement without the lock
clause. A claim stamps the node, a claim expiry and a new ``token``; a chunk
whose claim expired (its instance died) is claimed again. A chunk claimed
:data:`MAX_CLAIMS` times without being done is given up (``failed``), so one
bad chunk cannot stop every run after it.

A chunk's results commit in the chunk's own transaction, fenced: :func:`fence_chunk`
marks it done only while the claim is still this one (same node, same token),
under the row's lock until the commit, else :class:`LeaseLostError` and the
transaction (checks, statuses, alerts) rolls back. :func:`close_chunk` then
takes the run's row lock and, when no chunk is left, completes the run: its
counts and its one notice (made of every chunk's status changes), once.

It must not contact responders or judge answers (:mod:`.chunk_worker` does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import (
    CertificateRow,
    RevocationChunk,
    RevocationRun,
    ServiceState,
)
from certwarden.clock import ensure_utc
from certwarden.core.revocation_settings import RevocationSettings
from certwarden.core.timefmt import iso_z
from certwarden.errors import LeaseLostError
from certwarden.services.revocation.model import SERVICE_NAME
from certwarden.services.revocation.ocsp_source import BATCH_SIZE, responder_for
from certwarden.services.revocation.recording import queue_notice
from certwarden.services.revocation.selection import monitored_filter

__all__ = [
    "CHUNK_SIZE",
    "MAX_CLAIMS",
    "ChunkClaim",
    "RunDone",
    "RunPlan",
    "claim_chunk",
    "close_chunk",
    "fence_chunk",
    "open_run",
    "plan_run",
    "release_chunk",
    "renew_claim",
    "run_progress",
]

# Certificates per chunk. Five full OCSP requests (BATCH_SIZE 200): a chunk
# cut out of a large issuer loses no batching. Small enough that one is
# checked and committed in a second or two (well inside a 30 s claim on a
# loaded machine, and little lost when an instance dies with one), large
# enough that the per-chunk work (claim, load, commit) is a small share and
# 100,000 certificates make 100 chunks: a fair spread over a few instances.
CHUNK_SIZE = 5 * BATCH_SIZE
# Claims of one chunk before it is given up (each one expired or crashed).
MAX_CLAIMS = 3
# Runs (and their chunk rows) kept for the status pages; older ones are removed.
KEEP_RUNS = 5

_CHUNKS = cast("Table", RevocationChunk.__table__)
PENDING, CLAIMED, DONE, FAILED = "pending", "claimed", "done", "failed"
RUNNING, COMPLETE = "running", "complete"


@dataclass(frozen=True)
class RunPlan:
    run_id: int
    certificates: int
    chunks: int


@dataclass(frozen=True)
class ChunkClaim:
    """A chunk this node holds: ``token`` names the claim (fencing)."""

    chunk_id: int
    run_id: int
    seq: int
    run_chunks: int
    node: str
    token: int
    certificate_ids: tuple[int, ...]
    run_started_at: datetime

    @property
    def run_key(self) -> str:
        """The run's dedupe prefix: alerts per run and certificate, one notice per run."""
        return f"revocation-run:{self.run_id}:{iso_z(self.run_started_at)}"

    @property
    def what(self) -> str:
        return f"revocation chunk {self.seq + 1}/{self.run_chunks} of run {self.run_id}"


@dataclass(frozen=True)
class RunDone:
    """A run completed by this chunk's commit."""

    run_id: int
    counts: dict[str, int]
    notices_queued: int


def open_run(s: Session) -> RevocationRun | None:
    """The run still being worked on, if any (a new one is not planned meanwhile)."""
    return s.scalars(
        select(RevocationRun).where(RevocationRun.state == RUNNING).order_by(RevocationRun.id)
    ).first()


def plan_run(
    s: Session,
    settings: RevocationSettings,
    *,
    now: datetime,
    node: str,
    chunk_size: int = CHUNK_SIZE,
) -> RunPlan:
    """Store a run of every monitored certificate, in chunks, in ``s``'s transaction."""
    if chunk_size < 1:
        raise ValueError("the chunk size must be positive")
    query = select(
        CertificateRow.id, CertificateRow.sha256, CertificateRow.issuer_id, CertificateRow.ocsp_uris
    )
    rows = list(s.execute(monitored_filter(s, query)))

    def key(row: Any) -> tuple[int, str, str, int]:
        url = responder_for(settings, row.ocsp_uris or ()) or ""
        return (row.issuer_id or 0, url, row.sha256, row.id)

    rows.sort(key=key)
    chunks: list[list[int]] = []
    current: list[int] = []
    last_sha: str | None = None
    for row in rows:
        # Cut at the size, but never between two rows of one certificate.
        if len(current) >= chunk_size and row.sha256 != last_sha:
            chunks.append(current)
            current = []
        current.append(row.id)
        last_sha = row.sha256
    if current:
        chunks.append(current)
    run = RevocationRun(
        started_at=now,
        planned_by=node[:64],
        state=RUNNING if chunks else COMPLETE,
        chunk_count=len(chunks),
        certificate_count=len(rows),
        completed_at=None if chunks else now,
        counts={},
        notices_queued=0,
    )
    s.add(run)
    s.flush()
    if chunks:
        s.execute(
            insert(_CHUNKS),
            [
                {
                    "run_id": run.id, "seq": i, "certificate_ids": ids, "size": len(ids),
                    "state": PENDING, "node_id": None, "token": 0, "claimed_at": None,
                    "claim_expires_at": None, "done_at": None, "counts": {}, "changes": [],
                }
                for i, ids in enumerate(chunks)
            ],
        )  # fmt: skip
    _forget_old_runs(s, run.id)
    return RunPlan(run.id, len(rows), len(chunks))


def _forget_old_runs(s: Session, newest: int) -> None:
    keep = list(
        s.scalars(select(RevocationRun.id).order_by(RevocationRun.id.desc()).limit(KEEP_RUNS))
    )
    oldest_kept = min([newest, *keep])
    old = (RevocationRun.id < oldest_kept) & (RevocationRun.state == COMPLETE)
    done_ids = select(RevocationRun.id).where(old).scalar_subquery()
    s.execute(
        delete(RevocationChunk)
        .where(RevocationChunk.run_id.in_(done_ids))
        .execution_options(synchronize_session=False)
    )
    s.execute(delete(RevocationRun).where(old).execution_options(synchronize_session=False))


def claim_chunk(db: Database, node: str, now: datetime, hold: timedelta) -> ChunkClaim | None:
    """Claim the first pending chunk (or one whose claim expired) for ``node``; None: none left."""
    while True:
        with db.session() as s:
            chunk = s.scalars(
                select(RevocationChunk)
                .where(
                    or_(
                        RevocationChunk.state == PENDING,
                        and_(
                            RevocationChunk.state == CLAIMED,
                            RevocationChunk.claim_expires_at < now,
                        ),
                    )
                )
                .order_by(RevocationChunk.id)
                .limit(1)
                # PostgreSQL: rows another instance is claiming or committing
                # are skipped, not waited for. SQLite renders no lock clause.
                .with_for_update(skip_locked=True)
            ).first()
            if chunk is None:
                return None
            if chunk.token >= MAX_CLAIMS:
                # Claimed and never done that many times: give it up, and the
                # run completes without it (counted as failed).
                chunk.state = FAILED
                chunk.done_at = now
                s.flush()
                _complete_if_last(s, chunk.run_id, now)
                continue
            run = s.get(RevocationRun, chunk.run_id)
            if run is None:  # pragma: no cover - chunks go with their run
                return None
            chunk.state = CLAIMED
            chunk.node_id = node[:64]
            chunk.token += 1
            chunk.claimed_at = now
            chunk.claim_expires_at = now + hold
            return ChunkClaim(
                chunk.id, chunk.run_id, chunk.seq, run.chunk_count, node[:64], chunk.token,
                tuple(int(i) for i in chunk.certificate_ids), ensure_utc(run.started_at),
            )  # fmt: skip


def _still_this(claim: ChunkClaim) -> tuple[ColumnElement[bool], ...]:
    """The chunk's row while ``claim`` is still its claim (same node and token)."""
    return (
        RevocationChunk.id == claim.chunk_id,
        RevocationChunk.state == CLAIMED,
        RevocationChunk.node_id == claim.node,
        RevocationChunk.token == claim.token,
    )


def renew_claim(db: Database, claim: ChunkClaim, now: datetime, hold: timedelta) -> bool:
    """Extend ``claim`` to ``now + hold`` while it is still this one and unexpired
    (its check outlasts the hold); False: taken, given back or done."""
    with db.session() as s:
        kept = s.execute(
            update(RevocationChunk)
            .where(
                *_still_this(claim),
                # A claim given back (release_chunk) stays given back.
                RevocationChunk.claim_expires_at >= now,
            )
            .values(claim_expires_at=now + hold)
            .execution_options(synchronize_session=False)
        )
        return bool(kept.rowcount == 1)  # type: ignore[attr-defined]


def fence_chunk(s: Session, claim: ChunkClaim, now: datetime) -> None:
    """Mark the chunk done in ``s`` if the claim is still this one (its row is
    locked until the commit); else raise :class:`LeaseLostError`."""
    done = s.execute(
        update(RevocationChunk)
        .where(*_still_this(claim))
        .values(state=DONE, done_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLostError(claim.what, claim.token)


def close_chunk(
    s: Session,
    claim: ChunkClaim,
    now: datetime,
    *,
    counts: dict[str, int],
    changes: Sequence[dict[str, str]],
) -> RunDone | None:
    """Store the chunk's counts and status changes; complete the run if it was the last."""
    s.execute(
        update(RevocationChunk)
        .where(RevocationChunk.id == claim.chunk_id)
        .values(counts=counts, changes=list(changes))
        .execution_options(synchronize_session=False)
    )
    return _complete_if_last(s, claim.run_id, now)


def release_chunk(db: Database, claim: ChunkClaim, now: datetime) -> None:
    """Give a claim back at once (the check failed here): claimable again now."""
    with db.session() as s:
        s.execute(
            update(RevocationChunk)
            .where(
                RevocationChunk.id == claim.chunk_id,
                RevocationChunk.state == CLAIMED,
                RevocationChunk.token == claim.token,
            )
            .values(claim_expires_at=now - timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )


def _complete_if_last(s: Session, run_id: int, now: datetime) -> RunDone | None:
    # The run's row lock orders the chunks' last steps: of two finishing at
    # once, the second sees the first's chunk done and completes the run.
    # FOR NO KEY UPDATE: the chunk rows' foreign key checks hold KEY SHARE
    # locks on this row in every chunk's transaction, and two FOR UPDATEs
    # waiting on each other's KEY SHARE would deadlock.
    run = s.scalars(
        select(RevocationRun).where(RevocationRun.id == run_id).with_for_update(key_share=True)
    ).first()
    if run is None or run.state == COMPLETE:
        return None
    left = s.scalar(
        select(func.count())
        .select_from(RevocationChunk)
        .where(RevocationChunk.run_id == run_id, RevocationChunk.state.in_((PENDING, CLAIMED)))
    )
    if left:
        return None
    totals: Counter[str] = Counter()
    lines: list[str] = []
    headline = ""
    failed = 0
    for state, counts, changes in s.execute(
        select(RevocationChunk.state, RevocationChunk.counts, RevocationChunk.changes)
        .where(RevocationChunk.run_id == run_id)
        .order_by(RevocationChunk.seq)
    ):
        if state == FAILED:
            failed += 1
        totals.update({k: int(v) for k, v in (counts or {}).items()})
        for change in changes or ():
            lines.append(str(change["line"]))
            headline = headline or str(change["headline"])
    started = ensure_utc(run.started_at)
    queued = queue_notice(
        s, lines, headline, now=now,
        dedupe_key=f"revocation-run:{run_id}:{iso_z(started)}:notice",
    )  # fmt: skip
    totals["failed_chunks"] = failed
    run.state = COMPLETE
    run.completed_at = now
    run.counts = dict(totals)
    run.notices_queued = queued
    state_row = s.get(ServiceState, SERVICE_NAME)
    if state_row is not None:
        refused = totals.pop("refused", 0)
        totals.pop("failed_chunks", None)
        state_row.detail = {
            **(state_row.detail or {}),
            "last_counts": dict(totals),
            "last_refused": refused,
            "last_run_id": run_id,
        }
    return RunDone(run_id, dict(run.counts), queued)


def run_progress(s: Session) -> dict[str, Any] | None:
    """The latest run's chunks done/claimed/pending, in all and per node (JSON)."""
    run = s.scalars(select(RevocationRun).order_by(RevocationRun.id.desc()).limit(1)).first()
    if run is None:
        return None
    states: Counter[str] = Counter()
    nodes: dict[str, Counter[str]] = {}
    for state, node, n, certs in s.execute(
        select(
            RevocationChunk.state,
            RevocationChunk.node_id,
            func.count(),
            func.coalesce(func.sum(RevocationChunk.size), 0),
        )
        .where(RevocationChunk.run_id == run.id)
        .group_by(RevocationChunk.state, RevocationChunk.node_id)
    ):
        states[state] += int(n)
        if node is not None and state in (CLAIMED, DONE):
            per = nodes.setdefault(node, Counter())
            per[state] += int(n)
            if state == DONE:
                per["certificates"] += int(certs)
    return {
        "id": run.id,
        "started_at": iso_z(ensure_utc(run.started_at)),
        "planned_by": run.planned_by,
        "state": run.state,
        "completed_at": iso_z(ensure_utc(run.completed_at)) if run.completed_at else None,
        "certificates": run.certificate_count,
        "chunks": {
            "total": run.chunk_count,
            **{k: states.get(k, 0) for k in (PENDING, CLAIMED, DONE, FAILED)},
        },
        "nodes": [
            {
                "node_id": node,
                "chunks_done": per.get(DONE, 0),
                "chunks_claimed": per.get(CLAIMED, 0),
                "certificates_done": per.get("certificates", 0),
            }
            for node, per in sorted(nodes.items())
        ],
    }
