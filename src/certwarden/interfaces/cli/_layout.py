"""Tables that stay readable at 80 columns (the default terminal, and any pipe).

Rich, given a table wider than the terminal, shrinks every column and cuts
values with an ellipsis: an expiry date became ``2026-12…`` and a status
``could_no…``. :func:`fit_table` decides the widths itself instead:

* a **key** column (ID, expiry date, days left, status, decision) is always as
  wide as its widest value: it is never cut and never wrapped;
* a **name** column (subject, store) gets the room that is left and a long
  value is shortened from the middle (``CN=very-lo…example.com``), so both
  ends stay readable; ``show ID`` and ``--json`` have it whole;
* a **text** column (details, messages) wraps at words;
* an **optional** column (the SHA-256 prefix, the role) is left out, the
  highest ``optional`` first, while the others would not fit whole.

Every cell is built as :class:`rich.text.Text` from the value with its
control characters made visible (``_safe.neutralise``): a cell is never parsed
as markup, whatever a certificate says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from certwarden.core.timefmt import iso_z
from certwarden.interfaces.cli._safe import neutralise

__all__ = ["Cell", "Col", "fit_table", "print_fields", "shorten_middle", "span", "when"]

Kind = Literal["key", "name", "text"]


@dataclass(frozen=True)
class Col:
    """One column: its header, how it gives way when the table is too wide."""

    header: str
    kind: Kind = "name"
    min_width: int = 8
    optional: int = 0  # 0: always shown; otherwise dropped when narrow, highest first
    weight: int = 1  # a name or text column's share of the room left
    justify: Literal["left", "right"] = "left"


@dataclass(frozen=True)
class Cell:
    """A value with a style (the value is data: it is never read as markup)."""

    text: str
    style: str = ""


Value = str | Cell


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells by replacing its middle with an ellipsis."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…" if width == 1 else ""
    head_len = (width - 1 + 1) // 2
    tail_len = width - 1 - head_len
    head, tail = text[:head_len], text[len(text) - tail_len :] if tail_len else ""
    while cell_len(head) + 1 + cell_len(tail) > width and (head or tail):
        if cell_len(head) >= cell_len(tail) and head:
            head = head[:-1]
        else:
            tail = tail[1:]
    return f"{head}…{tail}"


def _cell(value: Value) -> Cell:
    if isinstance(value, Cell):
        return Cell(neutralise(value.text), value.style)
    return Cell(neutralise(value))


def _widths(
    cols: Sequence[Col], rows: Sequence[Sequence[Cell]], width: int
) -> tuple[list[int], dict[int, int]]:
    """The columns shown (indexes) and their content widths."""
    shown = list(range(len(cols)))
    natural = [
        max([cell_len(cols[i].header), *(cell_len(row[i].text) for row in rows)])
        for i in range(len(cols))
    ]
    while True:
        overhead = 2 * (len(shown) - 1)
        keys = sum(natural[i] for i in shown if cols[i].kind == "key")
        flex = [i for i in shown if cols[i].kind != "key"]
        room = width - overhead - keys
        floor = {
            i: min(natural[i], max(cols[i].min_width, _longest_word(cols[i].header))) for i in flex
        }
        droppable = [i for i in shown if cols[i].optional]
        if sum(natural[i] for i in flex) <= room:
            return shown, {i: natural[i] for i in shown}
        if not droppable:
            break
        shown.remove(max(droppable, key=lambda i: (cols[i].optional, i)))
    given = dict(floor)
    extra = room - sum(given.values())
    while extra > 0:
        growing = [i for i in flex if given[i] < natural[i]]
        if not growing:
            break
        # The column furthest below its natural width (times its weight) grows next.
        i = min(growing, key=lambda i: (given[i] / (natural[i] * cols[i].weight), i))
        given[i] += 1
        extra -= 1
    return shown, {i: natural[i] if cols[i].kind == "key" else given[i] for i in shown}


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def fit_table(console: Console, cols: Sequence[Col], rows: Sequence[Sequence[Value]]) -> Table:
    """A table of ``rows`` fitted to ``console``'s width (see the module docstring)."""
    cells = [[_cell(v) for v in row] for row in rows]
    shown, widths = _widths(cols, cells, console.width)
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for i in shown:
        col = cols[i]
        table.add_column(
            col.header,
            width=widths[i],
            no_wrap=col.kind != "text",
            overflow="fold" if col.kind == "text" else "ellipsis",
            justify=col.justify,
        )
    for row in cells:
        out: list[Text] = []
        for i in shown:
            text = row[i].text
            if cols[i].kind == "name":
                text = shorten_middle(text, widths[i])
            out.append(Text(text, style=row[i].style))
        table.add_row(*out)
    return table


def print_fields(console: Console, fields: Sequence[tuple[str, Value]]) -> None:
    """``label  value`` lines: labels aligned, values whole (long ones run on, never cut)."""
    pad = max((cell_len(label) for label, _ in fields), default=0)
    for label, value in fields:
        cell = _cell(value)
        line = Text(f"{label.ljust(pad)}  ")
        line.append(cell.text, style=cell.style)
        console.print(line, soft_wrap=True)


def when(value: datetime | None) -> str:
    """A time as every output shows it: ``2026-07-01T12:00:00Z`` (``-`` for none)."""
    return iso_z(value) or "-"


def span(delta: timedelta) -> str:
    """A short duration: ``2d``, ``5h``, ``1h30m`` (negative with a ``-``)."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds % 86400 == 0 and seconds:
        return f"{sign}{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{sign}{seconds // 3600}h"
    return f"{sign}{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
