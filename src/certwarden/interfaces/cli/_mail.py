"""Mail commands: ``smtp``, ``outbox`` (``alerts``: ``_alerts.py``)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from certwarden.adapters.smtp import SMTP_ENV
from certwarden.errors import InvalidFieldsError
from certwarden.interfaces.cli._context import (
    cli_actor,
    console,
    console_err,
    get_app,
    print_json,
)
from certwarden.interfaces.cli._layout import Col, fit_table, when
from certwarden.interfaces.cli._options import fields_failed
from certwarden.interfaces.cli._safe import safe
from certwarden.services.shared.outbox import DeliveryReport

__all__ = ["print_delivery", "register"]

smtp_app = typer.Typer(help="The mail server notices are sent through.", no_args_is_help=True)
smtp_settings_app = typer.Typer(
    help="Show (no subcommand) or change (set) the SMTP settings.", invoke_without_command=True
)
outbox_app = typer.Typer(help="Notices waiting for, or done with, delivery.", no_args_is_help=True)

SMTP_FLAGS = {
    "host": "--host",
    "port": "--port",
    "security": "--security",
    "username": "--username",
    "password": "--password-env",
    "from_address": "--from",
    "timeout_seconds": "--timeout",
    "public_url": "--public-url",
}


def register(app: typer.Typer) -> None:
    smtp_app.add_typer(smtp_settings_app, name="settings")
    app.add_typer(smtp_app, name="smtp")
    app.add_typer(outbox_app, name="outbox")


def print_delivery(report: DeliveryReport) -> None:
    if report.skipped:
        console_err.print(f"[yellow]outbox:[/] {safe(report.skipped)}", soft_wrap=True)
        return
    if report.sent:
        console.print(f"outbox: {len(report.sent)} notice(s) sent")
    for msg_id, error in report.failed.items():
        console_err.print(
            f"[red]outbox:[/] notice #{msg_id} not delivered (will retry): {safe(error)}",
            soft_wrap=True,
        )
    if not report.sent and not report.failed:
        console.print(
            "outbox: nothing to deliver"
            + (f" ({report.waiting} waiting for a retry)" if report.waiting else "")
        )


# ---------------------------------------------------------------------------- smtp


@smtp_settings_app.callback()
def smtp_settings_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the effective SMTP settings (the password is never shown)."""
    if ctx.invoked_subcommand is not None:
        return
    outbox = get_app(ctx).outbox
    settings = outbox.smtp_settings()
    from_env = outbox.env_overrides
    data = settings.to_json()
    if as_json:
        print_json({**data, "from_environment": list(from_env)})
        return
    rows = []
    for field, value in data.items():
        source = SMTP_ENV[field] if field in from_env else "stored"
        rows.append([SMTP_FLAGS.get(field, field), str(value) if value != "" else "-", source])
    console.print(
        fit_table(console, [Col("option", "key"), Col("value"), Col("source", "key")], rows)
    )
    if not settings.configured:
        console.print("No SMTP host is set: notices wait in the outbox until one is.")


@smtp_settings_app.command("set")
def smtp_settings_set(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Mail server host name or IP.")] = None,
    port: Annotated[str | None, typer.Option("--port", help="Port (25, 587, 465 ...).")] = None,
    security: Annotated[
        str | None, typer.Option("--security", help="starttls, tls (implicit) or none.")
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", help="Login name ('' for none).")
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            help="Name of an environment variable holding the password (read now, stored).",
        ),
    ] = None,
    clear_password: Annotated[
        bool, typer.Option("--clear-password", help="Forget the stored password.")
    ] = False,
    sender: Annotated[str | None, typer.Option("--from", help="The From address.")] = None,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="Seconds to wait for the server (1-300).")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="The web UI's address (http:// or https://); every notice links back "
            "to it ('' for no link).",
        ),
    ] = None,
) -> None:
    """Change the SMTP settings. Every field is checked; nothing is saved when any is bad."""
    values: dict[str, Any] = {}
    for field, value in (
        ("host", host),
        ("port", port),
        ("security", security),
        ("username", username),
        ("from_address", sender),
        ("timeout_seconds", timeout),
        ("public_url", public_url),
    ):
        if value is not None:
            values[field] = value
    if password_env is not None and clear_password:
        raise typer.BadParameter("give --password-env or --clear-password, not both")
    if clear_password:
        values["password"] = ""
    if password_env is not None:
        secret = os.environ.get(password_env)
        if not secret:
            raise fields_failed(
                InvalidFieldsError(
                    {"password": f"environment variable {password_env!r} is not set or empty"}
                ),
                SMTP_FLAGS,
            )
        values["password"] = secret
    if not values:
        raise typer.BadParameter(
            "give at least one of --host, --port, --security, --username, --password-env, "
            "--clear-password, --from, --timeout, --public-url"
        )
    try:
        get_app(ctx).changes.save_smtp_settings(cli_actor(), values)
    except InvalidFieldsError as exc:
        raise fields_failed(exc, SMTP_FLAGS) from exc
    console.print("SMTP settings saved.")


# -------------------------------------------------------------------- outbox


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="Only pending or only sent notices.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10000, help="At most this many.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Notices with their state, attempts and last error, newest first."""
    if state is not None and state not in {"pending", "sent"}:
        raise typer.BadParameter(
            f"{state!r} is not a state; use pending or sent", param_hint="--state"
        )
    entries = get_app(ctx).outbox.list(state=state, limit=limit)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    cols = [
        Col("id", "key", justify="right"),
        Col("created (UTC)", "key"),
        Col("state", "key"),
        Col("attempts", "key", justify="right", optional=1),
        Col("next attempt", "key", optional=2),
        Col("last error", "text", min_width=12, optional=3),
        Col("subject", "text", min_width=16),
    ]
    rows = [
        [
            str(e.id),
            when(e.created_at).removesuffix(" UTC"),
            e.state,
            str(e.attempts),
            when(e.next_attempt_at).removesuffix(" UTC"),
            e.last_error or "-",
            e.subject,
        ]
        for e in entries
    ]
    console.print(fit_table(console, cols, rows))


@outbox_app.command("deliver")
def outbox_deliver(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Deliver every notice that is due now. Exit code 1 when any could not be delivered."""
    app = get_app(ctx)
    report = app.outbox.deliver_due(app.clock.now())
    app.changes.record(cli_actor(), "outbox.deliver", "", report.to_json())
    if as_json:
        print_json(report.to_json())
    else:
        print_delivery(report)
    if report.failed or report.skipped:
        raise typer.Exit(1)
