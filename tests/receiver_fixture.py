"""A real HTTP receiver on loopback for channel tests: an aiohttp server in its
own thread that records every POST (path, headers, JSON body) and answers the
statuses it is told to, one per request, then 200. ``hold_next()`` makes the
next POST wait (its sender is mid-send) until ``let_go()``, then answers 503
without recording it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    port: int
    posts: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered first, one per request
    held: int = 0  # POSTs held, then refused
    holding: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.holding.is_set():
            self.holding.clear()
            self.held += 1
            await asyncio.to_thread(self.released.wait, 600)
            return web.Response(status=503, text="the test let go of this request")
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.posts.append(Received(request.path, dict(request.headers), body))
        return web.Response(status=status, text="ok" if status == 200 else "broken")

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("POST", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the receiver did not start")

    def hold_next(self) -> None:
        self.released.clear()
        self.holding.set()

    def let_go(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.released.set()  # a held request ends first
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or runner is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._runner = self._thread = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(_free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
