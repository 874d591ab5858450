"""Accounts against a database that refuses writes (issue 11, item 7), token
expiry and read-only scope, the sealed SMTP password, and the migration of
an existing database to server-side sessions."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from certwarden.adapters.db import Database
from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.errors import InvalidFieldsError
from certwarden.interfaces.web import create_app
from certwarden.services.accounts import UserService
from tests.conftest import Cli
from tests.web_support import (
    ADMIN_PASSWORD,
    FAST_HASHER,
    asgi_client,
    csrf_of,
    make_setup,
    serve_in_thread,
)


def _read_only_app(app: App) -> App:
    """The same database file, opened read-only (every write fails in SQLite)."""
    path = app.db.sqlite_path
    assert path is not None
    database = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    ro = App(app.config, app.clock, database)
    ro.__dict__["users"] = UserService(database, app.clock, hasher=FAST_HASHER, keyring=app.keyring)
    return ro


def test_a_read_only_database_keeps_token_requests_working_and_sign_in_answers_a_page(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    setup = make_setup(app)
    app.users.session_key()  # the salt exists before the database turns read-only
    ro = _read_only_app(app)
    try:
        with (
            serve_in_thread(create_app(ro)) as served,
            httpx.Client(base_url=served.base_url) as client,
            caplog.at_level(logging.WARNING),
        ):
            me = client.get("/api/v1/me", headers={"authorization": f"Bearer {setup.admin_token}"})
            assert me.status_code == 200, me.text
            assert me.json()["username"] == "admin"
            listed = client.get(
                "/api/v1/stores", headers={"authorization": f"Bearer {setup.viewer_token}"}
            )
            assert listed.status_code == 200
            assert any("could not record the use of API token" in r.message for r in caplog.records)
            form = client.get("/login")
            answer = client.post(
                "/login",
                data={"username": "admin", "password": ADMIN_PASSWORD,
                      "csrf_token": csrf_of(form.text), "next": "/"},
            )  # fmt: skip
            assert answer.status_code == 503
            assert answer.headers["content-type"].startswith("text/html")
            assert "Signing in is not possible right now" in answer.text
            assert "INSERT" not in answer.text and "sqlite" not in answer.text.lower()
            assert client.get("/health").status_code == 200
    finally:
        ro.db.dispose()
    with app.db.session() as s:  # nothing was written
        used = s.execute(sa.text("select last_used_at from api_tokens")).scalars().all()
    assert used == [None, None]


async def test_a_failing_session_write_answers_the_login_page(app: App) -> None:
    """Sign-in when the session cannot be stored: a page, not JSON, nothing half done."""
    setup = make_setup(app)
    with app.db.session() as s:
        s.execute(sa.text("DROP TABLE web_sessions"))  # the write of the session fails
    async with asgi_client(setup.web) as client:
        form = await client.get("/login")
        answer = await client.post(
            "/login",
            data={"username": "admin", "password": ADMIN_PASSWORD,
                  "csrf_token": csrf_of(form.text), "next": "/"},
        )  # fmt: skip
    assert answer.status_code == 503
    assert "text/html" in answer.headers["content-type"]
    assert "Signing in is not possible right now" in answer.text
    assert "cw_session" not in answer.headers.get("set-cookie", "")


# ------------------------------------------------------------------ tokens


async def test_read_only_tokens_may_only_get_and_head(app: App) -> None:
    setup = make_setup(app)
    info, secret = app.users.create_token("admin", "dashboards", scope="read")
    assert info.read_only and info.to_json()["scope"] == "read"
    async with asgi_client(setup.web, secret) as client:
        assert (await client.get("/api/v1/stores")).status_code == 200
        assert (await client.head("/api/v1/me")).status_code in {200, 405}
        refused = await client.post("/api/v1/stores", json={"name": "nope"})
        assert refused.status_code == 403
        assert "read-only" in refused.json()["detail"]
    async with asgi_client(setup.web, setup.admin_token) as client:
        assert (await client.post("/api/v1/stores", json={"name": "yes"})).status_code == 201
        names = [s["name"] for s in (await client.get("/api/v1/stores")).json()["items"]]
    assert "yes" in names and "nope" not in names


async def test_tokens_expire(app: App, clock: ManualClock) -> None:
    setup = make_setup(app)
    info, secret = app.users.create_token("viewer", "short", lifetime=timedelta(hours=1))
    assert info.expires_at == clock.now() + timedelta(hours=1)
    async with asgi_client(setup.web, secret) as client:
        assert (await client.get("/api/v1/me")).status_code == 200
        clock.advance(timedelta(hours=1))
        expired = await client.get("/api/v1/me")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    with pytest.raises(InvalidFieldsError) as caught:
        app.users.create_token("viewer", "x", scope="write", lifetime=timedelta(seconds=5))
    assert set(caught.value.errors) == {"scope", "expires"}


async def test_the_api_and_the_token_page_create_and_show_expiry_and_scope(app: App) -> None:
    setup = make_setup(app)
    async with asgi_client(setup.web, setup.admin_token) as client:
        made = await client.post(
            "/api/v1/tokens", json={"name": "ci", "expires": "30d", "scope": "read"}
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["scope"] == "read" and body["expires_at"] == "2026-07-01T12:00:00Z"
        bad = await client.post("/api/v1/tokens", json={"name": "ci", "expires": "soon"})
        assert bad.status_code == 422 and "expires" in bad.text
        listed = (await client.get("/api/v1/tokens")).json()["items"]
    assert {t["name"]: t["scope"] for t in listed}["ci"] == "read"
    async with asgi_client(setup.web) as browser:
        from tests.web_support import login

        csrf = await login(browser, "admin", ADMIN_PASSWORD)
        page = await browser.post(
            "/admin/tokens",
            data={"csrf_token": csrf, "name": "ui", "expires": "12h", "scope": "read"},
        )
        assert page.status_code == 201
        assert "read-only" in page.text and "expires" in page.text
        refused = await browser.post(
            "/admin/tokens", data={"csrf_token": csrf, "name": "ui2", "expires": "12 parsecs"}
        )
        assert refused.status_code == 422 and 'id="e-expires"' in refused.text
    assert "ui2" not in {t.name for t in app.users.list_tokens()}


def test_cli_tokens_with_expiry_and_scope(cli: Cli) -> None:
    assert cli("users", "list").code == 0
    built = build_app(AppConfig(data_dir=cli.data_dir, database_url=""))
    try:
        UserService(built.db, built.clock, hasher=FAST_HASHER).add_user("ops", "ops-password")
    finally:
        built.close()
    made = cli(
        "tokens", "create", "ops", "--name", "backup", "--expires", "30d", "--scope", "read",
        "--json",
    )  # fmt: skip
    assert made.code == 0, made
    body = json.loads(made.stdout)
    assert body["scope"] == "read" and body["expires_at"] == "2026-07-01T12:00:00Z"
    listed = cli("tokens", "list")
    assert "read" in listed.stdout and "2026-07-01" in listed.stdout
    bad = cli("tokens", "create", "ops", "--name", "x", "--expires", "forever")
    assert bad.code == 1 and "expires" in bad.stderr


# ------------------------------------------------------------------ SMTP password


def _stored_smtp(app: App) -> dict[str, object]:
    with app.db.engine.connect() as conn:
        raw = conn.execute(sa.text("select value from settings where section='smtp'")).scalar()
    return dict(json.loads(raw) if isinstance(raw, str) else raw)


def test_the_smtp_password_is_sealed_in_the_database(app: App) -> None:
    app.outbox.update_smtp_settings(
        {"host": "mail.example.org", "username": "mailer", "password": "s3cret-mail-pw"}
    )
    stored = _stored_smtp(app)
    assert str(stored["password"]).startswith("v1:")
    blob = b"".join(p.read_bytes() for p in app.config.data_dir.glob("certwarden.db*"))
    assert b"s3cret-mail-pw" not in blob
    assert app.outbox.stored_smtp_settings().password == "s3cret-mail-pw"
    # Another field changed: the password stays, still sealed.
    app.outbox.update_smtp_settings({"port": 587})
    assert app.outbox.smtp_settings().password == "s3cret-mail-pw"
    assert str(_stored_smtp(app)["password"]).startswith("v1:")


def test_a_clear_text_smtp_password_is_sealed_at_start(tmp_path: Path) -> None:
    config = AppConfig(data_dir=tmp_path / "data", database_url="")
    first = build_app(config)
    with first.db.session() as s:
        s.execute(
            sa.text(
                "insert into settings (section, value, updated_at) values "
                "('smtp', :v, '2026-01-01 00:00:00')"
            ),
            {
                "v": json.dumps(
                    {"host": "mail.example.org", "username": "u", "password": "clear-pw"}
                )
            },
        )
    first.close()
    second = build_app(config)  # the next start seals it
    try:
        assert str(_stored_smtp(second)["password"]).startswith("v1:")
        assert second.outbox.stored_smtp_settings().password == "clear-pw"
    finally:
        second.close()
    # With another secret file, the sealed password cannot be read: no crash, no leak.
    other = AppConfig(data_dir=config.data_dir, database_url="", secret_file=tmp_path / "other.key")
    third = build_app(other)
    try:
        assert third.outbox.stored_smtp_settings().password == ""
        assert third.outbox.stored_smtp_settings().host == "mail.example.org"
    finally:
        third.close()


def test_the_secret_file_is_created_private_and_a_bad_one_is_named(tmp_path: Path) -> None:
    from certwarden.adapters.secret_file import load_or_create_secret
    from certwarden.errors import ConfigurationError

    path = tmp_path / "d" / "secret.key"
    secret = load_or_create_secret(path)
    assert len(secret) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == secret
    path.chmod(0o644)
    assert load_or_create_secret(path) == secret and path.stat().st_mode & 0o777 == 0o600
    path.write_text("not a secret\n")
    with pytest.raises(ConfigurationError, match=r"secret\.key does not hold a secret"):
        load_or_create_secret(path)


# ------------------------------------------------------------------ migration


def test_an_existing_database_gets_stamps_and_loses_its_stored_session_key(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade("0001")
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into users (username, password_hash, role, created_at, disabled) values "
                "('a', 'h1', 'admin', '2026-01-01 00:00:00', 0), "
                "('b', 'h2', 'viewer', '2026-01-01 00:00:00', 0)"
            )
        )
        conn.execute(
            sa.text(
                "insert into settings (section, value, updated_at) values "
                "('web', :v, '2026-01-01 00:00:00')"
            ),
            {"v": json.dumps({"session_key": "ab" * 32, "other": 1})},
        )
    db.upgrade()
    with db.engine.connect() as conn:
        stamps = conn.execute(sa.text("select session_stamp from users")).scalars().all()
        web = conn.execute(sa.text("select value from settings where section='web'")).scalar()
    assert len(set(stamps)) == 2 and all(len(s) == 32 for s in stamps)
    section = json.loads(web) if isinstance(web, str) else web
    assert "session_key" not in section and section["other"] == 1
    assert len(section["session_salt"]) == 32
    db.downgrade("0001")
    db.upgrade()
    db.dispose()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to act as nobody"
)
def test_another_local_user_cannot_read_the_secret_file() -> None:
    """As user ``nobody``: the secret file (0600) cannot be opened, even in an open directory."""
    import subprocess
    import sys
    import tempfile

    from certwarden.adapters.secret_file import load_or_create_secret

    where = Path(tempfile.mkdtemp(prefix="cw-secret-"))
    try:
        where.chmod(0o755)  # an open directory: only the file's own mode protects it
        path = where / "secret.key"
        load_or_create_secret(path)
        probe = (
            "import sys\n"
            "try:\n"
            f"    open({str(path)!r}).read()\n"
            "except PermissionError:\n"
            "    sys.exit(3)\n"
        )
        # The system interpreter: nobody may not enter the worktree's virtualenv.
        python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        done = subprocess.run(
            [python, "-c", probe],
            cwd=where,
            user=65534,
            group=65534,
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 3, done.stderr
    finally:
        shutil.rmtree(where)
