"""The lease keeper: a job (or a chunk's check) longer than the lease keeps its
lease while it runs, and only its own; a paused one, a lost one or one past
KEEP_AT_MOST does not. The clock is the test's: each keeper round is called
directly (keep_once) except in the one test of its thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from certwarden.adapters.db.models import ClusterLease, RevocationChunk, Setting
from certwarden.clock import ManualClock, ensure_utc
from certwarden.composition import App
from certwarden.errors import LeaseLostError
from certwarden.services.cluster import ClusterService, Lease
from certwarden.services.cluster.keeper import LeaseKeeper
from certwarden.services.revocation.chunks import release_chunk
from certwarden.services.shared.settings_store import save_section
from tests.conftest import T0
from tests.test_revocation_chunks import HOLD, Pki, _plan, _setup
from tests.test_revocation_chunks import pki as pki  # the same throwaway PKI and responder

LEASE = timedelta(seconds=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_app(request: pytest.FixtureRequest) -> App:
    """The app on SQLite and on a real PostgreSQL (skipped, with the reason, without one)."""
    app: App = request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")
    return app


def _two(app: App) -> tuple[ClusterService, ClusterService, ManualClock]:
    clock = ManualClock(T0)  # one clock: the two nodes' clocks agree
    a = ClusterService(app.db, clock, node_id="node-a", lease=LEASE, host="a", pid=1)
    b = ClusterService(app.db, clock, node_id="node-b", lease=LEASE, host="b", pid=2)
    a.register()
    b.register()
    return a, b, clock


def _a_holds_monitor(
    app: App, **options: Any
) -> tuple[ClusterService, ClusterService, ManualClock, LeaseKeeper, Lease]:
    """Nodes a and b, a holding the monitor lease, and a's keeper (``options``)."""
    a, b, clock = _two(app)
    lease = a.acquire("monitor")
    assert lease is not None
    return a, b, clock, LeaseKeeper(a, clock, **options), lease


def _expires(app: App, job: str) -> datetime:
    with app.db.session() as s:
        value = s.scalar(sa.select(ClusterLease.expires_at).where(ClusterLease.job == job))
    assert value is not None
    return ensure_utc(value)


def test_a_job_longer_than_the_lease_keeps_it_and_commits(db_app: App) -> None:
    app = db_app
    a, b, clock, keeper, lease = _a_holds_monitor(app)
    with keeper.lease(lease):
        for _ in range(4):  # a run of 80 s, with a 30 s lease
            clock.advance(timedelta(seconds=20))
            keeper.keep_once()
            assert b.acquire("monitor") is None  # kept: nobody takes it over
        # The run commits: still this tenure.
        with app.db.session() as s:
            save_section(s, "long-run", {"from": "a"}, clock.now())
            a.fence(lease)(s)
    assert keeper.renewals == 4
    with app.db.session() as s:
        assert s.scalar(sa.select(Setting.value).where(Setting.section == "long-run")) == {
            "from": "a"
        }
    # The node stayed alive all along: its heartbeat came from the keeper.
    states = {n.node_id: n.gone for n in b.status().nodes}
    assert states["node-a"] is False


def test_without_the_keeper_the_same_run_is_taken_over_and_fenced(db_app: App) -> None:
    app = db_app
    """The control: the defect the keeper removes."""
    a, b, clock = _two(app)
    lease = a.acquire("monitor")
    assert lease is not None
    clock.advance(LEASE + timedelta(seconds=1))
    taken = b.acquire("monitor")
    assert taken is not None and taken.token == lease.token + 1
    with pytest.raises(LeaseLostError), app.db.session() as s:
        a.fence(lease)(s)


def test_only_the_job_in_progress_is_kept(db_app: App) -> None:
    app = db_app
    a, b, clock = _two(app)
    keeper = LeaseKeeper(a, clock)
    monitor, outbox = a.acquire("monitor"), a.acquire("outbox")
    assert monitor is not None and outbox is not None
    with keeper.lease(monitor):
        clock.advance(timedelta(seconds=20))
        keeper.keep_once()
        clock.advance(timedelta(seconds=11))
        # The long monitor run does not hold the outbox up: another instance delivers.
        assert b.acquire("outbox") is not None
        assert b.acquire("monitor") is None


def test_nothing_is_kept_outside_a_job(db_app: App) -> None:
    app = db_app
    _a, _b, clock, keeper, lease = _a_holds_monitor(app)
    with keeper.lease(lease):
        pass
    before = _expires(app, "monitor")
    clock.advance(timedelta(seconds=20))
    keeper.keep_once()
    assert keeper.renewals == 0 and _expires(app, "monitor") == before
    with keeper.lease(None):  # no lease: nothing to keep
        keeper.keep_once()
    assert keeper.renewals == 0


