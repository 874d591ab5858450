"""Notification channels, the pure part: names, what of a URL may be shown,
severities in order, the alert kinds a channel takes, and how a notice reads.

    validate_channel("ops-chat", "json://hooks.example.org/in", "major", "expiry,revocation",
                     known_kinds=[...])  -> ChannelSpec
    shown_url("mmost://user:pw@chat.example.org/token") -> "mmost://chat.example.org"
    severity_rank("major") > severity_rank("warning")

A channel's URL is a secret (it usually carries a token): only its scheme and
host are ever shown, and only when the host looks like a host name (some
services put the token where the host goes: ``tgram://<bot token>/...``).
Nothing here does I/O; whether Apprise knows the URL's service is asked by
the adapter.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from certwarden.core.notices import subject as notice_subject
from certwarden.errors import InvalidFieldsError

__all__ = [
    "CLEARED",
    "KIND_GROUPS",
    "SEVERITIES",
    "ChannelSpec",
    "compose_clear_notice",
    "compose_notice",
    "parse_kinds",
    "severity_rank",
    "shown_url",
    "takes",
    "validate_channel",
]

# Lowest first: a channel with a minimum severity takes that one and above.
# services/shared/alerts.Severity holds the same values in the same order.
SEVERITIES = ("info", "warning", "major", "critical")
# What a channel notice saying an alert cleared goes as (Apprise's "success").
CLEARED = "cleared"

# Words an administrator may give for several alert kinds at once.
KIND_GROUPS: Mapping[str, tuple[str, ...]] = {
    "expiry": ("expiring", "expired"),
    "revocation": ("revoked", "status_changed", "check_failed"),
    "tls": ("connection_refused", "connection_closed", "endpoint_unreachable"),
    "upload": ("upload_refused",),
    "renewal": ("renewal_window_open", "renewal_window_moved"),
    "changes": ("certificate_changed",),  # a monitored endpoint's certificate changed
}

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]{0,31})://", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HOST_NAME = re.compile(r"[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})+|localhost", re.IGNORECASE)
MAX_URL = 2048


@dataclass(frozen=True)
class ChannelSpec:
    """A valid channel: ``kinds`` are alert kind values, sorted."""

    name: str
    url: str
    min_severity: str
    kinds: tuple[str, ...]


def severity_rank(severity: str) -> int:
    """The position of ``severity`` in :data:`SEVERITIES` (an unknown one ranks lowest)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


def parse_kinds(raw: str | Sequence[str] | None, known_kinds: Collection[str]) -> tuple[str, ...]:
    """Alert kinds from a comma-separated list (or a list) of kinds and group words.

    Empty or ``all``: every known kind. Raises ValueError naming the unknown words.
    """
    words = raw.split(",") if isinstance(raw, str) else list(raw or [])
    words = [w.strip().lower() for w in words if w.strip()]
    if not words or words == ["all"]:
        return tuple(sorted(known_kinds))
    chosen: set[str] = set()
    unknown: list[str] = []
    for word in words:
        if word in KIND_GROUPS:
            chosen.update(KIND_GROUPS[word])
        elif word in known_kinds:
            chosen.add(word)
        else:
            unknown.append(word)
    if unknown:
        choices = ", ".join([*KIND_GROUPS, *sorted(known_kinds)])
        raise ValueError(
            f"unknown alert kind {', '.join(repr(u) for u in unknown)}; choose from all, {choices}"
        )
    return tuple(sorted(chosen))


def _check_url(url: str) -> str:
    url = url.strip()
    if not url:
        raise ValueError("give the channel's Apprise URL (e.g. json://hooks.example.org/path)")
    if len(url) > MAX_URL:
        raise ValueError(f"the URL is longer than {MAX_URL} characters")
    if _CONTROL.search(url) or any(c.isspace() for c in url):
        raise ValueError("the URL holds spaces or control characters")
    if _SCHEME.match(url) is None:
        raise ValueError(
            "not an Apprise URL: it must start with a service scheme, e.g. json://, "
            "slack://, mmost://, ntfy://"
        )
    return url


