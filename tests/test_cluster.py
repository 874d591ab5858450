"""Job leases with fencing: one holder per job, takeover after the lease, a fenced
ex-leader commits nothing. On SQLite and, where one answers, real PostgreSQL
(where a takeover must wait for a fenced commit in flight: checked through
pg_stat_activity, not by timing)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from certwarden.adapters.db.models import Setting
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.core.timefmt import iso_z
from certwarden.errors import LeaseLostError
from certwarden.services.cluster import ClusterService
from certwarden.services.shared.settings_store import save_section
from tests.conftest import T0

LEASE = timedelta(seconds=30)


def _nodes(app: App) -> tuple[ClusterService, ClusterService, ManualClock, ManualClock]:
    clock_a, clock_b = ManualClock(T0), ManualClock(T0)
    a = ClusterService(app.db, clock_a, node_id="node-a", lease=LEASE, host="a", pid=1)
    b = ClusterService(app.db, clock_b, node_id="node-b", lease=LEASE, host="b", pid=2)
    a.register()
    b.register()
    return a, b, clock_a, clock_b


def _leases_and_fencing(app: App) -> None:
    a, b, clock_a, clock_b = _nodes(app)
    first = a.acquire("monitor")
    assert first is not None and first.token == 1
    assert b.acquire("monitor") is None  # one holder
    clock_a.advance(timedelta(seconds=20))
    renewed = a.acquire("monitor")
    assert renewed is not None and renewed.token == 1  # a renewal keeps the tenure
    clock_b.advance(timedelta(seconds=40))  # still inside a's renewed lease (T0+50 s)
    assert b.acquire("monitor") is None

    # a stops renewing (paused past its lease): b takes over with a new tenure.
    clock_b.advance(timedelta(seconds=11))
    taken = b.acquire("monitor")
    assert taken is not None and taken.token == 2
    status = b.status()
    held = {lease.job: lease for lease in status.leases}
    assert held["monitor"].holder == "node-b" and not held["monitor"].expired

    # a wakes up and tries to commit its run: the fence refuses, nothing is stored.
    fence = a.fence(renewed)
    with pytest.raises(LeaseLostError, match="monitor lease"), app.db.session() as s:
        save_section(s, "fenced-run", {"from": "a"}, clock_a.now())
        fence(s)
    with app.db.session() as s:
        assert s.scalar(select(Setting).where(Setting.section == "fenced-run")) is None
    # b's own fence passes, and its run commits.
    with app.db.session() as s:
        save_section(s, "fenced-run", {"from": "b"}, clock_b.now())
        b.fence(taken)(s)
    with app.db.session() as s:
        row = s.scalar(select(Setting).where(Setting.section == "fenced-run"))
        assert row is not None and row.value == {"from": "b"}
    # a's next acquire sees it lost the lease.
    assert a.acquire("monitor") is None


def test_leases_and_fencing_on_sqlite(app: App) -> None:
    _leases_and_fencing(app)


@pytest.mark.postgres
def test_leases_and_fencing_on_postgres(pg_app: App) -> None:
    _leases_and_fencing(pg_app)


def test_each_job_has_its_own_lease_and_gone_nodes_show(app: App) -> None:
    a, b, _, clock_b = _nodes(app)
    assert a.acquire("monitor") is not None
    assert b.acquire("outbox") is not None
    assert a.acquire("outbox") is None and b.acquire("monitor") is None
    with pytest.raises(ValueError, match="unknown job"):
        a.acquire("everything")
    clock_b.advance(timedelta(seconds=31))
    b.heartbeat()
    status = b.status()
    states = {n.node_id: n.gone for n in status.nodes}
    assert states == {"node-a": True, "node-b": False}  # a's heartbeat is older than the lease
    data = status.to_json()
    monitor = next(lease for lease in data["leases"] if lease["job"] == "monitor")
    assert (monitor["state"], monitor["holder"], monitor["last_holder"]) == (
        "expired",
        None,
        "node-a",
    )
    # A takeover starts a new tenure: its start is when b took the job.
    assert b.acquire("monitor") is not None
    monitor = next(x for x in b.status().to_json()["leases"] if x["job"] == "monitor")
    assert (monitor["holder"], monitor["acquired_at"]) == ("node-b", iso_z(clock_b.now()))
    outbox = next(x for x in b.status().to_json()["leases"] if x["job"] == "outbox")
    assert outbox["acquired_at"] == iso_z(T0)  # renewals do not move it


def test_leave_releases_at_once(app: App) -> None:
    a, b, _, _ = _nodes(app)
    assert a.acquire("revocation") is not None
    a.leave()
    taken = b.acquire("revocation")
    assert taken is not None and taken.token == 2
    assert [n.node_id for n in b.status().nodes] == ["node-b"]


@pytest.mark.postgres
def test_takeover_waits_for_a_fenced_commit_in_flight(pg_app: App) -> None:
    """a fences inside its transaction while its lease is valid; b, whose clock is
    past the lease, tries to take over before a commits: b must wait for a's commit
    (the fence holds the row lock), then take over with a new tenure."""
    a, b, _, clock_b = _nodes(pg_app)
    lease = a.acquire("monitor")
    assert lease is not None
    clock_b.advance(LEASE + timedelta(seconds=1))
    outcome: dict[str, object] = {}
    a_committed = threading.Event()

    def take_over() -> None:
        got = b.acquire("monitor")
        outcome["committed_first"] = a_committed.is_set()
        outcome["lease"] = got

    with pg_app.db.session() as s:
        save_section(s, "in-flight", {"from": "a"}, T0)
        a.fence(lease)(s)
        pid = s.scalar(text("SELECT pg_backend_pid()"))
        worker = threading.Thread(target=take_over)
        worker.start()
        with pg_app.db.engine.connect() as probe:
            waiting = False
            for _ in range(200):
                waiting = bool(
                    probe.scalar(
                        text(
                            # blocked by a's transaction itself: not by another
                            # test's (another schema, another worker)
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE :me = ANY(pg_blocking_pids(pid)) "
                            "AND query ILIKE '%cluster_leases%'"
                        ),
                        {"me": pid},
                    )
                )
                # pg_stat_activity is a snapshot per transaction: end it to see anew.
                probe.rollback()
                if waiting:
                    break
                worker.join(0.05)
            assert waiting, "b's takeover did not wait for a's fenced transaction"
        a_committed.set()
    worker.join(10)
    assert outcome["committed_first"] is True
    got = outcome["lease"]
    assert got is not None and got.token == lease.token + 1  # type: ignore[attr-defined]
    with pg_app.db.session() as s:
        assert s.scalar(select(Setting.value).where(Setting.section == "in-flight")) == {
            "from": "a"
        }


async def test_instances_shown_in_the_api_and_the_control_center(app: App) -> None:
    """Item 1: every node (alive or gone) and each job's holder, in the API and the UI."""
    from tests.web_support import asgi_client, make_setup

    setup = make_setup(app)
    a, _b, clock_a, _clock_b = _nodes(app)
    assert a.acquire("monitor") is not None
    # b stops beating; the app's own clock (the reader) moves past the lease.
    app.clock.advance(LEASE + timedelta(seconds=1))  # type: ignore[attr-defined]
    clock_a.advance(LEASE + timedelta(seconds=1))
    a.heartbeat()
    async with asgi_client(setup.web, setup.admin_token) as admin:
        data = (await admin.get("/api/v1/cluster")).json()
        states = {n["node_id"]: n["state"] for n in data["nodes"]}
        assert states == {"node-a": "alive", "node-b": "gone"}
        assert data["lease_seconds"] == 30
        monitor = next(x for x in data["leases"] if x["job"] == "monitor")
        assert (monitor["last_holder"], monitor["acquired_at"]) == ("node-a", iso_z(T0))
        page = await admin.get("/control-center")
    assert page.status_code == 200
    assert 'id="cluster-nodes"' in page.text and "node-b" in page.text
    assert "<th>Since</th>" in page.text
    assert '<span class="badge failed">Gone</span>' in page.text
    async with asgi_client(setup.web) as anonymous:
        assert (await anonymous.get("/api/v1/cluster")).status_code == 401
