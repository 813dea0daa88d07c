"""Ray Tune's overhead: the same trials through the product's driver and in a plain loop.

Both run the sweep file's grid (default sweeps/demo.toml, as `make demo` does) on the same built
dataset, through the same `run_trial`, with the same CPUs per trial and trials at a time:

- Tune: a fresh local Ray, then `run_sweep` (object store, Tuner, checkpoints, TensorBoard and
  result logging), timed from `ray.init` to the return of `fit`; the report after it is not Ray's.
- loop: the dataset's arrays loaded, then `run_trial` over the same configs in as many worker
  processes as Tune runs trials at once, each with as many threads as a trial's CPUs (neither
  pins threads to cores), under the trial processes' environment (worker_env); they are started
  before the clock starts (a plain loop has no process to start), so everything Tune adds (Ray's
  start, actor processes, scheduling, result and checkpoint traffic) counts as its overhead.

Per-trial start-up is the time from a trial's start (Tune: the driver launching it; loop: the call)
to its first report, less that first epoch's own training and validation time.
The overhead ratio is (tune_s - loop_s) / tune_s: the share of the sweep's time that Ray adds.

    .venv/bin/python benchmarks/sweep_overhead.py [SWEEP.toml] [--dataset DIR] [--epochs N] [--repeats N] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

from figures import write_json  # this folder is on sys.path

REPO = Path(__file__).resolve().parents[1]
# The demo's dataset recipe (Makefile: `make demo`).
DEMO_GENRES = "top:5"


def demo_dataset(folder: Path, count: int, ratios: list[int]) -> Path:
    """The synthetic posters built as `make demo` builds them."""
    from dataset_builder.build import build
    from dataset_builder.sources.synthetic import write_collection

    write_collection(folder / "raw", count, seed=0, workers=len(os.sched_getaffinity(0)))
    build(folder / "raw", folder / "dataset", DEMO_GENRES, ratios=ratios, seed=0)
    return folder / "dataset"


def trial_configs(sweep) -> list[dict]:
    """The grid's configs as Tune expands them (tune_genres.sweep.param_space)."""
    keys = list(sweep.grid)
    return [{**dict(zip(keys, values)), **sweep.train} for values in itertools.product(*(sweep.grid[k] for k in keys))]


# -- the plain loop ------------------------------------------------------------------------------

_ARRAYS: dict = {}
_CPUS = 1


def _init_worker(arrays: dict, cpus: int) -> None:
    global _ARRAYS, _CPUS
    _ARRAYS, _CPUS = arrays, cpus
    import tune_genres.sweep.trainable  # noqa: F401  imports torch and ray before the clock starts


def _loop_trial(config: dict) -> dict:
    from tune_genres.training.device import set_threads
    from tune_genres.training.trial import run_trial

    reports = []
    started = time.time()
    # Each trial uses as many threads as Tune would grant it; like Ray, the loop pins nothing.
    set_threads(_CPUS)
    run_trial(config, _ARRAYS[config["ratio"]], report=lambda metrics, checkpoint_dir=None: reports.append((time.time(), metrics["epoch_s"])))
    return timeline(started, reports, time.time())


def timeline(free_at: float, reports: list[tuple[float, float]], done_at: float) -> dict:
    """A trial's time outside its epochs' own work (epoch_s: train + validate + metrics):
    start-up (its slot free -> first report), the mean gap between reports, and the tail (last report -> done);
    and that work itself."""
    gaps = [at - before - epoch_s for (before, _), (at, epoch_s) in zip(reports, reports[1:])]
    return {
        "work_s": sum(epoch_s for _, epoch_s in reports),
        "start_up_s": reports[0][0] - free_at - reports[0][1],
        "per_epoch_s": sum(gaps) / len(gaps) if gaps else 0.0,
        "tail_s": done_at - reports[-1][0],
    }


