"""Exactly once across real ``certwarden serve`` processes on one PostgreSQL
database, delivered to a real SMTP server (aiosmtpd).

* three instances: one Certificate Expiry Monitor run per due time and one
  digest per frequency slot (a second due time in the same slot sends nothing);
* kill -9 of the monitor's holder inside its run's transaction (held there by a
  row lock the test takes on the certificates): nothing of that run is stored,
  another instance runs it within the lease, one digest arrives;
* kill -9 of the outbox's holder while the mail server holds its DATA: another
  instance delivers the notice within the lease, once;
* the same for channel notices (Apprise ``json://`` to a real HTTP receiver),
  two instances: each notice reaches the channel once;
* a run held inside its transaction for three leases keeps its lease (the
  lease keeper) and commits once, with nobody else starting it;
* SIGSTOP of the monitor's holder inside its run past its lease: the new
  leader's run commits while the ex-leader stays paused (PostgreSQL ends the
  paused session's idle transaction), and the resumed one commits nothing.

The schedule is made due by writing the cluster's schedule state (the
monitor's ``next_run_at`` row), as a failover or a long downtime would find it.
Leases are 4 s here (the default is 30 s); every wait polls with a generous
timeout.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from certwarden.clock import ManualClock
from certwarden.composition import App, AppConfig, build_app
from tests.cluster_procs import Instances, application_name, database_url, wait_for
from tests.monitor_helpers import add_cert
from tests.receiver_fixture import Receiver
from tests.smtp_fixture import SmtpServer

__all__ = ["database_url"]  # the fixture, from tests.cluster_procs

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEASE = 4
RECIPIENT = "pki-team@example.test"


def smtp_env(smtp: SmtpServer, tmp_path: Path) -> dict[str, str]:
    return {
        "CERTWARDEN_SMTP_HOST": "127.0.0.1",
        "CERTWARDEN_SMTP_PORT": str(smtp.port),
        "CERTWARDEN_SMTP_SECURITY": "none",
        "CERTWARDEN_SMTP_FROM": "certwarden@example.test",
        # One secret file for every instance (sealed settings read the same everywhere).
        "CERTWARDEN_SECRET_FILE": str(tmp_path / "shared-secret.key"),
    }


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


def setup_app(database_url: str, tmp_path: Path, *, email: bool = True) -> tuple[App, datetime]:
    """The test's own view of the database (the instances migrated it): certificates
    due now, e-mail on. Returns it with the wall-clock time the certificates use."""
    now = datetime.now(UTC)  # clock: the instances run on the real clock
    app = build_app(
        AppConfig(
            data_dir=tmp_path / "setup",
            database_url=database_url,
            secret_file=tmp_path / "shared-secret.key",  # the instances' (smtp_env)
        ),
        clock=ManualClock(now),
        migrate=False,
    )
    app.monitor.update_settings({"email_enabled": email, "emails": RECIPIENT})
    add_cert(app, "expired.cluster.test", now - timedelta(days=1))
    add_cert(app, "critical.cluster.test", now + timedelta(hours=12))
    add_cert(app, "warning.cluster.test", now + timedelta(days=20))
    return app, now


def make_due(engine: sa.Engine) -> None:
    with engine.begin() as c:
        done = c.execute(
            sa.text(
                "UPDATE services SET next_run_at = :at WHERE name = 'certificate-expiry-monitor'"
            ),
            {"at": datetime.now(UTC) - timedelta(seconds=1)},  # clock: the instances' clock
        )
        assert done.rowcount == 1


def monitor_state(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as c:
        row = c.execute(
            sa.text(
                "SELECT next_run_at, last_run_at, detail FROM services WHERE name = 'certificate-expiry-monitor'"
            )
        ).one()
    detail = row.detail if isinstance(row.detail, dict) else {}
    return {
        "next": row.next_run_at,
        "last": row.last_run_at,
        "scheduled": int((detail.get("runs") or {}).get("scheduled", 0)),
    }


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text(sql)).scalar_one())


def expiry_alerts(engine: sa.Engine) -> int:
    return count(engine, "SELECT count(*) FROM alerts WHERE kind IN ('expiring', 'expired')")


def digests(smtp: SmtpServer) -> list[str]:
    with smtp.lock:
        return [m.subject for m in smtp.messages if RECIPIENT in m.rcpt_tos]


def test_one_run_per_due_time_and_one_digest_per_slot_across_three(
    database_url: str, engine: sa.Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    env = smtp_env(smtp_server, tmp_path)
    with Instances(database_url, tmp_path, count=3, lease=LEASE, extra_env=env) as cluster:
        cluster.wait_healthy()
        cluster.wait_all_held()
        setup_app(database_url, tmp_path)
        assert monitor_state(engine)["scheduled"] == 0
        make_due(engine)
        wait_for("the due run", lambda: monitor_state(engine)["scheduled"] >= 1, 60)
        wait_for("the digest delivered", lambda: digests(smtp_server), 60)
        assert expiry_alerts(engine) == 3  # one per due certificate
        # A second due time in the same daily slot: a run, nothing new, no mail.
        make_due(engine)
        wait_for("the second due run", lambda: monitor_state(engine)["scheduled"] >= 2, 60)
        wait_for(
            "the outbox empty",
            lambda: count(engine, "SELECT count(*) FROM outbox WHERE state = 'pending'") == 0,
            60,
        )
        time.sleep(3 * 0.5 + 1)  # a few more rounds of every instance
        assert monitor_state(engine)["scheduled"] == 2  # one run per due time, not three
        assert len(digests(smtp_server)) == 1, digests(smtp_server)
        assert count(engine, "SELECT count(*) FROM outbox") == 1
        assert expiry_alerts(engine) == 3
        assert monitor_state(engine)["next"] > datetime.now(UTC)  # clock: rescheduled ahead


def waiting_on(engine: sa.Engine, blocker: int) -> tuple[list[int], dict[int, Any]]:
    """The sessions waiting on backend ``blocker``'s locks, directly or through
    another session waiting on them (a second waiter on one row waits for the
    first's tuple lock); with every session's (application_name, blockers)."""
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT pid, application_name, pg_blocking_pids(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid()"
            )
        ).all()
    waits = {pid: (name, set(by or ())) for pid, name, by in rows}
    reached = {blocker}
    grew = True
    while grew:
        grew = False
        for pid, (_, by) in waits.items():
            if pid not in reached and by & reached:
                reached.add(pid)
                grew = True
    return sorted(reached - {blocker}), waits


def blocked_run(engine: sa.Engine, cluster: Instances, blocker: int) -> int | None:
    """The index of the instance whose run waits on the test's row lock (held by
    backend ``blocker``) inside its transaction, if a session waits on it
    (:func:`waiting_on`). The waiting session is named by its
    ``application_name``; one without an instance's name is taken to be the
    monitor lease holder's (only the holder runs the monitor)."""
    names = {application_name(cluster.database_url, i): i for i in range(cluster.count)}
    waiting, waits = waiting_on(engine, blocker)
    if not waiting:
        return None
    direct = [pid for pid in waiting if blocker in waits[pid][1]]
    for pid in direct + waiting:
        if waits[pid][0] in names:
            return names[waits[pid][0]]
    holder = cluster.holder_pid("monitor")
    return cluster.index_of_pid(holder) if holder is not None else None


