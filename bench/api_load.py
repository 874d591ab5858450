"""REST API under load: paging the certificate list and fetching details.

With 100,000 certificates stored (SQLite, the default database), N concurrent
clients on loopback page through ``GET /api/v1/certificates`` (50 per page,
random offsets, some with a filter) and fetch details of what they listed
(``GET /api/v1/certificates/{id}``), with an API token, for a bounded time.

The baseline, measured in the same run with the same client, the same request
mix and the same response bodies: a bare Starlette app under the same uvicorn
settings that returns a fixed JSON page (the framework ceiling: no auth, no
database, no serialisation). Each server is its own process; the load
generator (aiohttp, keep-alive connections) is a third.

Target: at least a third of the ceiling's requests per second, and p99 under
100 ms at 16 clients.

    .venv/bin/python bench/api_load.py [--n 100000] [--clients 16] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAGE = 50
_FMT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite
COLUMNS = (
    "store_id", "sha256", "sha1", "subject", "subject_cn", "issuer", "issuer_cn", "serial",
    "not_before", "not_after", "sans", "key_type", "key_size", "signature_algorithm", "is_ca",
    "role", "key_usage", "extended_key_usage", "is_ocsp_signer", "ocsp_uris", "ca_issuer_uris",
    "crl_uris", "subject_key_id", "authority_key_id", "is_lsc", "source", "source_detail",
    "imported_at", "issuer_id", "endpoint_id", "der", "last_notified_at", "revocation_status",
    "revocation_reason", "revocation_checked_at", "revoked_at",
)  # fmt: skip
STATUSES = ("good",) * 8 + ("revoked", "unknown", None, None)


# ------------------------------------------------------------------- the data


def _row(i: int, store_id: int, days: float, lsc: bool, status: str | None) -> tuple:  # type: ignore[type-arg]
    before = (NOW - timedelta(days=300)).strftime(_FMT)
    after = (NOW + timedelta(days=days)).strftime(_FMT)
    cn = f"SEP{i:012X}" if lsc else f"host{i}.bench.example"
    checked = NOW.strftime(_FMT) if status else None
    return (
        store_id, f"{i:064x}", f"{i:040x}", f"CN={cn},O=Bench Phones,C=US", cn,
        "CN=Bench CAPF,O=Bench", "Bench CAPF", f"{i:x}", before, after,
        json.dumps([] if lsc else [f"DNS:{cn}"]), "EC secp256r1", 256, "ecdsa-with-SHA256", 0,
        "leaf", '["digital_signature"]', '["serverAuth", "clientAuth"]', 0,
        '["http://ocsp.bench.example/"]', "[]", "[]", f"{i:040x}", "ab" * 20,
        1 if lsc else 0, "bench", "bench", before, None, None, b"\x30\x00", None,
        status, "keyCompromise" if status == "revoked" else None, checked,
        checked if status == "revoked" else None,
    )  # fmt: skip


def build(data_dir: Path, total: int) -> None:
    """``total`` certificates (most of them LSCs), written straight into SQLite.

    Built through the real migrations; one row goes in through SQLAlchemy first to
    check the raw rows are stored exactly as the ORM would store them.
    """
    import sqlalchemy as sa

    from certwarden.adapters.db import Database, default_database_url
    from certwarden.adapters.db.models import CertificateRow

    data_dir.mkdir(parents=True)
    db = Database(default_database_url(data_dir))
    db.upgrade()
    with db.engine.begin() as conn:
        conn.execute(
            sa.insert(CertificateRow),
            [dict(zip(COLUMNS, _row(0, 1, 1, False, None), strict=True)) | {
                "not_before": NOW, "not_after": NOW, "imported_at": NOW, "sans": [],
                "key_usage": [], "extended_key_usage": [], "ocsp_uris": [],
                "ca_issuer_uris": [], "crl_uris": [], "is_ca": False, "is_lsc": False,
                "is_ocsp_signer": False, "revocation_checked_at": None, "revoked_at": None,
            }],
        )  # fmt: skip
        raw = conn.exec_driver_sql("SELECT not_after, sans, is_lsc FROM certificates").one()
        conn.exec_driver_sql("DELETE FROM certificates")
    assert raw == (NOW.strftime(_FMT), "[]", 0), raw
    db.dispose()
    rng = random.Random(5)
    con = sqlite3.connect(data_dir / "certwarden.db")
    con.execute("PRAGMA synchronous=OFF")
    stores = dict(con.execute("SELECT name, id FROM stores"))
    sql = f"INSERT INTO certificates ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})"
    batch = []
    with con:
        for i in range(1, total + 1):
            lsc = i % 10 != 0
            store = stores["lsc"] if lsc else stores["tomcat-trust"]
            batch.append(_row(i, store, rng.uniform(-30, 1500), lsc, rng.choice(STATUSES)))
            if len(batch) == 20_000:
                con.executemany(sql, batch)
                batch.clear()
        con.executemany(sql, batch)
    con.execute("ANALYZE")
    con.close()


# ------------------------------------------------------------------ the servers


def serve_certwarden(data_dir: Path, port: int, token_file: Path) -> None:
    import uvicorn
    from argon2 import PasswordHasher

    from certwarden.clock import ManualClock
    from certwarden.composition import AppConfig, build_app
    from certwarden.interfaces.web import create_app
    from certwarden.services.accounts import UserService

    app = build_app(AppConfig(data_dir=data_dir, database_url=""), clock=ManualClock(NOW))
    # Login cost is not measured here; a cheap hash keeps the setup quick.
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app.__dict__["users"] = UserService(app.db, app.clock, hasher=fast)
    if not app.users.count_users():
        app.users.add_user("bench", "bench-password", "viewer")
    _, token = app.users.create_token("bench", "load")
    token_file.write_text(token)
    web = create_app(app)
    gc.freeze()  # as certwarden serve does
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_starlette(bodies: Path, port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    page = (bodies / "page.json").read_bytes()
    detail = (bodies / "detail.json").read_bytes()

    async def listing(_request: object) -> Response:
        return Response(page, media_type="application/json")

    async def one(_request: object) -> Response:
        return Response(detail, media_type="application/json")

    app = Starlette(
        routes=[
            Route("/api/v1/certificates", listing),
            Route("/api/v1/certificates/{ref}", one),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, *args, "--port", str(port)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server {args[:2]} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


# -------------------------------------------------------------------- the load


async def load(
    base: str, token: str, clients: int, seconds: float, total: int
) -> tuple[int, list[float], int]:
    """``clients`` loops of: one list page (random offset, sometimes filtered), then
    details of two listed certificates. Returns (requests, latencies in s, errors)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    filters = ("", "", "", "&state=expiring", "&lsc=false", "&store=lsc", "&state=revoked")
    stop_at = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:
            while time.perf_counter() < stop_at:
                offset = rng.randrange(0, max(total - PAGE, 1)) // PAGE * PAGE
                url = f"/api/v1/certificates?limit={PAGE}&offset={offset}{rng.choice(filters)}"
                ids: list[int] = []
                t0 = time.perf_counter()
                async with session.get(url) as response:
                    body = await response.read()
                    if response.status != 200:
                        errors += 1
                    else:
                        items = json.loads(body)["items"]
                        ids = [item["id"] for item in items[:2]]
                latencies.append(time.perf_counter() - t0)
                for ref in ids or [rng.randrange(1, total)]:
                    t0 = time.perf_counter()
                    async with session.get(f"/api/v1/certificates/{ref}") as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                    latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return len(latencies), latencies, errors


