"""Three real ``certwarden serve`` processes on one real PostgreSQL database.

``cluster status --json`` lists three nodes and one holder per job; after
kill -9 of the monitor's holder another instance holds it within the lease
(plus one background round: the instances poll every 0.5 s here), and the
dead node shows as gone. The lease is 3 s here (the default is 30 s).
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cluster_procs import Instances, database_url, wait_for

__all__ = ["database_url"]  # the fixture, from tests.cluster_procs
LEASE = 3
JOBS = {"monitor", "revocation", "outbox", "syslog", "ari"}

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _lease(data: dict[str, Any], job: str) -> dict[str, Any]:
    return next(lease for lease in data["leases"] if lease["job"] == job)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_three_instances_one_holder_per_job_and_failover(database_url: str, tmp_path: Path) -> None:
    with Instances(database_url, tmp_path, count=3, lease=LEASE) as cluster:
        cluster.wait_healthy()
        data = cluster.wait_all_held(30)
        pids = {n["node_id"]: n["pid"] for n in data["nodes"]}
        assert len(pids) == 3 and sorted(pids.values()) == sorted(p.pid for p in cluster.processes)
        holders = {lease["job"]: lease["holder"] for lease in data["leases"]}
        assert set(holders) == JOBS
        assert set(holders.values()) <= set(pids)  # each job: one holder, a live node
        # Started together on an empty database: one of them created admin, and only
        # it says so (the others, if they got that far at once, say who did).
        said = [" ".join(cluster.log(i).split()) for i in range(cluster.count)]
        assert sum("created user admin" in s for s in said) == 1, said
        victim = holders["monitor"]
        before = _lease(data, "monitor")
        os.kill(pids[victim], signal.SIGKILL)
        killed = datetime.now(UTC)  # clock: the instances' clock, to compare with acquired_at
        killed_at = time.monotonic()

        def taken_over() -> dict[str, Any] | None:
            now = cluster.status()
            return now if _lease(now, "monitor")["holder"] not in (None, victim) else None

        after = wait_for("another instance holds the monitor", taken_over, 4 * LEASE + 10)
        seen = time.monotonic() - killed_at
        monitor = _lease(after, "monitor")
        assert monitor["holder"] in set(pids) - {victim}
        assert monitor["token"] == before["token"] + 1  # a new tenure: the old one is fenced
        # When the new holder took the job, from the lease row (the instances'
        # own clock): the figure, free of the time each `cluster status` takes.
        took = (_at(monitor["acquired_at"]) - killed).total_seconds()
        print(f"kill -9 of the monitor's holder: taken over {took:.1f} s after the kill, "
              f"seen in cluster status {seen:.1f} s after (lease {LEASE} s, rounds 0.5 s)")  # fmt: skip
        # The old lease ran out no later than one lease after the kill (it was
        # renewed before it), and nobody held the job before it ran out.
        assert _at(monitor["acquired_at"]) >= _at(before["expires_at"])
        states = {n["node_id"]: n["state"] for n in after["nodes"]}
        assert states.get(victim) in ("gone", None) or seen < LEASE  # gone once past the lease
        wait_for(
            "the killed node shown as gone",
            lambda: {n["node_id"]: n["state"] for n in cluster.status()["nodes"]}[victim] == "gone",
            2 * LEASE + 10,
        )
        # Every other job still has one live holder.
        final = cluster.status()
        alive = {n["node_id"] for n in final["nodes"] if n["state"] == "alive"}
        assert len(alive) == 2 and victim not in alive
        wait_for(
            "every job held by a live instance",
            lambda: all(_lease(cluster.status(), j)["holder"] in alive for j in JOBS),
            4 * LEASE + 10,
        )
