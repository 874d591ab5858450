"""Tables. Typed ``Mapped[...]`` models, separate from API schemas.

Every schema change goes with a migration in ``migrations/versions``; the test
suite checks that the migrations produce exactly these tables.
Times are stored as UTC (SQLite hands them back naive; read them through
:func:`certwarden.clock.ensure_utc`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from certwarden.adapters.db.base import Base
from certwarden.adapters.db.models_cluster import (
    ClusterLease,
    ClusterNode,
    RefusedPeer,
    RevocationChunk,
    RevocationRun,
    SharedGeneration,
    SharedOcspAnswer,
    SharedOcspBlob,
)

__all__ = [
    "Alert",
    "AlertCondition",
    "ApiToken",
    "AuditEntry",
    "Base",
    "CertificateRow",
    "Channel",
    "ChannelMessage",
    "ClusterLease",
    "ClusterNode",
    "CrlBlob",
    "CrlSource",
    "Endpoint",
    "LoginThrottle",
    "OcspCheck",
    "OcspResponse",
    "OutboxMessage",
    "RefusedPeer",
    "RevocationChunk",
    "RevocationRun",
    "ServiceState",
    "Setting",
    "SharedGeneration",
    "SharedOcspAnswer",
    "SharedOcspBlob",
    "Store",
    "User",
    "WebSession",
]


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # Expiry notices start when less than this share (0..1) of a certificate's
    # lifetime remains, instead of the monitor's Notification Start Time.
    lifetime_share: Mapped[float | None] = mapped_column(Float)


class CertificateRow(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        # sha256 first: the same index finds a certificate by fingerprint alone.
        UniqueConstraint("sha256", "store_id", name="uq_certificates_sha256_store"),
        Index("ix_certificates_not_after", "not_after"),
        Index("ix_certificates_lsc_not_after", "is_lsc", "not_after"),
        Index("ix_certificates_subject_key_id", "subject_key_id"),
        # Issuer lookups by name, and renewals (same store and subject).
        Index("ix_certificates_subject_store", "subject", "store_id"),
        Index("ix_certificates_issuer_id", "issuer_id"),
        # The web list pages by not_after within a store or a revocation status.
        Index("ix_certificates_store_not_after", "store_id", "not_after"),
        Index("ix_certificates_revocation_not_after", "revocation_status", "not_after"),
        Index("ix_certificates_notice_from", "notice_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))
    sha256: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(Text)
    subject_cn: Mapped[str] = mapped_column(String(255), default="")
    issuer: Mapped[str] = mapped_column(Text)
    issuer_cn: Mapped[str] = mapped_column(String(255), default="")
    # Text, not VARCHAR(n): certificates carry serials and key identifiers of any
    # length (RFC 5280 bounds neither for the parser), and PostgreSQL, unlike
    # SQLite, would refuse the whole import over one long value.
    serial: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime]
    sans: Mapped[list[Any]] = mapped_column(JSON, default=list)
    key_type: Mapped[str] = mapped_column(String(32))
    key_size: Mapped[int] = mapped_column(Integer)
    signature_algorithm: Mapped[str] = mapped_column(String(64))
    is_ca: Mapped[bool] = mapped_column(Boolean)
    role: Mapped[str] = mapped_column(String(16))
    key_usage: Mapped[list[Any]] = mapped_column(JSON, default=list)
    extended_key_usage: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_ocsp_signer: Mapped[bool] = mapped_column(Boolean, default=False)
    ocsp_uris: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ca_issuer_uris: Mapped[list[Any]] = mapped_column(JSON, default=list)
    crl_uris: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subject_key_id: Mapped[str | None] = mapped_column(Text)
    authority_key_id: Mapped[str | None] = mapped_column(Text)
    is_lsc: Mapped[bool] = mapped_column(Boolean, default=False)
    # Signed with SHA-1 or MD5 (core/algorithms.py): legacy, refused unless accepted.
    weak_signature: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    source: Mapped[str] = mapped_column(String(32))
    source_detail: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime]
    issuer_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL")
    )
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id", ondelete="SET NULL"))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    # Certificate Expiry Monitor: when this certificate was last part of a notice.
    last_notified_at: Mapped[datetime | None]
    # ... and at which level (core/expiry.py Level), so a rise is notified at once.
    notice_level: Mapped[int | None] = mapped_column(Integer)
    # Lifetime-share threshold: this certificate's override of its store's, and
    # the notification start either gives (None: the Notification Start Time).
    lifetime_share: Mapped[float | None] = mapped_column(Float)
    notice_from: Mapped[datetime | None]
    # Latest revocation outcome (the full history is in ocsp_checks).
    revocation_status: Mapped[str | None] = mapped_column(String(32))
    revocation_reason: Mapped[str | None] = mapped_column(String(64))
    revocation_checked_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Setting(Base):
    """One settings section (``monitor``, ``revocation``, ``params``, ``smtp`` ...) as JSON."""

    __tablename__ = "settings"

    section: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class ServiceState(Base):
    """A background service's persisted state (Control Center)."""

    __tablename__ = "services"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_created_at", "created_at"),
        # Deleting a certificate sets its alerts' certificate_id to NULL: without
        # this index every delete would scan the whole alert log.
        Index("ix_alerts_certificate_id", "certificate_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL")
    )
    sha256: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    store: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text)
    # Makes an alert idempotent: the same key is never recorded twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The lifecycle alert (alert_conditions row) this event belongs to, if any.
    condition_id: Mapped[int | None] = mapped_column(Integer, index=True)


