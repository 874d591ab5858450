"""The server's log: its format (``--log-format text|json``) and what the
background work says at info.

Each monitor run, revocation run, delivery round and syslog forward is one
info line (:func:`monitor_run`, :func:`revocation_run`, ...); failures are
warnings or errors with the exception; settings changes are logged by the
settings store when they commit (field names only, never values).

Log text may quote what servers and certificates sent (a subject, an SMTP
reply, a request path). Neither format lets it forge a line or drive the
terminal: the text format shows control characters as escapes (``\\x1b``,
``\\x0a``), the JSON format is one ASCII object per line (everything else
``\\u``-escaped).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from certwarden.core.ocsp.results import iso_z
from certwarden.interfaces.cli._safe import neutralise

if TYPE_CHECKING:
    from certwarden.services.monitor import RunReport
    from certwarden.services.revocation import ChunkResult, TickReport
    from certwarden.services.shared.outbox import DeliveryReport

__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "delivery_round",
    "monitor_run",
    "revocation_chunk",
    "revocation_run",
]

LOG_FORMATS = ("text", "json")


def _when(record: logging.LogRecord) -> str:
    # The record's own timestamp (taken by logging), shown as ISO-8601 UTC.
    return iso_z(datetime.fromtimestamp(record.created, UTC)) or ""


class TextFormatter(logging.Formatter):
    """``2026-07-01T12:00:00.123456Z INFO certwarden.serve: message``, controls escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _when(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        # The message only: a traceback appended after it keeps its lines.
        record.message = neutralise(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``message`` (+ ``exception``)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _when(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=True, sort_keys=True)


def configure_logging(level: str, fmt: str) -> None:
    """Send every log record (certwarden's, uvicorn's, alembic's) to stderr in ``fmt``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_log = logging.getLogger(name)
        uvicorn_log.handlers.clear()
        uvicorn_log.propagate = True
    if level != "debug":
        # Alembic narrates every plugin it loads; a migration that runs is still logged.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


# ------------------------------------------------------------ what the rounds did


def monitor_run(report: RunReport) -> str:
    """``monitor run (scheduled): 3 notified (1 expired, 2 expiring); digest queued; next ...``."""
    expired = sum(1 for n in report.notices if n.kind.value == "expired")
    mail = (
        ("digest queued" if report.digest_queued else "digest already queued")
        if report.notices and report.email_enabled
        else "no e-mail"
    )
    nxt = f"next run {iso_z(report.next_run.at)}" if report.next_run else "service stopped"
    return (
        f"monitor run ({report.trigger}): {len(report.notices)} notified "
        f"({expired} expired, {len(report.notices) - expired} expiring, "
        f"{report.already_notified} already notified); {mail}; {nxt}"
    )


def revocation_run(tick: TickReport) -> str:
    """``revocation check: 12 checked (10 good, 2 could_not_tell); 0 refused; next ...``."""
    report = tick.report
    if report is None:
        nxt = f"; next {iso_z(tick.next_run_at)}" if tick.next_run_at else ""
        return f"revocation check: {tick.why}{nxt}"
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n) or "none"
    mode = "Common Criteria on" if report.common_criteria else "Common Criteria off"
    nxt = f"; next {iso_z(tick.next_run_at)}" if tick.next_run_at else ""
    return (
        f"revocation check: {len(report.outcomes)} checked ({counts}); "
        f"{len(report.refused)} refused by policy ({mode}); "
        f"{report.notices_queued} notice(s) queued{nxt}"
    )


def revocation_chunk(done: ChunkResult) -> str:
    """``revocation chunk 3/40 of run 7: 500 checked (490 good, 10 revoked)[; run 7 complete]``."""
    report = done.report
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n) or "none"
    line = f"{done.claim.what}: {len(report.outcomes)} checked ({counts})"
    if done.run_done is not None:
        line += (
            f"; run {done.run_done.run_id} complete, "
            f"{done.run_done.notices_queued} notice(s) queued"
        )
    return line


def delivery_round(report: DeliveryReport) -> str:
    """``outbox: 2 sent, 1 not delivered (will retry), 0 waiting``."""
    return (
        f"outbox: {len(report.sent)} sent, {len(report.failed)} not delivered (will retry), "
        f"{report.waiting} waiting"
    )
