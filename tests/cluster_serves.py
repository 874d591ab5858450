"""Real ``certwarden serve`` processes on one PostgreSQL database, for the scale
test and ``bench/cluster_scale.py``: started with a log each, healthy when
``/health`` answers, stopped with SIGTERM (killed after a wait)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cluster_procs import cluster_secret_file
from tests.ocsp_responders import free_port

__all__ = ["CERTWARDEN", "Serves", "serve_env", "wait_for"]

CERTWARDEN = Path(sys.executable).parent / "certwarden"


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARDEN_")}
    env.update(
        CERTWARDEN_DATABASE_URL=database_url,
        CERTWARDEN_SECRET_FILE=str(cluster_secret_file(database_url)),
        CERTWARDEN_ADMIN_PASSWORD="cluster-admin-password",
        **extra,
    )
    return env


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.3) -> Any:
    """Poll ``check`` until it returns something true; AssertionError past ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(every)


@dataclass
class Serves:
    """``n`` serve processes; use as a context manager (stopped on exit)."""

    n: int
    database_url: str
    directory: Path
    env: Mapping[str, str] = field(default_factory=dict)
    interval: float = 0.5
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)

    def __enter__(self) -> Serves:
        env = serve_env(self.database_url, **self.env)
        for i in range(self.n):
            port = free_port()
            args = [str(CERTWARDEN), "--data-dir", str(self.directory / f"node{i}"),
                    "serve", "--port", str(port), "--interval", str(self.interval)]  # fmt: skip
            with (self.directory / f"serve{i}.log").open("ab") as log:
                process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
            self.processes.append(process)
            self.bases.append(f"http://127.0.0.1:{port}")
        for i, base in enumerate(self.bases):

            def healthy(base: str = base, i: int = i) -> bool:
                if self.processes[i].poll() is not None:
                    raise AssertionError(f"serve {i} exited: {self.log(i)[-2000:]}")
                try:
                    return httpx.get(f"{base}/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(f"serve {i} answered", healthy, 120)
        return self

    def log(self, i: int) -> str:
        return (self.directory / f"serve{i}.log").read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
