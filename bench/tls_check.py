"""What does the revocation check add to a TLS connection?

One run, one machine, loopback only:

* baseline: the bare TLS handshake to ``openssl s_server`` (connect, handshake,
  close) with Python's ssl module, and with pyOpenSSL asking for stapling
  (:func:`certwarden.adapters.tls.open_tls`) — the library choice for stapling;
* the check after the handshake (:class:`certwarden.services.tls.TlsGuard`):
  - cached: the status comes from the OCSP cache (stdlib socket, chain read
    from it, issuer found in the chain, policy applied);
  - stapled: a stapled response is judged (signature, CertID, freshness);
  - uncached: the cache is emptied before every check, so each one asks a
    real ``openssl ocsp`` responder on loopback.

Prints p50 / p99 / mean in milliseconds and each as a ratio of the bare stdlib
handshake measured in the same run. The target: cached checks under 1 ms at
p99. Run: ``.venv/bin/python bench/tls_check.py [--n 400]``
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tls_servers import fetch_response, start_responder, start_s_server, tls_pki

from certwarden.adapters.tls import open_tls
from certwarden.clock import SystemClock
from certwarden.composition import AppConfig, build_app
from certwarden.core.tls import StatusSource


def timed(
    n: int,
    setup: Callable[[], object],
    run: Callable[[object], object],
    teardown: Callable[[object], object] = lambda _: None,
) -> list[float]:
    """Milliseconds for ``run(setup())`` over ``n`` rounds (setup and teardown not timed)."""
    out = []
    for _ in range(n):
        arg = setup()
        start = time.perf_counter()
        run(arg)
        out.append((time.perf_counter() - start) * 1000)
        teardown(arg)
    return out


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, statistics.fmean(ordered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400, help="rounds per cached measurement")
    parser.add_argument("--uncached", type=int, default=150, help="rounds that ask the responder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cw-tls-bench-") as tmp:
        pki = tls_pki(Path(tmp) / "pki")
        responder = start_responder(pki)
        plain = start_s_server(pki, "good")
        stapled = start_s_server(pki, "good", staple=fetch_response(pki, "good"))
        app = build_app(
            AppConfig(data_dir=Path(tmp) / "data", database_url=""), clock=SystemClock()
        )
        try:
            app.revocation.update_settings({"enable_ocsp": True})
            guard = app.tls
            context = ssl.create_default_context(cafile=str(pki.path("root.pem")))

            def stdlib_connect(port: int) -> ssl.SSLSocket:
                raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                return context.wrap_socket(raw, server_hostname="127.0.0.1")

            rows: list[tuple[str, list[float]]] = []
            # Warm up: imports, first snapshot, the cache entry for the leaf.
            for _ in range(20):
                with stdlib_connect(plain.port) as sock:
                    guard.check_socket(sock, purpose="bench")

            rows.append(
                (
                    "handshake, stdlib ssl (baseline)",
                    timed(args.n, lambda: None, lambda _: stdlib_connect(plain.port).close()),
                )
            )
            rows.append(
                (
                    "handshake, pyOpenSSL + stapling request",
                    timed(
                        args.n, lambda: None, lambda _: open_tls("127.0.0.1", stapled.port).close()
                    ),
                )
            )

            def fresh_socket() -> ssl.SSLSocket:
                return stdlib_connect(plain.port)

            def close(sock: object) -> None:
                sock.close()  # type: ignore[attr-defined]  # s_server serves one at a time

            def check_cached(sock: object) -> None:
                check = guard.check_socket(sock, purpose="bench")  # type: ignore[arg-type]
                assert check.source is StatusSource.CACHE, check.source

            rows.append(("check, cached status", timed(args.n, fresh_socket, check_cached, close)))

            peers = []
            for _ in range(min(args.n, 100)):
                with open_tls("127.0.0.1", stapled.port) as conn:
                    peers.append(conn.peer)
            it = iter(peers * (args.n // len(peers) + 1))

            def check_stapled(peer: object) -> None:
                check = guard.check(peer, purpose="bench")  # type: ignore[arg-type]
                assert check.source is StatusSource.STAPLED, check.source

            rows.append(("check, stapled response", timed(args.n, lambda: next(it), check_stapled)))

            def uncached_socket() -> ssl.SSLSocket:
                app.revocation.cache.forget_local()
                return fresh_socket()

            def check_live(sock: object) -> None:
                check = guard.check_socket(sock, purpose="bench")  # type: ignore[arg-type]
                assert check.source is StatusSource.RESPONDER, check.source

            rows.append(
                (
                    "check, uncached (live openssl ocsp)",
                    timed(args.uncached, uncached_socket, check_live, close),
                )
            )
        finally:
            app.close()
            plain.stop()
            stapled.stop()
            responder.stop()

    base = summary(rows[0][1])[0]
    print(f"{'scenario':42} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'p50/baseline':>13}")
    for name, samples in rows:
        p50, p99, mean = summary(samples)
        print(f"{name:42} {p50:8.3f} {p99:8.3f} {mean:8.3f} {p50 / base:13.2f}")
    cached_p99 = summary(rows[2][1])[1]
    verdict = "meets" if cached_p99 < 1.0 else "MISSES"
    print(f"\ncached check p99 = {cached_p99:.3f} ms: {verdict} the 1 ms target")


if __name__ == "__main__":
    main()