def validate_channel(
    name: str,
    url: str,
    min_severity: str,
    kinds: str | Sequence[str] | None,
    *,
    known_kinds: Collection[str],
) -> ChannelSpec:
    """A :class:`ChannelSpec`, or InvalidFieldsError naming every bad field
    (``name``, ``url``, ``min_severity``, ``kinds``). Messages never quote the URL."""
    errors: dict[str, str] = {}
    clean_name = name.strip().lower()
    if not _NAME.fullmatch(clean_name):
        errors["name"] = (
            f"{_CONTROL.sub('?', name)[:80]!r} is not a channel name: use 1 to 64 letters, "
            "digits, '-', '_' or '.', starting with a letter or digit"
        )
    clean_url = ""
    try:
        clean_url = _check_url(url)
    except ValueError as exc:
        errors["url"] = str(exc)
    severity = min_severity.strip().lower()
    if severity not in SEVERITIES:
        errors["min_severity"] = (
            f"{_CONTROL.sub('?', min_severity)[:40]!r} is not a severity; choose from "
            + ", ".join(SEVERITIES)
        )
    chosen: tuple[str, ...] = ()
    try:
        chosen = parse_kinds(kinds, known_kinds)
    except ValueError as exc:
        errors["kinds"] = str(exc)
    if errors:
        raise InvalidFieldsError(errors)
    return ChannelSpec(clean_name, clean_url, severity, chosen)


def shown_url(url: str) -> str:
    """What may be shown of ``url``: its scheme and host, never a user, password,
    port, path or query; ``scheme://…`` when the host does not look like one."""
    match = _SCHEME.match(url)
    if match is None:
        return "…"
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    else:
        host = host.split(":", 1)[0]
    if _looks_like_host(host):
        return f"{scheme}://{host.lower()}"
    return f"{scheme}://…"


def _looks_like_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST_NAME.fullmatch(host) is not None
    return True


def takes(min_severity: str, kinds: Collection[str], *, kind: str, severity: str) -> bool:
    """Does a channel with ``min_severity`` and ``kinds`` take an alert of ``kind``, ``severity``?"""
    return kind in kinds and severity_rank(severity) >= severity_rank(min_severity)


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def compose_notice(
    *,
    kind: str,
    severity: str,
    message: str,
    sha256: str | None,
    subject: str,
    store: str,
    details: Mapping[str, Any],
    alert_id: int | None = None,
) -> tuple[str, str]:
    """The title and body of one alert's channel notice (text from certificates is
    kept as data: control characters become spaces)."""
    title = notice_subject(
        f"{severity.capitalize()} {kind.replace('_', ' ')}", _clean(subject) or kind
    )
    lines = [_clean(message)]
    if subject:
        lines.append(f"Subject: {_clean(subject)}")
    if store:
        lines.append(f"Store: {_clean(store)}")
    if sha256:
        lines.append(f"SHA-256 fingerprint: {sha256}")
    if "not_after" in details:
        lines.append(f"Not after: {_clean(str(details['not_after']))}")
    lines.append(f"Severity: {severity}; kind: {kind}")
    if alert_id is not None:
        lines.append(f"Alert: #{alert_id} (certwarden alerts ack {alert_id})")
    return title, "\n".join(lines) + "\n"


def compose_clear_notice(
    *,
    kind: str,
    why: str,
    sha256: str | None,
    subject: str,
    store: str,
    alert_id: int | None,
) -> tuple[str, str]:
    """The title and body of the one notice saying an alert cleared."""
    what = kind.replace("_", " ")
    title = notice_subject(f"Cleared {what}", _clean(subject) or what)
    lines = [
        f"Alert {'#' + str(alert_id) + ' ' if alert_id is not None else ''}cleared: {_clean(why)}"
    ]
    if subject:
        lines.append(f"Subject: {_clean(subject)}")
    if store:
        lines.append(f"Store: {_clean(store)}")
    if sha256:
        lines.append(f"SHA-256 fingerprint: {sha256}")
    lines.append(f"Kind: {kind}; state: cleared")
    return title, "\n".join(lines) + "\n"
