"""A share of a certificate's lifetime, as administrators write it (``33%``).

Pure: parsing with an error that says what is wrong, and the one way a share
is shown (``33%``) in JSON, text and the UI.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SHARE_MAX", "SHARE_MIN", "format_share", "parse_share"]

SHARE_MIN, SHARE_MAX = 1, 99  # percent
_SHARE = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,2})?)\s*%?\s*$")


def parse_share(value: Any) -> float:
    """``33%`` or ``33`` (percent, 1 to 99) -> 0.33. ValueError saying what is wrong."""
    text = str(value).strip() if value is not None else ""
    match = _SHARE.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a share of the lifetime; write a percentage, like 33%")
    percent = float(match.group(1))
    if not SHARE_MIN <= percent <= SHARE_MAX:
        raise ValueError(
            f"'{text}' is out of range; give {SHARE_MIN}% to {SHARE_MAX}% of the lifetime"
        )
    return round(percent / 100, 4)


def format_share(share: float | None) -> str | None:
    if share is None:
        return None
    return f"{share * 100:g}%"
