"""``--help`` that reads at 80 columns: option names whole, types as words.

Typer's Rich help squeezes its option table into the terminal by cutting the
option names (``--enable-revocation…``) and shows Python types
(``<list[Path]>``, ``<str>``). :func:`plain_help` turns every command of the
tree over to click's own help layout (names whole, the help text wrapped
beside or below them) and gives each parameter a word for its value, as
Unix manuals do: ``--store TEXT``, ``--port INTEGER``, ``PATH...``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePath
from typing import Any, get_args

from typer.core import TyperArgument, TyperOption

__all__ = ["plain_help", "type_word"]


def type_word(param: TyperOption | TyperArgument) -> str:
    """The word that names what ``param`` takes: PATH, TEXT, INTEGER, NUMBER, a|b."""
    desc = param.type_descriptor
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    annotation: Any = desc.annotation
    if desc.is_list and get_args(annotation):
        annotation = get_args(annotation)[0]
    if (
        desc.is_path
        or desc.is_file
        or (isinstance(annotation, type) and issubclass(annotation, PurePath))
    ):
        return "PATH"
    words = {bool: "BOOLEAN", int: "INTEGER", float: "NUMBER", datetime: "TIME"}
    return words.get(annotation, "TEXT")


class _WordArgument(TyperArgument):
    """An argument whose help shows its metavar only (``PATH...``), not a Python type."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        name = self.display_name_raw
        return name + "..." if self.nargs != 1 else name


def plain_help(command: Any) -> None:
    """Give ``command`` and every command below it click's help layout and word types."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for param in command.params:
        if isinstance(param, TyperOption):
            if not (param.is_flag or param.count) and param.metavar is None:
                param.metavar = type_word(param) + ("..." if param.multiple else "")
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = type_word(param)
            param.__class__ = _WordArgument
    sub: dict[str, Any] = getattr(command, "commands", {})
    for child in sub.values():
        plain_help(child)
