"""Download throughput: posters/s through the downloader against a loopback server with latency.

The server (tests/support/http_fixtures.py, in its own process so it does not share the
client's interpreter) serves real 182x268 JPEGs and adds 20 ms to every request, as a far
server would. Measured: the whole downloader path (concurrent GETs, full Pillow validation,
atomic writes, posters.csv), and beside it, in the same run, a plain sequential loop of
requests.get + the same validation + write, one poster at a time.

    .venv/bin/python benchmarks/download_throughput.py [--count 2000] [--latency-ms 20] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the loopback server lives with the tests (tests/support)

from support.http_fixtures import FakeWeb, make_jpeg  # noqa: E402

from dataset_builder.download import DownloadOptions, download_collection  # noqa: E402
from dataset_builder.images import open_poster  # noqa: E402
from dataset_builder.raw import Poster  # noqa: E402
from dataset_builder.workers import download_workers_help  # noqa: E402
from figures import write_json  # noqa: E402


def serve(count: int, latency_s: float, port_queue: mp.Queue, stop: mp.Event) -> None:
    web = FakeWeb(latency_s=latency_s)
    for i in range(count):
        web.serve(f"/img/{i}.jpg", make_jpeg(i))
    web.start()
    port_queue.put(web.base)
    stop.wait()
    web.stop()


def posters_for(base: str, ids: range, prefix: str) -> list[Poster]:
    return [Poster(id=f"{prefix}{i:07d}", genres=["Drama"], url=f"{base}/img/{i}.jpg") for i in ids]


def sequential(posters: list[Poster], folder: Path) -> float:
    """The plain way: one request after another, same validation, same file per poster."""
    folder.mkdir(parents=True)
    started = time.perf_counter()
    with requests.Session() as s:
        for p in posters:
            data = s.get(p.url, timeout=(5, 20)).content
            open_poster(data)
            (folder / f"{p.id}.jpg").write_bytes(data)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2000, help="posters through the downloader (default 2000)")
    ap.add_argument("--baseline-count", type=int, default=200, help="posters through the sequential loop (default 200)")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--per-host", type=int, default=DownloadOptions().per_host)
    ap.add_argument("--workers", type=int, default=DownloadOptions().workers, help=download_workers_help())
    ap.add_argument("--repeat", type=int, default=3, help="downloader runs; the median is reported")
    ap.add_argument("--quick", action="store_true", help="400 posters, 50 for the baseline, 1 run")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if args.quick:
        args.count, args.baseline_count, args.repeat = 400, 50, 1

    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(args.count, args.latency_ms / 1000, ports, stop), daemon=True)
    server.start()
    base = ports.get(timeout=120)
    try:
        with tempfile.TemporaryDirectory(prefix="download-bench-") as tmp:
            tmp = Path(tmp)
            base_s = sequential(posters_for(base, range(args.baseline_count), "seq"), tmp / "sequential")
            runs = []
            for r in range(args.repeat):
                posters = posters_for(base, range(args.count), f"r{r}-")
                options = DownloadOptions(workers=args.workers, per_host=args.per_host)
                report = download_collection(posters, tmp / f"raw{r}", options)
                assert report.fetched == args.count, report.summary()
                runs.append(report.seconds)
    finally:
        stop.set()
        server.join(timeout=10)

    runs.sort()
    median = runs[len(runs) // 2]
    figures = {
        "machine": f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()} (shared with other work: timings are noisy)",
        "server": f"loopback http.server in its own process, {args.latency_ms:g} ms added per request, 182x268 JPEGs (~{len(make_jpeg(1)) / 1024:.0f} KiB)",
        "downloader_posters": args.count,
        "downloader_workers": args.workers,
        "downloader_per_host": args.per_host,
        "downloader_runs_s": [round(s, 3) for s in runs],
        "downloader_posters_per_s": round(args.count / median, 1),
        "sequential_posters": args.baseline_count,
        "sequential_s": round(base_s, 3),
        "sequential_posters_per_s": round(args.baseline_count / base_s, 1),
    }
    figures["speedup"] = round(figures["downloader_posters_per_s"] / figures["sequential_posters_per_s"], 1)
    print(f"\nDownload throughput on {figures['machine']}")
    print(f"  server: {figures['server']}")
    print(f"  downloader ({args.workers} threads, {args.per_host} per host, full validation, atomic writes): "
          f"{figures['downloader_posters_per_s']} posters/s (median of {len(runs)} runs of {args.count}: {figures['downloader_runs_s']} s)")
    print(f"  plain sequential requests loop (same validation and write): {figures['sequential_posters_per_s']} posters/s "
          f"({args.baseline_count} in {figures['sequential_s']} s)")
    print(f"  speedup: {figures['speedup']}x; aim: >= 200 posters/s")
    if args.json:
        write_json(args.json, "download_throughput", **figures)


if __name__ == "__main__":
    main()
