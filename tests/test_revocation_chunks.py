"""A scheduled revocation run cut into chunks that instances claim (issue 14 item 3).

On real PostgreSQL: a claim skips a chunk another transaction has locked
(``FOR UPDATE SKIP LOCKED``, no waiting); a chunk claimed by an instance that
died is claimed again once its claim expired, and the dead claim's late
commit stores nothing (fenced); two instances working at once check every
certificate once and complete the run once, with one alert per change and
one notice. On SQLite (one instance) the same code path, the bound on claims
of a chunk that keeps failing, and ``cluster status --json``'s progress.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509

from certwarden.adapters.db.models import (
    Alert,
    OcspCheck,
    OutboxMessage,
    RevocationChunk,
    RevocationRun,
)
from certwarden.clock import ManualClock
from certwarden.composition import App
from certwarden.errors import LeaseLostError
from certwarden.services.revocation.chunks import MAX_CLAIMS
from tests.conftest import Cli
from tests.fakeca import T0, FakeCA
from tests.ocsp_responders import FakeCAResponder, FaultResponder, LiveAnswer, write_pem

HOLD = timedelta(seconds=30)
LEAVES = 9


@dataclass
class Pki:
    files: Path
    revoked: x509.Certificate


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    server = FaultResponder().start()
    try:
        files = tmp_path_factory.mktemp("chunks-pki")
        root = FakeCA.root("Chunks Root", now=T0)
        sub = root.intermediate("Chunks Issuing CA")
        url = server.url("live")
        leaves = [sub.leaf(f"host{i}.chunks.test", ocsp_url=url).cert for i in range(LEAVES)]
        responder = FakeCAResponder(sub, leaves, this_update=lambda: T0)
        revoked = leaves[4]
        responder.answers[revoked.serial_number] = LiveAnswer(
            "revoked", T0 - timedelta(hours=1), x509.ReasonFlags.key_compromise
        )
        server.serve_dynamic("live", responder)
        write_pem(files / "chain.pem", sub.cert, root.cert)
        write_pem(files / "leaves.pem", *leaves)
        yield Pki(files, revoked)
    finally:
        server.stop()


def _setup(app: App, pki: Pki, chunk_size: int = 2) -> None:
    app.inventory.import_paths([pki.files / "chain.pem"], store="tomcat-trust")
    app.inventory.import_paths([pki.files / "leaves.pem"], store="tomcat")
    app.monitor.update_settings({"email_enabled": True, "emails": "pki-team@example.test"})
    app.revocation.update_settings({"enable_ocsp": True, "enable_revocation_check": True})
    app.revocation.schedule.chunk_size = chunk_size


def _plan(app: App) -> int:
    """The leader's tick: the run planned, nothing checked yet."""
    tick = app.revocation.tick(T0, node="leader", work=False)
    assert tick.ran and tick.report is None, tick
    with app.db.session() as s:
        run = s.scalars(sa.select(RevocationRun)).one()
        chunks = s.scalar(sa.select(sa.func.count()).select_from(RevocationChunk))
    # Nine leaves and the issuing CA (the root is not checked), two per chunk.
    assert run.certificate_count == LEAVES + 1 and chunks == 5
    return run.id


def _checks_per_certificate(app: App) -> dict[int, int]:
    with app.db.session() as s:
        rows = s.execute(
            sa.select(OcspCheck.certificate_id, sa.func.count()).group_by(OcspCheck.certificate_id)
        )
        return {int(cid): int(n) for cid, n in rows if cid is not None}


def _monitored_ids(app: App) -> set[int]:
    from certwarden.adapters.db.models import CertificateRow

    with app.db.session() as s:
        return set(s.scalars(sa.select(CertificateRow.id).where(CertificateRow.role != "root")))


def _assert_run_complete_once(app: App, pki: Pki) -> None:
    assert _checks_per_certificate(app) == dict.fromkeys(_monitored_ids(app), 1)
    with app.db.session() as s:
        run = s.scalars(sa.select(RevocationRun)).one()
        alerts = list(s.scalars(sa.select(Alert)))
        notices = list(s.scalars(sa.select(OutboxMessage)))
    assert run.state == "complete" and run.completed_at is not None
    assert run.notices_queued == 1
    assert [(a.kind, a.subject) for a in alerts] == [
        ("revoked", pki.revoked.subject.rfc4514_string())
    ]
    assert [n.kind for n in notices] == ["revocation"]
    assert "is now revoked" in notices[0].subject


def _work(app: App, node: str, clock_at: timedelta = timedelta(0)) -> int:
    done = 0
    while app.revocation.work_chunk(node, T0 + clock_at, HOLD) is not None:
        done += 1
    return done


