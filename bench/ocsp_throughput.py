"""OCSP check throughput: certwarden against the per-process way, same run.

Starts ``openssl ocsp -multi 2`` on loopback over a test PKI of 2,000 leaves
(10% revoked) and measures, one after the other against that responder:

(a) the way shell-based monitors check: one ``openssl ocsp`` client process
    per certificate (verifying the response against the CA file), over a
    sample; and the same with OpenSSL's default CA store loading turned off;
(b) a plain asyncio aiohttp client, one certificate per request, no
    validation at all (the best plain client; it only fetches bytes);
(c) ``certwarden check --all`` with full validation: in-process through
    RevocationService.check (rows loaded, requests batched per issuer and
    responder, every response verified, every check recorded with its raw
    response, statuses updated) — and the same as a real CLI process.

Prints checks per second for each and the ratios, and the validation CPU cost
per response next to the bare signature verification cost of the same
responses (single-certificate and batched). Run once:

    .venv/bin/python bench/ocsp_throughput.py [--leaves 2000] [--sample 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ocsp_responders import (
    IndexEntry,
    ResponderIndex,
    start_openssl_responder,
    write_key,
    write_pem,
)

from certwarden.clock import ManualClock
from certwarden.composition import AppConfig, build_app
from certwarden.core.ocsp import CertStatus, cert_id_for, encode_request, verify_response
from certwarden.demo.devpki import DevCA

DAY = timedelta(days=1)
CT = {"Content-Type": "application/ocsp-request"}


def build_pki(
    directory: Path, now: datetime, leaves: int, url: str
) -> tuple[DevCA, list[x509.Certificate], set[int]]:
    root = DevCA.root("Bench Root", not_before=now - 400 * DAY, not_after=now + 3650 * DAY)
    ca = root.child_ca("Bench Issuing CA", not_before=now - 300 * DAY, not_after=now + 1800 * DAY)
    responder = ca.issue_ocsp_responder(
        "Bench OCSP", not_before=now - DAY, not_after=now + 300 * DAY
    )
    # One leaf key for all: key generation is not what is measured here.
    key = ec.generate_private_key(ec.SECP256R1())
    certs = [
        ca.issue(
            f"host{i:05d}.bench.test",
            not_before=now - 10 * DAY,
            not_after=now + 200 * DAY,
            ocsp_url=url,
            key=key,
        ).cert
        for i in range(leaves)
    ]
    revoked = {c.serial_number for i, c in enumerate(certs) if i % 10 == 0}
    index = ResponderIndex(
        [
            IndexEntry(c, now - DAY, "keyCompromise")
            if c.serial_number in revoked
            else IndexEntry(c)
            for c in certs
        ]
    )
    index.write(directory / "index.txt")
    write_pem(directory / "ca.pem", ca.cert)
    write_pem(directory / "chain.pem", ca.cert, root.cert)
    write_pem(directory / "responder.pem", responder.cert)
    write_key(directory / "responder.key", responder)
    write_pem(directory / "leaves.pem", *certs)
    return ca, certs, revoked


def per_process(
    directory: Path, certs: list[x509.Certificate], url: str, *, no_store: bool
) -> float:
    """Checks per second, one ``openssl ocsp`` process per certificate."""
    paths = []
    for i, cert in enumerate(certs):
        path = directory / f"sample{i}.pem"
        write_pem(path, cert)
        paths.append(path)
    extra = ["-no-CApath", "-no-CAstore"] if no_store else []
    start = time.perf_counter()
    for path in paths:
        out = subprocess.run(
            ["openssl", "ocsp", "-issuer", str(directory / "ca.pem"), "-cert", str(path),
             "-url", url, "-CAfile", str(directory / "chain.pem"), *extra],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if "Response verify OK" not in out.stderr + out.stdout:
            raise RuntimeError(f"openssl ocsp client failed: {out.stderr[-500:]}")
    return len(paths) / (time.perf_counter() - start)


async def plain_aiohttp(
    url: str, requests: list[bytes], concurrency: int
) -> tuple[float, list[bytes]]:
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def one(der: bytes) -> bytes:
            async with sem, session.post(url, data=der, headers=CT) as r:
                return await r.read()

        start = time.perf_counter()
        bodies = await asyncio.gather(*(one(d) for d in requests))
        return len(requests) / (time.perf_counter() - start), list(bodies)


def cpu_per(fn, items, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds per item (best of ``repeat``)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for item in items:
            fn(item)
        best = min(best, (time.process_time() - t0) / len(items))
    return best


def bare_signature(der: bytes, signer: x509.Certificate) -> None:
    response = ocsp.load_der_ocsp_response(der)
    key = signer.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert response.signature_hash_algorithm is not None
    key.verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    from certwarden.clock import SystemClock

    # openssl stamps responses with the wall clock: the app runs at that time too.
    now = SystemClock().now().replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="cw-ocsp-bench-") as tmp:
        directory = Path(tmp)
        from tests.ocsp_responders import free_port

        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        t0 = time.perf_counter()
        ca, certs, revoked = build_pki(directory, now, args.leaves, url)
        print(
            f"test PKI: {len(certs)} leaves ({len(revoked)} revoked) in {time.perf_counter() - t0:.1f} s"
        )
        responder = start_openssl_responder(
            index=directory / "index.txt",
            ca=directory / "ca.pem",
            signer=directory / "responder.pem",
            signer_key=directory / "responder.key",
            probe_cert=certs[1],
            probe_issuer=ca.cert,
            multi=2,
            ndays=1,
            port=port,
        )
        try:
            figures = run(directory, now, ca, certs, revoked, url, args)
        finally:
            responder.stop()
    print_figures(figures, args)


def run(
    directory: Path,
    now: datetime,
    ca: DevCA,
    certs: list[x509.Certificate],
    revoked: set[int],
    url: str,
    args: argparse.Namespace,
) -> dict[str, float]:
    figures: dict[str, float] = {}
    sample = certs[: args.sample]
    figures["per_process"] = per_process(directory, sample, url, no_store=False)
    figures["per_process_no_store"] = per_process(directory, sample, url, no_store=True)

    singles = [encode_request([cert_id_for(c, ca.cert)], os.urandom(16)) for c in certs]
    rate, single_bodies = asyncio.run(plain_aiohttp(url, singles, args.concurrency))
    figures["plain_aiohttp"] = rate

    data = directory / "data"
    app = build_app(
        AppConfig(data_dir=data, database_url=""), clock=ManualClock(now + timedelta(seconds=1))
    )
    try:
        app.inventory.import_paths([directory / "chain.pem"], store="tomcat-trust")
        app.inventory.import_paths([directory / "leaves.pem"], store="tomcat")
        app.revocation.update_settings({"enable_ocsp": True})
        cpu0, wall0 = time.process_time(), time.perf_counter()
        report = app.revocation.check(all_monitored=True)
        wall = time.perf_counter() - wall0
        figures["certwarden_cpu_per_check_us"] = (time.process_time() - cpu0) / len(certs) * 1e6
        counts = report.counts()
        assert counts["good"] == len(certs) - len(revoked), counts
        assert counts["revoked"] == len(revoked), counts
        figures["certwarden"] = len(certs) / wall
        # The steady state: the next scheduled run over the same certificates
        # (asks every responder afresh; no status changes, so no alerts).
        app.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
        wall0 = time.perf_counter()
        again = app.revocation.check(all_monitored=True)
        figures["certwarden_repeat"] = len(certs) / (time.perf_counter() - wall0)
        assert again.counts() == counts
        raws = {o.result.raw_response for o in report.outcomes if o.result.raw_response}
        batched = [r for r in raws if r is not None]
        figures["batches"] = len(batched)
    finally:
        app.close()

    env = {
        **os.environ,
        "CERTWARDEN_DATA_DIR": str(data),
        "CERTWARDEN_TESTING_FIXED_NOW": (now + timedelta(seconds=2)).isoformat(),
    }
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "certwarden", "check", "--all", "--json"],
        capture_output=True, env=env, check=False,
    )  # fmt: skip
    figures["certwarden_cli"] = len(certs) / (time.perf_counter() - start)
    cli_counts = json.loads(out.stdout)["counts"]
    assert cli_counts["good"] + cli_counts["revoked"] == len(certs) + 0, cli_counts

    # Validation cost next to the bare signature check, on the same responses.
    responder_cert = x509.load_pem_x509_certificate((directory / "responder.pem").read_bytes())
    ids = [cert_id_for(c, ca.cert) for c in certs]
    single_pairs = list(zip(single_bodies[:300], ids[:300], strict=True))

    def validate_single(pair: tuple[bytes, object]) -> None:
        (result,) = verify_response(
            pair[0], cert_ids=[pair[1]], issuers=[ca.cert], now=now, nonce=None
        )  # type: ignore[list-item]
        assert result.status is not CertStatus.COULD_NOT_TELL, result

    figures["validate_single_us"] = cpu_per(validate_single, single_pairs) * 1e6
    figures["bare_sig_single_us"] = (
        cpu_per(lambda p: bare_signature(p[0], responder_cert), single_pairs) * 1e6
    )

    by_serial = {i.serial_number: i for i in ids}
    batches = []
    for der in batched:
        parsed = ocsp.load_der_ocsp_response(der)
        batch_ids = [by_serial[r.serial_number] for r in parsed.responses]
        batches.append((der, batch_ids))

    def validate_batch(item: tuple[bytes, list[object]]) -> None:
        results = verify_response(
            item[0], cert_ids=item[1], issuers=[ca.cert] * len(item[1]), now=now
        )  # type: ignore[arg-type]
        assert all(r.status is not CertStatus.COULD_NOT_TELL for r in results)

    per_batch = cpu_per(validate_batch, batches)
    figures["certs_per_batch"] = sum(len(b[1]) for b in batches) / len(batches)
    figures["validate_batch_us"] = per_batch * 1e6
    figures["bare_sig_batch_us"] = (
        cpu_per(lambda b: bare_signature(b[0], responder_cert), batches) * 1e6
    )
    return figures


def print_figures(f: dict[str, float], args: argparse.Namespace) -> None:
    base = f["per_process"]
    print()
    print(f"OCSP throughput against openssl ocsp -multi 2, {args.leaves} leaves, same run")
    print(
        f"  (a) one openssl ocsp process per cert      {f['per_process']:8.1f} checks/s  (sample {args.sample})"
    )
    print(f"      same, CA store loading off             {f['per_process_no_store']:8.1f} checks/s")
    print(f"  (b) plain aiohttp, 1 cert/request, no validation {f['plain_aiohttp']:8.0f} checks/s")
    print(
        f"  (c) certwarden check --all, in-process     {f['certwarden']:8.0f} checks/s  "
        f"({f['batches']:.0f} batched responses, {f['certwarden_cpu_per_check_us']:.0f} µs CPU/check incl. DB)"
    )
    print(
        f"      certwarden check --all, CLI process    {f['certwarden_cli']:8.0f} checks/s  (incl. start-up, JSON)"
    )
    print(
        f"      same, the next run (steady state)      {f['certwarden_repeat']:8.0f} checks/s"
        "  (the first run also recorded 10% revocations as alerts)"
    )
    print(f"  ratio (c)/(a): {f['certwarden'] / base:6.1f}x  (target >= 40x)")
    print(f"  ratio (c, next run)/(a): {f['certwarden_repeat'] / base:6.1f}x")
    print(f"  ratio (c)/(b): {f['certwarden'] / f['plain_aiohttp']:6.2f}x  (target >= 1x)")
    print(f"  ratio (c, CLI)/(a): {f['certwarden_cli'] / base:6.1f}x")
    print("  validation CPU per response vs bare signature verification of the same responses:")
    print(
        f"    single-cert responses: full validation {f['validate_single_us']:7.0f} µs, "
        f"bare signature {f['bare_sig_single_us']:7.0f} µs  ({f['validate_single_us'] / f['bare_sig_single_us']:.2f}x)"
    )
    print(
        f"    batched ({f['certs_per_batch']:.0f} certs):   full validation {f['validate_batch_us']:7.0f} µs "
        f"({f['validate_batch_us'] / f['certs_per_batch']:.0f} µs/cert), bare signature {f['bare_sig_batch_us']:7.0f} µs"
    )


if __name__ == "__main__":
    main()
