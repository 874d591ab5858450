"""Sessions a database reader cannot forge, sessions that end, a throttle that
holds under parallel requests (issue 11, items 1, 5 and 6), against the real
server (uvicorn on a free port) where the item is about the server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.core.keys import derive_key
from certwarden.interfaces.cli._serve import proxy_options
from certwarden.interfaces.web import create_app
from certwarden.interfaces.web.security import SESSION_COOKIE
from certwarden.services.accounts import UserService
from tests.web_support import (
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    csrf_of,
    make_setup,
    serve_in_thread,
)


class CountingHasher(PasswordHasher):
    """A real argon2 hasher (cheap parameters) that counts its verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verifications = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.verifications += 1
        return super().verify(hash, password)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def _sign_in(base: str, username: str, password: str) -> str:
    """Signs in through the form of the real server; returns the session cookie."""
    with httpx.Client(base_url=base) as client:
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": csrf_of(form.text),
                "next": "/",
            },
        )
        assert answer.status_code == 303, answer.text
        return str(client.cookies[SESSION_COOKIE])


def _me(base: str, cookie: str) -> int:
    with httpx.Client(base_url=base, cookies={SESSION_COOKIE: cookie}) as client:
        return client.get("/api/v1/me").status_code


def _read_only_copy(app: App, tmp_path: Path) -> sqlite3.Connection:
    """What a local user who can read the database file gets: a copy, opened read-only."""
    source = app.db.sqlite_path
    assert source is not None
    copy = tmp_path / "stolen.db"
    with sqlite3.connect(source) as live, sqlite3.connect(copy) as out:
        live.backup(out)
    copy.chmod(0o400)
    return sqlite3.connect(f"file:{copy}?mode=ro", uri=True)


def _candidate_keys(db: sqlite3.Connection) -> set[bytes]:
    """Every value in the database that could be (or seed) a signing key."""
    values: set[bytes] = set()
    tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
    for table in tables:
        for row in db.execute(f'select * from "{table}"'):
            for value in row:
                raw = value.encode() if isinstance(value, str) else value
                if isinstance(raw, bytes) and len(raw) >= 16:
                    values.add(raw)
                    with contextlib.suppress(ValueError):
                        values.add(bytes.fromhex(raw.decode()))
    web = db.execute("select value from settings where section='web'").fetchone()
    assert web is not None
    import json

    section = json.loads(web[0])
    assert "session_key" not in section, "the database still holds a session key"
    salt = bytes.fromhex(section["session_salt"])
    # The attacker knows the derivation too: try every value as the HKDF input.
    derived = {
        derive_key(v, salt=salt, purpose="certwarden session cookies v2")
        for v in values
        if len(v) >= 16
    }
    return values | derived


def test_a_cookie_built_from_a_read_only_copy_of_the_database_is_refused(
    app: App, tmp_path: Path
) -> None:
    setup = make_setup(app)
    with serve_in_thread(setup.web) as served:
        real = _sign_in(served.base_url, "admin", ADMIN_PASSWORD)
        assert _me(served.base_url, real) == 200  # cookies work; forged ones must not
        stolen = _read_only_copy(app, tmp_path)
        admin_id, stamp, password_hash = stolen.execute(
            "select id, session_stamp, password_hash from users where username='admin'"
        ).fetchone()
        assert stamp and stamp != hashlib.sha256(password_hash.encode()).hexdigest()[:16]
        nonces = [r[0] for r in stolen.execute("select nonce_hash from web_sessions")]
        assert nonces, "the live session is in the copy (as a digest)"
        issued = real.split(".")[2]
        keys = _candidate_keys(stolen)
        forged: list[str] = []
        for key in keys:
            # The old attack: v1 cookies with the stamp from the password hash.
            old_stamp = hashlib.sha256(password_hash.encode()).hexdigest()[:16]
            payload = f"v1.{admin_id}.{issued}.{old_stamp}.x{_b64(key[:12])}"
            forged.append(f"{payload}.{_sign(key, payload)}")
            for nonce in [*nonces, stamp]:
                payload = f"v2.{admin_id}.{issued}.{nonce}"
                forged.append(f"{payload}.{_sign(key, payload)}")
        assert len(forged) > 50
        with httpx.Client(base_url=served.base_url) as client:
            answers = {
                client.get(
                    "/api/v1/me", headers={"cookie": f"{SESSION_COOKIE}={cookie}"}
                ).status_code
                for cookie in forged
            }
        assert answers == {401}
        assert _me(served.base_url, real) == 200
    # The secret that signs sessions is nowhere in the database file.
    secret_text = app.config.secret_path.read_text().strip()
    secret = bytes.fromhex(secret_text)
    assert app.config.secret_path.stat().st_mode & 0o077 == 0
    blob = b"".join(
        p.read_bytes()
        for p in app.db.sqlite_path.parent.glob("certwarden.db*")  # type: ignore[union-attr]
        if p.is_file()
    )
    for form in (secret, secret_text.encode(), base64.b64encode(secret), _b64(secret).encode()):
        assert form not in blob
    key = app.users.session_key()
    assert key not in blob and key.hex().encode() not in blob