@pytest.mark.postgres
def test_a_claim_skips_a_locked_chunk_without_waiting(pg_app: App, pki: Pki) -> None:
    app = pg_app
    _setup(app, pki)
    _plan(app)
    with app.db.engine.connect() as other, other.begin():
        # Another instance is in the middle of claiming (or committing) the first chunk.
        first = other.execute(
            sa.text("SELECT id FROM revocation_chunks ORDER BY id LIMIT 1 FOR UPDATE")
        ).scalar_one()
        got: list[object] = []
        worker = threading.Thread(
            target=lambda: got.append(app.revocation.worker.claim("node-b", T0, HOLD))
        )
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the claim waited on the locked chunk"
    (claim,) = got
    assert claim is not None and claim.chunk_id != first  # type: ignore[attr-defined]
    assert claim.node == "node-b" and claim.token == 1  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_a_dead_instances_chunk_is_claimed_again_and_its_late_commit_stores_nothing(
    pg_app: App, pki: Pki
) -> None:
    app = pg_app
    _setup(app, pki)
    _plan(app)
    worker = app.revocation.worker
    dead = worker.claim("node-a", T0, HOLD)
    assert dead is not None and dead.seq == 0
    # Within the claim, the other instance takes the next chunk, not node-a's.
    second = worker.claim("node-b", T0 + timedelta(seconds=10), HOLD)
    assert second is not None and second.seq == 1
    asyncio.run(worker.acheck(second, T0 + timedelta(seconds=10)))
    # Past the claim: node-a's chunk is node-b's now (a new token).
    later = T0 + HOLD + timedelta(seconds=1)
    again = worker.claim("node-b", later, HOLD)
    assert again is not None and again.chunk_id == dead.chunk_id
    assert again.token == dead.token + 1
    # node-a was only paused: it checks its chunk and tries to commit — refused.
    with pytest.raises(LeaseLostError, match="revocation chunk 1/5 of run"):
        asyncio.run(worker.acheck(dead, later))
    assert not set(dead.certificate_ids) & set(_checks_per_certificate(app))
    asyncio.run(worker.acheck(again, later))
    assert _work(app, "node-b", HOLD) == 3
    _assert_run_complete_once(app, pki)
    with app.db.session() as s:
        by_node = dict(
            s.execute(
                sa.select(RevocationChunk.seq, RevocationChunk.node_id).order_by(
                    RevocationChunk.seq
                )
            ).all()
        )
    assert set(by_node.values()) == {"node-b"}


@pytest.mark.postgres
def test_two_instances_at_once_check_each_certificate_once_and_complete_once(
    pg_app: App, pki: Pki
) -> None:
    app = pg_app
    _setup(app, pki, chunk_size=1)
    app.revocation.tick(T0, node="leader", work=False)
    counts: dict[str, int] = {}
    errors: list[BaseException] = []

    def instance(node: str) -> None:
        try:
            counts[node] = _work(app, node)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=instance, args=(n,)) for n in ("node-a", "node-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(counts.values()) == LEAVES + 1  # one chunk per certificate, each done once
    _assert_run_complete_once(app, pki)
    progress = app.revocation.run_progress()
    assert progress is not None and progress["chunks"]["done"] == LEAVES + 1
    assert sum(n["chunks_done"] for n in progress["nodes"]) == LEAVES + 1


def test_sqlite_one_instance_runs_the_same_chunks(
    app: App, pki: Pki, tmp_path: Path, clock: ManualClock
) -> None:
    _setup(app, pki)
    _plan(app)
    # A run not done yet: the next tick plans nothing more, whatever the time.
    assert not app.revocation.tick(T0 + timedelta(days=2), node="leader", work=False).ran
    assert _work(app, "solo") == 5
    _assert_run_complete_once(app, pki)
    cli = Cli(tmp_path / "data", T0)
    out = cli("cluster", "status", "--json")
    assert out.code == 0, out
    run = json.loads(out.stdout)["revocation_run"]
    assert run["state"] == "complete" and run["certificates"] == LEAVES + 1
    assert run["chunks"] == {"total": 5, "pending": 0, "claimed": 0, "done": 5, "failed": 0}
    assert run["nodes"] == [
        {"node_id": "solo", "chunks_done": 5, "chunks_claimed": 0, "certificates_done": 10}
    ]


def test_a_chunk_that_keeps_failing_is_given_up_and_the_run_still_completes(
    app: App, pki: Pki
) -> None:
    _setup(app, pki, chunk_size=100)
    tick = app.revocation.tick(T0, node="leader", work=False)
    assert tick.ran
    worker = app.revocation.worker
    at = T0
    for attempt in range(MAX_CLAIMS):
        claim = worker.claim(f"node-{attempt}", at, HOLD)
        assert claim is not None and claim.token == attempt + 1
        at += HOLD + timedelta(seconds=1)  # each instance died with it
    assert worker.claim("node-last", at, HOLD) is None  # given up, not claimed a 4th time
    with app.db.session() as s:
        run = s.scalars(sa.select(RevocationRun)).one()
        chunk = s.scalars(sa.select(RevocationChunk)).one()
    assert chunk.state == "failed"
    assert run.state == "complete" and run.counts.get("failed_chunks") == 1
    assert _checks_per_certificate(app) == {}  # nothing pretended to be checked
    # The next due run is planned again.
    assert app.revocation.tick(T0 + timedelta(days=1), node="leader", work=False).ran


def test_a_working_tick_finishes_an_open_run_without_planning_another(app: App, pki: Pki) -> None:
    _setup(app, pki)
    app.revocation.update_settings({"check_every": "1h"})
    _plan(app)
    # Due again (and the responder's answers still fresh); work=True: one instance.
    tick = app.revocation.tick(T0 + timedelta(minutes=61))
    assert not tick.ran and "is not done yet" in tick.why
    assert tick.report is not None and len(tick.report.outcomes) == LEAVES + 1
    assert tick.report.notices_queued == 1
    _assert_run_complete_once(app, pki)
