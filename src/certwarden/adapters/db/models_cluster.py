"""Tables of several instances on one database: nodes and job leases, a scheduled
revocation run's chunks, and the state the instances share (OCSP answers,
refused TLS peers, the counters that say when a cache is stale).

Re-exported by :mod:`.models`: import them from there like every other table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from certwarden.adapters.db.base import Base

__all__ = [
    "ClusterLease",
    "ClusterNode",
    "RefusedPeer",
    "RevocationChunk",
    "RevocationRun",
    "SharedGeneration",
    "SharedOcspAnswer",
    "SharedOcspBlob",
]


class ClusterNode(Base):
    """A running ``certwarden serve`` (several may share one PostgreSQL database)."""

    __tablename__ = "cluster_nodes"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class ClusterLease(Base):
    """Who runs a scheduled job now; ``token`` grows at every change of holder (fencing)."""

    __tablename__ = "cluster_leases"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    token: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]


class RevocationRun(Base):
    """A scheduled revocation check cut into chunks (services/revocation/chunks.py)."""

    __tablename__ = "revocation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    # The node that planned it (the holder of the revocation lease then).
    planned_by: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # running | complete
    chunk_count: Mapped[int] = mapped_column(Integer)
    certificate_count: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notices_queued: Mapped[int] = mapped_column(Integer, default=0)


class RevocationChunk(Base):
    """Part of a run that one instance claims, checks and commits (fenced by ``token``)."""

    __tablename__ = "revocation_chunks"
    __table_args__ = (
        Index("ix_revocation_chunks_state_expires", "state", "claim_expires_at"),
        Index("ix_revocation_chunks_run_state", "run_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("revocation_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    certificate_ids: Mapped[list[Any]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # pending | claimed | done | failed
    node_id: Mapped[str | None] = mapped_column(String(64))
    # Grows at every claim: names the claim (fencing) and counts the attempts.
    token: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None]
    claim_expires_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The status changes found (one line each): the run's one notice is made of them.
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)


class SharedGeneration(Base):
    """A counter every instance watches: it grows when state others cache has changed."""

    __tablename__ = "shared_generations"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class SharedOcspAnswer(Base):
    """The latest validated OCSP answer any instance holds for a CertID (the shared cache).

    ``generation`` is the ``ocsp`` counter's value when the row was last
    written: an instance reads the rows above the last one it saw.
    """

    __tablename__ = "shared_ocsp_answers"
    __table_args__ = (
        Index("ix_shared_ocsp_answers_generation", "generation"),
        Index("ix_shared_ocsp_answers_until", "until"),
    )

    cert_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    this_update: Mapped[datetime]
    until: Mapped[datetime]  # no instance may serve it past this
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    response_sha256: Mapped[str | None] = mapped_column(String(64))  # shared_ocsp_blobs


class SharedOcspBlob(Base):
    """The DER of a response a shared answer came from (the evidence), once per response."""

    __tablename__ = "shared_ocsp_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class RefusedPeer(Base):
    """A TLS peer refused by the policy: asked about afresh until its status allows it."""

    __tablename__ = "tls_refused_peers"
    __table_args__ = (Index("ix_tls_refused_peers_refused_at", "refused_at"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    refused_at: Mapped[datetime]
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
