"""Durations as administrators write them: ``30d``, ``12h``, ``1w``, ``2 days``.

One parser for every option and field that takes a duration (``list
--expiring-within``, ``monitor settings set --frequency``, ``revocation
settings set --check-every``, ``params set --validity-frequency`` and the
forms and API fields behind them): the same units everywhere, and errors that
quote what was typed (``0h is too short; the minimum is 1 hour``).

Units: ``m`` / ``min`` / ``minute(s)``, ``h`` / ``hour(s)``, ``d`` / ``day(s)``,
``w`` / ``week(s)``; upper or lower case; a space between number and unit is
allowed. A bare number is a duration only where the caller names a default
unit (``--check-every 24`` means hours, as the appliance's field does).
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["UNITS_HELP", "describe_duration", "format_duration", "parse_duration"]

_MINUTE, _HOUR, _DAY, _WEEK = 60, 3600, 86400, 7 * 86400
_UNITS = {
    "m": _MINUTE,
    "min": _MINUTE,
    "mins": _MINUTE,
    "minute": _MINUTE,
    "minutes": _MINUTE,
    "h": _HOUR,
    "hr": _HOUR,
    "hrs": _HOUR,
    "hour": _HOUR,
    "hours": _HOUR,
    "d": _DAY,
    "day": _DAY,
    "days": _DAY,
    "w": _WEEK,
    "week": _WEEK,
    "weeks": _WEEK,
}
UNITS_HELP = "m (minutes), h (hours), d (days) or w (weeks)"
# At most 9 digits; a larger total than a timedelta holds is "too long".
_MAX = timedelta(days=999_999_999)
_LARGEST = int(_MAX.total_seconds())
_PATTERN = re.compile(r"^\s*(\d{1,9})\s*([A-Za-z]*)\s*$")


def parse_duration(
    text: str,
    *,
    default_unit: str | None = None,
    minimum: timedelta | None = None,
    maximum: timedelta | None = None,
    step: timedelta | None = None,
) -> timedelta:
    """Parse ``"<number><unit>"`` into a timedelta, within ``minimum``..``maximum``.

    Args:
        text: what the person typed.
        default_unit: the unit of a bare number (``"h"``); without it a unit is required.
        minimum, maximum: inclusive bounds.
        step: the duration must be a whole number of these (``timedelta(hours=1)``).

    Raises:
        ValueError: with a message that quotes ``text`` and says what to write.
    """
    typed = str(text).strip()
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(
            f"'{typed}' is not a duration; write a number and a unit, like 12h, 2d or 1w"
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    if not unit:
        if default_unit is None:
            raise ValueError(f"'{typed}' has no unit; add one: {UNITS_HELP}")
        unit = default_unit
    seconds = _UNITS.get(unit)
    if seconds is None:
        raise ValueError(f"'{typed}' has an unknown unit '{match.group(2)}'; use {UNITS_HELP}")
    total = number * seconds
    if total > _LARGEST:
        raise ValueError(
            f"{typed} is too long; the maximum is {describe_duration(maximum or _MAX)}"
        )
    delta = timedelta(seconds=total)
    if step is not None and delta % step:
        raise ValueError(f"{typed} is not a whole number of {_plural(step)}")
    if minimum is not None and delta < minimum:
        raise ValueError(f"{typed} is too short; the minimum is {describe_duration(minimum)}")
    if maximum is not None and delta > maximum:
        raise ValueError(f"{typed} is too long; the maximum is {describe_duration(maximum)}")
    return delta


def _plural(step: timedelta) -> str:
    return describe_duration(step).removeprefix("1 ") + "s"


def describe_duration(delta: timedelta) -> str:
    """``delta`` in words: ``1 hour``, ``365 days``, ``90 minutes``."""
    seconds = int(delta.total_seconds())
    for name, size in (("week", _WEEK), ("day", _DAY), ("hour", _HOUR), ("minute", _MINUTE)):
        if seconds and seconds % size == 0 and (name != "week" or seconds // size < 52):
            n = seconds // size
            return f"{n} {name}" + ("" if n == 1 else "s")
    return f"{seconds} second" + ("" if seconds == 1 else "s")


def format_duration(delta: timedelta) -> str:
    """The shortest exact ``<n><unit>`` for ``delta`` (``36h``, ``2d``, ``90m``)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("w", _WEEK), ("d", _DAY), ("h", _HOUR), ("m", _MINUTE)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
