"""CRL checks through the service against the bare core, in one run.

    .venv/bin/python bench/crl_checks.py [--leaves 5000] [--entries 100000]

One issuing CA, ``--leaves`` leaves naming one CRL distribution point on a
loopback HTTP server, a CRL of ``--entries`` entries (every tenth leaf
listed). Measured in the same process, same run:

* baseline: the bare core — ``load_crl`` of the CRL bytes and one
  ``CrlJudge.check`` per leaf (no database, no network);
* ``check --all`` in-process (``RevocationService.check``, order crl-only):
  the first run (fetch, load, validate, judge, record every check) and the
  next one (the CRL held: no fetch, same judging and recording).

Prints seconds, certificates per second and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.crl_servers import CrlHttpServer  # noqa: E402

from certwarden.clock import ManualClock  # noqa: E402
from certwarden.composition import AppConfig, build_app  # noqa: E402
from certwarden.core.crl import CrlJudge, load_crl  # noqa: E402
from certwarden.demo.devpki import DevCA  # noqa: E402

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def big_crl(ca: DevCA, serials: list[int], filler: int) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(NOW - DAY)
        .next_update(NOW + 6 * DAY)
        .add_extension(x509.CRLNumber(7), critical=False)
    )
    reason = x509.CRLReason(x509.ReasonFlags.key_compromise)
    for serial in [*serials, *range(10**12, 10**12 + filler)]:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - 2 * DAY)
            .add_extension(reason, critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    from cryptography.hazmat.primitives import hashes

    return builder.sign(ca.key, hashes.SHA256()).public_bytes(Encoding.DER)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    server = CrlHttpServer()
    try:
        url = server.url("/bench.crl")
        root = DevCA.root("Bench Root", not_before=NOW - 365 * DAY, not_after=NOW + 3650 * DAY)
        ca = root.child_ca("Bench CA", not_before=NOW - 300 * DAY, not_after=NOW + 1800 * DAY)
        started = time.perf_counter()
        leaves = [
            ca.issue(
                f"leaf{i}.bench.test",
                not_before=NOW - 30 * DAY,
                not_after=NOW + 365 * DAY,
                crl_url=url,
            ).cert
            for i in range(args.leaves)
        ]
        listed = [c.serial_number for c in leaves[::10]]
        der = big_crl(ca, listed, max(0, args.entries - len(listed)))
        server.publish("/bench.crl", der)
        print(
            f"setup: {args.leaves} leaves, CRL of {args.entries} entries "
            f"({len(der) / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s"
        )

        t0 = time.perf_counter()
        crl = load_crl(der, source=url, max_size=len(der) + 1)
        judge = CrlJudge(ca.cert, [crl], now=NOW)
        revoked = sum(judge.check(c).status.value == "revoked" for c in leaves)
        base = time.perf_counter() - t0
        assert revoked == len(listed), revoked

        with tempfile.TemporaryDirectory() as tmp:
            files = Path(tmp)
            (files / "chain.pem").write_bytes(
                ca.cert.public_bytes(Encoding.PEM) + root.cert.public_bytes(Encoding.PEM)
            )
            (files / "leaves.pem").write_bytes(
                b"".join(c.public_bytes(Encoding.PEM) for c in leaves)
            )
            app = build_app(
                AppConfig(data_dir=files / "data", database_url=""), clock=ManualClock(NOW)
            )
            try:
                app.inventory.import_paths([files / "chain.pem"], store="tomcat-trust")
                app.inventory.import_paths([files / "leaves.pem"], store="tomcat")
                app.revocation.update_settings(
                    {"enable_crl": True, "order": "crl-only", "crl_max_mib": 200}
                )
                runs = []
                for _ in range(2):
                    t0 = time.perf_counter()
                    report = app.revocation.check(all_monitored=True)
                    runs.append(time.perf_counter() - t0)
                    counts = report.counts()
                    assert counts["revoked"] == len(listed), counts
            finally:
                app.close()
        n = args.leaves
        print(f"{'':44} {'seconds':>8} {'certs/s':>9} {'x baseline':>10}")
        print(
            f"{'baseline: bare load_crl + CrlJudge.check':44} {base:8.3f} {n / base:9.0f} {1:10.2f}"
        )
        for label, s in (("check --all, first run (fetch + record)", runs[0]),
                         ("check --all, next run (CRL held)", runs[1])):  # fmt: skip
            print(f"{label:44} {s:8.3f} {n / s:9.0f} {s / base:10.2f}")
        print(f"fetches of the CRL URL: {server.hits['/bench.crl']}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
