"""Per-message claims of both outboxes under the cluster's outbox lease, on real
PostgreSQL with a real aiosmtpd and a real JSON webhook (services/shared/claims.py):

* a notice claimed by a sender that died (its advisory lock gone with its
  connection) is taken over at once by the next lease holder — not after the
  claim's 10 minutes — and sent once;
* one whose sender is alive (slow, or paused: its lock held) is left alone
  even after the lease passed on, and sent once its sender is gone;
* a fenced ex-leader claims nothing and sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import ChannelMessage, OutboxMessage
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.errors import LeaseLostError
from certwarden.services.cluster import ClusterService, Lease
from certwarden.services.shared import claims
from certwarden.services.shared.channel_outbox import ChannelAlert, queue_for_alerts
from certwarden.services.shared.outbox import CLAIM_LEASE, enqueue
from tests.conftest import T0
from tests.receiver_fixture import Receiver
from tests.smtp_fixture import SmtpServer

pytestmark = pytest.mark.postgres

LEASE = timedelta(seconds=30)


def _tenure(cluster: ClusterService, lease: Lease) -> claims.Tenure:
    return claims.Tenure(lease.token, cluster.fence(lease))


@pytest.fixture
def nodes(pg_app: App) -> tuple[ClusterService, ClusterService, ManualClock]:
    clock_b = ManualClock(T0)
    a = ClusterService(pg_app.db, ManualClock(T0), node_id="a", lease=LEASE, host="a", pid=1)
    b = ClusterService(pg_app.db, clock_b, node_id="b", lease=LEASE, host="b", pid=2)
    return a, b, clock_b


@pytest.fixture
def other_db(pg_app: App) -> Iterator[Database]:
    """Another process's connections to the same database."""
    db = Database(pg_app.db.url)
    try:
        yield db
    finally:
        db.engine.dispose()


def _mail(app: App, smtp: SmtpServer) -> int:
    app.outbox.update_smtp_settings(
        {"host": "127.0.0.1", "port": str(smtp.port), "security": "none",
         "from_address": "certwarden@example.org", "timeout_seconds": "5"}
    )  # fmt: skip
    with app.db.session() as s:
        assert enqueue(
            s, now=T0, kind="revocation", dedupe_key="claims-1",
            recipients=["pki-team@example.test"], subject="notice", body="body\n",
        )  # fmt: skip
    with app.db.session() as s:
        return int(s.scalar(sa.select(OutboxMessage.id)) or 0)


def _claim_as(db: Database, model: claims.Model, msg_id: int, tenure: claims.Tenure) -> None:
    with db.session() as s:
        assert claims.claim(s, model, msg_id, T0, CLAIM_LEASE, tenure)


def test_a_dead_senders_mail_is_taken_over_by_the_next_holder_and_sent_once(
    pg_app: App, smtp_server: SmtpServer, nodes: tuple[ClusterService, ClusterService, ManualClock]
) -> None:
    a, b, clock_b = nodes
    msg_id = _mail(pg_app, smtp_server)
    lease_a = a.acquire("outbox", T0)
    assert lease_a is not None
    # a claimed the notice and died before sending it (no lock: its connection is gone).
    _claim_as(pg_app.db, OutboxMessage, msg_id, _tenure(a, lease_a))
    assert pg_app.outbox.deliver_due(T0).sent == []  # without a lease: the claim's time
    clock_b.advance(LEASE + timedelta(seconds=1))
    lease_b = b.acquire("outbox")
    assert lease_b is not None and lease_b.token == lease_a.token + 1
    later = T0 + LEASE + timedelta(seconds=1)  # well inside the 10-minute claim
    report = pg_app.outbox.deliver_due(later, tenure=_tenure(b, lease_b))
    assert report.sent == [msg_id]
    assert [m.subject for m in smtp_server.messages] == ["notice"]
    again = pg_app.outbox.deliver_due(later + timedelta(seconds=1), tenure=_tenure(b, lease_b))
    assert again.sent == [] and len(smtp_server.messages) == 1


