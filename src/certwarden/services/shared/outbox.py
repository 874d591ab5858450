"""The persistent outbox: notices are stored before they are sent, and retried
until a mail server accepts them, across process restarts.

    queued = enqueue(session, now=..., kind="expiry-digest", dedupe_key=...,
                     recipients=[...], subject=..., body=...)   # inside the caller's transaction
    report = outbox.deliver_due(now)                             # later, from the loop or the CLI

``enqueue`` joins the caller's transaction, so a notice exists exactly when the
alerts that caused it do. Its ``dedupe_key`` is unique: a second notice with
the same key is not stored (``enqueue`` returns False), which is what makes a
repeated run harmless.

Delivery is at-least-once towards the mail server: a notice is marked sent
only after the server accepted it. If the process dies between the server's
acceptance and that mark, the notice is sent again, with the same
``Message-ID`` so that mail clients can recognise the duplicate. The outbox
does not decide what to notify: the monitor and the revocation service queue
the notices.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import OutboxMessage
from certwarden.adapters.smtp import (
    SmtpDeliveryError,
    SmtpSettings,
    SmtpTransport,
    build_message,
    smtp_env_overrides,
    validate_smtp_settings,
)
from certwarden.clock import Clock, ensure_utc
from certwarden.core.expiry import validate_email
from certwarden.core.keys import is_sealed
from certwarden.core.notices import subject as notice_subject
from certwarden.core.notices import when as notice_time
from certwarden.core.notices import with_link
from certwarden.core.timefmt import iso_z
from certwarden.errors import (
    ConflictError,
    InvalidFieldsError,
    NotFoundError,
    NotificationError,
    StorageError,
)
from certwarden.services.shared import claims
from certwarden.services.shared.claims import Tenure, backoff
from certwarden.services.shared.keyring import Keyring
from certwarden.services.shared.settings_store import load_section, save_section

__all__ = [
    "SMTP_SECTION",
    "DeliveryReport",
    "OutboxEntry",
    "OutboxService",
    "OutboxState",
    "Tenure",
    "TestMailReport",
    "backoff",
    "enqueue",
]

SMTP_SECTION = "smtp"
# The stored SMTP password is sealed (AES-GCM under a key from the secret
# file): a reader of the database does not learn it.
_PASSWORD_PURPOSE = "smtp.password"  # noqa: S105 - a label
log = logging.getLogger("certwarden.outbox")
# How long a notice being sent stays claimed by the process sending it.
CLAIM_LEASE = timedelta(minutes=10)


class _Outcome(enum.Enum):
    SENT = enum.auto()
    SKIPPED = enum.auto()
    FAILED = enum.auto()
    SERVER_DOWN = enum.auto()  # the round stops


@enum.unique
class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"


def enqueue(
    session: Session,
    *,
    now: datetime,
    kind: str,
    dedupe_key: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    link: str = "/",
) -> bool:
    """Add a notice to the outbox in the caller's transaction.

    When the mail settings name the UI's ``public_url``, the body ends with a
    link to ``link`` (a path of the UI) there.

    Returns False (and stores nothing) when a notice with ``dedupe_key`` exists:
    a notice is never queued twice.
    """
    if not recipients:
        raise NotificationError(f"notice {dedupe_key!r} has no recipients")
    exists = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key))
    if exists is not None:
        return False
    session.add(
        OutboxMessage(
            created_at=now,
            kind=kind,
            dedupe_key=dedupe_key,
            recipients=list(recipients),
            subject=subject,
            body=with_link(body, _public_url(session), link),
            state=OutboxState.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            last_error=None,
            sent_at=None,
        )
    )
    return True


def _public_url(session: Session) -> str:
    stored = load_section(session, SMTP_SECTION) or {}
    try:
        return validate_smtp_settings(stored).public_url
    except InvalidFieldsError:
        return ""  # a broken section is reported where the settings are read


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    created_at: datetime
    kind: str
    dedupe_key: str
    recipients: tuple[str, ...]
    subject: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None

    @classmethod
    def from_row(cls, row: OutboxMessage) -> OutboxEntry:
        return cls(
            row.id,
            ensure_utc(row.created_at),
            row.kind,
            row.dedupe_key,
            tuple(row.recipients),
            row.subject,
            row.state,
            row.attempts,
            ensure_utc(row.next_attempt_at) if row.state == OutboxState.PENDING else None,
            row.last_error,
            ensure_utc(row.sent_at) if row.sent_at else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": iso_z(self.created_at),
            "kind": self.kind,
            "dedupe_key": self.dedupe_key,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": iso_z(self.next_attempt_at),
            "last_error": self.last_error,
            "sent_at": iso_z(self.sent_at),
        }


@dataclass
class DeliveryReport:
    """What one :meth:`OutboxService.deliver_due` call did."""

    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    waiting: int = 0  # pending, but not due yet
    skipped: str | None = None  # why nothing was attempted

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": {str(k): v for k, v in self.failed.items()},
            "waiting": self.waiting,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class TestMailReport:
    """A test message the mail server accepted (:meth:`OutboxService.send_test`)."""

    __test__ = False  # not a pytest test class

    at: datetime
    server: str
    recipients: tuple[str, ...]
    subject: str
    refused: dict[str, str] = field(default_factory=dict)  # address -> server reply

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso_z(self.at),
            "server": self.server,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "refused": dict(self.refused),
        }


TransportFactory = Callable[[SmtpSettings], SmtpTransport]


class OutboxService:
    """Lists and delivers the outbox; holds the SMTP settings."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        environ: Mapping[str, str] | None = None,
        transport_factory: TransportFactory = SmtpTransport,
        keyring: Keyring | None = None,
    ) -> None:
        """``keyring`` seals the stored SMTP password (None: a random in-memory one)."""
        self._db = db
        self._clock = clock
        self._env = smtp_env_overrides(environ or {})
        self._transport_factory = transport_factory
        self._keyring = keyring or Keyring.ephemeral(db, clock)

    # ---------------------------------------------------------------- settings

    def _opened(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The stored section with its sealed password opened (a clear one is taken as is)."""
        password = stored.get("password")
        if is_sealed(password):
            try:
                stored["password"] = self._keyring.open(str(password), purpose=_PASSWORD_PURPOSE)
            except ValueError:
                log.warning(
                    "the stored SMTP password was sealed with another secret file and cannot "
                    "be read; set it again (certwarden smtp settings set --password-env ...)"
                )
                stored["password"] = ""
        return stored

    def _sealed(self, settings: SmtpSettings) -> dict[str, Any]:
        stored = settings.to_stored()
        if stored.get("password"):
            stored["password"] = self._keyring.seal(stored["password"], purpose=_PASSWORD_PURPOSE)
        return stored

    def seal_clear_password(self) -> bool:
        """Seal an SMTP password stored in clear text (databases from before sealing);
        True when one was."""
        with self._db.session() as s:
            stored = load_section(s, SMTP_SECTION) or {}
            password = stored.get("password")
            if not password or is_sealed(password):
                return False
            stored["password"] = self._keyring.seal(str(password), purpose=_PASSWORD_PURPOSE)
            save_section(s, SMTP_SECTION, stored, self._clock.now())
        log.warning("sealed the SMTP password that was stored in clear text")
        return True

    def stored_smtp_settings(self) -> SmtpSettings:
        with self._db.session() as s:
            stored = self._opened(load_section(s, SMTP_SECTION) or {})
        try:
            return validate_smtp_settings(stored)
        except InvalidFieldsError as exc:
            raise StorageError(f"the stored SMTP settings are invalid: {exc}") from exc

    def smtp_settings(self) -> SmtpSettings:
        """Stored settings with the ``CERTWARDEN_SMTP_*`` environment applied on top."""
        stored = self.stored_smtp_settings()
        if not self._env:
            return stored
        try:
            return validate_smtp_settings(self._env, stored)
        except InvalidFieldsError as exc:
            raise InvalidFieldsError(
                {k: f"{v} (from the environment)" for k, v in exc.errors.items()}
            ) from exc

    @property
    def env_overrides(self) -> tuple[str, ...]:
        """Fields whose value comes from the environment."""
        return tuple(sorted(self._env))

    def update_smtp_settings(self, values: Mapping[str, Any]) -> SmtpSettings:
        """Validate ``values`` over the stored settings and save; nothing is saved on error."""
        now = self._clock.now()
        with self._db.session() as s:
            stored = validate_smtp_settings(self._opened(load_section(s, SMTP_SECTION) or {}))
            new = validate_smtp_settings(values, stored)
            save_section(s, SMTP_SECTION, self._sealed(new), now)
        return new

    def send_test(self, recipients: Sequence[str], now: datetime | None = None) -> TestMailReport:
        """Send one test message now, straight to the mail server (it is not queued),
        through the same transport and server check as every notice.

        Raises:
            InvalidFieldsError: ``{"to": ...}`` when there is no address or one is bad.
            ConflictError: no mail server is configured.
            NotificationError: the server could not be reached, or refused the
                login or the message (the reason in words).
        """
        now = now or self._clock.now()
        addresses: list[str] = []
        problems: list[str] = []
        for raw in recipients:
            try:
                addresses.append(validate_email(raw))
            except ValueError as exc:
                problems.append(str(exc))
        if problems or not addresses:
            raise InvalidFieldsError({"to": "; ".join(problems) or "give at least one address"})
        settings = self.smtp_settings()
        if not settings.configured:
            raise ConflictError("no SMTP server is configured: no test message was sent")
        title = notice_subject("Test message", "mail delivery works")
        body = with_link(
            f"This is a test message sent by certwarden at {notice_time(now)} through "
            f"{settings.host}:{settings.port} ({settings.security.value}).\n\n"
            "If you read it, expiry and revocation notices reach you the same way.\n",
            settings.public_url,
            "/security/mail",
        )
        message = build_message(
            sender=settings.from_address,
            recipients=addresses,
            subject=title,
            body=body,
            message_id=_message_id(f"test:{now.isoformat()}:{','.join(addresses)}"),
            date=now,
        )
        refused = self._transport_factory(settings).send(message)
        return TestMailReport(
            now, f"{settings.host}:{settings.port}", tuple(addresses), title, refused
        )

    # ---------------------------------------------------------------- reading

    def list(self, *, state: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Newest first."""
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if state is not None:
            query = query.where(OutboxMessage.state == state)
        with self._db.session() as s:
            return [OutboxEntry.from_row(r) for r in s.scalars(query)]

    def body(self, entry_id: int) -> str:
        with self._db.session() as s:
            row = s.get(OutboxMessage, entry_id)
            if row is None:
                raise NotFoundError(f"no outbox notice with ID {entry_id}")
            return row.body

    def pending_count(self) -> int:
        with self._db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state == OutboxState.PENDING.value)
                )
                or 0
            )

    # ---------------------------------------------------------------- delivery

    def deliver_due(
        self, now: datetime | None = None, *, limit: int = 100, tenure: Tenure | None = None
    ) -> DeliveryReport:
        """Try every pending notice whose next attempt is due at ``now``.

        A server-level failure (unreachable, timeout, TLS, login) stops the round:
        every notice of the round not yet sent counts one failed attempt and
        backs off. A refusal of one message backs off only that one. Each
        outcome is committed on its own, so a crash loses at most the mark of
        the message being sent. ``tenure`` (the server loop, holding the
        cluster's outbox lease): each claim is fenced by it, and notices a dead
        predecessor had claimed are taken over (:mod:`.claims`).

        Raises:
            LeaseLostError: the outbox lease was lost during the round; the
                notices claimed before stay claimed under the old token.
        """
        now = now or self._clock.now()
        report = DeliveryReport()
        with self._db.session() as s:
            due = claims.due_ids(s, OutboxMessage, now, tenure, limit)
            report.waiting = claims.waiting(s, OutboxMessage, now)
        if not due:
            return report
        settings = self.smtp_settings()
        if not settings.configured:
            report.skipped = (
                "no SMTP server is configured (certwarden smtp settings set --host ...); "
                f"{len(due)} notice(s) wait in the outbox"
            )
            return report
        transport = self._transport_factory(settings)
        for index, msg_id in enumerate(due):
            with claims.sending(self._db, OutboxMessage, msg_id) as mine:
                if not mine:
                    continue  # being sent by another process
                outcome = self._deliver_one(transport, settings, msg_id, now, tenure, report)
            if outcome is _Outcome.SERVER_DOWN:
                rest = due[index + 1 :]
                if rest:
                    note = f"not attempted: {report.failed[msg_id]}"
                    backed_off = _back_off_unclaimed(self._db, rest, note, now)
                    report.failed.update(dict.fromkeys(backed_off, note))
                break
        return report

    def _deliver_one(
        self,
        transport: SmtpTransport,
        settings: SmtpSettings,
        msg_id: int,
        now: datetime,
        tenure: Tenure | None,
        report: DeliveryReport,
    ) -> _Outcome:
        """Claim, send and settle one notice (its lock held by the caller)."""
        with self._db.session() as s:
            # Claim the notice so that another process delivering at the same
            # time skips it; a crash mid-send frees it when the claim ends (or
            # at once for the next lease holder, :mod:`.claims`), and a failure
            # below replaces it with the backoff.
            if not claims.claim(s, OutboxMessage, msg_id, now, CLAIM_LEASE, tenure):
                return _Outcome.SKIPPED  # taken or delivered meanwhile by another process
            row = s.get_one(OutboxMessage, msg_id)
            message = build_message(
                sender=settings.from_address,
                recipients=row.recipients,
                subject=row.subject,
                body=row.body,
                message_id=_message_id(row.dedupe_key),
                date=ensure_utc(row.created_at),
            )
        try:
            refused = transport.send(message)
        except SmtpDeliveryError as exc:
            report.failed[msg_id] = str(exc)
            self._failed([msg_id], str(exc), now)
            return _Outcome.SERVER_DOWN if exc.server_level else _Outcome.FAILED
        except NotificationError as exc:  # the server certificate check refused
            report.failed[msg_id] = str(exc)
            self._failed([msg_id], str(exc), now)
            return _Outcome.FAILED
        self._sent(msg_id, now, refused)
        report.sent.append(msg_id)
        return _Outcome.SENT

    def _sent(self, msg_id: int, now: datetime, refused: dict[str, str]) -> None:
        with self._db.session() as s:
            claims.mark_sent(
                s.get_one(OutboxMessage, msg_id),
                now,
                "accepted, but these recipients were refused: "
                + "; ".join(f"{a}: {r}" for a, r in sorted(refused.items()))
                if refused
                else None,
            )

    def _failed(self, ids: Sequence[int], error: str, now: datetime) -> None:
        with self._db.session() as s:
            for msg_id in ids:
                row = s.get(OutboxMessage, msg_id)
                if row is not None:
                    claims.back_off(row, error, now)


def _message_id(dedupe_key: str) -> str:
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]}@certwarden.invalid>"


def _back_off_unclaimed(db: Database, ids: Sequence[int], error: str, now: datetime) -> list[int]:
    """Back off the notices of a round the server failed before they were tried.

    Only those still due and unclaimed: one that another instance claimed
    meanwhile (several instances, or a CLI delivery) is being sent there and
    keeps its claim — backing it off would make it due again while in flight.
    Returns the IDs backed off.
    """
    done: list[int] = []
    with db.session() as s:
        for msg_id in ids:
            row = s.get(OutboxMessage, msg_id)
            if (
                row is None
                or row.state != OutboxState.PENDING.value
                or ensure_utc(row.next_attempt_at) > now
            ):
                continue
            claims.back_off(row, error, now)
            done.append(msg_id)
    return done
