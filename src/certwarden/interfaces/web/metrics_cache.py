"""The ``/metrics`` text, rendered in the background and served from memory.

Rendering reads every certificate (30,000 certificates: about a second of CPU
and 25 MB per render); a scrape must not cost that, nor may sixteen scrapers
at once cost it sixteen times. So:

* ``serve`` runs :meth:`MetricsCache.refresh` every ``refresh_seconds`` in a
  worker thread (a lifespan task of the web app). It re-renders a variant
  (the default text, the summary) only when the database changed since the
  last render (SQLite's change counter) or the text is a minute old (expiry
  flags and states move with time alone); a variant nobody asked for in ten
  minutes is dropped.
* A scrape answers the cached bytes (one shared object, nothing copied). It
  renders itself only when there is no text yet, or when no background task
  runs and the text is stale (tests, embedded use) — and then one scrape
  renders while the others wait for its result.

So with the background task, what a scrape shows is at most
``refresh_seconds`` (plus one render) behind the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MetricsCache"]

MAX_AGE_SECONDS = 60.0
FORGET_SECONDS = 600.0


@dataclass(frozen=True)
class _Entry:
    body: bytes
    built: float  # time.monotonic() when rendering began
    version: int | None
    asked: float  # last time a scrape asked for it


class MetricsCache:
    """The rendered text per variant (``summary`` False / True)."""

    def __init__(
        self,
        render: Callable[..., bytes],
        version: Callable[[], int | None],
        refresh_seconds: float,
    ) -> None:
        self._render = render
        self._version = version
        self.refresh_seconds = refresh_seconds
        self._entries: dict[bool, _Entry] = {}
        self._locks = {False: threading.Lock(), True: threading.Lock()}
        self.background = False  # a refresher task runs (set by the web app's lifespan)
        self.renders = 0  # how many renders were done (tests, the benchmark)

    def get_cached(self, *, summary: bool = False) -> bytes:
        """The cached text when it is usable; LookupError when it must be rendered."""
        entry = self._entries.get(summary)
        if entry is None or not self._usable(entry):
            raise LookupError("no usable metrics text")
        self._entries[summary] = _Entry(entry.body, entry.built, entry.version, _now())
        return entry.body

    def get(self, *, summary: bool = False) -> bytes:
        """The text: cached when usable, else rendered (one render for concurrent callers)."""
        entry = self._entries.get(summary)
        if entry is not None and self._usable(entry):
            self._entries[summary] = _Entry(entry.body, entry.built, entry.version, _now())
            return entry.body
        with self._locks[summary]:
            entry = self._entries.get(summary)  # rendered while this scrape waited?
            if entry is not None and self._usable(entry):
                return entry.body
            return self._build(summary).body

    def refresh(self) -> int:
        """Re-render what is stale; returns how many variants were rendered."""
        now = _now()
        version = self._version()
        done = 0
        for summary in (False, True):
            entry = self._entries.get(summary)
            if entry is None:
                if summary:
                    continue  # the summary is rendered once somebody asks for it
            elif now - entry.asked > FORGET_SECONDS and summary:
                self._entries.pop(summary, None)
                continue
            elif (
                version is not None
                and version == entry.version
                and now - entry.built < MAX_AGE_SECONDS
            ):
                continue
            with self._locks[summary]:
                self._build(summary)
                done += 1
        return done

    def _usable(self, entry: _Entry) -> bool:
        age = _now() - entry.built
        if self.background:
            # The refresher keeps it current; only a refresher that died leaves it old.
            return age < max(MAX_AGE_SECONDS, 4 * self.refresh_seconds)
        if age >= self.refresh_seconds:
            return False
        version = self._version()
        return version is None or version == entry.version

    def _build(self, summary: bool) -> _Entry:
        started = _now()
        body = self._render(per_certificate=not summary)
        # Read after rendering: a render may itself write (a service's state row
        # created on first read). A commit racing the render is seen at the
        # latest when the text ages out.
        version = self._version()
        previous = self._entries.get(summary)
        entry = _Entry(body, started, version, previous.asked if previous else started)
        self._entries[summary] = entry
        self.renders += 1
        return entry


def _now() -> float:
    return time.monotonic()
