"""Search efficiency: the best validation select_metric reached as a function of epochs trained, for
the study's kind of grid (lr x ratio), random search, and TPE + ASHA, over several seeds.

Each strategy runs through the product (`tune_genres.run_sweep`) on the same built dataset, with the
same epochs per trial and the same trials at a time:

- grid: 3 learning rates (1e-2, 1e-3, 1e-4) x the dataset's ratios, every trial to the last epoch;
  the seed is the training seed (the grid itself has no randomness).
- random: as many trials as the grid, lr log-uniform in [1e-4, 1e-2], ratio a choice; the seed is
  the search's and the training's.
- tpe+asha: twice the grid's trials drawn by TPE, ASHA stopping the unpromising ones (grace 1
  epoch, reduction factor 3), so its epochs end near the grid's.

Every epoch a trial trains is one step on the x axis, in the order the epochs finished (Tune's
timestamp); y is the best val select_metric of any epoch so far (the selection rule: the best
epoch of the best trial). Reported: per strategy, mean and range over the seeds at 1/4, 1/2 and
all of the grid's epochs, the epochs each used in all, and the epochs random and TPE + ASHA needed
to reach the grid's best (same seed) as a fraction of the grid's epochs.

    .venv/bin/python benchmarks/search_efficiency.py [--dataset DIR] [--seeds 3] [--epochs N] [--ratios 30,44]
        [--quick] [--json PATH] [--plot PNG]

--heads races random search, TPE, TPE + ASHA with ASHA's cuts told to Optuna as PRUNED (the
product) and TPE + ASHA as Ray Tune does it (every trial COMPLETE) on a frozen EfficientNet-Lite0's
cached features of the real posters (head_race.py says how):

    .venv/bin/python benchmarks/search_efficiency.py --heads --dataset DIR [--seeds 5] [--trials 60]
        [--grace 1] [--storage DIR] [--quick] [--json PATH] [--plot PNG]

DIR is the study's posters built at 58% (benchmarks/README.md, "Search efficiency", says how);
--heads --quick needs none: 400 generated posters, input_scale 1 only, 6 trials of 2-6 epochs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from figures import write_json  # this folder is on sys.path

REPO = Path(__file__).resolve().parents[1]
GRID_LRS = [1e-2, 1e-3, 1e-4]
STRATEGIES = ("grid", "random", "tpe+asha")


def sweep_dict(strategy: str, ratios: list[int], epochs: int, seed: int, concurrent: int, select: str) -> dict:
    grid_trials = len(GRID_LRS) * len(ratios)
    common = {"train": {"loss": "bce", "epochs": epochs, "checkpoint_every": max(1, epochs), "seed": seed},
              "run": {"select_metric": select, "num_to_keep": 1}, "resources": {"max_concurrent": concurrent}}
    if strategy == "grid":
        return {"grid": {"lr": GRID_LRS, "ratio": ratios}, **common}
    space = {"lr": {"loguniform": [1e-4, 1e-2]}, "ratio": ratios}
    if strategy == "random":
        return {"space": space, "search": {"algorithm": "random", "num_samples": grid_trials, "seed": seed}, **common}
    return {"space": space, "search": {"algorithm": "tpe", "num_samples": 2 * grid_trials, "seed": seed,
                                       "max_concurrent": concurrent},
            "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 3}, **common}


def curve(exp: Path, select: str) -> list[float]:
    """The best `select` of any epoch trained so far, after each epoch, in the order epochs finished."""
    from tune_genres.results.trials import read_trials
    from tune_genres.training.metrics import lower_is_better

    rows = sorted((row.get("timestamp", 0), row["epoch"], i, row[select])
                  for i, trial in enumerate(read_trials(exp)) for row in trial.rows if select in row)
    best, out = None, []
    for *_, value in rows:
        if value == value:  # not NaN
            better = best is None or (value < best if lower_is_better(select) else value > best)
            best = value if better else best
        out.append(best if best is not None else float("nan"))
    return out


def epochs_to_reach(values: list[float], target: float, select: str) -> int | None:
    """The epochs a curve took to reach `target` (as good or better), None if it never did."""
    from tune_genres.training.metrics import lower_is_better

    for epochs, value in enumerate(values, 1):
        if value <= target if lower_is_better(select) else value >= target:
            return epochs
    return None


def at(values: list[float], epochs: int) -> float:
    """The curve's value once `epochs` were trained (its last if it used fewer)."""
    return values[min(epochs, len(values)) - 1] if values else float("nan")


