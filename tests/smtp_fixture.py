"""A real SMTP server for tests: aiosmtpd on a free 127.0.0.1 port.

    def test_x(smtp_server):
        ...                        # point certwarden at 127.0.0.1:smtp_server.port
        smtp_server.messages       # what it accepted
        smtp_server.refuse("451 4.3.0 Try again later")  # refuse every message
        smtp_server.stop(); smtp_server.start()          # down, then up again (same port)
        smtp_server.hold_next()    # the next message's DATA waits (its sender is mid-send)
        smtp_server.let_go()       # ... then that message is refused (421), never recorded

Optional TLS: ``start(tls=context, implicit=False)`` offers STARTTLS (and
requires it); ``implicit=True`` speaks TLS from the first byte.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller

__all__ = ["Received", "SmtpServer", "free_port", "silent_server", "smtp_server"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self._server.holding.is_set():
            self._server.holding.clear()
            self._server.held += 1
            # A threading.Event (set from the test's thread), waited for off the loop.
            await asyncio.to_thread(self._server.released.wait, 600)
            return "421 4.3.0 the test let go of this message"
        reply = self._server.reply
        if reply is not None:
            self._server.refused += 1
            return reply
        message = message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        with self._server.lock:
            self._server.messages.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), message)
            )
        return "250 2.0.0 OK"


class SmtpServer:
    """aiosmtpd in a thread; can refuse, go down and come back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Received] = []
        self.reply: str | None = None
        self.refused = 0
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self.released = threading.Event()
        self.held = 0  # messages whose DATA was held (and then refused)
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self, *, tls: ssl.SSLContext | None = None, implicit: bool = False) -> None:
        assert self._controller is None, "already running"
        kwargs: dict[str, Any] = {}
        if tls is not None and implicit:
            kwargs["ssl_context"] = tls
        elif tls is not None:
            kwargs["tls_context"] = tls
            kwargs["require_starttls"] = True
        controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        self.released.set()  # a held message ends first
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self, reply: str = "451 4.3.0 Try again later") -> None:
        self.reply = reply

    def accept(self) -> None:
        self.reply = None

    def hold_next(self) -> None:
        self.released.clear()
        self.holding.set()

    def let_go(self) -> None:
        self.released.set()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (an SMTP timeout)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