class AlertCondition(Base):
    """One alert with a lifecycle: a condition (a subject and a kind family) that
    is open, acknowledged, then cleared. The ``alerts`` rows are its events."""

    __tablename__ = "alert_conditions"
    __table_args__ = (
        Index("ix_alert_conditions_certificate_id", "certificate_id"),
        Index("ix_alert_conditions_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family: Mapped[str] = mapped_column(String(32))
    subject_key: Mapped[str] = mapped_column(Text)
    # SHA-256 of family|subject_key while not cleared, NULL after: at most one
    # open or acknowledged alert per condition (a new one after a clear).
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    notified_severity: Mapped[str | None] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(16))
    certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL")
    )
    sha256: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    store: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text)
    events: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]
    acked_by: Mapped[str | None] = mapped_column(String(255))
    ack_note: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None]
    cleared_reason: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    """A notice waiting for, or done with, delivery. Written before it is sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    recipients: Mapped[list[Any]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    # The outbox lease's token it was claimed under (NULL: none; services.shared.claims).
    claim_token: Mapped[int | None] = mapped_column(Integer)


class OcspCheck(Base):
    """One revocation check with its evidence (the raw response, the signer)."""

    __tablename__ = "ocsp_checks"
    __table_args__ = (Index("ix_ocsp_checks_cert_time", "certificate_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE")
    )
    sha256: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(String(64))
    trust_model: Mapped[str | None] = mapped_column(String(32))
    signer_sha256: Mapped[str | None] = mapped_column(String(64))
    responder_url: Mapped[str | None] = mapped_column(Text)
    this_update: Mapped[datetime | None]
    next_update: Mapped[datetime | None]
    # The DER response when it answered this certificate alone. A response that
    # answered a batch is stored once in ocsp_responses and shared (response_id);
    # evidence = raw_response, else ocsp_responses.der via response_id.
    raw_response: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_id: Mapped[int | None] = mapped_column(
        ForeignKey("ocsp_responses.id", ondelete="SET NULL")
    )
    # Which source answered (``ocsp`` or ``crl``; NULL: no source was asked,
    # e.g. expired) and, for a CRL, its number and its blob (crl_blobs) by hash;
    # responder_url is then the CRL distribution point asked.
    source: Mapped[str | None] = mapped_column(String(8))
    crl_number: Mapped[str | None] = mapped_column(Text)  # decimal: up to 20 octets
    crl_sha256: Mapped[str | None] = mapped_column(String(64))
    delta_crl_number: Mapped[str | None] = mapped_column(Text)  # a delta CRL applied on top
    delta_crl_sha256: Mapped[str | None] = mapped_column(String(64))


class OcspResponse(Base):
    """A signed OCSP response kept as evidence, once, however many checks it answered."""

    __tablename__ = "ocsp_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    responder_url: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]


class CrlBlob(Base):
    """A CRL's DER, stored once by its SHA-256 (the evidence of every check it answered)."""

    __tablename__ = "crl_blobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime]


class CrlSource(Base):
    """One CRL distribution point URL: the last valid CRL fetched from it, and the last try."""

    __tablename__ = "crl_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    issuer: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    this_update: Mapped[datetime | None]
    next_update: Mapped[datetime | None]
    crl_number: Mapped[str | None] = mapped_column(Text)
    entries: Mapped[int | None] = mapped_column(Integer)
    blob_sha256: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[datetime | None]  # the last fetch that brought (or confirmed) it
    attempted_at: Mapped[datetime | None]  # the last fetch tried, good or bad
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_reason: Mapped[str | None] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Random, renewed whenever the user's sessions must end (password, role,
    # disable); every session row carries the stamp it was opened under.
    session_stamp: Mapped[str] = mapped_column(String(32), server_default="")


class WebSession(Base):
    """A signed-in browser. The cookie holds a random nonce; only its SHA-256 is kept."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("ix_web_sessions_user_id", "user_id"),
        Index("ix_web_sessions_expires_at", "expires_at"),
    )

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    stamp: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginThrottle(Base):
    """Password attempts per user name or client address, shared by every instance."""

    __tablename__ = "login_throttle"
    __table_args__ = (Index("ix_login_throttle_last_at", "last_at"),)

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # "full" (the user's role) or "read" (GET and HEAD only).
    scope: Mapped[str] = mapped_column(String(16), server_default="full")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Endpoint(Base):
    """A TLS endpoint probed on each monitor run (its certificates join the inventory)."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("host", "port", name="uq_endpoints_host_port"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    starttls: Mapped[str | None] = mapped_column(String(16))
    servername: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_probe_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The last certificate it served (kept through outages) and when it was last reached.
    leaf_sha256: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[datetime | None]
    # Change events (core/cert_changes.py): the bounded history and what was announced.
    change_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RenewalInfoRow(Base):
    """The latest ACME Renewal Information (RFC 9773) known for a certificate."""

    __tablename__ = "renewal_info"
    __table_args__ = (Index("ix_renewal_info_next_check_at", "next_check_at"),)

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text)
    # The last good window (kept through failed fetches) and the one before it.
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    explanation_url: Mapped[str | None] = mapped_column(Text)
    previous_start: Mapped[datetime | None]
    fetched_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class Channel(Base):
    """A notification channel (Apprise): its URL is stored sealed, never in clear."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url_sealed: Mapped[str] = mapped_column(Text)
    # What may be shown of the URL: scheme and host only.
    url_shown: Mapped[str] = mapped_column(String(255))
    min_severity: Mapped[str] = mapped_column(String(16))
    kinds: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class ChannelMessage(Base):
    """A channel notice waiting for, or done with, delivery (the channels' outbox)."""

    __tablename__ = "channel_outbox"
    __table_args__ = (Index("ix_channel_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    # The outbox lease's token it was claimed under (NULL: none; services.shared.claims).
    claim_token: Mapped[int | None] = mapped_column(Integer)