def test_a_paused_holder_loses_the_lease_and_its_late_keeper_takes_nothing_back(
    db_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    app = db_app
    a, b, clock, keeper, lease = _a_holds_monitor(app)
    with keeper.lease(lease):
        # Paused (SIGSTOP pauses the keeper too) past the lease: b takes over.
        clock.advance(LEASE + timedelta(seconds=1))
        taken = b.acquire("monitor")
        assert taken is not None
        b_expires = _expires(app, "monitor")
        # Resumed: the keeper's renewal is refused and it stops trying.
        clock.advance(timedelta(seconds=1))
        with caplog.at_level(logging.INFO, logger="certwarden.services.cluster.keeper"):
            keeper.keep_once()
            keeper.keep_once()
        assert keeper.renewals == 1
        assert "no longer this instance's" in caplog.text
        assert _expires(app, "monitor") == b_expires  # b's lease untouched
        with pytest.raises(LeaseLostError), app.db.session() as s:
            a.fence(lease)(s)
    with app.db.session() as s:
        row = s.get(ClusterLease, "monitor")
        assert row is not None and (row.holder, row.token) == ("node-b", taken.token)


def test_a_job_past_keep_at_most_is_no_longer_kept(
    db_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    app = db_app
    _a, b, clock, keeper, lease = _a_holds_monitor(app, at_most=timedelta(minutes=2))
    with keeper.lease(lease), caplog.at_level(logging.WARNING):
        for _ in range(6):  # renewed every 20 s up to 2 minutes
            clock.advance(timedelta(seconds=20))
            keeper.keep_once()
        assert keeper.renewals == 6
        clock.advance(timedelta(seconds=20))
        keeper.keep_once()  # 2 min 20 s: past the bound
        assert keeper.renewals == 6
        assert "the monitor lease (tenure 1) has been kept for 0:02:00" in caplog.text
        clock.advance(LEASE)
        assert b.acquire("monitor") is not None  # the stuck job goes elsewhere


def test_a_failed_renewal_is_logged_and_tried_again(
    db_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    app = db_app
    a, _b, clock = _two(app)
    keeper = LeaseKeeper(a, clock)
    calls: list[object] = []

    def flaky(now: object) -> bool:
        calls.append(now)
        if len(calls) == 1:
            raise OSError("the database is restarting")
        return True

    with keeper.holding("a test job", flaky), caplog.at_level(logging.WARNING):
        keeper.keep_once()
        keeper.keep_once()
    assert len(calls) == 2 and keeper.renewals == 1
    assert "could not renew a test job" in caplog.text and "restarting" in caplog.text


def test_the_keepers_thread_renews_while_a_job_runs(db_app: App) -> None:
    app = db_app
    _a, b, clock, keeper, lease = _a_holds_monitor(app, every=0.02)
    keeper.start()
    try:
        with keeper.lease(lease):
            clock.advance(timedelta(seconds=20))
            deadline = time.monotonic() + 30
            while _expires(app, "monitor") != T0 + timedelta(seconds=20) + LEASE:
                assert time.monotonic() < deadline, "the keeper's thread never renewed"
                time.sleep(0.02)
            clock.advance(timedelta(seconds=20))  # T0 + 40 s: past the first lease
            assert b.acquire("monitor") is None
    finally:
        keeper.stop()
    assert not any(t.name == "certwarden-keeper" for t in threading.enumerate())


def test_an_inactive_keeper_starts_no_thread(db_app: App) -> None:
    app = db_app
    a, _b, clock = _two(app)
    keeper = LeaseKeeper(a, clock, active=False, every=0.01)
    keeper.start()
    assert not any(t.name == "certwarden-keeper" for t in threading.enumerate())
    keeper.stop()


def test_serve_keeps_the_lease_on_postgresql_only(app: App, pg_app: App) -> None:
    assert app.keeper._active is False  # SQLite: one instance
    assert pg_app.keeper._active is True


# ------------------------------------------------------------ chunk claims


def test_a_chunk_check_longer_than_its_hold_keeps_its_claim(db_app: App, pki: Pki) -> None:
    app = db_app
    _setup(app, pki)
    _plan(app)
    a, _b, clock = _two(app)
    keeper = LeaseKeeper(a, clock)
    revocation = app.revocation
    claim = revocation.claim_chunk("node-a", T0, HOLD)
    assert claim is not None
    with keeper.holding(claim.what, lambda now: revocation.renew_claim(claim, now, HOLD)):
        clock.advance(HOLD - timedelta(seconds=1))
        keeper.keep_once()
        # Past the first hold: another instance gets the next chunk, not this one.
        later = T0 + HOLD + timedelta(seconds=5)
        other = revocation.claim_chunk("node-b", later, HOLD)
        assert other is not None and other.chunk_id != claim.chunk_id
        done = revocation.check_chunk(claim, later)
    assert done.claim.chunk_id == claim.chunk_id
    with app.db.session() as s:
        state = s.scalar(
            sa.select(RevocationChunk.state).where(RevocationChunk.id == claim.chunk_id)
        )
    assert state == "done"
    assert revocation.renew_claim(claim, later, HOLD) is False  # done: nothing to renew


def test_a_claim_given_back_or_taken_is_not_renewed(db_app: App, pki: Pki) -> None:
    app = db_app
    _setup(app, pki)
    _plan(app)
    revocation = app.revocation
    given_back = revocation.claim_chunk("node-a", T0, HOLD)
    assert given_back is not None
    release_chunk(app.db, given_back, T0)
    assert revocation.renew_claim(given_back, T0, HOLD) is False
    again = revocation.claim_chunk("node-b", T0, HOLD)
    assert again is not None and again.chunk_id == given_back.chunk_id
    assert revocation.renew_claim(given_back, T0, HOLD) is False  # node-b's now
    assert revocation.renew_claim(again, T0 + timedelta(seconds=1), HOLD) is True
    with pytest.raises(LeaseLostError):
        asyncio.run(revocation.worker.acheck(given_back, T0))
