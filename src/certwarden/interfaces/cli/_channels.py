"""``certwarden channels``: notification channels through Apprise (add, list,
remove, test, deliver, outbox). A channel's URL is never printed in full."""

from __future__ import annotations

from typing import Annotated

import typer

from certwarden.errors import InvalidFieldsError
from certwarden.interfaces.cli._context import cli_actor, console, console_err, get_app, print_json
from certwarden.interfaces.cli._layout import Col, fit_table
from certwarden.interfaces.cli._options import fields_failed
from certwarden.interfaces.cli._safe import safe
from certwarden.services.shared.channel_outbox import ChannelDeliveryReport

__all__ = ["print_channel_delivery", "register"]

channels_app = typer.Typer(
    help="Notification channels (Slack, Teams, ntfy, webhooks ... through Apprise).",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
CHANNEL_FLAGS = {
    "name": "NAME",
    "url": "--url",
    "min_severity": "--min-severity",
    "kinds": "--kinds",
}


def register(app: typer.Typer) -> None:
    app.add_typer(channels_app, name="channels")


def print_channel_delivery(report: ChannelDeliveryReport) -> None:
    if report.sent:
        console.print(f"channels: {len(report.sent)} notice(s) sent")
    for msg_id, error in report.failed.items():
        console_err.print(
            f"[red]channels:[/] notice #{msg_id} not delivered (will retry): {safe(error)}",
            soft_wrap=True,
        )


@channels_app.command("add")
def channels_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The channel's name (letters, digits, - _ .).")],
    url: Annotated[
        str,
        typer.Option(
            "--url",
            help="The Apprise URL, e.g. json://host/path, slack://..., mmost://host/token.",
        ),
    ],
    min_severity: Annotated[
        str,
        typer.Option("--min-severity", help="The lowest severity sent: warning, major, critical."),
    ] = "warning",
    kinds: Annotated[
        str,
        typer.Option(
            "--kinds",
            help="Alert kinds taken, comma-separated: expiry, revocation, tls, upload, renewal, "
            "changes, or kind names (expiring, revoked ...). [default: all]",
        ),
    ] = "all",
) -> None:
    """Add a channel; its URL is stored sealed and shown as scheme://host only."""
    app = get_app(ctx)
    try:
        info = app.channels.add(name, url, min_severity=min_severity, kinds=kinds)
    except InvalidFieldsError as exc:
        raise fields_failed(exc, CHANNEL_FLAGS) from exc
    details = {k: v for k, v in info.to_json().items() if k != "pending"}
    app.changes.record(cli_actor(), "channel.add", info.name, details)
    console.print(
        f"channel {safe(info.name)} added: {safe(info.url)}, {safe(info.min_severity)} and "
        f"above, {len(info.kinds)} alert kind(s)",
        soft_wrap=True,
    )


@channels_app.command("list")
def channels_list(ctx: typer.Context, as_json: Json = False) -> None:
    """The channels (URLs shown as scheme://host only)."""
    infos = get_app(ctx).channels.list()
    if as_json:
        print_json([i.to_json() for i in infos])
        return
    if not infos:
        console.print("no channel (certwarden channels add NAME --url URL)")
        return
    cols = [
        Col("name", "key"),
        Col("service", "name", min_width=10),
        Col("from", "key"),
        Col("waiting", "key", justify="right"),
        Col("kinds", "text", min_width=12, weight=2),
    ]
    rows = [[i.name, i.url, i.min_severity, str(i.pending), ", ".join(i.kinds)] for i in infos]
    console.print(fit_table(console, cols, rows))


@channels_app.command("remove")
def channels_remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The channel's name.")]
) -> None:
    """Remove a channel and the notices it still had waiting."""
    app = get_app(ctx)
    dropped = app.channels.remove(name)
    clean = name.strip().lower()
    app.changes.record(cli_actor(), "channel.remove", clean, {"dropped": dropped})
    console.print(
        f"channel {safe(clean)} removed"
        + (f"; {dropped} waiting notice(s) dropped" if dropped else ""),
        soft_wrap=True,
    )


@channels_app.command("test")
def channels_test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    as_json: Json = False,
) -> None:
    """Send one test notice now, straight to the channel's service (not queued)."""
    app = get_app(ctx)
    report = app.channels.test(name)
    app.changes.record(cli_actor(), "channel.test", report.channel, {"url": report.url})
    if as_json:
        print_json(report.to_json())
        return
    console.print(
        f"test notice taken by {safe(report.url)} (channel {safe(report.channel)})",
        soft_wrap=True,
    )


@channels_app.command("deliver")
def channels_deliver(ctx: typer.Context, as_json: Json = False) -> None:
    """Deliver the channel notices that are due now."""
    app = get_app(ctx)
    report = app.channels.deliver_due(app.clock.now())
    if as_json:
        print_json(report.to_json())
    else:
        print_channel_delivery(report)
        if not report.sent and not report.failed:
            console.print(
                "channels: nothing to deliver"
                + (f" ({report.waiting} waiting for a retry)" if report.waiting else "")
            )
    if report.failed:
        raise typer.Exit(1)


@channels_app.command("outbox")
def channels_outbox(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="Only notices in this state: pending, sent.")
    ] = None,
    as_json: Json = False,
) -> None:
    """The channel notices, newest first."""
    entries = get_app(ctx).channels.messages(state=state)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    if not entries:
        console.print("no channel notice")
        return
    cols = [
        Col("id", "key", justify="right"),
        Col("channel", "name", min_width=8),
        Col("state", "key"),
        Col("tries", "key", justify="right"),
        Col("title", "text", min_width=12, weight=2),
        Col("last error", "text", optional=1),
    ]
    rows = [
        [str(e.id), e.channel, e.state, str(e.attempts), e.title, e.last_error or ""]
        for e in entries
    ]
    console.print(fit_table(console, cols, rows))
