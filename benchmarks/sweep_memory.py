"""A sweep's memory: the machine's memory in use and each trial process's, sampled through a real sweep.

Builds N synthetic posters at one ratio (or takes a built dataset with --dataset), then runs K
trials at once, 1 epoch and 1 CPU each, through tune_genres' own driver (`run_sweep` on a fresh
local Ray, as `tune-genres sweep` runs), and samples every --interval seconds until it returns:

- the machine's memory in use: MemTotal - MemAvailable (/proc/meminfo). Ray's object store is
  shared memory and counts here, once; the page cache (the dataset file the driver read) does not;
- each trial process's and the driver's resident size (RSS), and three parts of it: private
  (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup: the pages no other process maps),
  anonymous (RssAnon: the process's own heap, torch's buffers included) and shared memory
  (RssShmem: what it maps of the object store). Private also counts the pages of the store, and
  of files, that no other process happens to map yet, so anonymous is the surer figure of the
  memory a trial adds;
- the sweep's own memory, whatever else runs on the machine: the anonymous memory of this
  process and of every process under it (Ray's daemons and workers included), plus the object
  store's shared memory once.

A trial process is a descendant of this process titled as Tune's trial actors are
(`ray::ImplicitFunc`). The machine's figure counts whatever else runs on it, so the
memory in use before Ray starts is printed too, and the rise over it beside the peak. Every
figure is also printed as a multiple of the ratio's image array (the images_r<R>.npy file).

    .venv/bin/python benchmarks/sweep_memory.py [--dataset DIR] [--count N] [--ratio R] [--trials K]
        [--interval S] [--private-interval S] [--floor GIB] [--keep DIR] [--quick] [--json PATH]
"""

from __future__ import annotations

import _thread
import argparse
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from figures import write_json  # this folder is on sys.path

GIB = 2**30
# The synthetic set's genres as `make demo` builds them.
GENRES = "top:5"


# -- what /proc says -----------------------------------------------------------------------------


def memory_in_use() -> tuple[int, int]:
    """(bytes in use, bytes available): MemTotal - MemAvailable, and MemAvailable (the kernel's estimate of what it can free)."""
    fields = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) * 1024
    return fields["MemTotal"] - fields["MemAvailable"], fields["MemAvailable"]


def status_memory(pid: int) -> dict[str, int] | None:
    """RSS and its anonymous and shared-memory parts (bytes) from /proc/PID/status: counters, cheap to read."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssShmem"):
            fields[name] = int(value.split()[0]) * 1024
    return {"rss": fields.get("VmRSS", 0), "anon": fields.get("RssAnon", 0), "shmem": fields.get("RssShmem", 0)}


def private_memory(pid: int) -> int | None:
    """Bytes of the process's pages no other process maps: Private_Clean + Private_Dirty (smaps_rollup).

    Exact, but the kernel walks the process's page tables for it: about 0.2 s for a 4 GB trial on
    a busy 2-core machine, so it is read less often than the counters.
    """
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)


def descendants(root: int) -> dict[int, str]:
    """{pid: title} of every process under `root` (the titles Ray workers give themselves)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        try:
            found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        todo.extend(children.get(pid, []))
    return found


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# Tune runs a function trainable as a Ray actor of class ImplicitFunc; its process takes the title
# `ray::ImplicitFunc` (`ray::ImplicitFunc.train` while it trains). Ray's agents and idle workers
# are `ray::DashboardAgent`, `ray::RuntimeEnvAgent`, `ray::IDLE`.
TRIAL_TITLE = "ray::ImplicitFunc"


def is_trial(title: str) -> bool:
    return title.startswith(TRIAL_TITLE)