def sessions(engine: sa.Engine) -> str:
    """Every session of this database and every lock not granted, for a failure message."""
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT pid, application_name, state, wait_event_type, wait_event, "
                "pg_blocking_pids(pid), left(regexp_replace(query, '\\s+', ' ', 'g'), 100) "
                "FROM pg_stat_activity WHERE datname = current_database() ORDER BY pid"
            )
        ).all()
        waits = c.execute(
            sa.text(
                "SELECT pid, locktype, mode, relation::regclass::text FROM pg_locks "
                "WHERE NOT granted ORDER BY pid"
            )
        ).all()
    return "\n".join(
        ["sessions:", *(f"  {tuple(r)}" for r in rows), "locks waited for:",
         *(f"  {tuple(r)}" for r in waits)]
    )  # fmt: skip


def wait_blocked(engine: sa.Engine, cluster: Instances, blocker: int) -> int:
    deadline = time.monotonic() + 60
    while (found := blocked_run(engine, cluster, blocker)) is None:
        if time.monotonic() > deadline:
            pytest.fail(
                f"the monitor run waiting inside its transaction within 60 s "
                f"(the test's backend {blocker})\n{sessions(engine)}"
            )
        time.sleep(0.1)
    return found


@contextmanager
def run_held(engine: sa.Engine, cluster: Instances) -> Iterator[tuple[int, int]]:
    """The monitor made due while the test holds a row lock on every certificate:
    yields the index of the instance whose run waits on it inside its transaction,
    and the test's backend pid. The lock goes (rollback) when the block ends."""
    holder_lock = engine.connect()
    try:
        tx = holder_lock.begin()
        holder_lock.execute(sa.text("SELECT id FROM certificates FOR UPDATE"))
        me = int(holder_lock.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        make_due(engine)
        yield wait_blocked(engine, cluster, me), me
        tx.rollback()
    finally:
        holder_lock.close()


def test_kill_9_of_the_monitor_holder_inside_its_run(
    database_url: str, engine: sa.Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    env = smtp_env(smtp_server, tmp_path)
    with Instances(database_url, tmp_path, count=3, lease=LEASE, extra_env=env) as cluster:
        cluster.wait_healthy()
        cluster.wait_all_held()
        setup_app(database_url, tmp_path)
        # The run's UPDATE of the certificates waits on this lock, inside its
        # transaction: its alerts are written, its digest not yet.
        with run_held(engine, cluster) as (victim, _me):
            assert cluster.holders()["monitor"] is not None
            os.kill(cluster.processes[victim].pid, signal.SIGKILL)
            killed = time.monotonic()
        wait_for("the run completed by another instance", lambda: monitor_state(engine)["last"],
                 4 * LEASE + 60)  # fmt: skip
        took = time.monotonic() - killed
        wait_for("the digest delivered", lambda: digests(smtp_server), 60)
        time.sleep(2)
        assert len(digests(smtp_server)) == 1, digests(smtp_server)
        assert expiry_alerts(engine) == 3
        assert monitor_state(engine)["scheduled"] == 1
        print(f"kill -9 inside the run: completed by another instance {took:.1f} s later "
              f"(lease {LEASE} s)")  # fmt: skip


def lease_row(engine: sa.Engine, job: str) -> tuple[str | None, int]:
    with engine.connect() as c:
        row = c.execute(
            sa.text("SELECT holder, token FROM cluster_leases WHERE job = :job"), {"job": job}
        ).one()
    return row.holder, int(row.token)


def test_a_run_longer_than_the_lease_stays_with_its_holder(
    database_url: str, engine: sa.Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The lease keeper: the holder's run, held inside its transaction for three
    leases by the test's row lock, keeps the monitor lease (same holder, same
    tenure) and its node alive; no other instance starts the run. Let go, it
    commits: one run, one digest, no lost lease anywhere."""
    env = smtp_env(smtp_server, tmp_path)
    with Instances(database_url, tmp_path, count=3, lease=LEASE, extra_env=env) as cluster:
        cluster.wait_healthy()
        cluster.wait_all_held()
        setup_app(database_url, tmp_path)
        with run_held(engine, cluster) as (runner, me):
            tenure = lease_row(engine, "monitor")
            time.sleep(3 * LEASE)
            during = lease_row(engine, "monitor")
            nodes = cluster.status()["nodes"]
            waiting, _ = waiting_on(engine, me)
        wait_for("the run committed", lambda: monitor_state(engine)["last"], 60)
        wait_for("the digest delivered", lambda: digests(smtp_server), 60)
        time.sleep(2)
        assert cluster.holder_pid("monitor") == cluster.processes[runner].pid
        assert during == tenure, (tenure, during)  # kept: nobody took the job over
        assert [n["state"] for n in nodes] == ["alive"] * 3, nodes
        assert len(waiting) == 1, waiting  # one run waited: nobody else started it
        assert lease_row(engine, "monitor") == tenure
        assert monitor_state(engine)["scheduled"] == 1
        assert len(digests(smtp_server)) == 1, digests(smtp_server)
        assert expiry_alerts(engine) == 3
        logs = [cluster.log(i) for i in range(cluster.count)]
        assert not any("lease" in log and "was lost" in log for log in logs), logs
        print(f"a run held for {3 * LEASE} s (lease {LEASE} s) kept tenure {tenure[1]} "
              "and committed once")  # fmt: skip


def test_kill_9_of_the_outbox_holder_mid_send(
    database_url: str, engine: sa.Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    env = smtp_env(smtp_server, tmp_path)
    with Instances(database_url, tmp_path, count=3, lease=LEASE, extra_env=env) as cluster:
        cluster.wait_healthy()
        cluster.wait_all_held()
        setup_app(database_url, tmp_path)
        smtp_server.hold_next()
        make_due(engine)
        wait_for("the digest's DATA held", lambda: smtp_server.held, 60, step=0.1)
        pid = cluster.holder_pid("outbox")
        assert pid is not None
        # A slow send outlasting the lease is not taken over: its sender is alive.
        time.sleep(2 * LEASE)
        assert digests(smtp_server) == []
        assert smtp_server.held == 1
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        smtp_server.let_go()
        wait_for("the digest delivered by another instance", lambda: digests(smtp_server),
                 4 * LEASE + 60)  # fmt: skip
        took = time.monotonic() - killed
        time.sleep(2)
        assert len(digests(smtp_server)) == 1, digests(smtp_server)
        assert count(engine, "SELECT count(*) FROM outbox WHERE state = 'sent'") == 1
        print(f"kill -9 mid-send: delivered by another instance {took:.1f} s later "
              f"(lease {LEASE} s)")  # fmt: skip


def test_kill_9_of_the_outbox_holder_mid_channel_send(
    database_url: str, engine: sa.Engine, receiver: Receiver, tmp_path: Path
) -> None:
    env = {"CERTWARDEN_SECRET_FILE": str(tmp_path / "shared-secret.key")}
    with Instances(database_url, tmp_path, count=2, lease=LEASE, extra_env=env) as cluster:
        cluster.wait_healthy()
        cluster.wait_all_held()
        app, _ = setup_app(database_url, tmp_path, email=False)
        app.channels.add("ops", f"json://127.0.0.1:{receiver.port}/hooks/cluster")
        receiver.hold_next()
        make_due(engine)
        wait_for("a channel notice held mid-send", lambda: receiver.held, 60, step=0.1)
        pid = cluster.holder_pid("outbox")
        assert pid is not None
        # At once: Apprise's own read timeout (4 s) would end the send first.
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        receiver.let_go()
        wait_for("the three channel notices delivered", lambda: len(receiver.posts) >= 3,
                 4 * LEASE + 60)  # fmt: skip
        took = time.monotonic() - killed
        time.sleep(2)
        titles = [str(p.body.get("title")) for p in receiver.posts]
        assert len(titles) == 3 and len(set(titles)) == 3, titles  # each notice once
        assert count(engine, "SELECT count(*) FROM channel_outbox WHERE state = 'sent'") == 3
        assert count(engine, "SELECT count(*) FROM channel_outbox") == 3
        print(f"kill -9 mid channel send: delivered by the other instance {took:.1f} s later "
              f"(lease {LEASE} s)")  # fmt: skip


def test_a_paused_ex_leader_commits_nothing_and_the_new_leader_runs(
    database_url: str, engine: sa.Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """SIGSTOP of the monitor's holder inside its run's transaction, past its
    lease; another instance takes the job. The paused transaction's row locks
    would hold the new leader's run up for as long as the pause lasts, but
    PostgreSQL ends a session idle in its transaction past
    CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS (6 s here): the new leader's
    run commits and is mailed *while the ex-leader is still paused*. SIGCONT:
    the paused run commits nothing (its session is gone, or the fence refuses
    it), and the resumed instance goes on as a member of the cluster."""
    env = smtp_env(smtp_server, tmp_path) | {"CERTWARDEN_DATABASE_IDLE_TRANSACTION_SECONDS": "6"}
    with Instances(database_url, tmp_path, count=3, lease=LEASE, extra_env=env) as cluster:
        cluster.wait_healthy()
        cluster.wait_all_held()
        setup_app(database_url, tmp_path)
        with run_held(engine, cluster) as (victim, _me):
            paused = cluster.processes[victim]
            old = cluster.holder_pid("monitor")
            assert old in (paused.pid, None)  # None: its lease already ran out
            os.kill(paused.pid, signal.SIGSTOP)
        # The test's lock went with the block: the paused run's UPDATE went through,
        # and its transaction stays open, paused.
        stopped = time.monotonic()
        new = wait_for(
            "another instance holds the monitor",
            lambda: (p := cluster.holder_pid("monitor")) not in (None, paused.pid) and p,
            4 * LEASE + 60,
        )
        took = time.monotonic() - stopped
        try:
            # Still paused: the new leader's run gets through once the server ended
            # the paused session, and its digest goes out.
            wait_for("the new leader's run", lambda: monitor_state(engine)["scheduled"] >= 1, 90)
            ran = time.monotonic() - stopped
            wait_for("the digest delivered", lambda: digests(smtp_server), 60)
            assert paused.poll() is None  # (still there, stopped)
        finally:
            os.kill(paused.pid, signal.SIGCONT)
        node = f"pid {paused.pid}"
        # Resumed: its run fails (its session was ended) and stores nothing; it
        # comes back as a live instance with fresh connections.
        wait_for(
            f"the resumed instance ({node}) reporting its run failed",
            lambda: (
                "Monitor tick failed: the database connection was lost" in cluster.log(victim)
                or "was lost" in cluster.log(victim)
            ),
            30,
        )
        wait_for(
            "the resumed instance alive again",
            lambda: any(
                n["pid"] == paused.pid and n["state"] == "alive" for n in cluster.status()["nodes"]
            ),
            4 * LEASE + 30,
        )
        time.sleep(3)
        assert monitor_state(engine)["scheduled"] == 1  # one run: the paused one committed nothing
        assert len(digests(smtp_server)) == 1, digests(smtp_server)
        assert count(engine, "SELECT count(*) FROM outbox") == 1
        assert expiry_alerts(engine) == 3
        assert cluster.holder_pid("monitor") is not None
        print(f"SIGSTOP of the monitor holder: instance pid {new} held the job {took:.1f} s "
              f"later, its run committed {ran:.1f} s after the pause while the ex-leader "
              f"stayed paused (lease {LEASE} s, idle transactions ended after 6 s)")  # fmt: skip
