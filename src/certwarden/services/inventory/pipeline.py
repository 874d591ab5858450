"""The CPU-heavy part of an import, fanned out over processes when it is big.

Two pure steps, each a plain function over picklable values so that a process
pool can run them: *digest* (parse a file's bytes into DER + facts) and
*verify* (confirm each certificate's issuer by its signature). Small imports
run inline; big ones use every core (``workers``).

Pool workers die with the process that started them (``_die_with_parent``):
a ``kill -9`` of ``certwarden import`` must not leave workers blocked forever
on a queue nobody will write to again.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from certwarden.core.certs import CertFacts, facts_from_certificate, signed_by
from certwarden.core.parsing import load_certificates
from certwarden.errors import ParseError

__all__ = [
    "Digested",
    "Job",
    "digest",
    "digest_all",
    "parallel_map",
    "pem_slices",
    "plan_file",
    "verify_issuers",
]

# Above this many bytes of input (or candidates to verify), a pool pays for itself.
PARALLEL_BYTES = 1_000_000
PARALLEL_ITEMS = 1_500
_PEM_END = re.compile(rb"-----END [A-Z0-9 #]+-----\r?\n?")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Job:
    """Parse one file, or one slice of a big PEM file.

    ``data`` is the content for uploads; for files on disk it is None and the
    worker reads ``length`` bytes at ``offset`` itself (-1: the whole file).
    """

    source: str
    part: int
    data: bytes | None
    password: bytes | None
    first_block: int = 1
    offset: int = 0
    length: int = -1


@dataclass(frozen=True)
class Digested:
    """One file (or one slice of a big PEM file) after parsing."""

    source: str
    part: int
    items: tuple[tuple[bytes, CertFacts], ...]
    problem: str | None
    notes: tuple[str, ...]
    code: str = ""  # the ParseError's code, when it has one


def digest(job: Job) -> Digested:
    """Parse one job's bytes into DER and facts (or the problem, in words)."""
    data = job.data
    if data is None:
        try:
            with open(job.source, "rb") as fh:  # noqa: PTH123 - seek + read of a slice
                fh.seek(job.offset)
                data = fh.read(job.length)
        except OSError as exc:
            return Digested(job.source, job.part, (), f"cannot be read: {exc.strerror}", ())
    try:
        loaded = load_certificates(
            data, job.source, password=job.password, first_block=job.first_block
        )
    except ParseError as exc:
        return Digested(job.source, job.part, (), exc.problem, (), exc.code)
    items = []
    for number, cert in enumerate(loaded.certificates, start=1):
        der = cert.public_bytes(Encoding.DER)
        try:
            facts = facts_from_certificate(cert, der)
        except _LAZY_PARSE_ERRORS as exc:
            # load_certificates reads what facts need; this is the backstop that
            # keeps one certificate from aborting the whole import.
            return Digested(
                job.source, job.part, (), f"certificate {number} cannot be read: {exc}", ()
            )
        items.append((der, facts))
    return Digested(job.source, job.part, tuple(items), None, loaded.notes)


# What cryptography raises when a lazily parsed field is first read.
_LAZY_PARSE_ERRORS = (
    ValueError,
    TypeError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    CryptographyDeprecationWarning,
)


def _digest_batch(jobs: list[Job]) -> list[Digested]:
    return [digest(job) for job in jobs]


def digest_all(jobs: list[Job], workers: int) -> Iterator[Digested]:
    """Digest every job, in order; over ``workers`` processes when more than one."""
    if workers <= 1:
        for job in jobs:
            yield digest(job)
        return
    size = max(1, len(jobs) // (workers * 8))
    batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    for batch in parallel_map(_digest_batch, batches, workers):
        yield from batch


def plan_file(path: Path, password: bytes | None, *, blocks_per_part: int) -> list[Job]:
    """Jobs for one file on disk: slices at PEM block ends for a big PEM bundle."""
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if b"-----BEGIN" not in mm[:4096]:
                return [Job(str(path), 0, None, password)]
            return [
                Job(str(path), part, None, password, first, start, end - start)
                for part, (start, end, first) in enumerate(pem_slices(mm, blocks_per_part))
            ]
    except (OSError, ValueError):  # unreadable or empty: the worker reports it
        return [Job(str(path), 0, None, password)]


def pem_slices(data: bytes | mmap.mmap, blocks_per_part: int) -> list[tuple[int, int, int]]:
    """Cut PEM text at block ends: ``[(start, end, number of the first block)]``."""
    parts: list[tuple[int, int, int]] = []
    start, first = 0, 1
    for count, match in enumerate(_PEM_END.finditer(data), start=1):
        if count - first + 1 == blocks_per_part:
            parts.append((start, match.end(), first))
            start, first = match.end(), count + 1
    if (start < len(data) and data[start:].strip()) or not parts:
        parts.append((start, len(data), first))
    return parts


def _verify_job(
    job: tuple[Sequence[bytes], Sequence[tuple[bytes, tuple[int, ...]]]],
) -> list[int | None]:
    candidate_ders, items = job
    candidates = [x509.load_der_x509_certificate(d) for d in candidate_ders]
    out: list[int | None] = []
    for der, options in items:
        cert = x509.load_der_x509_certificate(der)
        found = None
        for index in options:
            if signed_by(cert, candidates[index]):
                found = index
                break
        out.append(found)
    return out


def verify_issuers(
    candidate_ders: Sequence[bytes],
    items: Sequence[tuple[bytes, tuple[int, ...]]],
    workers: int,
) -> list[int | None]:
    """For each ``(der, candidate indexes)``, the candidate whose signature verifies."""
    if workers <= 1 or len(items) < PARALLEL_ITEMS:
        return _verify_job((candidate_ders, items))
    size = max(500, len(items) // (workers * 4))
    chunks = [(candidate_ders, items[i : i + size]) for i in range(0, len(items), size)]
    results: list[int | None] = []
    for part in parallel_map(_verify_job, chunks, workers):
        results.extend(part)
    return results


def parallel_map(fn: Callable[[T], R], jobs: Iterable[T], workers: int) -> Iterator[R]:
    """``map`` over a process pool (fork), keeping order, yielding as results arrive."""
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        yield from (fn(j) for j in jobs)
        return
    import multiprocessing

    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        yield from pool.map(fn, jobs, chunksize=1)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PARENT_POLL_SECONDS = 1.0


def _die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when ``parent`` (the importing process) dies.

    On Linux the kernel sends SIGKILL when the parent goes (prctl
    PR_SET_PDEATHSIG); elsewhere a daemon thread polls the parent's PID.
    Either way a parent that is already gone is noticed at once.
    """
    armed = False
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)
