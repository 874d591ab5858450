"""Delivery to notification services through Apprise (Slack, Teams, Mattermost,
ntfy, PagerDuty, Opsgenie, Matrix, JSON webhooks, ...).

    sender = AppriseSender(timeout=20.0)
    sender.check("json://hooks.example.org/in")        # ValueError: not a service Apprise knows
    sender.send("ops", url, title="...", body="...", notify_type="warning")
                                                        # ChannelDeliveryError when not taken

Apprise does its own HTTP. Each send runs in a worker thread and is given up
after ``timeout`` seconds (Apprise's own call timeout too), so a service that
never answers cannot hold a delivery round. A channel URL is a secret:
Apprise's log records do not reach certwarden's log (its logger does not
propagate), and the reasons given back have the URL's secret parts removed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import apprise

from certwarden.errors import ChannelDeliveryError

__all__ = ["NOTIFY_TYPES", "AppriseSender"]

# certwarden severity -> Apprise's notification type (its colour and icon).
NOTIFY_TYPES = {
    "info": "info",
    "warning": "warning",
    "major": "failure",
    "critical": "failure",
    "test": "success",
    "cleared": "success",  # an alert cleared (core.channels.CLEARED)
}
_MAX_REASON = 400


class AppriseSender:
    """Sends one notice to one Apprise URL, in a thread, within ``timeout`` seconds."""

    def __init__(self, *, timeout: float = 20.0) -> None:
        self._timeout = timeout
        # Apprise logs URLs (with their tokens) at debug level: keep its records
        # out of certwarden's log; each call captures what it needs. Whatever handler
        # sits on Apprise's logger itself, the filter removes the secret parts of
        # every URL in flight from each record first.
        logger = logging.getLogger("apprise")
        logger.propagate = False
        if not any(isinstance(f, _ScrubSecrets) for f in logger.filters):
            logger.addFilter(_ScrubSecrets())

    def check(self, url: str) -> None:
        """Raise ValueError when Apprise cannot use ``url`` (the message does not quote it)."""
        with _in_flight(url):
            usable = apprise.Apprise.instantiate(url) is not None
        if not usable:
            scheme = url.split("://", 1)[0].lower()
            raise ValueError(
                f"Apprise cannot use this {scheme}:// URL: the service is unknown or the URL "
                "is incomplete (see https://github.com/caronc/apprise/wiki for each service's form)"
            )

    def send(
        self, channel: str, url: str, *, title: str, body: str, notify_type: str = "info"
    ) -> None:
        """Deliver; raises ChannelDeliveryError (reason without the URL's secrets) when not taken."""
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="apprise")
        future = pool.submit(self._notify, url, title, body, notify_type)
        try:
            ok, reason = future.result(timeout=self._timeout + 1.0)
        except concurrent.futures.TimeoutError:
            raise ChannelDeliveryError(
                channel, f"no answer within {self._timeout:g} seconds"
            ) from None
        finally:
            pool.shutdown(wait=False)
        if not ok:
            raise ChannelDeliveryError(channel, _scrub(reason, url) or "the service refused it")

    def _notify(self, url: str, title: str, body: str, notify_type: str) -> tuple[bool, str]:
        with _in_flight(url):
            return self._notify_now(url, title, body, notify_type)

    def _notify_now(self, url: str, title: str, body: str, notify_type: str) -> tuple[bool, str]:
        notifier = apprise.Apprise()
        if not notifier.add(url):
            return False, "Apprise cannot use this URL (unknown service or incomplete URL)"
        result = notifier.notify(
            body=body,
            title=title,
            notify_type=NOTIFY_TYPES.get(notify_type, "info"),
            body_format="text",
            timeout=self._timeout,
        )
        if result:
            return True, ""
        lines = [
            entry.message
            for entry in result.logs()
            if entry.level in ("WARNING", "ERROR", "CRITICAL")
        ]
        return False, "; ".join(dict.fromkeys(lines))


# The secret parts of every URL being delivered to now (counted: two deliveries may share one).
_IN_FLIGHT: dict[str, int] = {}
_IN_FLIGHT_LOCK = threading.Lock()


@contextlib.contextmanager
def _in_flight(url: str) -> Iterator[None]:
    """While Apprise works with ``url``, its log records lose the URL's secret parts."""
    pieces = _secret_parts(url)
    with _IN_FLIGHT_LOCK:
        for piece in pieces:
            _IN_FLIGHT[piece] = _IN_FLIGHT.get(piece, 0) + 1
    try:
        yield
    finally:
        with _IN_FLIGHT_LOCK:
            for piece in pieces:
                left = _IN_FLIGHT.get(piece, 1) - 1
                if left:
                    _IN_FLIGHT[piece] = left
                else:
                    _IN_FLIGHT.pop(piece, None)


class _ScrubSecrets(logging.Filter):
    """Rewrites each Apprise record without the secret parts of the URLs in flight."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _IN_FLIGHT_LOCK:
            pieces = sorted(_IN_FLIGHT, key=len, reverse=True)
        if pieces:
            text = record.getMessage()
            for piece in pieces:
                text = text.replace(piece, "…")
            record.msg, record.args = text, ()
        return True


def _secret_parts(url: str) -> list[str]:
    """The parts of ``url`` a reason must not show: user, password, path and query pieces."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return [url]
    pieces = [url, user or "", password or ""]
    pieces += re.split(r"[/&=?]", parts.path + "?" + parts.query)
    pieces += [unquote(p) for p in pieces]
    return sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True)


def _scrub(reason: str, url: str) -> str:
    for piece in _secret_parts(url):
        reason = reason.replace(piece, "…")
    reason = re.sub(r"[\x00-\x1f\x7f]+", " ", reason).strip()
    return reason[:_MAX_REASON]
