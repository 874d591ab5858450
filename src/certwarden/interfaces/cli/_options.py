"""Errors in the words of the command line: option names, not field names.

The services name a bad setting by its field (``check_every``); the CLI
reports it by the option that sets it (``--check-every``), with the message
(which quotes what was typed) escaped. Nothing was saved when this is printed.
"""

from __future__ import annotations

from collections.abc import Mapping

import typer

from certwarden.errors import InvalidFieldsError
from certwarden.interfaces.cli._context import console_err
from certwarden.interfaces.cli._safe import safe

__all__ = ["fields_failed", "option_name"]


def option_name(field: str, flags: Mapping[str, str]) -> str:
    """The option that sets ``field`` (``--field-name`` when it has no entry)."""
    return flags.get(field) or "--" + field.replace("_", "-")


def fields_failed(exc: InvalidFieldsError, flags: Mapping[str, str]) -> typer.Exit:
    """Print every bad field with the option that sets it; the Exit to raise (code 1)."""
    for field, message in exc.errors.items():
        console_err.print(
            f"[bold red]error:[/] {safe(option_name(field, flags))}: {safe(message)}",
            highlight=False,
            soft_wrap=True,
        )
    console_err.print("nothing was saved", highlight=False)
    return typer.Exit(1)