def test_a_copied_cookie_stops_working_at_logout(app: App) -> None:
    setup = make_setup(app)
    with serve_in_thread(setup.web) as served, httpx.Client(base_url=served.base_url) as browser:
        form = browser.get("/login")
        browser.post(
            "/login",
            data={"username": "viewer", "password": VIEWER_PASSWORD,
                  "csrf_token": csrf_of(form.text), "next": "/"},
        )  # fmt: skip
        copied = str(browser.cookies[SESSION_COOKIE])
        other = _sign_in(served.base_url, "viewer", VIEWER_PASSWORD)  # a second browser
        assert _me(served.base_url, copied) == 200
        account = browser.get("/account")
        out = browser.post("/logout", data={"csrf_token": csrf_of(account.text)})
        assert out.status_code == 303
        assert _me(served.base_url, copied) == 401
        # Only that session ended: the user's other browser is still signed in.
        assert _me(served.base_url, other) == 200


def test_disable_and_re_enable_do_not_revive_old_cookies(app: App) -> None:
    setup = make_setup(app)
    with serve_in_thread(setup.web) as served:
        cookie = _sign_in(served.base_url, "viewer", VIEWER_PASSWORD)
        assert _me(served.base_url, cookie) == 200
        app.users.set_disabled("viewer", True)
        assert _me(served.base_url, cookie) == 401
        app.users.set_disabled("viewer", False)
        assert _me(served.base_url, cookie) == 401
        fresh = _sign_in(served.base_url, "viewer", VIEWER_PASSWORD)
        assert _me(served.base_url, fresh) == 200


@pytest.mark.parametrize(
    "change",
    [
        lambda users: users.set_password("viewer", "a-new-password-1"),
        lambda users: users.set_role("viewer", "admin"),
        lambda users: users.set_disabled("viewer", True),
        lambda users: users.remove_user("viewer"),
    ],
    ids=["password", "role", "disable", "delete"],
)
def test_a_change_to_the_user_ends_their_sessions(app: App, change: Any) -> None:
    setup = make_setup(app)
    codec = setup.web.state.ctx.codec
    viewer = app.users.get("viewer")
    cookie = codec.issue(viewer)
    admin_cookie = codec.issue(app.users.get("admin"))
    assert codec.verify(cookie) is not None
    change(app.users)
    assert codec.verify(cookie) is None
    assert codec.verify(admin_cookie) is not None  # other users keep theirs


def test_a_session_ends_when_its_lifetime_is_over(app: App, clock: ManualClock) -> None:
    from datetime import timedelta

    from certwarden.interfaces.web.security import SESSION_LIFETIME

    setup = make_setup(app)
    codec = setup.web.state.ctx.codec
    cookie = codec.issue(app.users.get("viewer"))
    clock.advance(SESSION_LIFETIME - timedelta(minutes=1))
    assert codec.verify(cookie) is not None
    clock.advance(timedelta(minutes=2))
    assert codec.verify(cookie) is None


def test_a_new_secret_file_ends_every_session(app: App) -> None:
    """The signing key comes from the secret file: the database alone is not enough."""
    setup = make_setup(app)
    codec = setup.web.state.ctx.codec
    cookie = codec.issue(app.users.get("viewer"))
    assert codec.verify(cookie) is not None
    from certwarden.services.shared.keyring import Keyring

    other = UserService(app.db, app.clock, keyring=Keyring.ephemeral(app.db, app.clock))
    from certwarden.interfaces.web.security import SessionCodec

    assert SessionCodec(other, app.clock).verify(cookie) is None


# ------------------------------------------------------------------ throttling


