"""Lifetime-share thresholds of the Certificate Expiry Monitor:
``stores set-threshold NAME`` and ``set-threshold ID`` (one certificate's override)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from certwarden.interfaces.cli._context import cli_actor, console, get_app, print_json
from certwarden.interfaces.cli._inventory import stores_app
from certwarden.interfaces.cli._safe import safe
from certwarden.services.monitor.thresholds import share_or_error

__all__ = ["register"]

_SHARE_HELP = (
    "Notify when less than this share of the certificate's lifetime remains, e.g. 33% (1% to 99%)."
)


def register(app: typer.Typer) -> None:
    stores_app.command("set-threshold")(stores_set_threshold)
    app.command("set-threshold")(set_threshold)


def _share(lifetime_share: str | None, clear: bool) -> float | None:
    if clear and lifetime_share is not None:
        raise typer.BadParameter("give --lifetime-share or --clear, not both")
    if not clear and lifetime_share is None:
        raise typer.BadParameter("give --lifetime-share PERCENT (e.g. 33%) or --clear")
    return None if clear else share_or_error(lifetime_share, "--lifetime-share")


def _print(done: dict[str, Any], what: str, fallback: str, as_json: bool) -> None:
    if as_json:
        print_json(done)
        return
    share = done["lifetime_share"]
    if share is None:
        console.print(f"{what}: lifetime-share threshold cleared ({fallback} applies)")
    else:
        console.print(
            f"{what}: notices start when less than {share} of the lifetime remains "
            f"({done['certificates']} certificate(s) updated)"
        )
    if done.get("notice_from"):
        console.print(f"notices start at {done['notice_from']}")


def stores_set_threshold(
    ctx: typer.Context,
    name: str,
    lifetime_share: Annotated[
        str | None, typer.Option("--lifetime-share", help=_SHARE_HELP)
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Back to the Notification Start Time.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Expiry notices for a store's certificates by lifetime share (certificates
    with their own threshold keep it)."""
    share = _share(lifetime_share, clear)
    done = get_app(ctx).changes.set_store_threshold(cli_actor(), name, share)
    _print(done, f"store {safe(name)}", "the Notification Start Time", as_json)


def set_threshold(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(metavar="ID", help="ID or SHA-256 (prefix) of the certificate.")
    ],
    lifetime_share: Annotated[
        str | None, typer.Option("--lifetime-share", help=_SHARE_HELP)
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the store's threshold.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One certificate's lifetime-share threshold, overriding its store's."""
    share = _share(lifetime_share, clear)
    done = get_app(ctx).changes.set_certificate_threshold(cli_actor(), ref, share)
    _print(done, f"certificate {safe(done['target'])}", "its store's threshold", as_json)
