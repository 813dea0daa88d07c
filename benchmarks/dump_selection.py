"""Dump selection: time and peak memory of selecting the study's titles from a large title.basics.

Generates a title.basics.tsv.gz of 2 million rows in IMDb's exact schema (and its ratings),
with IMDb's real type mix, then runs the selection (tvSeries, 1950+, 1000+ votes) in a fresh
child process, so that the peak resident memory measured is the selection's alone.

    .venv/bin/python benchmarks/dump_selection.py [--rows 2000000] [--data DIR] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the dump generator lives with the tests (tests/support)

from figures import write_json  # noqa: E402 (this folder is on sys.path)
from support.dump_fixtures import write_large_basics  # noqa: E402

CHILD = """
import json, sys, time
from dataset_builder.sources.imdb_dumps import select_from_dumps
started = time.perf_counter()
picked = select_from_dumps(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - started, "selected": len(picked.titles),
                  "without_genres": picked.without_genres}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of title.basics (default 2000000)")
    ap.add_argument("--data", type=Path, help="keep the generated dumps here (reused when present)")
    ap.add_argument("--repeat", type=int, default=3, help="selection runs; the median time is reported")
    ap.add_argument("--quick", action="store_true", help="200000 rows, 1 run")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.repeat = 200_000, 1

    with tempfile.TemporaryDirectory(prefix="dump-bench-") as tmp:
        data = args.data or Path(tmp)
        marker = data / f".rows-{args.rows}.json"
        if marker.is_file():
            expected = json.loads(marker.read_text())["kept"]
            gen_s = None
        else:
            started = time.perf_counter()
            expected = write_large_basics(data, args.rows)
            gen_s = time.perf_counter() - started
            marker.write_text(json.dumps({"kept": expected}))
        runs = []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, str(data)], capture_output=True, text=True, check=True, cwd=REPO)
            wall = time.perf_counter() - started
            # ru_maxrss of children is the largest child so far (KiB on Linux); each run is alike.
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            result = json.loads(done.stdout)
            assert result["selected"] == expected, (result, expected)
            runs.append({"selection_s": result["seconds"], "process_s": wall, "peak_rss_kib": max(peak_kib, before)})
        sizes = {p.name: p.stat().st_size for p in data.glob("*.tsv.gz")}

    runs.sort(key=lambda r: r["selection_s"])
    median = runs[len(runs) // 2]
    peak_mib = max(r["peak_rss_kib"] for r in runs) / 1024
    figures = {
        "machine": f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()} (shared with other work: timings are noisy)",
        "rows": args.rows,
        "basics_gz_mib": round(sizes["title.basics.tsv.gz"] / 2**20, 1),
        "ratings_gz_mib": round(sizes["title.ratings.tsv.gz"] / 2**20, 1),
        "selected": expected,
        "generation_s": None if gen_s is None else round(gen_s, 1),
        "selection_s_runs": [round(r["selection_s"], 2) for r in runs],
        "selection_s": round(median["selection_s"], 2),
        "process_s": round(median["process_s"], 2),
        "peak_rss_mib": round(peak_mib, 1),
    }
    print(f"\nDump selection on {figures['machine']}")
    print(f"  input: generated title.basics.tsv.gz of {args.rows:,} rows ({figures['basics_gz_mib']} MiB gzipped) "
          f"+ title.ratings.tsv.gz ({figures['ratings_gz_mib']} MiB); {expected} titles selected (tvSeries, 1950+, 1000+ votes)")
    print(f"  selection: {figures['selection_s']} s (median of {len(runs)}: {figures['selection_s_runs']}); "
          f"whole child process incl. imports {figures['process_s']} s")
    print(f"  peak resident memory of the child process: {figures['peak_rss_mib']} MiB")
    print("  aim: < 30 s and < 1024 MiB")
    if args.json:
        write_json(args.json, "dump_selection", **figures)


if __name__ == "__main__":
    main()