class Sampler(threading.Thread):
    """Samples memory in use, this process's and each trial process's, until stopped; keeps the peaks.

    Every `interval` seconds the counters (meminfo, each process's status); every
    `private_interval` seconds also each process's private part (smaps_rollup, costly). Should the
    machine's available memory fall below `floor` bytes, it stops the sweep: the driver is
    interrupted and the trial processes killed, so that on a shared machine the benchmark, not a
    neighbour, is what the memory shortage ends; the peaks so far are then lower bounds.
    """

    def __init__(self, interval: float, private_interval: float, floor: int):
        super().__init__(daemon=True)
        self.interval, self.private_interval, self.floor = interval, private_interval, floor
        self.stopped_at_floor: float | None = None  # the available memory that stopped the sweep
        self.stopped = threading.Event()
        self.samples = self.private_samples = 0
        self.private_at = 0.0
        self.peak_in_use = self.peak_own = 0
        self.processes: dict[int, dict] = {}  # pid -> peaks: rss, anon, shmem, private; and its title

    def sample(self, private: bool = False) -> None:
        in_use, available = memory_in_use()
        self.peak_in_use = max(self.peak_in_use, in_use)
        private = private or time.monotonic() - self.private_at >= self.private_interval
        family = descendants(os.getpid())
        watched = {os.getpid(): "driver"} | {pid: t for pid, t in family.items() if is_trial(t)}
        self.sweep_own(family)
        if available < self.floor and self.stopped_at_floor is None and not self.stopped.is_set():
            self.stopped_at_floor = available
            _thread.interrupt_main()  # Tune ends the experiment on an interrupt
        if self.stopped_at_floor is not None and not self.stopped.is_set():
            # Trial processes free their memory now, not when Tune gets to them (and so do any it restarts).
            kill([pid for pid in watched if pid != os.getpid()])
        for pid, title in watched.items():
            found = status_memory(pid)
            if found is None:
                continue
            if private and (own := private_memory(pid)) is not None:
                found["private"] = own
            peak = self.processes.setdefault(pid, {"title": title, "rss": 0, "anon": 0, "shmem": 0, "private": 0})
            for key, value in found.items():
                peak[key] = max(peak[key], value)
        if private:
            self.private_at = time.monotonic()
            self.private_samples += 1
        self.samples += 1

    def sweep_own(self, family: dict[int, str]) -> None:
        """The sweep's own memory, whatever else the machine runs: the anonymous memory of this process
        and of every process under it (Ray's daemons, agents, workers), plus the object store's shared
        memory once (as much of it as any one of them maps: the driver, which wrote it, maps all)."""
        found = [m for m in map(status_memory, [os.getpid(), *family]) if m is not None]
        own = sum(m["anon"] for m in found) + max((m["shmem"] for m in found), default=0)
        self.peak_own = max(self.peak_own, own)

    def run(self) -> None:
        while not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        self.sample(private=True)


# -- the dataset and the sweep -------------------------------------------------------------------


def synthetic_dataset(folder: Path, count: int, ratio: int) -> Path:
    """`dataset-builder synthetic RAW --count N`, then `build` at the one ratio."""
    from dataset_builder.build import build
    from dataset_builder.sources.synthetic import write_collection

    write_collection(folder / "raw", count, seed=0, workers=len(os.sched_getaffinity(0)))
    build(folder / "raw", folder / "dataset", GENRES, ratios=[ratio], seed=0)
    return folder / "dataset"


def sweep_file(path: Path, ratio: int, trials: int) -> Path:
    """K trials (K learning rates) of 1 epoch at one ratio, 1 CPU each, all at once."""
    lrs = [1e-3 / 2**i for i in range(trials)]
    path.write_text(
        f"name = 'memory'\n[grid]\nlr = {lrs!r}\nratio = [{ratio}]\n"
        "[train]\nloss = 'bce'\nepochs = 1\ncheckpoint_every = 1\n"
        f"[resources]\ncpus_per_trial = 1\nmax_concurrent = {trials}\n"
    )
    return path


def package_path() -> str:
    import tune_genres

    return str(Path(tune_genres.__file__).parent)


def run(dataset: Path, ratio: int, trials: int, sampler: Sampler, folder: Path) -> dict:
    import ray

    from tune_genres.sweep.cluster import connect
    from tune_genres.sweep.driver import SweepOptions, run_sweep
    from tune_genres.sweep.sweep_file import load_sweep

    sweep = load_sweep(sweep_file(folder / "memory.toml", ratio, trials))
    at_start = memory_in_use()[0]
    sampler.start()
    started, workers_package = time.perf_counter(), "?"
    try:
        # The driver's own connect, to a fresh local Ray: never one another user started on this machine.
        os.environ["RAY_ADDRESS"] = "local"
        connect(None)
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < trials:
            raise SystemExit(f"--trials {trials}: Ray sees {cpus:g} CPUs here, so the trials would not all run at once")
        # Which tune_genres the trials run (a worker's path starts with the driver's working directory).
        workers_package = ray.get(ray.remote(num_cpus=0)(package_path).remote())
        run_sweep(sweep, SweepOptions(dataset=dataset, storage=str(folder / "experiments"), name="memory", verbose=0))
    except KeyboardInterrupt:
        if sampler.stopped_at_floor is None:
            raise
    finally:
        sweep_s = time.perf_counter() - started
        sampler.stop()
        ray.shutdown()
    processes = sampler.processes
    return {
        "package": {"driver": package_path(), "workers": workers_package},
        "in_use_at_start": at_start,
        "peak_in_use": sampler.peak_in_use,
        "peak_sweep_own": sampler.peak_own,
        "driver": processes.get(os.getpid()),
        "trials": [p for pid, p in processes.items() if pid != os.getpid()],
        "stopped_at_floor": sampler.stopped_at_floor,
        "samples": sampler.samples,
        "private_samples": sampler.private_samples,
        "sweep_s": sweep_s,
    }


