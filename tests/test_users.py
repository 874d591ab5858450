"""Users, tokens and the audit log: the service and ``certwarden users|tokens``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.errors import ConflictError, InvalidFieldsError, NotFoundError
from certwarden.services.accounts import AuthenticationError, LoginThrottledError, UserService
from tests.conftest import Cli

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def users(app: App) -> UserService:
    return UserService(app.db, app.clock, hasher=FAST)


def test_passwords_are_stored_as_argon2_hashes(users: UserService, app: App) -> None:
    users.add_user("alice", "alice-password", "admin")
    with app.db.session() as s:
        from sqlalchemy import text

        stored = s.execute(text("select password_hash from users")).scalar_one()
    assert stored.startswith("$argon2id$") and "alice-password" not in stored
    assert users.authenticate("alice", "alice-password").role == "admin"
    with pytest.raises(AuthenticationError):
        users.authenticate("alice", "Alice-password")
    with pytest.raises(AuthenticationError):
        users.authenticate("nobody", "alice-password")


@pytest.mark.parametrize(
    ("username", "password", "role", "bad"),
    [
        ("", "long-enough", "viewer", {"username"}),
        ("has space", "long-enough", "viewer", {"username"}),
        ("ok", "short", "viewer", {"password"}),
        ("ok", "long-enough", "root", {"role"}),
        ("-x", "short", "boss", {"username", "password", "role"}),
    ],
    ids=["empty-name", "space-in-name", "short-password", "unknown-role", "everything-bad"],
)
def test_bad_fields_are_all_named(
    users: UserService, username: str, password: str, role: str, bad: set[str]
) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        users.add_user(username, password, role)
    assert set(caught.value.errors) == bad
    assert users.count_users() == 0


def test_the_last_admin_stays(users: UserService) -> None:
    users.add_user("admin", "admin-password", "admin")
    users.add_user("viewer", "viewer-password")
    for attempt in (
        lambda: users.remove_user("admin"),
        lambda: users.set_role("admin", "viewer"),
        lambda: users.set_disabled("admin", True),
    ):
        with pytest.raises(ConflictError, match="last enabled admin"):
            attempt()
    users.add_user("second", "second-password", "admin")
    users.remove_user("admin")
    assert [u.username for u in users.list_users()] == ["second", "viewer"]
    with pytest.raises(ConflictError):
        users.add_user("viewer", "other-password")


def test_throttling_counts_per_user_and_per_client(users: UserService, clock: ManualClock) -> None:
    users.add_user("alice", "alice-password")
    for _ in range(UserService.USER_LIMIT):
        with pytest.raises(AuthenticationError):
            users.authenticate("alice", "wrong", client="10.0.0.1")
    with pytest.raises(LoginThrottledError) as caught:
        users.authenticate("alice", "alice-password", client="10.0.0.2")
    assert 0 < caught.value.retry_after <= UserService.LOCKOUT.total_seconds()
    clock.advance(UserService.LOCKOUT + timedelta(seconds=1))
    assert users.authenticate("alice", "alice-password").username == "alice"
    # Spraying names from one address locks the address.
    for i in range(UserService.CLIENT_LIMIT):
        with pytest.raises(AuthenticationError):
            users.authenticate(f"guess{i}", "x", client="10.9.9.9")
    with pytest.raises(LoginThrottledError):
        users.authenticate("alice", "alice-password", client="10.9.9.9")
    assert users.authenticate("alice", "alice-password", client="10.0.0.3")


def test_tokens_are_shown_once_and_revocable(users: UserService, clock: ManualClock) -> None:
    users.add_user("bot", "bot-password")
    info, secret = users.create_token("bot", "ci")
    found = users.verify_token(secret)
    assert found is not None and found[0].username == "bot" and found[1].id == info.id
    assert users.list_tokens("bot")[0].last_used_at == clock.now()
    assert users.verify_token(secret + "x") is None and users.verify_token("garbage") is None
    assert users.cached_token(secret) is not None  # the request path skips the database
    users.revoke_token(info.id)
    assert users.cached_token(secret) is None  # any change forgets cached verifications
    assert users.verify_token(secret) is None
    with pytest.raises(NotFoundError):
        users.revoke_token(999)
    with pytest.raises(InvalidFieldsError):
        users.create_token("bot", "  ")


def test_initial_admin(users: UserService) -> None:
    created = users.ensure_initial_admin()
    assert created is not None and created.password is not None
    generated = created.password
    assert len(generated) >= 16
    assert users.authenticate("admin", generated).is_admin
    assert users.ensure_initial_admin() is None  # only on an empty database
    assert users.ensure_initial_admin("given-password-1") is None  # nothing created
    records, total = users.list_audit()
    assert total == 1 and records[0].actor == "system" and records[0].action == "user.create"


def test_cli_users_and_tokens(cli: Cli) -> None:
    env = {"NEW_PW": "cli-password-1"}
    added = cli("users", "add", "carol", "--role", "admin", "--password-env", "NEW_PW", env=env)
    assert added.code == 0, added
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert listed[0]["username"] == "carol" and listed[0]["role"] == "admin"
    bad = cli("users", "add", "dave", "--password-env", "MISSING_VAR")
    assert bad.code == 1 and "MISSING_VAR" in bad.stderr
    weak = cli("users", "add", "dave", "--password-env", "SHORT", env={"SHORT": "abc"})
    assert weak.code == 1 and "password" in weak.stderr
    made = json.loads(cli("tokens", "create", "carol", "--name", "backup", "--json").stdout)
    assert made["token"].startswith("cwt_")
    tokens = cli("tokens", "list", "--json")
    assert made["token"] not in tokens.stdout and json.loads(tokens.stdout)[0]["active"]
    assert cli("tokens", "revoke", str(made["id"])).code == 0
    assert not json.loads(cli("tokens", "list", "--json").stdout)[0]["active"]
    changed = cli(
        "users", "passwd", "carol", "--password-env", "NEW_PW", env={"NEW_PW": "cli-password-2"}
    )
    assert changed.code == 0
    assert cli("users", "remove", "carol").code == 1  # the last admin
    assert cli("users", "remove", "nobody").code == 1


def test_initial_admin_with_the_given_password(users: UserService) -> None:
    from certwarden.services.accounts import InitialAdmin

    assert users.ensure_initial_admin("a-given-password-9") == InitialAdmin(None)
    assert users.authenticate("admin", "a-given-password-9").is_admin
