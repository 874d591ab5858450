"""Three real ``certwarden serve`` processes on one real PostgreSQL database.

``cluster status --json`` lists three nodes and one holder per job; after
kill -9 of the monitor's holder another instance holds it within the lease,
and the dead node shows as gone. The lease is 3 s here (the default is 30 s).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster_procs import CERTWARDEN, database_url, serve_env
from tests.web_support import free_port

__all__ = ["database_url"]  # the fixture, from tests.cluster_procs
LEASE = 3

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _env(database_url: str) -> dict[str, str]:
    return serve_env(database_url, LEASE)


def _status(database_url: str, tmp_path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [str(CERTWARDEN), "--data-dir", str(tmp_path / "cli"), "cluster", "status", "--json"],
        env=_env(database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.3)


def test_three_instances_one_holder_per_job_and_failover(database_url: str, tmp_path: Path) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # Started together: migrations take a lock, so one migrates and the others wait.
        bases = []
        for i in range(3):
            port = free_port()
            log = (tmp_path / f"serve{i}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [
                        str(CERTWARDEN),
                        "--data-dir",
                        str(tmp_path / f"node{i}"),
                        "serve",
                        "--port",
                        str(port),
                        "--interval",
                        "0.5",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_env(database_url),
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for i, base in enumerate(bases):

            def healthy(base: str = base) -> bool:
                try:
                    return httpx.get(f"{base}/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait(f"serve {i} answered", healthy, 90)

        def three_and_held() -> dict[str, Any] | None:
            data = _status(database_url, tmp_path)
            alive = [n for n in data["nodes"] if n["state"] == "alive"]
            held = {lease["job"]: lease["holder"] for lease in data["leases"]}
            jobs = {"monitor", "revocation", "outbox", "syslog", "ari"}
            if len(alive) == 3 and jobs <= set(held) and all(held[j] for j in jobs):
                return data
            return None

        data = _wait("three nodes, every job held", three_and_held, 30)
        pids = {n["node_id"]: n["pid"] for n in data["nodes"]}
        holders = {lease["job"]: lease["holder"] for lease in data["leases"]}
        assert set(holders.values()) <= set(pids)  # each job: one holder, a live node
        victim = holders["monitor"]
        victim_pid = pids[victim]
        os.kill(victim_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        def taken_over() -> dict[str, Any] | None:
            now = _status(database_url, tmp_path)
            monitor = next(lease for lease in now["leases"] if lease["job"] == "monitor")
            if monitor["holder"] not in (None, victim):
                return now
            return None

        after = _wait("another instance holds the monitor", taken_over, 4 * LEASE + 10)
        took = time.monotonic() - killed_at
        print(f"kill -9 of the monitor's holder: another instance held it {took:.1f} s later "
              f"(lease {LEASE} s)")  # fmt: skip
        states = {n["node_id"]: n["state"] for n in after["nodes"]}
        assert states.get(victim) in ("gone", None) or took < LEASE  # gone once past the lease
        _wait(
            "the killed node shown as gone",
            lambda: (
                {n["node_id"]: n["state"] for n in _status(database_url, tmp_path)["nodes"]}[victim]
                == "gone"
            ),
            2 * LEASE + 10,
        )
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
