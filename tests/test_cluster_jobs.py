"""The cluster's jobs beyond the monitor, on real PostgreSQL: a fenced ex-leader of
the scheduled revocation check records nothing (no checks, no alerts, no
notices, no schedule state), and the new leader's run commits; two instances
delivering the outbox at once send each notice once (a real aiosmtpd)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509

from certwarden.adapters.db import Database
from certwarden.adapters.db.models import Alert, OcspCheck, OutboxMessage, ServiceState
from certwarden.adapters.smtp import SmtpSettings, SmtpTransport
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.errors import LeaseLostError
from certwarden.services.cluster import ClusterService
from certwarden.services.revocation import SERVICE_NAME
from certwarden.services.shared.outbox import CLAIM_LEASE, OutboxService, enqueue
from tests.fakeca import T0, FakeCA
from tests.ocsp_responders import FakeCAResponder, FaultResponder, LiveAnswer, write_pem
from tests.smtp_fixture import SmtpServer

LEASE = timedelta(seconds=30)


@dataclass
class Pki:
    files: Path
    responder: FakeCAResponder
    revoked: x509.Certificate


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    server = FaultResponder().start()
    try:
        files = tmp_path_factory.mktemp("cluster-pki")
        root = FakeCA.root("Cluster Root", now=T0)
        sub = root.intermediate("Cluster Issuing CA")
        url = server.url("live")
        good = sub.leaf("good.cluster.test", ocsp_url=url).cert
        revoked = sub.leaf("revoked.cluster.test", ocsp_url=url).cert
        responder = FakeCAResponder(sub, [good, revoked], this_update=lambda: T0)
        responder.answers[good.serial_number] = LiveAnswer()
        responder.answers[revoked.serial_number] = LiveAnswer(
            "revoked", T0 - timedelta(hours=1), x509.ReasonFlags.key_compromise
        )
        server.serve_dynamic("live", responder)
        write_pem(files / "chain.pem", sub.cert, root.cert)
        write_pem(files / "leaves.pem", good, revoked)
        yield Pki(files, responder, revoked)
    finally:
        server.stop()


def _count(app: App, model: type) -> int:
    with app.db.session() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


@pytest.mark.postgres
def test_a_fenced_ex_leader_records_no_revocation_check(pg_app: App, pki: Pki) -> None:
    app = pg_app
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    app.inventory.import_paths([pki.files / "leaves.pem"], store="tomcat")
    app.monitor.update_settings({"email_enabled": True, "emails": "pki-team@example.test"})
    app.revocation.update_settings({"enable_ocsp": True, "enable_revocation_check": True})
    clock_a, clock_b = ManualClock(T0), ManualClock(T0)
    a = ClusterService(app.db, clock_a, node_id="node-a", lease=LEASE, host="a", pid=1)
    b = ClusterService(app.db, clock_b, node_id="node-b", lease=LEASE, host="b", pid=2)
    a.register()
    b.register()
    held = a.acquire("revocation")
    assert held is not None and b.acquire("revocation") is None
    # a is paused past its lease; b takes the job over.
    clock_b.advance(LEASE + timedelta(seconds=1))
    taken = b.acquire("revocation")
    assert taken is not None and taken.token == held.token + 1
    checks_before = _count(app, OcspCheck)

    # a wakes up in the middle of its round and runs the due check: the
    # responder answers (one leaf revoked: an alert and a notice would follow),
    # but the fence refuses at commit and nothing of the run is stored.
    with pytest.raises(LeaseLostError, match="revocation lease"):
        app.revocation.tick(T0, fence=a.fence(held))
    assert _count(app, OcspCheck) == checks_before
    assert _count(app, Alert) == 0
    assert _count(app, OutboxMessage) == 0
    with app.db.session() as s:
        state = s.get(ServiceState, SERVICE_NAME)
        assert state is not None and state.last_run_at is None  # the run did not happen
    assert a.acquire("revocation") is None  # and a knows it lost the job

    # The new leader runs the same due check: it commits, once.
    outcome = app.revocation.tick(T0, fence=b.fence(taken))
    assert outcome.ran and outcome.report is not None
    assert len(outcome.report.outcomes) == 3  # two leaves and the issuing CA
    assert _count(app, OcspCheck) == checks_before + 3
    with app.db.session() as s:
        alerts = list(s.scalars(sa.select(Alert)))
        notices = list(s.scalars(sa.select(OutboxMessage)))
        state = s.get(ServiceState, SERVICE_NAME)
    assert [(x.kind, x.subject) for x in alerts] == [
        ("revoked", pki.revoked.subject.rfc4514_string())
    ]
    assert [n.kind for n in notices] == ["revocation"]
    assert state is not None and state.last_run_at is not None
    # Not due again at once: the cluster's schedule, not the process's.
    assert not app.revocation.tick(T0 + timedelta(minutes=1), fence=b.fence(taken)).ran


def _use_server(outbox: OutboxService, port: int) -> None:
    outbox.update_smtp_settings(
        {
            "host": "127.0.0.1",
            "port": str(port),
            "security": "none",
            "from_address": "certwarden@example.org",
            "timeout_seconds": "5",
        }
    )


def _queue(app: App, count: int) -> None:
    with app.db.session() as s:
        for n in range(count):
            assert enqueue(
                s, now=T0, kind="revocation", dedupe_key=f"cluster-notice-{n}",
                recipients=["pki-team@example.test"], subject=f"notice {n}", body=f"body {n}\n",
            )  # fmt: skip


@pytest.mark.postgres
def test_two_instances_delivering_at_once_send_each_notice_once(
    pg_app: App, smtp_server: SmtpServer
) -> None:
    _use_server(pg_app.outbox, smtp_server.port)
    count = 40
    _queue(pg_app, count)
    # A second instance: its own engine (connections) on the same database.
    other_db = Database(pg_app.db.url)
    try:
        other = OutboxService(other_db, ManualClock(T0))
        outboxes = [pg_app.outbox, other]
        start = threading.Barrier(2)
        reports: list[list[int]] = [[], []]

        def deliver(i: int) -> None:
            start.wait(10)
            reports[i] = list(outboxes[i].deliver_due(T0).sent)

        workers = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
    finally:
        other_db.engine.dispose()
    subjects = [m.subject for m in smtp_server.messages]
    assert len(subjects) == count and len(set(subjects)) == count, sorted(subjects)
    # Each notice received once, reported sent by exactly one instance.
    assert not set(reports[0]) & set(reports[1])
    assert len(reports[0]) + len(reports[1]) == count
    with pg_app.db.session() as s:
        states = list(s.scalars(sa.select(OutboxMessage.state)))
    assert states == ["sent"] * count


@pytest.mark.postgres
def test_a_failed_round_leaves_another_instances_claim_alone(
    pg_app: App, smtp_server: SmtpServer
) -> None:
    """The server fails this instance's round at the first notice; a notice of
    that round that another instance claimed meanwhile keeps its claim (no
    backoff that would make it due again while it is being sent there)."""
    _use_server(pg_app.outbox, smtp_server.port)
    _queue(pg_app, 3)
    with pg_app.db.session() as s:
        ids = list(s.scalars(sa.select(OutboxMessage.id).order_by(OutboxMessage.id)))
    claimed_elsewhere = ids[2]

    def transport(settings: SmtpSettings) -> SmtpTransport:
        # After this instance chose its round: another instance claims the last
        # notice (the same conditional UPDATE it would do), then the server goes down.
        with pg_app.db.session() as s:
            row = s.get_one(OutboxMessage, claimed_elsewhere)
            row.next_attempt_at = T0 + CLAIM_LEASE
        smtp_server.stop()
        return SmtpTransport(settings)

    outbox = OutboxService(pg_app.db, ManualClock(T0), transport_factory=transport)
    report = outbox.deliver_due(T0)
    assert report.sent == [] and set(report.failed) == {ids[0], ids[1]}
    with pg_app.db.session() as s:
        rows = {r.id: r for r in s.scalars(sa.select(OutboxMessage))}
    assert [rows[i].attempts for i in ids] == [1, 1, 0]
    assert rows[claimed_elsewhere].next_attempt_at == T0 + CLAIM_LEASE
    assert rows[claimed_elsewhere].last_error is None


@pytest.mark.postgres
def test_two_instances_creating_the_monitor_state_at_once_make_one_row(pg_app: App) -> None:
    """The first touch of the monitor's state on two instances at once: the second
    waits on the first's row, then reads it (no unique-key error)."""
    from certwarden.services.monitor.reports import SERVICE_NAME as MONITOR
    from certwarden.services.monitor.schedule import ensure_state, load_settings

    other_db = Database(pg_app.db.url)
    created, commit = threading.Event(), threading.Event()

    def first() -> None:
        with other_db.session() as s:
            ensure_state(s, T0, load_settings(s))
            s.flush()
            created.set()
            commit.wait(30)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert created.wait(30)
        second: list[object] = []
        reader = threading.Thread(target=lambda: second.append(pg_app.monitor.status()))
        reader.start()
        reader.join(1.0)
        assert reader.is_alive()  # waiting on the first's uncommitted row
        commit.set()
        reader.join(30)
        worker.join(30)
        assert len(second) == 1
    finally:
        commit.set()
        worker.join(30)
        other_db.engine.dispose()
    with pg_app.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).where(ServiceState.name == MONITOR)) == 1
