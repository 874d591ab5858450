"""Which HTTP client for OCSP? aiohttp against httpx, CPU per request, same run.

Measured in one process against two loopback responders:

* ``openssl ocsp -multi 2`` (real; closes every connection, so each request
  pays for a new TCP connection), and
* a keep-alive responder (aiohttp.web in a child process serving the same
  canned response bytes), where a client's connection reuse shows.

For each client we send the same DER request N times with C in flight and
record the client process's CPU time (``time.process_time``, which excludes
the responder processes) per request, and requests per second. The clients:

* ``aiohttp-plain``: a bare ``aiohttp.ClientSession`` POST + read,
* ``httpx-plain``: a bare ``httpx.AsyncClient`` POST + read,
* ``certwarden``: :class:`certwarden.adapters.ocsp_http.AiohttpTransport`
  (timeouts, size cap, content-type check, per-origin semaphore).

Prints CPU µs/request for each and the ratio httpx / aiohttp. Run:
``.venv/bin/python bench/ocsp_transport.py [--requests 600] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ocsp_responders import free_port, openssl_pki, start_openssl_responder

from certwarden.adapters.ocsp_http import AiohttpTransport, HttpOptions

CT = {"Content-Type": "application/ocsp-request"}


async def _drive(n: int, concurrency: int, one: Callable[[], Awaitable[bytes]]) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def task() -> None:
        async with sem:
            body = await one()
            assert len(body) > 100, body

    await asyncio.gather(*(task() for _ in range(n)))


async def run_aiohttp(url: str, der: bytes, n: int, c: int) -> None:
    async with aiohttp.ClientSession() as session:

        async def one() -> bytes:
            async with session.post(url, data=der, headers=CT) as r:
                return await r.read()

        await _drive(n, c, one)


async def run_httpx(url: str, der: bytes, n: int, c: int) -> None:
    async with httpx.AsyncClient() as client:

        async def one() -> bytes:
            r = await client.post(url, content=der, headers=CT)
            return r.content

        await _drive(n, c, one)


async def run_certwarden(url: str, der: bytes, n: int, c: int) -> None:
    async with AiohttpTransport(HttpOptions(max_in_flight=c)) as transport:
        await _drive(n, c, lambda: transport.fetch(url, der))


CLIENTS = {"aiohttp-plain": run_aiohttp, "httpx-plain": run_httpx, "certwarden": run_certwarden}


def measure(name: str, url: str, der: bytes, n: int, c: int) -> tuple[float, float]:
    """(CPU µs per request, requests per second) for one client."""
    runner = CLIENTS[name]
    asyncio.run(runner(url, der, min(50, n), c))  # warm-up (imports, first connections)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(runner(url, der, n, c))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / n * 1e6, n / wall


def serve_canned(port: int, body_file: Path) -> None:
    """The keep-alive responder (runs in a child process)."""
    from aiohttp import web

    body = body_file.read_bytes()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/ocsp-response")

    app = web.Application()
    app.router.add_post("/", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_canned(int(args.serve[0]), Path(args.serve[1]))
        return

    now = datetime.now(UTC)  # the openssl responder stamps responses with the wall clock
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
        pki = openssl_pki(Path(tmp), now)
        good, issuer = pki.leaves["good"].cert, pki.ca.cert
        der = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(good, issuer, hashes.SHA1())
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        responder = start_openssl_responder(
            index=pki.path("index.txt"),
            ca=pki.path("ca.pem"),
            signer=pki.path("delegated.pem"),
            signer_key=pki.path("delegated.key"),
            probe_cert=good,
            probe_issuer=issuer,
            multi=2,
        )
        body_file = Path(tmp) / "response.der"
        body_file.write_bytes(asyncio.run(_fetch_one(responder.url, der)))
        port = free_port()
        canned = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), str(body_file)],
            stdin=subprocess.DEVNULL,
        )
        canned_url = f"http://127.0.0.1:{port}/"
        try:
            _wait_http(canned_url, der)
            results: dict[tuple[str, str], tuple[float, float]] = {}
            for label, url, n in (
                ("openssl ocsp -multi 2", responder.url, args.requests),
                ("keep-alive responder", canned_url, args.requests * 3),
            ):
                for name in CLIENTS:
                    results[(label, name)] = measure(name, url, der, n, args.concurrency)
        finally:
            responder.stop()
            canned.terminate()
            canned.wait(10)

    print(f"OCSP transport: {args.requests} requests (x3 keep-alive), {args.concurrency} in flight")
    print(f"{'responder':<24} {'client':<15} {'CPU µs/req':>11} {'req/s':>8}")
    for (label, name), (cpu, rate) in results.items():
        print(f"{label:<24} {name:<15} {cpu:>11.0f} {rate:>8.0f}")
    for label in ("openssl ocsp -multi 2", "keep-alive responder"):
        a = results[(label, "aiohttp-plain")][0]
        h = results[(label, "httpx-plain")][0]
        cw = results[(label, "certwarden")][0]
        print(
            f"{label}: httpx/aiohttp CPU per request = {h / a:.2f}x; "
            f"certwarden transport / aiohttp-plain = {cw / a:.2f}x"
        )


async def _fetch_one(url: str, der: bytes) -> bytes:
    async with aiohttp.ClientSession() as session, session.post(url, data=der, headers=CT) as r:
        return await r.read()


def _wait_http(url: str, der: bytes) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.post(url, content=der, headers=CT, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the canned responder at {url} did not start")


if __name__ == "__main__":
    main()
