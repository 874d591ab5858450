"""A scheduled revocation check of 20,000 certificates against a real ``openssl
ocsp``, split across three real ``certwarden serve`` processes on one real
PostgreSQL database (issue 14 item 3): every certificate checked exactly once,
more than one instance doing chunks, the run completed once with one alert per
revoked certificate.

Fast to build: one issuing CA and one leaf key (tests/scale_pki.py), imported
with the project's importer; the three instances start with Revocation Check
off and it is switched on once all three are up, so the first run (due at
once) is spread over all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from certwarden.adapters.db.models import (
    Alert,
    CertificateRow,
    ClusterNode,
    OcspCheck,
    RevocationRun,
)
from certwarden.clock import ManualClock, SystemClock
from certwarden.composition import App, AppConfig, build_app
from tests.cluster_procs import Instances, database_url, wait_for
from tests.scale_pki import build_scale_pki

__all__ = ["database_url"]  # the fixture (a fresh PostgreSQL schema), from tests.cluster_procs

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEAVES = 20_000
CHUNK = 500
LEASE = 10


@pytest.fixture
def scale_app(database_url: str, tmp_path: Path) -> Iterator[App]:
    # openssl stamps its answers with the wall clock: the certificates are
    # valid now (read once, as the other real-responder tests do).
    now = SystemClock().now().replace(microsecond=0)
    app = build_app(
        AppConfig(data_dir=tmp_path / "setup", database_url=database_url),
        clock=ManualClock(now),
    )
    try:
        yield app
    finally:
        app.close()


def test_twenty_thousand_certificates_checked_once_across_three_instances(
    scale_app: App,
    database_url: str,
    tmp_path: Path,
) -> None:
    app = scale_app
    pki = build_scale_pki(tmp_path / "pki", app.clock.now(), LEAVES)
    app.inventory.import_paths([pki.chain], store="tomcat-trust")
    app.inventory.import_paths([pki.bundle], store="tomcat")
    app.revocation.update_settings({"enable_ocsp": True, "check_every": "1h"})
    responder = pki.start_responder()
    try:
        env = {"CERTWARDEN_REVOCATION_CHUNK_SIZE": str(CHUNK)}
        with Instances(database_url, tmp_path, count=3, lease=LEASE, extra_env=env) as serves:
            serves.wait_healthy(120)

            def three_nodes() -> bool:
                with app.db.session() as s:
                    count = s.scalar(sa.select(sa.func.count()).select_from(ClusterNode))
                return count == 3

            wait_for("three instances registered", three_nodes, 60)
            # The first run is due at once: planned by the leader, chunks for all.
            app.revocation.update_settings({"enable_revocation_check": True})

            def complete() -> RevocationRun | None:
                with app.db.session() as s:
                    run = s.scalars(sa.select(RevocationRun).order_by(RevocationRun.id)).first()
                    if run is not None and run.state == "complete":
                        s.expunge(run)
                        return run
                return None

            try:
                run = wait_for("the run completed", complete, 900, step=1)
            except AssertionError:
                pytest.fail("\n".join(serves.log(i)[-1500:] for i in range(3)))
            progress = serves.status()["revocation_run"]
    finally:
        responder.stop()

    expected_chunks = -(-(LEAVES + 1) // CHUNK)
    assert run.certificate_count == LEAVES + 1  # the leaves and the issuing CA
    assert run.chunk_count == expected_chunks
    revoked = len(pki.revoked)
    # The CA names no OCSP responder: could not tell, as with one instance.
    assert run.counts["good"] == LEAVES - revoked
    assert run.counts["revoked"] == revoked
    assert run.counts["could_not_tell"] == 1
    assert run.counts["failed_chunks"] == 0
    with app.db.session() as s:
        monitored = set(
            s.scalars(sa.select(CertificateRow.id).where(CertificateRow.role != "root"))
        )
        per_cert = dict(
            s.execute(
                sa.select(OcspCheck.certificate_id, sa.func.count()).group_by(
                    OcspCheck.certificate_id
                )
            ).all()
        )
        alerts = s.execute(
            sa.select(Alert.certificate_id, sa.func.count())
            .where(Alert.kind == "revoked")
            .group_by(Alert.certificate_id)
        ).all()
        runs = s.scalar(sa.select(sa.func.count()).select_from(RevocationRun))
        unchecked = s.scalar(
            sa.select(sa.func.count())
            .select_from(CertificateRow)
            .where(CertificateRow.role != "root", CertificateRow.revocation_status.is_(None))
        )
    assert len(monitored) == LEAVES + 1
    # Every certificate checked exactly once: no chunk lost, none committed twice.
    assert per_cert == dict.fromkeys(monitored, 1)
    assert unchecked == 0
    assert len(alerts) == revoked and all(n == 1 for _, n in alerts)
    # The work was spread: more than one instance did chunks, all chunks are done.
    workers = [n for n in progress["nodes"] if n["chunks_done"] > 0]
    assert len(workers) >= 2, progress
    assert sum(n["chunks_done"] for n in progress["nodes"]) == expected_chunks
    assert sum(n["certificates_done"] for n in progress["nodes"]) == LEAVES + 1
    assert progress["chunks"]["done"] == expected_chunks and progress["state"] == "complete"
    # One run for the whole cluster (Check Every 1h), not one per instance.
    assert runs == 1
