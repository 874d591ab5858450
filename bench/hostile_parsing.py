"""What do the audit's hostile files cost to parse now?

One run, one machine, no network:

* PEM: ``load_certificates`` on 8,000 and 16,000 lone ``BEGIN CERTIFICATE``
  lines (224 KB and 448 KB), against the baseline of the pattern certwarden
  used before (``re.findall`` of BEGIN..END with a back-reference) on the same
  8,000 lines, measured in the same run. Linear: 16,000 lines take about twice
  as long as 8,000; the old pattern took the square.
* PKCS#12: ``load_certificates`` on a 1 KB file whose MAC and encryption ask
  for 2^31-1 iterations, against the baseline of opening the same file with
  its original counts (2,048 / 3,001) and the right password.

Prints seconds and the ratios. Run: ``.venv/bin/python bench/hostile_parsing.py``
(add ``--skip-old`` to leave out the old pattern, which takes seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hostile_files import p12_bomb, small_p12

from certwarden.core.parsing import load_certificates
from certwarden.demo.devpki import DevCA
from certwarden.errors import ParseError

OLD_PATTERN = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.DOTALL)
LONE_BEGIN = b"-----BEGIN CERTIFICATE-----\n"


def seconds(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.suppress(ParseError):
            fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-old", action="store_true")
    args = parser.parse_args()

    lines_8k, lines_16k = LONE_BEGIN * 8000, LONE_BEGIN * 16000
    new_8k = seconds(lambda: load_certificates(lines_8k, "8k.pem"))
    new_16k = seconds(lambda: load_certificates(lines_16k, "16k.pem"))
    print(f"PEM, 8,000 lone BEGIN lines:  {new_8k * 1000:8.2f} ms")
    print(
        f"PEM, 16,000 lone BEGIN lines: {new_16k * 1000:8.2f} ms  ({new_16k / new_8k:.2f}x 8,000)"
    )
    if not args.skip_old:
        old_8k = seconds(lambda: OLD_PATTERN.findall(lines_8k), repeat=1)
        print(
            f"baseline, old pattern on 8,000 lines: {old_8k:.2f} s "
            f"(now {old_8k / new_8k:,.0f}x faster)"
        )

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    root = DevCA.root("Bench Root", not_before=t0, not_after=t0 + timedelta(days=30))
    leaf = root.issue("bench.test", not_before=t0, not_after=t0 + timedelta(days=30))
    normal = small_p12(leaf, b"pw", rounds=3001)
    bomb = p12_bomb(leaf)
    base = seconds(lambda: load_certificates(normal, "normal.p12", password=b"pw"))
    refused = seconds(lambda: load_certificates(bomb, "bomb.p12", password=b"pw"))
    print(f"baseline, normal 1 KB PKCS#12 opened: {base * 1000:8.2f} ms")
    print(
        f"PKCS#12 bomb ({len(bomb)} bytes, 2^31-1 iterations) refused: "
        f"{refused * 1000:8.3f} ms ({refused / base:.3f}x the normal file)"
    )


if __name__ == "__main__":
    main()
