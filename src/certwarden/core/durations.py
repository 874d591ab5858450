"""Durations as administrators write them: ``30d``, ``12h``, ``1 day``."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_UNITS = {
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
}
_PATTERN = re.compile(r"^\s*(\d+)\s*([a-zA-Z]+)\s*$")


def parse_duration(text: str, *, allowed_units: frozenset[str] | None = None) -> timedelta:
    """Parse ``"<number><unit>"`` into a timedelta.

    Raises:
        ValueError: with a message that quotes the text and lists the units.
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit, like 12h or 30d")
    number, unit = int(match.group(1)), match.group(2).lower()
    seconds = _UNITS.get(unit)
    if seconds is None or (allowed_units is not None and unit[0] not in allowed_units):
        units = "h, d" if allowed_units is None else ", ".join(sorted(allowed_units))
        raise ValueError(f"{text!r} has an unknown unit {unit!r}; use one of: {units}")
    return timedelta(seconds=number * seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact ``<n><unit>`` for ``delta`` (``36h``, ``2d``, ``90m``)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
