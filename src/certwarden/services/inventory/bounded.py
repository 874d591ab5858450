"""Parsing of untrusted uploads in a worker process, with a deadline and a bound
on how many run at once.

A file chooses how much work its parsing costs (key derivations, the number of
certificates, odd encodings); the checks in :mod:`certwarden.core` bound what
they know of, and this bounds the rest. ``ParseBudget.digest`` hands the parse
to a fresh worker process (forked from a clean, preloaded fork server, so that
the server's threads and locks are not copied) and waits for its answer:

* at most :attr:`ParseLimits.concurrent` parses run at once; a further upload
  waits for a slot until its deadline and is then refused (:class:`BusyError`);
* a parse that has not answered by the deadline (:attr:`ParseLimits.seconds`
  from the moment the upload arrived) is killed and the upload refused
  (:class:`ParseBudgetError`); nothing is stored.

The server's own process only waits on a pipe meanwhile, so its event loop,
``/health`` and the background monitor keep running whatever the file does.
Workers die with the server (``_die_with_parent``).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from certwarden.errors import BusyError, ParseBudgetError
from certwarden.services.inventory.pipeline import Digested, Job, _die_with_parent, digest

__all__ = ["DEFAULT_PARSE_LIMITS", "ParseBudget", "ParseLimits"]


@dataclass(frozen=True)
class ParseLimits:
    """How long one upload may take to parse, and how many are parsed at once."""

    seconds: float = 30.0
    concurrent: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= 3600:
            raise ValueError(f"parse seconds {self.seconds!r}: use more than 0, up to 3600")
        if not 1 <= self.concurrent <= 64:
            raise ValueError(f"concurrent parses {self.concurrent!r}: use 1 to 64")


DEFAULT_PARSE_LIMITS = ParseLimits()

_context_lock = threading.Lock()
_context: Any = None


def _mp_context() -> Any:
    """The fork server (POSIX) with the parser preloaded; spawn elsewhere."""
    global _context
    with _context_lock:
        if _context is None:
            if os.name == "posix":
                server = multiprocessing.get_context("forkserver")
                server.set_forkserver_preload([__name__])
                _context = server
            else:  # pragma: no cover - not POSIX
                _context = multiprocessing.get_context("spawn")
        return _context


def _worker(conn: Connection, jobs: Sequence[Job]) -> None:
    """In the worker process: digest every job, send the results, exit."""
    _die_with_parent(os.getppid())
    try:
        conn.send([digest(job) for job in jobs])
    except BaseException as exc:
        conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


class ParseBudget:
    """Runs upload parses in worker processes, within :class:`ParseLimits`."""

    def __init__(self, limits: ParseLimits = DEFAULT_PARSE_LIMITS) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.concurrent)

    def digest(self, jobs: Sequence[Job]) -> list[Digested]:
        """Every job digested, in order, or an error naming the limit that was hit."""
        if not jobs:
            return []
        deadline = time.monotonic() + self.limits.seconds
        names = ", ".join(sorted({job.source for job in jobs}))
        if not self._slots.acquire(timeout=self.limits.seconds):
            raise BusyError(
                f"{self.limits.concurrent} upload(s) are being parsed already and none "
                f"finished within {self.limits.seconds:g} s; try again in a moment",
                retry_after=max(1, round(self.limits.seconds)),
            )
        try:
            return self._run(list(jobs), deadline, names)
        finally:
            self._slots.release()

    def _run(self, jobs: list[Job], deadline: float, names: str) -> list[Digested]:
        ctx = _mp_context()
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_worker, args=(sender, jobs), name="certwarden-parse", daemon=True
        )
        try:
            process.start()
            sender.close()  # the worker holds the only writer: EOF if it dies
            if not receiver.poll(max(0.0, deadline - time.monotonic())):
                raise ParseBudgetError(names, self.limits.seconds)
            try:
                answer = receiver.recv()
            except EOFError:
                answer = f"the parser process ended without an answer (exit {process.exitcode})"
        finally:
            if process.is_alive():
                process.kill()
            if process.pid is not None:
                process.join(timeout=5)
            receiver.close()
        if isinstance(answer, str):
            # Digesting reports bad files as values; this is a crash of the parser itself.
            return [
                Digested(job.source, job.part, (), f"cannot be parsed: {answer}", ())
                for job in jobs
            ]
        return list(answer)
