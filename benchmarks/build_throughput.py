"""Build throughput: posters per second through decode + all six resizes + write.

Measured on the real poster set in ../shared (the study's 106x155 posters; without it the script
says so and stops). In the same run, the baseline a user would write first: a plain
one-poster-at-a-time Pillow loop (open, RGB, resize to 182x268, resize to each ratio, collect,
np.save at the end).

    python benchmarks/build_throughput.py [--limit N] [--json PATH] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from dataset_builder.build import build
from dataset_builder.images import BASE_SIZE, STUDY_RATIOS, size_for_ratio
from dataset_builder.raw import read_raw
from dataset_builder.sources.local_images import import_local
from dataset_builder.sources.tables import read_table
from dataset_builder.store import open_dataset
from figures import write_json  # this folder is on sys.path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "tv-posters"


def plain_pillow_loop(paths: list[Path], out: Path) -> None:
    sizes = [size_for_ratio(r) for r in STUDY_RATIOS]
    arrays = {s: [] for s in sizes}
    for path in paths:
        img = Image.open(path).convert("RGB").resize(BASE_SIZE, Image.Resampling.LANCZOS)
        for size in sizes:
            arrays[size].append(np.asarray(img.resize(size, Image.Resampling.LANCZOS)))
    for (w, h), images in arrays.items():
        np.save(out / f"plain_{w}x{h}.npy", np.stack(images))


def common_genres(raw, at_least: int = 10) -> str:
    """--genres: those of at least `at_least` titles. The rarest of the 26 have too few titles to
    reach all three splits in a --limit'ed set, and build refuses them."""
    counts = Counter(g for p in raw.usable for g in p.genres)
    return ",".join(sorted(g for g, n in counts.items() if n >= at_least))


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the build's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def figures_cores() -> int:
    return len(os.sched_getaffinity(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N posters (0: all)")
    parser.add_argument("--quick", action="store_true", help="about a minute: 2000 posters")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if not (SHARED / "484da.csv").is_file():
        raise SystemExit(f"{SHARED} is absent: this benchmark measures on the real poster set")
    limit = 2000 if args.quick and not args.limit else args.limit

    work = Path(tempfile.mkdtemp(prefix="build-bench-"))
    try:
        rows, _duplicates = read_table("authors", SHARED / "484da.csv", SHARED / "posters-58")  # the authors' CSV has none
        rows = [r for r in rows if r.image.is_file()][: limit or None]
        import_local(rows, work / "raw")
        raw = read_raw(work / "raw")
        # Warm the page cache for both contenders alike.
        for p in raw.usable:
            raw.path_of(p).read_bytes()

        cpu_before = cpu_seconds()
        started = time.perf_counter()
        built = build(work / "raw", work / "ds", common_genres(raw), ratios=list(STUDY_RATIOS), seed=0)
        ours_s = time.perf_counter() - started
        ours_cpu = cpu_seconds() - cpu_before
        # The plain loop gets the posters the build kept (titles with only rare genres are left out).
        kept = set(open_dataset(work / "ds").ids.tolist())
        paths = [raw.path_of(p) for p in raw.usable if p.id in kept]
        n = len(paths)
        assert n == built.count

        (work / "plain").mkdir()
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        plain_pillow_loop(paths, work / "plain")
        plain_s = time.perf_counter() - started
        plain_cpu = cpu_seconds() - cpu_before
    finally:
        shutil.rmtree(work, ignore_errors=True)

    figures = {
        "posters": n,
        "source": f"{SHARED} (RGB JPEG 106x155)",
        "ratios": list(STUDY_RATIOS),
        "cores": figures_cores(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "build_s": round(ours_s, 3),
        "build_posters_per_s": round(n / ours_s, 1),
        "plain_loop_s": round(plain_s, 3),
        "plain_loop_posters_per_s": round(n / plain_s, 1),
        "speedup": round(plain_s / ours_s, 2),
        # CPU seconds (this process and its workers): what the wall clock shows on an idle machine.
        "build_cpu_ms_per_poster": round(1000 * ours_cpu / n, 3),
        "plain_loop_cpu_ms_per_poster": round(1000 * plain_cpu / n, 3),
        "build_posters_per_s_if_idle": round(figures_cores() * n / ours_cpu, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(
        f"{n} posters ({figures['source']}) -> 6 ratios, {figures['cores']} cores:\n"
        f"  dataset-builder build     {figures['build_posters_per_s']:8.1f} posters/s  ({ours_s:.2f} s, incl. split, sha256, manifest)\n"
        f"  plain Pillow loop         {figures['plain_loop_posters_per_s']:8.1f} posters/s  ({plain_s:.2f} s)\n"
        f"  speed-up                  {figures['speedup']:.2f}x\n"
        f"  CPU time per poster: build {figures['build_cpu_ms_per_poster']:.2f} ms, plain loop "
        f"{figures['plain_loop_cpu_ms_per_poster']:.2f} ms; on {figures['cores']} idle cores the build would do "
        f"{figures['build_posters_per_s_if_idle']:.0f} posters/s (load average now {figures['load_average_1min']})"
    )
    if args.json:
        write_json(args.json, "build_throughput", **figures)


if __name__ == "__main__":
    main()
