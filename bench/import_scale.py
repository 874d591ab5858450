"""Import throughput and memory at scale.

Builds N certificates (default 100,000) issued by one CA, as one PEM bundle and
as a directory of one file each, then imports each with the command a user
would run (``certwarden import``, a child process with its own peak RSS).
The baseline, measured in the same run on the same bytes: bare `cryptography`
parsing in a child process (no database) -- the ceiling an import could reach.

Then the listing cost: ``certwarden list --expiring-within 30d --json`` over
1,000,000 and over 100,000 stored certificates with the same 1,000 matching,
so the ratio shows whether the cost grows with what is returned or with the
inventory.

    .venv/bin/python bench/import_scale.py [--n 100000] [--list-big 1000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import CERTWARDEN, OUT, Measured, measure

NOW = datetime(2026, 11, 27, tzinfo=UTC)

PARSE_BUNDLE = """
import sys
from cryptography import x509
data = open(sys.argv[1], 'rb').read()
certs = x509.load_pem_x509_certificates(data)
print(len(certs))
"""
PARSE_DIR = """
import os, sys
from cryptography import x509
n = 0
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        with open(os.path.join(root, name), 'rb') as fh:
            x509.load_pem_x509_certificate(fh.read())
        n += 1
print(n)
"""


def build_pki(n: int, folder: Path) -> tuple[Path, Path, Path]:
    """The issuing CA, a bundle of ``n`` leaves and a directory of them (cached)."""
    from cryptography.hazmat.primitives import serialization

    from certwarden.demo.devpki import DevCA, new_key

    bundle, directory, ca_file = folder / "bundle.pem", folder / "files", folder / "ca.pem"
    if bundle.exists() and directory.exists() and ca_file.exists():
        return ca_file, bundle, directory
    folder.mkdir(parents=True, exist_ok=True)
    root = DevCA.root(
        "Bench Root", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=3650)
    )
    sub = root.child_ca(
        "Bench CAPF", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=3000)
    )
    ca_file.write_bytes(
        root.cert.public_bytes(serialization.Encoding.PEM)
        + sub.cert.public_bytes(serialization.Encoding.PEM)
    )
    key = new_key("ec")  # one key for every leaf: key generation is not what we measure
    directory.mkdir(exist_ok=True)
    with bundle.open("wb") as out:
        for i in range(n):
            leaf = sub.issue(
                f"SEP{i:012X}",
                not_before=NOW - timedelta(days=30),
                not_after=NOW + timedelta(days=1 + i % 1500),
                key=key,
                ocsp_url="http://ocsp.bench.test/",
            )
            data = leaf.cert_pem()
            out.write(data)
            (directory / f"{i // 1000:03d}").mkdir(exist_ok=True)
            (directory / f"{i // 1000:03d}" / f"sep{i:06d}.pem").write_bytes(data)
            if i % 10000 == 0:
                print(f"  built {i}/{n}", file=sys.stderr)
    return ca_file, bundle, directory


def import_run(data_dir: Path, ca_file: Path, source: Path) -> Measured:
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {"CERTWARDEN_DATA_DIR": str(data_dir)}
    first = measure(
        [*CERTWARDEN, "import", "--store", "CAPF-trust", "--json", str(ca_file)], env=env
    )
    assert first.returncode == 0
    return measure([*CERTWARDEN, "import", "--store", "lsc", str(source)], env=env)


def fill_database(data_dir: Path, total: int, matching: int) -> None:
    """``total`` rows of which ``matching`` expire within 30 days, inserted directly."""
    import sqlalchemy as sa

    from certwarden.adapters.db import Database, default_database_url
    from certwarden.adapters.db.models import CertificateRow

    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    db = Database(default_database_url(data_dir))
    db.upgrade()
    table = CertificateRow.__table__
    with db.engine.begin() as conn:
        store_id = conn.execute(sa.text("SELECT id FROM stores WHERE name='lsc'")).scalar_one()
        batch = []
        for i in range(total):
            days = 5 + (i % 20) if i < matching else 60 + i % 3000
            batch.append(
                {
                    "store_id": store_id, "sha256": f"{i:064x}", "sha1": f"{i:040x}",
                    "subject": f"CN=SEP{i:012X}", "subject_cn": f"SEP{i:012X}",
                    "issuer": "CN=Bench CAPF", "issuer_cn": "Bench CAPF", "serial": f"{i:x}",
                    "not_before": NOW - timedelta(days=30), "not_after": NOW + timedelta(days=days),
                    "sans": [], "key_type": "EC secp256r1", "key_size": 256,
                    "signature_algorithm": "ecdsa-with-SHA256", "is_ca": False, "role": "leaf",
                    "key_usage": ["digital_signature"], "extended_key_usage": ["clientAuth"],
                    "is_ocsp_signer": False, "ocsp_uris": [], "ca_issuer_uris": [], "crl_uris": [],
                    "subject_key_id": None, "authority_key_id": None, "is_lsc": True,
                    "source": "bench", "source_detail": "", "imported_at": NOW,
                    "issuer_id": None, "endpoint_id": None, "der": b"\x30\x00",
                }
            )  # fmt: skip
            if len(batch) == 20000:
                conn.execute(table.insert(), batch)
                batch.clear()
        if batch:
            conn.execute(table.insert(), batch)
    db.dispose()


def list_run(data_dir: Path, repeats: int) -> tuple[float, int]:
    env = {"CERTWARDEN_DATA_DIR": str(data_dir), "CERTWARDEN_TESTING_FIXED_NOW": NOW.isoformat()}
    times, count = [], 0
    measure(
        [*CERTWARDEN, "list", "--expiring-within", "30d", "--json"], env=env
    )  # warm-up: cold page cache
    for _ in range(repeats):
        m = measure([*CERTWARDEN, "list", "--expiring-within", "30d", "--json"], env=env)
        times.append(m.seconds)
        count = len(json.loads(m.stdout))
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="certificates to import")
    parser.add_argument("--list-small", type=int, default=100_000)
    parser.add_argument("--list-big", type=int, default=1_000_000)
    parser.add_argument("--matching", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cw-bench-"))
    try:
        if not args.skip_import:
            ca_file, bundle, directory = build_pki(args.n, OUT / f"pki-{args.n}")
            print(f"import of {args.n:,} certificates (issued by one EC P-256 CA)")
            print(f"{'case':<34}{'seconds':>9}{'certs/s':>10}{'peak RSS MB':>13}{'vs ceiling':>12}")
            for label, source, script in (("bundle (one PEM file)", bundle, PARSE_BUNDLE),
                                          ("directory (one file each)", directory, PARSE_DIR)):  # fmt: skip
                # Both sides read from a warm page cache: the first read of
                # 100,000 files would otherwise make whichever runs first look slow.
                measure([sys.executable, "-c", script, str(source)])
                ceiling = measure([sys.executable, "-c", script, str(source)])
                run = import_run(work / "data", ca_file, source)
                summary = run.stdout.decode().strip().splitlines()[-1]
                assert summary.startswith(f"{args.n} imported, 0 duplicate(s), 0 rejected"), summary
                rate_c, rate_i = args.n / ceiling.seconds, args.n / run.seconds
                print(
                    f"{'  ceiling: bare parse, ' + label.split()[0]:<34}{ceiling.seconds:>9.2f}{rate_c:>10,.0f}{ceiling.peak_rss_mb:>13.0f}{'1.00':>12}"
                )
                print(
                    f"{'  certwarden import, ' + label.split()[0]:<34}{run.seconds:>9.2f}{rate_i:>10,.0f}{run.peak_rss_mb:>13.0f}{rate_i / rate_c:>12.2f}"
                )
            print("target: import >= 0.25 of the ceiling, peak RSS < 400 MB at 100,000\n")
        if not args.skip_list:
            print(
                f"list --expiring-within 30d --json, {args.matching:,} matching (median of {args.repeats})"
            )
            results = {}
            for total in (args.list_small, args.list_big):
                fill_database(work / f"list-{total}", total, args.matching)
                seconds, count = list_run(work / f"list-{total}", args.repeats)
                assert count == args.matching, (count, args.matching)
                results[total] = seconds
                print(f"  over {total:>9,} stored: {seconds:.3f} s")
            ratio = results[args.list_big] / results[args.list_small]
            print(f"  ratio {args.list_big:,} / {args.list_small:,}: {ratio:.2f}  (target <= 1.5)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