def test_a_live_senders_mail_is_left_alone_after_the_lease_passed_on(
    pg_app: App,
    smtp_server: SmtpServer,
    nodes: tuple[ClusterService, ClusterService, ManualClock],
    other_db: Database,
) -> None:
    a, b, clock_b = nodes
    msg_id = _mail(pg_app, smtp_server)
    lease_a = a.acquire("outbox", T0)
    assert lease_a is not None
    with claims.sending(other_db, OutboxMessage, msg_id) as mine:
        assert mine
        _claim_as(other_db, OutboxMessage, msg_id, _tenure(a, lease_a))
        # a is slow (or paused) mid-send; b holds the lease now.
        clock_b.advance(LEASE + timedelta(seconds=1))
        lease_b = b.acquire("outbox")
        assert lease_b is not None
        report = pg_app.outbox.deliver_due(clock_b.now(), tenure=_tenure(b, lease_b))
        assert report.sent == [] and smtp_server.messages == []
    # a's process ended without storing an outcome: the lock is free, b sends it.
    report = pg_app.outbox.deliver_due(clock_b.now(), tenure=_tenure(b, lease_b))
    assert report.sent == [msg_id] and len(smtp_server.messages) == 1


def test_a_fenced_ex_leader_claims_and_sends_nothing(
    pg_app: App, smtp_server: SmtpServer, nodes: tuple[ClusterService, ClusterService, ManualClock]
) -> None:
    a, b, clock_b = nodes
    msg_id = _mail(pg_app, smtp_server)
    lease_a = a.acquire("outbox", T0)
    assert lease_a is not None
    clock_b.advance(LEASE + timedelta(seconds=1))
    assert b.acquire("outbox") is not None
    with pytest.raises(LeaseLostError, match="outbox lease"):
        pg_app.outbox.deliver_due(T0, tenure=_tenure(a, lease_a))
    assert smtp_server.messages == []
    with pg_app.db.session() as s:
        row = s.get_one(OutboxMessage, msg_id)
        assert (row.state, row.claim_token, row.attempts) == ("pending", None, 0)
        assert row.next_attempt_at == T0  # unclaimed: the claim rolled back


def test_a_dead_senders_channel_notice_is_taken_over_and_posted_once(
    pg_app: App,
    receiver: Receiver,
    nodes: tuple[ClusterService, ClusterService, ManualClock],
    other_db: Database,
) -> None:
    a, b, clock_b = nodes
    pg_app.channels.add("ops", f"json://127.0.0.1:{receiver.port}/hooks/claims")
    alert = ChannelAlert(
        kind="revoked", severity="critical", message="leaf revoked", sha256="ab" * 32,
        subject="CN=leaf", store="tomcat", dedupe_key="claims-alert", details={},
    )  # fmt: skip
    with pg_app.db.session() as s:
        assert queue_for_alerts(s, [alert], now=T0) == 1
    with pg_app.db.session() as s:
        msg_id = int(s.scalar(sa.select(ChannelMessage.id)) or 0)
    lease_a = a.acquire("outbox", T0)
    assert lease_a is not None
    with claims.sending(other_db, ChannelMessage, msg_id) as mine:
        assert mine
        _claim_as(other_db, ChannelMessage, msg_id, _tenure(a, lease_a))
        clock_b.advance(LEASE + timedelta(seconds=1))
        lease_b = b.acquire("outbox")
        assert lease_b is not None
        tenure_b = _tenure(b, lease_b)
        assert pg_app.channels.deliver_due(clock_b.now(), tenure=tenure_b).sent == []
    # a died mid-send (its connection and lock gone): b posts it, once.
    assert pg_app.channels.deliver_due(clock_b.now(), tenure=tenure_b).sent == [msg_id]
    assert pg_app.channels.deliver_due(clock_b.now(), tenure=tenure_b).sent == []
    assert len(receiver.posts) == 1
