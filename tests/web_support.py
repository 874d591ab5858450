"""Shared plumbing for the web tests: the app with an admin and a viewer (and a
token each), HTTP clients through the ASGI app, signing in, and the app served
by a real uvicorn on a free loopback port (for the browser and schemathesis).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from certwarden.composition import App
from certwarden.interfaces.web import create_app
from certwarden.services.accounts import UserService

__all__ = [
    "ADMIN_PASSWORD",
    "VIEWER_PASSWORD",
    "Served",
    "WebSetup",
    "asgi_client",
    "csrf_of",
    "free_port",
    "login",
    "make_setup",
    "serve_in_thread",
]

ADMIN_PASSWORD = "admin-password-1"
VIEWER_PASSWORD = "viewer-password-1"
# Full-strength argon2 takes about half a second per hash on the shared test
# machine; the tests give the (real) UserService cheaper parameters instead.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebSetup:
    app: App
    web: FastAPI
    admin_token: str
    viewer_token: str


def make_setup(app: App, **options: Any) -> WebSetup:
    """``app`` with users ``admin`` and ``viewer``, a token each, and its web app."""
    app.__dict__["users"] = UserService(app.db, app.clock, hasher=FAST_HASHER, keyring=app.keyring)
    app.users.add_user("admin", ADMIN_PASSWORD, "admin")
    app.users.add_user("viewer", VIEWER_PASSWORD, "viewer")
    _, admin_token = app.users.create_token("admin", "tests")
    _, viewer_token = app.users.create_token("viewer", "tests")
    return WebSetup(app, create_app(app, **options), admin_token, viewer_token)


def asgi_client(
    web: FastAPI, token: str | None = None, base_url: str = "http://testserver"
) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url=base_url, headers=headers
    )


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str) -> str:
    """Sign in through the login form; returns the session's CSRF token for forms."""
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(form.text),
            "next": "/",
        },
    )
    assert response.status_code == 303, response.text
    page = await client.get("/account")
    assert page.status_code == 200
    return csrf_of(page.text)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    base_url: str
    server: uvicorn.Server


@contextmanager
def serve_in_thread(web: FastAPI, **options: Any) -> Iterator[Served]:
    """Run ``web`` under uvicorn in a thread on a free 127.0.0.1 port
    (``options``: more uvicorn settings, e.g. ``serve``'s proxy options)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            web, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
