"""E-mail addresses as administrators type them (the monitor's E-mail IDs).

Pure: no I/O. :mod:`certwarden.core.expiry` re-exports both functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MAX_EMAILS", "parse_emails", "validate_email"]

MAX_EMAILS = 50

# A pragmatic address check (RFC 5321 4.1.2 Mailbox, without quoted local parts
# and address literals): what a mail server will accept from a form.
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def validate_email(address: str) -> str:
    """Return ``address`` stripped, or raise ValueError saying what is wrong with it."""
    text = address.strip()
    if not text:
        raise ValueError("an empty address")
    if any(c.isspace() for c in text):
        raise ValueError(f"{text!r} contains a space")
    if text.count("@") != 1:
        raise ValueError(f"{text!r} is not an e-mail address (it needs exactly one @)")
    local, domain = text.split("@")
    if not local:
        raise ValueError(f"{text!r} has nothing before the @")
    if not domain:
        raise ValueError(f"{text!r} has no domain after the @")
    if len(local) > 64 or not _LOCAL.match(local):
        raise ValueError(f"{text!r} has an invalid part before the @")
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(f"{text!r} has an invalid domain {domain!r}")
    return text


def parse_emails(value: str | Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
    """Split ``a@x.org; b@y.org`` (or take a list). Returns (good addresses, problems).

    Empty entries (``a@x.org;``) are ignored and duplicates dropped, keeping order.
    """
    items = value.split(";") if isinstance(value, str) else list(value)
    good: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for raw in items:
        if not isinstance(raw, str):
            problems.append(f"{raw!r} is not text")
            continue
        if not raw.strip():
            continue
        try:
            address = validate_email(raw)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if address.lower() not in seen:
            seen.add(address.lower())
            good.append(address)
    if len(good) > MAX_EMAILS:
        problems.append(f"{len(good)} addresses given; at most {MAX_EMAILS} are allowed")
    return tuple(good), problems