def summarise(
    name: str, requests: int, latencies: list[float], errors: int, seconds: float
) -> dict[str, float]:
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    out = {
        "requests_per_second": requests / seconds,
        "p50_ms": p(0.50),
        "p99_ms": p(0.99),
        "mean_ms": statistics.fmean(ordered) * 1000,
        "errors": errors,
        "requests": requests,
    }
    print(
        f"{name:<22} {out['requests_per_second']:8.0f} req/s   p50 {out['p50_ms']:6.1f} ms   "
        f"p99 {out['p99_ms']:6.1f} ms   errors {errors}"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", choices=["certwarden", "starlette"])
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--port", type=int)
    parser.add_argument("--keep", action="store_true", help="Keep the data directory.")
    args = parser.parse_args()
    if args.serve == "certwarden":
        serve_certwarden(args.dir, args.port, args.dir / "token")
        return
    if args.serve == "starlette":
        serve_starlette(args.dir, args.port)
        return

    work = Path(tempfile.mkdtemp(prefix="certwarden-api-load-"))
    try:
        run(args, work)
    finally:
        if not args.keep:  # 100 MB of database per run
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    data = work / "data"
    started = time.perf_counter()
    build(data, args.n)
    print(f"{args.n:,} certificates stored in {time.perf_counter() - started:.1f} s ({data})")
    results: dict[str, dict[str, float]] = {}

    port = free_port()
    server = start(["--serve", "certwarden", "--dir", str(data)], port)
    try:
        while not (data / "token").exists():
            time.sleep(0.05)
        token = (data / "token").read_text()
        base = f"http://127.0.0.1:{port}"
        # The baseline serves these very bytes: a real page and a real detail.
        import urllib.request

        for name, path in (
            ("page.json", f"/api/v1/certificates?limit={PAGE}"),
            ("detail.json", "/api/v1/certificates/1"),
        ):
            request = urllib.request.Request(
                base + path, headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request) as response:
                (work / name).write_bytes(response.read())
        asyncio.run(load(base, token, args.clients, 1.0, args.n))  # warm-up
        cpu = cpu_seconds(server.pid)
        requests, latencies, errors = asyncio.run(
            load(base, token, args.clients, args.seconds, args.n)
        )
        results["certwarden"] = summarise(
            "certwarden API", requests, latencies, errors, args.seconds
        )
        results["certwarden"]["server_cpu_ms_per_request"] = (
            (cpu_seconds(server.pid) - cpu) * 1000 / requests
        )
    finally:
        stop(server)

    port = free_port()
    baseline = start(["--serve", "starlette", "--dir", str(work)], port)
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(load(base, "none", args.clients, 1.0, args.n))
        cpu = cpu_seconds(baseline.pid)
        requests, latencies, errors = asyncio.run(
            load(base, "none", args.clients, args.seconds, args.n)
        )
        results["starlette_fixed_json"] = summarise(
            "bare Starlette (ceiling)", requests, latencies, errors, args.seconds
        )
        results["starlette_fixed_json"]["server_cpu_ms_per_request"] = (
            (cpu_seconds(baseline.pid) - cpu) * 1000 / requests
        )
    finally:
        stop(baseline)

    ratio = (
        results["certwarden"]["requests_per_second"]
        / results["starlette_fixed_json"]["requests_per_second"]
    )
    p99 = results["certwarden"]["p99_ms"]
    print(
        f"ratio to the ceiling: {ratio:.2f} (target >= 0.33: {'met' if ratio >= 1 / 3 else 'NOT met'}); "
        f"p99 {p99:.1f} ms at {args.clients} clients (target < 100 ms: {'met' if p99 < 100 else 'NOT met'})"
    )
    print(
        "server CPU per request: certwarden "
        f"{results['certwarden']['server_cpu_ms_per_request']:.2f} ms, ceiling "
        f"{results['starlette_fixed_json']['server_cpu_ms_per_request']:.2f} ms"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    report = {
        "certificates": args.n,
        "clients": args.clients,
        "seconds": args.seconds,
        "page_size": PAGE,
        "cpus": os.cpu_count(),
        "results": results,
        "ratio": ratio,
    }
    (OUT / "api_load.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