def print_reach(curves: dict[str, list[list[float]]], budget: int, select: str, table: dict) -> None:
    """Per seed, the epochs each search needed to reach that seed's grid best, as a fraction of the
    grid's epochs (the issue's measure: at most 1/3 is the aim); a search that never got there counts
    as not reached and leaves the mean."""
    grid_best = [at(c, 10**9) for c in curves["grid"]]
    print(f"\nEpochs needed to reach the grid's best {select} (same seed), as a fraction of the grid's {budget} epochs:")
    print("| strategy | per seed | mean [min, max] of those that reached it |")
    print("|---|---|---:|")
    for strategy in STRATEGIES[1:]:
        reached = [epochs_to_reach(c, best, select) for c, best in zip(curves[strategy], grid_best)]
        fractions = [r / budget for r in reached if r is not None]
        cells = ", ".join("not reached" if r is None else f"{r} ({r / budget:.2f})" for r in reached)
        summary = (f"{sum(fractions) / len(fractions):.2f} [{min(fractions):.2f}, {max(fractions):.2f}]"
                   f" ({len(fractions)} of {len(reached)} seeds)" if fractions else "never reached")
        print(f"| {strategy} | {cells} | {summary} |")
        table[strategy]["epochs_to_grid_best"] = reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="built dataset (default: generated synthetic posters)")
    parser.add_argument("--seeds", type=int, help="seeds per strategy (default 3; --heads 5, --heads --quick 1)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (default 10, --quick 3)")
    parser.add_argument("--ratios", help="the grid's ratios, comma-separated (default: the dataset's first three)")
    parser.add_argument("--concurrent", type=int, default=2, help="trials at a time (default 2)")
    parser.add_argument("--select", default="val_map", help="the validation metric that selects (default val_map)")
    parser.add_argument("--quick", action="store_true", help="600 generated posters at 30 and 44%%, 3 epochs a trial")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--plot", type=Path, help="the curves as a PNG (default: search-efficiency.png here, "
                        "search-efficiency-heads.png with --heads)")
    heads = parser.add_argument_group("--heads: the race on cached EfficientNet-Lite0 features (head_race.py)")
    heads.add_argument("--heads", action="store_true", help="random vs TPE vs TPE + ASHA (pruned as PRUNED) vs "
                       "TPE + ASHA as Ray does it, on a frozen Lite0's cached features; needs --dataset but with --quick")
    heads.add_argument("--trials", type=int, help="trials a search (default 60, --quick 6)")
    heads.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0; seeds follow it)")
    heads.add_argument("--grace", type=int, default=1, help="ASHA's grace period in epochs (default 1: rungs 1, 3, 9, 27)")
    heads.add_argument("--min-epochs", type=int, help="the fewest epochs a trial draws (default 5, --quick 2)")
    heads.add_argument("--max-epochs", type=int, help="the most, and ASHA's max_t (default 30, --quick 6)")
    heads.add_argument("--scales", help="input_scale choices, comma-separated (default 1,2,3; --quick 1)")
    heads.add_argument("--storage", type=Path, help="keep the experiments here (default: a temporary folder)")
    heads.add_argument("--replot", type=Path, nargs="+", help="no run: the tables and plot from these --json files "
                       "(partial ones too; several: their seeds together)")
    args = parser.parse_args()
    if args.heads:
        heads_main(args)
        return
    epochs = args.epochs or (3 if args.quick else 10)
    args.seeds = args.seeds or 3

    import ray

    from dataset_builder.store import open_dataset
    from tune_genres import Sweep, run_sweep
    from tune_genres.sweep.cluster import connect

    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset:
            dataset = args.dataset
        else:
            from sweep_overhead import demo_dataset

            dataset = demo_dataset(Path(tmp) / "demo", 600 if args.quick else 2000, [30, 44])
        ratios = [int(r) for r in args.ratios.split(",")] if args.ratios else sorted(open_dataset(dataset).ratios)[:3]
        os.environ["RAY_ADDRESS"] = "local"
        connect(None)  # one local Ray for every run
        curves: dict[str, list[list[float]]] = {s: [] for s in STRATEGIES}
        walls: dict[str, list[float]] = {s: [] for s in STRATEGIES}
        for seed in range(args.seeds):
            for strategy in STRATEGIES:
                sweep = Sweep.from_dict(sweep_dict(strategy, ratios, epochs, seed, args.concurrent, args.select),
                                        name=f"{strategy}-{seed}")
                started = time.perf_counter()
                results = run_sweep(sweep, dataset=dataset, storage=Path(tmp) / "exps", name=f"{strategy.replace('+', '-')}-{seed}")
                walls[strategy].append(time.perf_counter() - started)
                curves[strategy].append(curve(Path(results.path), args.select))
                print(f"{strategy} seed {seed}: {len(curves[strategy][-1])} epochs, best {args.select} "
                      f"{at(curves[strategy][-1], 10**9):.3f}, {walls[strategy][-1]:.0f} s "
                      f"({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.1f})", flush=True)
                if args.json:  # what finished so far, in case the run is cut short
                    write_json(args.json, "search_efficiency", partial=True, ratios=ratios, epochs=epochs,
                               select=args.select, curves=curves, walls=walls)
        ray.shutdown()

    budget = len(GRID_LRS) * len(ratios) * epochs
    marks = [budget // 4, budget // 2, budget]
    cores = len(os.sched_getaffinity(0))
    on = (f"{dataset if args.dataset else 'generated posters'} (ratios {ratios}), {epochs} epochs a trial, "
          f"{args.concurrent} trials at a time, {args.seeds} seeds, {cores} cores, load {os.getloadavg()[0]:.1f} at the end")
    print(f"\nBest {args.select} reached by epochs trained, mean [min, max] over seeds; {on}:")
    print("| strategy | " + " | ".join(f"at {m} epochs" for m in marks) + " | epochs used | wall s |")
    print("|---|" + "---:|" * (len(marks) + 2))
    table = {}
    for strategy in STRATEGIES:
        row = {}
        for m in marks:
            values = [at(c, m) for c in curves[strategy]]
            row[m] = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
        used = [len(c) for c in curves[strategy]]
        table[strategy] = {"at": row, "epochs_used": used, "wall_s": walls[strategy]}
        cells = [f"{row[m]['mean']:.3f} [{row[m]['min']:.3f}, {row[m]['max']:.3f}]" for m in marks]
        print(f"| {strategy} | " + " | ".join(cells) + f" | {sum(used) / len(used):.0f} | {sum(walls[strategy]) / len(walls[strategy]):.0f} |")
    print_reach(curves, budget, args.select, table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy in STRATEGIES:
        longest = max(len(c) for c in curves[strategy])
        xs = range(1, longest + 1)
        values = [[at(c, x) for c in curves[strategy]] for x in xs]
        line = ax.plot(xs, [sum(v) / len(v) for v in values], label=strategy)[0]
        ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], color=line.get_color(), alpha=0.2)
    ax.set(xlabel="epochs trained (all trials)", ylabel=f"best {args.select} so far",
           title=f"Search efficiency ({args.seeds} seeds: mean, range)")
    ax.legend()
    fig.tight_layout()
    plot = args.plot or Path("search-efficiency.png")
    fig.savefig(plot, dpi=110)
    print(f"Plot: {plot}")
    if args.json:
        write_json(args.json, "search_efficiency", measured_on=on, grid_epochs=budget, select=args.select,
                   strategies=table, curves=curves)


def heads_main(args) -> None:
    import head_race  # this folder is on sys.path

    if args.replot:
        head_race.replot(args)
        return
    if args.dataset is None and not args.quick:
        raise SystemExit("search_efficiency.py --heads: give --dataset DIR, the real posters built at 58% "
                         "(benchmarks/README.md, 'Search efficiency'), or --quick for generated posters")
    args.seeds = args.seeds or (1 if args.quick else 5)
    args.trials = args.trials or (6 if args.quick else 60)
    args.min_epochs = args.min_epochs or (2 if args.quick else 5)
    args.max_epochs = args.max_epochs or (6 if args.quick else 30)
    args.scales = [float(s) for s in (args.scales or ("1" if args.quick else "1,2,3")).split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        if args.storage:
            args.storage.mkdir(parents=True, exist_ok=True)
        head_race.main(args, args.dataset, Path(tmp), args.storage)


if __name__ == "__main__":
    main()
