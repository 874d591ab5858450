"""Helpers shared by the benchmarks: child processes with their own peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CERTWARDEN = [sys.executable, "-m", "certwarden"]


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: bytes


def measure(
    cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measured:
    """Run ``cmd`` as a child; wall time and the child's own peak RSS (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    out, _ = b"", b""
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"{cmd[:4]} failed with {proc.returncode}")
    return Measured(elapsed, usage.ru_maxrss / 1024, proc.returncode, out)