def plain_loop(configs: list[dict], dataset: Path, ratios: list[int], concurrent: int, cpus: int) -> dict:
    from dataset_builder.store import open_dataset
    from tune_genres.training.data import trial_arrays

    started = time.perf_counter()
    ds = open_dataset(dataset)
    arrays = {r: trial_arrays(ds, r) for r in ratios}
    load_s = time.perf_counter() - started
    context = mp.get_context("spawn")  # a clean interpreter per worker, as Ray's workers are
    with context.Pool(concurrent, _init_worker, (arrays, cpus)) as pool:
        pool.map(abs, range(concurrent))  # every worker started and initialised
        started = time.perf_counter()
        trials = pool.map(_loop_trial, configs, chunksize=1)
        run_s = time.perf_counter() - started
    return {"loop_s": load_s + run_s, "load_s": load_s, "trials": trials}


# -- Tune ------------------------------------------------------------------------------------------


def tune_run(sweep, dataset: Path, storage: Path, concurrent: int) -> dict:
    import ray
    from ray import tune

    from tune_genres.sweep.cluster import connect
    from tune_genres.sweep.driver import SweepOptions, run_sweep

    class Probe(tune.Callback):
        """Each trial's reports and end, as the driver sees them."""

        def __init__(self):
            self.fit_started = 0.0
            self.reports: dict[str, list[tuple[float, float]]] = {}
            self.done: dict[str, float] = {}

        def setup(self, **info):
            self.fit_started = time.time()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.reports.setdefault(trial.trial_id, []).append((time.time(), result["epoch_s"]))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.done[trial.trial_id] = time.time()

        def timelines(self, concurrent: int) -> list[dict]:
            """A trial's slot frees when fit starts (the first wave) or when an earlier trial ends."""
            order = sorted(self.reports, key=lambda t: self.reports[t][0][0])
            free_at = [self.fit_started] * concurrent + sorted(self.done.values())
            return [timeline(free_at[i], self.reports[t], self.done[t]) for i, t in enumerate(order)]

    probe = Probe()
    started, wall_started = time.perf_counter(), time.time()
    # The driver's own connect, to a fresh local Ray: never one another user started on this machine.
    os.environ["RAY_ADDRESS"] = "local"
    connect(None)
    ray_start_s = time.perf_counter() - started
    run_sweep(sweep, SweepOptions(dataset=dataset, storage=str(storage), name="overhead", verbose=0, callbacks=[probe]))
    tune_s = time.perf_counter() - started
    before_fit_s = probe.fit_started - wall_started - ray_start_s  # checks, baselines, arrays into the object store
    ray.shutdown()
    return {"tune_s": tune_s, "ray_start_s": ray_start_s, "before_fit_s": before_fit_s, "trials": probe.timelines(concurrent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", nargs="?", type=Path, default=REPO / "sweeps" / "demo.toml", help="sweep file (default sweeps/demo.toml)")
    parser.add_argument("--dataset", type=Path, help="built dataset (default: the demo's synthetic set, generated)")
    parser.add_argument("--epochs", type=int, help="override the sweep file's epochs")
    parser.add_argument("--repeats", type=int, help="runs of each, alternated, the fastest kept (default 2, --quick 1)")
    parser.add_argument("--quick", action="store_true", help="about a minute: 600 generated posters, 2 epochs")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    from tune_genres.sweep.sweep_file import load_sweep

    sweep = load_sweep(args.sweep)
    epochs = args.epochs or (2 if args.quick else None)
    if epochs:
        sweep.train["epochs"] = epochs
    configs = trial_configs(sweep)
    repeats = args.repeats or (1 if args.quick else 2)
    cpus = sweep.resources["cpus_per_trial"]
    cores = len(os.sched_getaffinity(0))
    concurrent = max(1, min(len(configs), int(cores // cpus), sweep.resources["max_concurrent"] or len(configs)))
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as tmp:
        dataset = args.dataset or demo_dataset(Path(tmp) / "demo", 600 if args.quick else 2000, sweep.ratios)
        # Alternated (loop, Tune, Tune, loop, ...) so that a busy spell on a shared machine hurts
        # both alike; each keeps its fastest run.
        loops, tunes = [], []
        for i in range(repeats):
            for run in ("loop", "tune") if i % 2 == 0 else ("tune", "loop"):
                if run == "loop":
                    loops.append(plain_loop(configs, dataset, sweep.ratios, concurrent, max(1, int(cpus))))
                else:
                    tunes.append(tune_run(sweep, dataset, Path(tmp) / f"experiments-{i}", concurrent))
    loop, tuned = min(loops, key=lambda r: r["loop_s"]), min(tunes, key=lambda r: r["tune_s"])
    tune_s, loop_s = tuned["tune_s"], loop["loop_s"]
    overhead = (tune_s - loop_s) / tune_s
    # The same difference with each run's own epoch work taken out: on a shared machine the
    # epochs' speed wanders between runs, the time around them is what Ray adds.
    outside = {run: total - sum(t["work_s"] for t in r["trials"]) / concurrent
               for run, total, r in (("tune", tune_s, tuned), ("loop", loop_s, loop))}
    overhead_outside = (outside["tune"] - outside["loop"]) / tune_s
    means = {run: {k: sum(t[k] for t in trials) / len(trials) for k in ("start_up_s", "per_epoch_s", "tail_s")}
             for run, trials in (("tune", tuned["trials"]), ("loop", loop["trials"]))}
    on = f"{len(configs)} trials of {sweep.path.name} ({sweep.train['epochs']} epochs, {cpus:g} CPU each, {concurrent} at a time) on {dataset}, {cores} cores"
    print(f"\nSweep overhead, {on}:")
    print("| run | total s | outside the epochs' work s | Ray start s | before the trials s | per trial: start-up s | between epochs s | tail s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, run, total, start, before in (("Ray Tune (run_sweep)", "tune", tune_s, f"{tuned['ray_start_s']:.1f}", tuned["before_fit_s"]),
                                             ("plain loop (run_trial)", "loop", loop_s, "-", loop["load_s"])):
        m = means[run]
        print(f"| {label} | {total:.1f} | {outside[run]:.1f} | {start} | {before:.1f} | {m['start_up_s']:.2f} | {m['per_epoch_s']:.3f} | {m['tail_s']:.2f} |")
    print(
        f"\nBest of {repeats} runs each: Ray Tune took {tune_s:.1f} s against {loop_s:.1f} s for the plain loop: {100 * overhead:.1f}% of the sweep's "
        f"time is Ray's ({tuned['ray_start_s']:.1f} s of it starting Ray; a trial's start-up {means['tune']['start_up_s']:.2f} s "
        f"under Tune, {means['loop']['start_up_s']:.2f} s in the loop). Load average {load_at_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end: on a shared machine, rerun and compare. Counting only the time outside "
        f"the epochs' own work (which wanders between runs on a shared machine), Ray adds {outside['tune'] - outside['loop']:.1f} s: "
        f"{100 * overhead_outside:.1f}% of Tune's time."
    )
    if args.json:
        write_json(
            args.json,
            "sweep_overhead",
            sweep=str(sweep.path),
            trials=len(configs),
            epochs=sweep.train["epochs"],
            concurrent=concurrent,
            cpus_per_trial=cpus,
            tune_s=tune_s,
            loop_s=loop_s,
            repeats=repeats,
            all_tune_s=[r["tune_s"] for r in tunes],
            all_loop_s=[r["loop_s"] for r in loops],
            overhead_ratio=overhead,
            outside_epochs_s=outside,
            overhead_outside_epochs_ratio=overhead_outside,
            ray_start_s=tuned["ray_start_s"],
            before_fit_s=tuned["before_fit_s"],
            loop_load_s=loop["load_s"],
            tune_trials=tuned["trials"],
            loop_trials=loop["trials"],
            load_avg=[load_at_start, os.getloadavg()[0]],
        )


if __name__ == "__main__":
    # The loop's worker processes must start as Tune's trial processes do (the driver hands Ray
    # the same environment): re-run under it, so the spawned workers inherit it.
    from tune_genres.sweep.worker_env import rerun_under_trial_env

    rerun_under_trial_env()
    main()