def gib(n: int) -> str:
    return f"{n / GIB:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="a built dataset (default: N synthetic posters, built here)")
    parser.add_argument("--count", type=int, help="synthetic posters to build (default 20000, --quick 2000)")
    parser.add_argument("--ratio", type=int, default=100, help="the ratio the trials train at (default 100)")
    parser.add_argument("--trials", type=int, default=2, help="trials at once, 1 CPU each (default 2)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples of the counters (default 0.5)")
    parser.add_argument("--private-interval", type=float, default=2.0,
                        help="seconds between samples of each process's private memory (smaps_rollup; default 2)")
    parser.add_argument("--floor", type=float, default=1.5,
                        help="stop the sweep when the machine's available memory falls below this many GiB (default 1.5)")
    parser.add_argument("--keep", type=Path, help="build the synthetic dataset here and keep it (for --dataset next time)")
    parser.add_argument("--quick", action="store_true", help="2000 synthetic posters: a few minutes on 2 cores")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.trials < 1 or args.interval <= 0 or args.private_interval <= 0:
        raise SystemExit(f"--trials {args.trials} --interval {args.interval}: expected at least 1 trial and positive intervals")

    from dataset_builder.store import images_file, open_dataset

    with tempfile.TemporaryDirectory(prefix="sweep-memory-") as tmp:
        if args.dataset:
            dataset = args.dataset
        else:
            count = args.count or (2000 if args.quick else 20000)
            dataset = synthetic_dataset(args.keep or Path(tmp) / "synthetic", count, args.ratio)
        ds = open_dataset(dataset)
        if args.ratio not in ds.ratios:
            raise SystemExit(f"{dataset}: no ratio {args.ratio} (it has {', '.join(map(str, ds.ratios))})")
        array = (Path(dataset) / images_file(args.ratio)).stat().st_size
        width, height = ds.size(args.ratio)
        load_before = os.getloadavg()[0]
        figures = run(dataset, args.ratio, args.trials, Sampler(args.interval, args.private_interval, int(args.floor * GIB)), Path(tmp))
    figures["load_avg"] = [load_before, os.getloadavg()[0]]
    print_figures(figures, array, args)
    if args.json:
        write_json(args.json, "sweep_memory", dataset=str(dataset), posters=ds.manifest["count"], ratio=args.ratio,
                   size=[width, height], array_bytes=array, trials_at_once=args.trials, interval_s=args.interval,
                   private_interval_s=args.private_interval, floor_gib=args.floor, **figures)


def print_figures(figures: dict, array: int, args: argparse.Namespace) -> None:
    rise = figures["peak_in_use"] - figures["in_use_at_start"]
    print(
        f"\nSweep memory: {args.trials} trials at once, 1 epoch, 1 CPU each, at {args.ratio}%; the image array is "
        f"{gib(array)} GiB. {figures['samples']} samples every {args.interval:g} s ({figures['private_samples']} of the "
        f"private part) over {figures['sweep_s']:.0f} s. GiB, and in brackets as a multiple of the array:\n"
    )
    if figures["stopped_at_floor"] is not None:
        print(f"STOPPED: the machine's available memory fell to {gib(figures['stopped_at_floor'])} GiB, under --floor "
              f"{args.floor:g}; the sweep did not finish and every peak below is a lower bound.\n")
    print(f"tune_genres from {figures['package']['driver']} (driver), {figures['package']['workers']} (Ray's workers).\n")
    print("| machine: peak in use | in use at the start | rise | the sweep's own: peak |")
    print("|---:|---:|---:|---:|")
    values = (figures["peak_in_use"], figures["in_use_at_start"], rise, figures["peak_sweep_own"])
    print("| " + " | ".join(f"{gib(v)} ({v / array:.2f}x)" for v in values) + " |")
    print("(the sweep's own: the anonymous memory of the driver and every process under it, Ray's included, "
          "plus the object store's shared memory once)")
    print("\n| process | peak RSS | private (not shared) | anonymous | shared memory mapped (the object store) |")
    print("|---|---:|---:|---:|---:|")
    processes = [("driver", figures["driver"])] + [(f"trial {i + 1}", t) for i, t in enumerate(figures["trials"])]
    for label, p in processes:
        print(f"| {label} | " + " | ".join(f"{gib(p[k])} ({p[k] / array:.2f}x)" for k in ("rss", "private", "anon", "shmem")) + " |")
    if not figures["trials"]:
        print("(no trial process seen: was the sweep shorter than the sampling interval?)")
    trials = figures["trials"]
    print(
        f"\nPeak memory in use {gib(figures['peak_in_use'])} GiB ({figures['peak_in_use'] / array:.2f}x the array), "
        f"{gib(rise)} GiB over the {gib(figures['in_use_at_start'])} GiB in use before Ray started; the sweep's own "
        f"processes and object store at most {gib(figures['peak_sweep_own'])} GiB; per trial "
        f"at most {gib(max((t['rss'] for t in trials), default=0))} GiB resident, of it at most "
        f"{gib(max((t['private'] for t in trials), default=0))} GiB private and {gib(max((t['anon'] for t in trials), default=0))} "
        f"GiB anonymous. Load average {figures['load_avg'][0]:.2f} at "
        f"start, {figures['load_avg'][1]:.2f} at the end; the machine's figure counts whatever else runs on it."
    )


if __name__ == "__main__":
    main()
