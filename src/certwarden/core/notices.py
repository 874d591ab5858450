"""How every notice e-mail looks, whoever queues it (expiry digest, revocation
change, test message): one subject style, one time format, one link back.

    subject("Certificate expiry", "1 expired, 2 expiring")
        -> "[certwarden] Certificate expiry: 1 expired, 2 expiring"
    when(now)                    -> "2026-06-01T12:00:00Z"   (iso_z, whole seconds)
    with_link(body, "https://certwarden.example.org", "/alerts")
        -> body + "\\n-- \\nOpen in certwarden: https://certwarden.example.org/alerts\\n"

``validate_public_url`` checks the address administrators give for those
links (the mail settings' ``public_url``).
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from certwarden.core.ocsp.results import iso_z

__all__ = ["SUBJECT_PREFIX", "subject", "validate_public_url", "when", "with_link"]

SUBJECT_PREFIX = "[certwarden]"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def subject(topic: str, summary: str) -> str:
    """``[certwarden] <topic>: <summary>``, on one line whatever the summary holds."""
    text = f"{SUBJECT_PREFIX} {topic}: {summary}"
    return _CONTROL.sub(" ", text).strip()


def when(moment: datetime) -> str:
    """The time format of every notice: ISO-8601 UTC with a Z, whole seconds."""
    text = iso_z(moment.replace(microsecond=0))
    if text is None:  # pragma: no cover - iso_z gives None only for None
        raise ValueError("no time")
    return text


def validate_public_url(raw: str) -> str:
    """The UI's public address (``""`` for none), without a trailing slash.

    Raises:
        ValueError: naming what is wrong, when it is not an http(s) URL with a host.
    """
    text = raw.strip()
    if not text:
        return ""
    if _CONTROL.search(text) or " " in text:
        raise ValueError(f"{text!r} contains spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a URL: {exc}") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{text!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{text!r} carries a user name or password; give the plain address")
    if parts.query or parts.fragment:
        raise ValueError(f"{text!r} has a query or fragment; give the address of the UI only")
    del port
    return text.rstrip("/")


def with_link(body: str, public_url: str, path: str = "/") -> str:
    """``body`` with a link to ``path`` of the UI at ``public_url`` (unchanged when empty)."""
    if not public_url:
        return body
    return body.rstrip("\n") + f"\n\n-- \nOpen in certwarden: {public_url}{path}\n"
