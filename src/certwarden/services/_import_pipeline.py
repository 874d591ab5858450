"""The CPU-heavy part of an import, fanned out over processes when it is big.

Two pure steps, each a plain function over picklable values so that a process
pool can run them: *digest* (parse a file's bytes into DER + facts) and
*verify* (confirm each certificate's issuer by its signature). Small imports
run inline; big ones use every core (``workers``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certwarden.core.certs import CertFacts, facts_from_certificate, signed_by
from certwarden.core.parsing import load_certificates
from certwarden.errors import ParseError

__all__ = ["Digested", "digest", "parallel_map", "split_pem", "verify_issuers"]

# Above this many bytes of input (or candidates to verify), a pool pays for itself.
PARALLEL_BYTES = 1_000_000
PARALLEL_ITEMS = 1_500
_PEM_END = re.compile(rb"-----END [A-Z0-9 #]+-----\r?\n?")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Digested:
    """One file (or one slice of a big PEM file) after parsing."""

    source: str
    part: int
    items: tuple[tuple[bytes, CertFacts], ...]
    problem: str | None
    notes: tuple[str, ...]


def digest(job: tuple[str, int, bytes, bytes | None, int]) -> Digested:
    """Parse ``(source, part, data, password, first PEM block number)``."""
    source, part, data, password, first_block = job
    try:
        loaded = load_certificates(data, source, password=password, first_block=first_block)
    except ParseError as exc:
        return Digested(source, part, (), exc.problem, ())
    items = []
    for cert in loaded.certificates:
        der = cert.public_bytes(Encoding.DER)
        items.append((der, facts_from_certificate(cert, der)))
    return Digested(source, part, tuple(items), None, loaded.notes)


def split_pem(data: bytes, blocks_per_part: int) -> list[tuple[bytes, int]]:
    """Cut a big PEM file at block ends: ``[(slice, number of its first block)]``."""
    parts: list[tuple[bytes, int]] = []
    start, first = 0, 1
    for count, match in enumerate(_PEM_END.finditer(data), start=1):
        if count - first + 1 == blocks_per_part:
            parts.append((data[start : match.end()], first))
            start, first = match.end(), count + 1
    if (start < len(data) and data[start:].strip()) or not parts:
        parts.append((data[start:], first))
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


def parallel_map(fn: Callable[[T], R], jobs: Iterable[T], workers: int) -> list[R]:
    """``map`` over a process pool (fork), keeping order."""
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        return [fn(j) for j in jobs]
    import multiprocessing

    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(fn, jobs, chunksize=1))
