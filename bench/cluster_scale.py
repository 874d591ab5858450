"""Scheduled revocation check spread over instances: 1 against 2, same run.

Builds N certificates of one issuing CA (one leaf key; every tenth revoked),
imports them into a fresh PostgreSQL schema, with a real ``openssl ocsp
-multi 2`` over them. Then, against that same responder (started afresh each
time) and database, the same scheduled run twice, each from the same state
(statuses, checks, alerts and runs cleared, then VACUUM ANALYZE, so both are
first runs with the same alerts to write; ``--order`` picks which goes first):

(a) the baseline: ONE ``certwarden serve`` does the whole run;
(b) TWO ``certwarden serve`` processes: the leader plans the run, both claim
    its chunks (``FOR UPDATE SKIP LOCKED``).

Wall time is from switching Revocation Check on (the run is due at once) to
the run marked complete; the serve processes are started and registered
before, and not counted. Prints both wall times, their ratio and the share of
chunks (and certificates) each instance did in (b). On a 2-core machine the
responder, PostgreSQL and both instances share the cores: expect a fair share
(40-60 %) and a run no slower than (a), not 2x.

    .venv/bin/python bench/cluster_scale.py [--certs 100000] [--chunk 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster_procs import Instances, wait_for
from tests.scale_pki import ScalePki, build_scale_pki

from certwarden.adapters.db.models import (
    Alert,
    CertificateRow,
    ClusterNode,
    OcspCheck,
    OcspResponse,
    OutboxMessage,
    RevocationChunk,
    RevocationRun,
    ServiceState,
)
from certwarden.clock import ManualClock, SystemClock
from certwarden.composition import App, AppConfig, build_app
from certwarden.services.revocation import CHUNK_SIZE, SERVICE_NAME

POSTGRES_URL = os.environ.get(
    "CERTWARDEN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def reset(app: App) -> None:
    """Back to "never checked": the next run is a first run, due at once."""
    app.revocation.update_settings({"enable_revocation_check": False})
    with app.db.session() as s:
        s.execute(
            sa.update(CertificateRow).values(
                revocation_status=None,
                revocation_reason=None,
                revocation_checked_at=None,
                revoked_at=None,
            )
        )
        for model in (Alert, OutboxMessage, OcspCheck, OcspResponse, RevocationChunk):
            s.execute(sa.delete(model))
        s.execute(sa.delete(RevocationRun))
        s.execute(sa.delete(ServiceState).where(ServiceState.name == SERVICE_NAME))
        s.execute(sa.delete(ClusterNode))
    # Both runs start from the same table state (no dead rows from the last one).
    with app.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))


def one_run(
    app: App, pki: ScalePki, instances: int, url: str, directory: Path, args: argparse.Namespace
) -> dict[str, Any]:
    reset(app)
    # The same responder (files, port, -multi 2), started afresh for each run.
    responder = pki.start_responder(multi=2)
    try:
        return _measure(app, instances, url, directory, args.chunk, args.lease)
    finally:
        responder.stop()


def _measure(
    app: App, instances: int, url: str, directory: Path, chunk: int, lease: int
) -> dict[str, Any]:
    env = {"CERTWARDEN_REVOCATION_CHUNK_SIZE": str(chunk)}
    work = directory / f"serves{instances}"
    work.mkdir()
    with Instances(url, work, count=instances, lease=lease, extra_env=env) as serves:
        serves.wait_healthy(120)

        def registered() -> bool:
            with app.db.session() as s:
                return s.scalar(sa.select(sa.func.count()).select_from(ClusterNode)) == instances

        wait_for(f"{instances} instance(s) registered", registered, 60)
        start = time.perf_counter()
        app.revocation.update_settings({"enable_revocation_check": True})

        def complete() -> bool:
            with app.db.session() as s:
                state = s.scalar(sa.select(RevocationRun.state))
            return state == "complete"

        wait_for("the run completed", complete, 3600, step=0.1)
        wall = time.perf_counter() - start
        progress = app.revocation.run_progress()
    assert progress is not None
    lost = sum(serves.log(i).count("was lost to another instance") for i in range(instances))
    with app.db.session() as s:
        counts = dict(s.scalars(sa.select(RevocationRun)).one().counts)
    return {"wall": wall, "progress": progress, "counts": counts, "lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--certs", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=CHUNK_SIZE)
    parser.add_argument("--lease", type=int, default=30)
    parser.add_argument(
        "--order", choices=("1,2", "2,1"), default="1,2", help="which run goes first"
    )
    args = parser.parse_args()

    # openssl stamps its answers with the wall clock: the certificates are valid now.
    now = SystemClock().now().replace(microsecond=0)
    schema = f"cw_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    try:
        with tempfile.TemporaryDirectory(prefix="cw-cluster-bench-") as tmp:
            directory = Path(tmp)
            t0 = time.perf_counter()
            pki = build_scale_pki(directory / "pki", now, args.certs)
            print(f"test PKI: {args.certs} leaves in {time.perf_counter() - t0:.1f} s")
            app = build_app(
                AppConfig(data_dir=directory / "setup", database_url=url), clock=ManualClock(now)
            )
            try:
                t0 = time.perf_counter()
                app.inventory.import_paths([pki.chain], store="tomcat-trust")
                app.inventory.import_paths([pki.bundle], store="tomcat")
                app.revocation.update_settings({"enable_ocsp": True, "check_every": "24h"})
                print(f"imported into PostgreSQL in {time.perf_counter() - t0:.1f} s")
                runs = {}
                for n in (int(x) for x in args.order.split(",")):
                    runs[n] = one_run(app, pki, n, url, directory, args)
                single, double = runs[1], runs[2]
            finally:
                app.close()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    report(args, single, double)


def report(args: argparse.Namespace, single: dict[str, Any], double: dict[str, Any]) -> None:
    for run in (single, double):
        counts = run["counts"]
        assert counts.get("revoked") == -(-args.certs // 10), counts
        assert counts.get("good") == args.certs - counts["revoked"], counts
    chunks = double["progress"]["chunks"]["total"]
    print()
    print(
        f"scheduled revocation run, {args.certs} certificates (+ the CA), chunks of {args.chunk} "
        f"({chunks} chunks), openssl ocsp -multi 2, PostgreSQL, same run"
    )
    rate1 = (args.certs + 1) / single["wall"]
    rate2 = (args.certs + 1) / double["wall"]
    print(
        f"  (run order: {args.order} instance(s); before each: statuses cleared, "
        "VACUUM ANALYZE, the responder started afresh)"
    )
    for label, run, rate in (
        ("(a) 1 instance ", single, rate1),
        ("(b) 2 instances", double, rate2),
    ):
        print(
            f"  {label}  {run['wall']:7.1f} s  {rate:7.0f} checks/s  "
            f"({run['lost']} claim(s) lost and redone)" + ("  (baseline)" if run is single else "")
        )
    print(
        f"  ratio wall (a)/(b): {single['wall'] / double['wall']:.2f}x  "
        "(target >= 1.0: no slower than one instance)"
    )
    print("  share of the chunks in (b):")
    for node in double["progress"]["nodes"]:
        share = node["chunks_done"] / chunks
        print(
            f"    {node['node_id'][:12]}  {node['chunks_done']:4d} chunks ({share:5.1%}), "
            f"{node['certificates_done']} certificates  (target 40-60 %)"
        )


if __name__ == "__main__":
    main()
