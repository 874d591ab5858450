"""The demo's captured-mail inbox: a real SMTP server on loopback (aiosmtpd)
that keeps what it receives in memory, for the UI to show.

Built only by ``certwarden serve --demo``: the outbox delivers to it over SMTP
exactly as it would to a real mail server, so the whole path — notice queued,
delivered, accepted — is the real one; only the mailbox is in the page. It
never forwards or stores anything on disk.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from certwarden.clock import Clock

__all__ = ["CapturedMail", "DemoMailbox"]

MAX_MESSAGES = 500


@dataclass(frozen=True)
class CapturedMail:
    id: int
    received_at: datetime
    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str


class _Handler:
    def __init__(self, box: DemoMailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        self.box.add(envelope.mail_from or "", list(envelope.rcpt_tos), data)
        return "250 Message accepted for delivery"


class DemoMailbox:
    """An SMTP server on 127.0.0.1 and the messages it received (newest last)."""

    def __init__(self, clock: Clock, *, port: int = 0) -> None:
        self._clock = clock
        self._port = port
        self._lock = threading.Lock()
        self._messages: deque[CapturedMail] = deque(maxlen=MAX_MESSAGES)
        self._next_id = 1
        self._controller: Controller | None = None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the demo mail server is not running")
        return self._port

    def start(self) -> DemoMailbox:
        # aiosmtpd logs every SMTP command at INFO; the inbox page is the record here.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        if not self._port:
            # aiosmtpd checks readiness by connecting to the port it was given, so it
            # needs a real number: take a free one.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind(("127.0.0.1", 0))
                self._port = int(probe.getsockname()[1])
        controller = Controller(_Handler(self), hostname="127.0.0.1", port=self._port)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def add(self, sender: str, recipients: list[str], data: bytes) -> CapturedMail:
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        subject = str(parsed.get("subject", ""))
        body = ""
        if isinstance(parsed, EmailMessage):
            part = parsed.get_body(preferencelist=("plain", "html"))
            if part is not None and isinstance(part, EmailMessage):
                body = str(part.get_content())
        with self._lock:
            message = CapturedMail(
                self._next_id, self._clock.now(), sender, tuple(recipients), subject, body
            )
            self._next_id += 1
            self._messages.append(message)
        return message

    def messages(self) -> list[CapturedMail]:
        with self._lock:
            return list(self._messages)
