"""Real ``certwarden serve`` processes on one real PostgreSQL database, for the
cluster tests (tests/test_cluster_processes.py, tests/test_shared_state_processes.py).

``database_url``: a fresh schema of the test server (skipped with the reason
when none answers). :func:`serve_env` is the environment every instance gets;
:class:`Instances` starts n of them and stops them (SIGTERM, then kill).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.cluster_procs import database_url, wait_for
from tests.cluster_procs import serve_env as procs_serve_env
from tests.web_support import free_port

CERTWARDEN = Path(sys.executable).parent / "certwarden"
LEASE = 3
ADMIN_PASSWORD = "cluster-admin-password"  # the one tests.cluster_procs.serve_env gives
__all__ = ["ADMIN_PASSWORD", "CERTWARDEN", "LEASE", "Instances", "cli", "database_url",
           "serve_env", "wait_for"]  # fmt: skip


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    """Every instance's environment (:func:`tests.cluster_procs.serve_env`), lease :data:`LEASE`."""
    return procs_serve_env(database_url, LEASE, **extra)


def cli(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``certwarden ARGS`` as its own process on the same database."""
    return subprocess.run(
        [str(CERTWARDEN), "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


class Instances:
    """``n`` ``certwarden serve`` processes started together, each answering /health."""

    def __init__(self, n: int, env: dict[str, str], directory: Path) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.bases: list[str] = []
        self.n, self.env, self.directory = n, env, directory

    def __enter__(self) -> Instances:
        try:
            for i in range(self.n):
                port = free_port()
                log = (self.directory / f"serve{i}.log").open("wb")
                command = [str(CERTWARDEN), "--data-dir", str(self.directory / f"node{i}")]
                command += ["serve", "--port", str(port), "--interval", "0.5"]
                self.processes.append(
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
                )
                self.bases.append(f"http://127.0.0.1:{port}")
            for i, base in enumerate(self.bases):

                def healthy(base: str = base) -> bool:
                    try:
                        return httpx.get(f"{base}/health", timeout=2).status_code == 200
                    except httpx.HTTPError:
                        return False

                wait_for(f"serve {i} answered", healthy, 90)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