def test_fifty_parallel_wrong_passwords_get_at_most_five_checks(app: App) -> None:
    setup = make_setup(app)
    counting = CountingHasher()
    app.__dict__["users"] = UserService(app.db, app.clock, hasher=counting, keyring=app.keyring)
    app.users.add_user("target", "the-right-password", "admin")
    web = create_app(app)
    with serve_in_thread(web) as served:
        with httpx.Client(base_url=served.base_url) as client:
            form = client.get("/login")
            nonce, token = str(client.cookies["cw_login"]), csrf_of(form.text)

        async def attempt(i: int) -> int:
            async with httpx.AsyncClient(
                base_url=served.base_url, cookies={"cw_login": nonce}, timeout=60
            ) as c:
                answer = await c.post(
                    "/login",
                    data={"username": "target", "password": f"wrong-{i}",
                          "csrf_token": token, "next": "/"},
                )  # fmt: skip
                assert "text/html" in answer.headers["content-type"]
                return answer.status_code

        async def burst() -> list[int]:
            return await asyncio.gather(*(attempt(i) for i in range(50)))

        counting.verifications = 0
        statuses = asyncio.run(burst())
    print(f"50 parallel wrong passwords: {counting.verifications} checked, statuses {statuses}")
    assert counting.verifications <= 5, f"{counting.verifications} passwords were checked"
    assert statuses.count(401) == counting.verifications
    assert set(statuses) <= {401, 429}
    assert statuses.count(429) >= 45
    del setup


def _claims_in_parallel(throttle: Any, key: str, now: Any, n: int) -> list[float | None]:
    results: list[float | None] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait()
        got = throttle.claim(key, now)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _two_instances_share_the_count(app: App, second_url: str) -> None:
    from datetime import timedelta

    from certwarden.adapters.db import Database
    from certwarden.services.accounts.login import Throttle

    def throttle(db: Database) -> Throttle:
        return Throttle(
            db, limit=5, lockout=timedelta(minutes=5), forget_after=timedelta(minutes=15)
        )

    first = throttle(app.db)
    other_db = Database(second_url)
    try:
        second = throttle(other_db)  # another instance, its own engine
        now = app.clock.now()
        results = _claims_in_parallel(first, "user:alice", now, 20)
        results += _claims_in_parallel(second, "user:alice", now, 20)
        assert sum(r is None for r in results) == 5
        assert all(r is not None and r > 0 for r in results if r is not None)
        assert second.attempts("user:alice") == 40
        # The lockout runs from the last heard attempt; then the count starts over.
        assert first.claim("user:alice", now + timedelta(minutes=5, seconds=1)) is None
        assert second.attempts("user:alice") == 1
    finally:
        other_db.dispose()


def test_the_throttle_count_is_atomic_and_shared_sqlite(app: App) -> None:
    _two_instances_share_the_count(app, app.db.url)


@pytest.mark.postgres
def test_the_throttle_count_is_atomic_and_shared_postgres(pg_app: App) -> None:
    _two_instances_share_the_count(pg_app, pg_app.db.url)


def test_the_throttle_survives_a_restart(app: App, tmp_path: Path) -> None:
    from certwarden.errors import LoginThrottledError

    hasher = CountingHasher()
    users = UserService(app.db, app.clock, hasher=hasher)
    users.add_user("alice", "alice-password")
    for _ in range(5):
        with pytest.raises(Exception, match="wrong user name or password"):
            users.authenticate("alice", "wrong")
    restarted = UserService(app.db, app.clock, hasher=hasher)  # a new process, same database
    before = hasher.verifications
    with pytest.raises(LoginThrottledError):
        restarted.authenticate("alice", "alice-password")
    assert hasher.verifications == before
    assert restarted.unlock("alice") is True
    assert restarted.authenticate("alice", "alice-password").username == "alice"


def test_password_checks_in_flight_are_bounded(app: App) -> None:
    import time

    from certwarden.errors import LoginBusyError
    from certwarden.services.accounts.users import Users

    class Slow(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            time.sleep(0.3)
            return super().verify(hash, password)

    users = Users(
        app.db,
        app.clock,
        Slow(time_cost=1, memory_cost=1024, parallelism=1),
        checks_in_flight=2,
        check_wait=0.05,
    )
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            users.login("nobody", "wrong-password")
            outcome = "checked"
        except LoginBusyError:
            outcome = "busy"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("checked") == 2 and outcomes.count("busy") == 4


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(app: App) -> None:
    setup = make_setup(app)
    served_ = serve_in_thread(setup.web, **proxy_options([]))
    with served_ as served, httpx.Client(base_url=served.base_url) as client:
        form = client.get("/login")
        token = csrf_of(form.text)
        statuses = []
        for i in range(22):
            answer = client.post(
                    "/login",
                    data={"username": f"user{i}", "password": "wrong-password",
                          "csrf_token": token, "next": "/"},
                    headers={"x-forwarded-for": f"198.51.100.{i}"},
                )  # fmt: skip
            statuses.append(answer.status_code)
            token = csrf_of(answer.text)  # each answer is a fresh form
    # Different names, rotating addresses: the per-address limit (20) still holds,
    # because the address is the TCP peer's, not the header's.
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429, 429]
    entries, _ = app.users.list_audit(limit=50)
    clients = {e.details.get("client") for e in entries if e.action == "login.failed"}
    assert clients == {"127.0.0.1"}
    import typer

    with pytest.raises(typer.BadParameter, match="not an IP address"):
        proxy_options(["proxy.example"])
    assert proxy_options(["10.0.0.0/24"]) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.0/24"],
    }


