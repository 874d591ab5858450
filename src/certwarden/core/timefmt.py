"""The one time format of every JSON and text output: ISO-8601 UTC, to the second, ``Z``.

``2026-12-03T12:00:00Z``: what ``list --json``, ``check --json``, the API, the
audit log and the CLI's tables print. Microseconds are dropped (no certificate,
OCSP or CRL time carries them, and a reader comparing two outputs should not
see ``.123456`` on one side only). Naive values are taken to be UTC already
(SQLite hands them back so).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_z"]


def iso_z(when: datetime | None) -> str | None:
    """``when`` as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or None for None."""
    if when is None:
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when.year < 1000:  # strftime's %Y pads (or not) as the platform's C library does
        return f"{when.year:04d}" + when.strftime("-%m-%dT%H:%M:%SZ")
    # The same text as strftime's, at a third of the cost (a list page formats hundreds).
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031 - twice as fast as an f-string
        when.year,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
    )
