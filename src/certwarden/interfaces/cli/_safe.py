"""Text from certificates, servers, files and the command line, made safe to print.

Everything the CLI prints through Rich is parsed as markup: a certificate whose
subject is ``evil [/] cert [bold]x`` would end the command in a MarkupError,
and ``[certwarden] Certificate expiry`` would lose its bracketed word. A value
may also carry terminal control characters (an ESC sequence in a subject can
clear the screen or retitle the window). :func:`safe` is applied to every value
that comes from data or input before it is put into a line or a table cell: it
escapes markup and shows each control character as a visible escape
(``\\x1b``), so what is printed is what is stored.
"""

from __future__ import annotations

import re

from rich.markup import escape

__all__ = ["neutralise", "safe"]

# C0 and C1 control characters, DEL, and the Unicode controls that reorder or
# hide text on a terminal (bidirectional overrides and isolates, zero-width
# marks, the line and paragraph separators, the BOM).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_CONTROLS_KEEP_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(value: object, *, multiline: bool = False) -> str:
    """``value`` as text with every control character shown as an escape (no markup escaping).

    For plain output that does not go through Rich (log lines, file names).
    With ``multiline`` a line feed is kept (error messages of several lines).
    """
    pattern = _CONTROLS_KEEP_NEWLINE if multiline else _CONTROLS
    return pattern.sub(_visible, str(value))


def safe(value: object, *, multiline: bool = False) -> str:
    """``value`` as Rich markup that prints literally: markup escaped, controls visible."""
    return escape(neutralise(value, multiline=multiline))
