"""``certwarden users`` and ``certwarden tokens``: local users and API tokens."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from certwarden.core.timefmt import iso_z
from certwarden.errors import InputError
from certwarden.interfaces.cli._context import console, console_err, get_app, print_json
from certwarden.services.accounts import token_lifetime

users_app = typer.Typer(help="Local users of the web UI and API.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)

ACTOR = "cli"


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


def _password(password_env: str | None, password_file: Path | None, *, confirm: bool) -> str:
    if password_env and password_file:
        raise typer.BadParameter("give --password-env or --password-file, not both")
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise InputError(
                f"environment variable {password_env} (from --password-env) is not set"
            )
        return value
    if password_file:
        try:
            return password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise InputError(
                f"{password_file}: cannot read the password file: {exc.strerror}"
            ) from exc
    first = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != first:
        raise InputError("the two passwords differ; nothing was changed")
    return first


PasswordEnv = Annotated[
    str | None, typer.Option(help="Read the password from this environment variable.")
]
PasswordFile = Annotated[Path | None, typer.Option(help="Read the password from this file.")]


@users_app.command("add")
def add(
    ctx: typer.Context,
    username: str,
    role: Annotated[str, typer.Option(help="admin (may change things) or viewer.")] = "viewer",
    password_env: PasswordEnv = None,
    password_file: PasswordFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create a user (asks for the password unless --password-env/--password-file)."""
    app = get_app(ctx)
    password = _password(password_env, password_file, confirm=True)
    info = app.users.add_user(username, password, role)
    app.users.audit(ACTOR, "user.create", info.username, {"role": info.role})
    if as_json:
        print_json(info.to_json())
    else:
        console.print(f"created {info.role} {info.username}")


@users_app.command("list")
def list_users(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List users."""
    users = get_app(ctx).users.list_users()
    if as_json:
        print_json([u.to_json() for u in users])
        return
    table = Table("user", "role", "status", "created (UTC)")
    for u in users:
        table.add_row(
            u.username, u.role, "disabled" if u.disabled else "active", iso_z(u.created_at) or ""
        )
    console.print(table)


@users_app.command("passwd")
def passwd(
    ctx: typer.Context,
    username: str,
    password_env: PasswordEnv = None,
    password_file: PasswordFile = None,
) -> None:
    """Set a user's password (their open sessions end)."""
    app = get_app(ctx)
    app.users.get(username)  # a clear error before asking for a password
    password = _password(password_env, password_file, confirm=True)
    app.users.set_password(username, password)
    app.users.audit(ACTOR, "user.update", username, {"password_changed": True})
    console.print(f"password of {username} changed")


@users_app.command("remove")
def remove(ctx: typer.Context, username: str) -> None:
    """Remove a user and their API tokens (never the last admin)."""
    app = get_app(ctx)
    app.users.remove_user(username)
    app.users.audit(ACTOR, "user.remove", username)
    console.print(f"removed {username}")


@users_app.command("unlock")
def unlock(ctx: typer.Context, username: str) -> None:
    """Forget a user name's failed sign-ins, so that it may sign in at once."""
    app = get_app(ctx)
    had = app.users.unlock(username)
    app.users.audit(ACTOR, "user.unlock", username, {"had_failures": had})
    if had:
        console.print(f"unlocked {username}: its failed sign-ins are forgotten")
    else:
        console.print(f"{username} had no failed sign-ins to forget")


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Whose token (it acts with their role).")],
    name: Annotated[str, typer.Option("--name", "-n", help="What the token is for.")],
    expires: Annotated[
        str | None,
        typer.Option(help="Lifetime, like 12h, 30d or 52w (default: until revoked)."),
    ] = None,
    scope: Annotated[
        str, typer.Option(help="full (the user's role) or read (GET and HEAD only).")
    ] = "full",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create an API token. The secret is printed once; only its hash is kept."""
    app = get_app(ctx)
    lifetime = token_lifetime(expires)
    info, secret = app.users.create_token(username, name, scope=scope, lifetime=lifetime)
    app.users.audit(
        ACTOR,
        "token.create",
        f"#{info.id}",
        {
            "user": username,
            "name": info.name,
            "scope": info.scope,
            "expires_at": iso_z(info.expires_at),
        },
    )
    if as_json:
        print_json(info.to_json() | {"token": secret})
        return
    until = f", expires {iso_z(info.expires_at)}" if info.expires_at else ""
    console_err.print(
        f"token #{info.id} '{info.name}' for {username} (scope {info.scope}{until}); "
        "shown once, store it now:"
    )
    console.print(secret, soft_wrap=True)


@tokens_app.command("list")
def list_tokens(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List API tokens (never their secrets)."""
    app = get_app(ctx)
    tokens = app.users.list_tokens(user)
    if as_json:
        print_json([t.to_json() for t in tokens])
        return
    now = app.clock.now()
    table = Table(
        "id", "name", "user", "prefix", "scope", "created (UTC)", "expires", "last used", "status"
    )
    for t in tokens:
        if not t.active:
            status = f"revoked {iso_z(t.revoked_at)}"
        elif t.expired_at(now):
            status = "expired"
        else:
            status = "active"
        table.add_row(
            str(t.id),
            t.name,
            t.username,
            t.prefix + "…",
            t.scope,
            iso_z(t.created_at) or "",
            iso_z(t.expires_at) or "never",
            iso_z(t.last_used_at) or "-",
            status,
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke an API token (it stops working at once)."""
    app = get_app(ctx)
    info = app.users.revoke_token(token_id)
    app.users.audit(ACTOR, "token.revoke", f"#{token_id}", {"user": info.username})
    console.print(f"revoked token #{token_id} '{info.name}' of {info.username}")
