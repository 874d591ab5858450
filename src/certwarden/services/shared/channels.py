"""Notification channels (ChannelService): named Apprise URLs, each taking the
alerts of some kinds from a minimum severity up.

    channels.add("ops", "json://hooks.example.org/in", min_severity="major", kinds="expiry")
    channels.list()            # URLs shown as scheme://host only
    channels.test("ops")       # one test notice now, straight to the service (not queued)
    channels.deliver_due(now)  # the channels' outbox (:mod:`.channel_outbox`)

The URL is sealed (AES-GCM under a key from the secret file, like the SMTP
password) before it is stored and opened only to send: it is never shown back
in full and never logged.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Channel, ChannelMessage
from certwarden.clock import Clock, ensure_utc
from certwarden.core.channels import shown_url, validate_channel
from certwarden.core.notices import subject as notice_subject
from certwarden.core.notices import when as notice_time
from certwarden.core.timefmt import iso_z
from certwarden.errors import ConflictError, InvalidFieldsError, NotFoundError
from certwarden.services.shared.alerts import AlertKind
from certwarden.services.shared.channel_outbox import (
    CHANNEL_URL_PURPOSE,
    ChannelDeliveryReport,
    ChannelMessageEntry,
    ChannelSender,
    deliver_channels_due,
    list_channel_messages,
)
from certwarden.services.shared.claims import Tenure
from certwarden.services.shared.keyring import Keyring
from certwarden.services.shared.outbox import OutboxState

__all__ = ["ChannelInfo", "ChannelService", "ChannelTestReport"]

KNOWN_KINDS = tuple(k.value for k in AlertKind)


@dataclass(frozen=True)
class ChannelInfo:
    """A channel as shown: the URL reduced to its scheme and host."""

    id: int
    name: str
    url: str
    min_severity: str
    kinds: tuple[str, ...]
    created_at: datetime
    pending: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "min_severity": self.min_severity,
            "kinds": list(self.kinds),
            "created_at": iso_z(self.created_at),
            "pending": self.pending,
        }


@dataclass(frozen=True)
class ChannelTestReport:
    """A test notice the channel's service took."""

    __test__ = False  # not a pytest test class

    at: datetime
    channel: str
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"at": iso_z(self.at), "channel": self.channel, "url": self.url}


def _info(row: Channel, pending: int = 0) -> ChannelInfo:
    return ChannelInfo(
        row.id,
        row.name,
        row.url_shown,
        row.min_severity,
        tuple(row.kinds or []),
        ensure_utc(row.created_at),
        pending,
    )


class ChannelService:
    """Adds, lists, removes and tests channels; delivers their outbox."""

    def __init__(
        self, db: Database, clock: Clock, *, keyring: Keyring, sender: ChannelSender
    ) -> None:
        self._db = db
        self._clock = clock
        self._keyring = keyring
        self._sender = sender

    def add(
        self,
        name: str,
        url: str,
        *,
        min_severity: str = "warning",
        kinds: str | Sequence[str] | None = None,
    ) -> ChannelInfo:
        """Store a new channel. Raises InvalidFieldsError (bad or unusable fields,
        nothing stored) or ConflictError (the name is taken)."""
        spec = validate_channel(name, url, min_severity, kinds, known_kinds=KNOWN_KINDS)
        try:
            self._sender.check(spec.url)
        except ValueError as exc:
            raise InvalidFieldsError({"url": str(exc)}) from exc
        now = self._clock.now()
        with self._db.session() as s:
            if s.scalar(select(Channel.id).where(Channel.name == spec.name)) is not None:
                raise ConflictError(
                    f"a channel named {spec.name!r} exists; remove it first "
                    f"(certwarden channels remove {spec.name})"
                )
            row = Channel(
                name=spec.name,
                url_sealed=self._keyring.seal(spec.url, purpose=CHANNEL_URL_PURPOSE),
                url_shown=shown_url(spec.url),
                min_severity=spec.min_severity,
                kinds=list(spec.kinds),
                created_at=now,
            )
            s.add(row)
            s.flush()
            return _info(row)

    def list(self) -> list[ChannelInfo]:
        """By name, with the count of notices each has waiting."""
        with self._db.session() as s:
            counts = s.execute(
                select(ChannelMessage.channel_id, func.count())
                .where(ChannelMessage.state == OutboxState.PENDING.value)
                .group_by(ChannelMessage.channel_id)
            )
            pending = {channel_id: int(n) for channel_id, n in counts}
            rows = s.scalars(select(Channel).order_by(Channel.name))
            return [_info(r, int(pending.get(r.id, 0))) for r in rows]

    def get(self, name: str) -> ChannelInfo:
        with self._db.session() as s:
            return _info(self._row(s, name))

    def _row(self, s: Any, name: str) -> Channel:
        row = s.scalar(select(Channel).where(Channel.name == name.strip().lower()))
        if row is None:
            raise NotFoundError(
                f"no channel named {name.strip()[:80]!r} (certwarden channels list)"
            )
        return row  # type: ignore[no-any-return]

    def remove(self, name: str) -> int:
        """Remove a channel and the notices it still had waiting; returns how many."""
        with self._db.session() as s:
            row = self._row(s, name)
            dropped = int(
                s.scalar(
                    select(func.count())
                    .select_from(ChannelMessage)
                    .where(
                        ChannelMessage.channel_id == row.id,
                        ChannelMessage.state == OutboxState.PENDING.value,
                    )
                )
                or 0
            )
            s.execute(delete(ChannelMessage).where(ChannelMessage.channel_id == row.id))
            s.delete(row)
        return dropped

    def test(self, name: str) -> ChannelTestReport:
        """Send one test notice now (not queued). Raises ChannelDeliveryError when
        the service does not take it."""
        now = self._clock.now()
        with self._db.session() as s:
            row = self._row(s, name)
            channel, sealed, shown = row.name, row.url_sealed, row.url_shown
        try:
            url = self._keyring.open(sealed, purpose=CHANNEL_URL_PURPOSE)
        except ValueError as exc:
            raise ConflictError(
                f"the URL of channel {channel!r} was sealed with another secret file; "
                f"add the channel again (certwarden channels add {channel} --url ...)"
            ) from exc
        self._sender.send(
            channel,
            url,
            title=notice_subject("Test notice", f"channel {channel} works"),
            body=(
                f"This is a test notice sent by certwarden at {notice_time(now)} to channel "
                f"{channel}.\nIf you read it, alerts reach you here the same way.\n"
            ),
            notify_type="test",
        )
        return ChannelTestReport(now, channel, shown)

    def deliver_due(
        self, now: datetime | None = None, *, limit: int = 100, tenure: Tenure | None = None
    ) -> ChannelDeliveryReport:
        """``tenure``: the cluster's outbox lease (the server loop), fencing each claim."""
        return deliver_channels_due(
            self._db, self._keyring, self._sender, now or self._clock.now(), limit=limit,
            tenure=tenure,
        )  # fmt: skip

    def messages(
        self, *, state: str | None = None, limit: int = 100
    ) -> builtins.list[ChannelMessageEntry]:
        return list_channel_messages(self._db, state=state, limit=limit)