def test_cli_unlocks_a_locked_out_admin(tmp_path: Path) -> None:
    from certwarden.composition import AppConfig, build_app
    from certwarden.errors import LoginThrottledError
    from tests.conftest import T0, Cli

    cli = Cli(tmp_path / "cli-data", T0)
    built = build_app(AppConfig(data_dir=cli.data_dir, database_url=""), clock=ManualClock(T0))
    try:
        users = UserService(built.db, built.clock, hasher=CountingHasher())
        users.add_user("root", "root-password", "admin")
        for _ in range(5):
            with pytest.raises(Exception, match="wrong"):
                users.authenticate("root", "wrong")
        with pytest.raises(LoginThrottledError):
            users.authenticate("root", "root-password")
        result = cli("users", "unlock", "root")
        assert result.code == 0 and "unlocked root" in result.stdout
        assert users.authenticate("root", "root-password").username == "root"
        again = cli("users", "unlock", "root")
        assert again.code == 0 and "no failed sign-ins" in again.stdout
        audit, _ = users.list_audit(limit=5)
        assert [e.action for e in audit][:2] == ["user.unlock", "user.unlock"]
    finally:
        built.close()
    shutil.rmtree(tmp_path / "cli-data")


def test_serve_refuses_a_trusted_proxy_that_is_not_an_address(tmp_path: Path) -> None:
    from tests.conftest import T0, Cli

    result = Cli(tmp_path / "d", T0)("serve", "--trusted-proxy", "proxy.example", "--port", "0")
    assert result.code == 2
    assert "--trusted-proxy" in result.stderr and "not an IP address" in result.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was created


def test_an_instance_with_another_secret_file_is_refused(tmp_path: Path) -> None:
    """Instances sharing a database share the secret file: another one is refused at
    serve's start, naming the file, before it serves a request or writes anything."""
    from certwarden.composition import AppConfig, build_app
    from certwarden.errors import ConfigurationError
    from certwarden.services.shared.keyring import SECRET_CHECK_SECTION
    from certwarden.services.shared.settings_store import load_section
    from tests.conftest import T0, Cli

    cli = Cli(tmp_path / "cli-data", T0)
    built = build_app(AppConfig(data_dir=cli.data_dir, database_url=""), clock=ManualClock(T0))
    try:
        built.keyring.confirm_secret("first")  # the first instance records its check value
        built.keyring.confirm_secret("again")  # and the same secret passes again
        with built.db.session() as s:
            check = (load_section(s, SECRET_CHECK_SECTION) or {})["check"]
        secret = (cli.data_dir / "secret.key").read_text().strip()
        assert len(check) == 64 and secret not in check  # a derived value, not the secret
        from certwarden.services.shared.keyring import Keyring

        stranger = Keyring.ephemeral(built.db, built.clock)
        with pytest.raises(ConfigurationError, match=r"other-host/secret\.key"):
            stranger.confirm_secret("other-host/secret.key")
    finally:
        built.close()
    other = tmp_path / "other.key"
    other.write_text("ab" * 32 + "\n")
    other.chmod(0o600)
    result = cli("serve", "--port", "0", env={"CERTWARDEN_SECRET_FILE": str(other)})
    assert result.code != 0
    said = result.stdout + result.stderr
    assert str(other) in said and "not the one this database was set up with" in said
    rebuilt = build_app(AppConfig(data_dir=cli.data_dir, database_url=""), clock=ManualClock(T0))
    try:
        with rebuilt.db.session() as s:
            assert (load_section(s, SECRET_CHECK_SECTION) or {})["check"] == check  # unchanged
        assert rebuilt.users.count_users() == 0  # no first admin was made by the refused one
    finally:
        rebuilt.close()
