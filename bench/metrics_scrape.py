"""/metrics scrape cost with 30,000 certificates: cached against uncached.

The inventory (30,000 certificates, SQLite) is written as in ``api_load.py``.
Each mode runs in a child process of its own (so that its memory is its own),
over the same database, and answers per scrape:

* baseline, "uncached render": what ``/metrics`` did before the cache — read
  every certificate and render the text at each scrape (per-certificate
  series on, as the audit measured it);
* "cached": what ``/metrics`` answers now with the background refresher
  running (``MetricsRegistry.scrape_parts``, what the route sends: the cached bytes and the loop's
  counters); the one background render it needs is reported apart;
* "auto": the default switch above 10,000 certificates — the summary alone,
  cached.

CPU is ``time.process_time`` per scrape (median over ``--runs`` scrapes one
after the other); memory is the process's peak RSS above its RSS before the
scrapes, for one scrape and then for 16 simultaneous scrapes (threads: what
several scrapers at once cost).

    .venv/bin/python bench/metrics_scrape.py [--n 30000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import NOW, build

DAY = timedelta(days=1)
MODES = ("uncached", "cached", "auto")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:  # noqa: PTH123
        return int(fh.read().split()[1]) * resource.getpagesize() / 1e6


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def child(mode: str, data: Path, runs: int, parallel: int) -> dict[str, float]:
    from certwarden.clock import ManualClock
    from certwarden.composition import AppConfig, build_app
    from certwarden.interfaces.web.metrics import MetricsOptions, MetricsRegistry

    app = build_app(AppConfig(data_dir=data, database_url=""), clock=ManualClock(NOW))
    options = MetricsOptions(per_certificate="auto" if mode == "auto" else "always")
    registry = MetricsRegistry(app, lambda: 30 * DAY, options)
    refresh_cpu = 0.0
    if mode == "uncached":

        def scrape() -> tuple[bytes, ...]:
            return (registry.render(per_certificate=True) + registry.loop_text(),)

    else:
        start = time.process_time()
        registry.cache.refresh()  # the background task's render
        refresh_cpu = time.process_time() - start
        registry.cache.background = True
        scrape = registry.scrape_parts  # what the /metrics route sends
    app.overview.counts(window=30 * DAY)  # connections and caches warm for every mode
    before = _rss_mb()
    times, size = [], 0
    for _ in range(runs):
        start = time.process_time()
        size = sum(len(part) for part in scrape())
        times.append(time.process_time() - start)
    one_peak = _peak_mb() - before
    barrier = threading.Barrier(parallel)
    start = time.process_time()

    def one() -> None:
        barrier.wait()
        scrape()

    threads = [threading.Thread(target=one) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parallel_cpu = (time.process_time() - start) / parallel
    renders = registry.cache.renders
    app.close()
    return {
        "cpu": statistics.median(times),
        "parallel_cpu": parallel_cpu,
        "one_mb": max(one_peak, 0.0),
        "parallel_mb": max(_peak_mb() - before, 0.0),
        "size": size,
        "refresh_cpu": refresh_cpu,
        "renders": renders,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--child", choices=MODES)
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.runs, args.parallel)))
        return

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cw-metrics-") as tmp:
        data = Path(tmp) / "data"
        build(data, args.n)
        for mode in MODES:
            runs = args.runs if mode == "uncached" else max(50, args.runs)
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--data", str(data),
                 "--runs", str(runs), "--parallel", str(args.parallel)],
                capture_output=True, text=True, check=True, timeout=1800,
            )  # fmt: skip
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])

    base, cached, auto = results["uncached"], results["cached"], results["auto"]
    print(f"/metrics with {args.n:,} certificates (SQLite); one process per mode")
    print(
        f"{'':32}{'CPU/scrape':>12}{f'CPU, {args.parallel} at once':>18}"
        f"{'RSS +1':>9}{f'RSS +{args.parallel}':>10}{'body':>9}"
    )
    for name, r in (
        ("baseline: uncached render", base),
        ("cached (per-certificate on)", cached),
        ("auto (summary above 10,000)", auto),
    ):
        print(
            f"{name:32}{r['cpu'] * 1000:>10.2f}ms{r['parallel_cpu'] * 1000:>16.2f}ms"
            f"{r['one_mb']:>7.1f}MB{r['parallel_mb']:>8.1f}MB{r['size'] / 1e6:>7.2f}MB"
        )
    print(f"one background render (cached mode): {cached['refresh_cpu'] * 1000:.0f} ms CPU, "
          f"renders during the scrapes: {int(cached['renders']) - 1}")  # fmt: skip
    print(
        f"cached scrape: {base['cpu'] / max(cached['cpu'], 1e-6):,.0f}x less CPU than the "
        f"baseline; {args.parallel} at once add {cached['parallel_mb']:.1f} MB "
        f"against {base['parallel_mb']:.1f} MB"
    )


if __name__ == "__main__":
    main()
