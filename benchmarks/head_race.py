"""search_efficiency.py --heads: the race on a frozen EfficientNet-Lite0's cached features (issue 25).

Four searches, each `--trials` heads per seed through the product (tune_genres' driver), on the
same built dataset, 1 CPU a trial, the same trials at a time:

- random        lr, dropout, weight decay, epochs and input_scale drawn at random (Ray's
                BasicVariantGenerator, seeded), every trial to its drawn epochs
- tpe           Optuna's TPE (the product's searcher), no scheduler
- tpe+asha      TPE + ASHA as the product does it: a trial ASHA stops reaches Optuna as PRUNED
                with its per-epoch values (tune_genres/sweep/pruning_search.py)
- tpe+asha-ray  TPE + ASHA as Ray Tune does it today: every trial told to Optuna COMPLETE at its
                last value. Built here, in this process only: the product's searcher with Ray's
                own OptunaSearch.on_trial_complete put back (ray_as_today); nothing else differs.

The space: lr log-uniform [1e-4, 1e-2], dropout uniform [0, 0.7], weight decay log-uniform
[1e-4, 1e-1], epochs an integer in [5, 30] (the lower end: --min-epochs), input_scale one of
1, 2, 3 (the frozen body's features at each are computed once and cached in the dataset's
features/ folder). ASHA: max_t 30 (the most epochs a trial may draw), reduction factor 3, grace
1 epoch (--grace): rungs at 1, 3, 9 and 27 epochs; a trial that drew fewer epochs than a rung
simply ends at its own last epoch (COMPLETE, it was not cut).

The x axis is every epoch any trial trained, in the order the driver received them (a Tune
callback in this process: the order the searcher and ASHA saw them); y is the best val
select_metric of any epoch so far. Per seed, "reach" is the epochs a search needed to reach
random search's best (the same seed's) as a fraction of all the epochs random trained.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path

STRATEGIES = ("random", "tpe", "tpe+asha", "tpe+asha-ray")
LABELS = {"random": "random", "tpe": "TPE (no scheduler)", "tpe+asha": "TPE + ASHA, pruned as PRUNED (product)",
          "tpe+asha-ray": "TPE + ASHA as Ray does it (all COMPLETE)"}
SCALES = [1.0, 2.0, 3.0]


def head_sweep_dict(strategy: str, seed: int, trials: int, scales: list[float], min_epochs: int, max_epochs: int,
                    grace: int, concurrent: int, select: str) -> dict:
    space = {"lr": {"loguniform": [1e-4, 1e-2]}, "dropout": {"uniform": [0.0, 0.7]},
             "weight_decay": {"loguniform": [1e-4, 1e-1]}, "epochs": {"randint": [min_epochs, max_epochs]},
             "input_scale": scales, "ratio": [58]}
    sweep = {
        "space": space,
        "search": {"algorithm": "random" if strategy == "random" else "tpe", "num_samples": trials, "seed": seed,
                   "max_concurrent": concurrent},
        "train": {"model": "efficientnet_lite0", "weights": "imagenet", "freeze": "backbone", "loss": "bce",
                  "optimizer": "adamw", "checkpoint_every": max_epochs, "seed": seed},
        "resources": {"cpus_per_trial": 1, "max_concurrent": concurrent},
        "run": {"select_metric": select, "num_to_keep": 1},
    }
    if strategy.startswith("tpe+asha"):
        sweep["scheduler"] = {"type": "asha", "grace_period": grace, "reduction_factor": 3}
    return sweep


@contextlib.contextmanager
def ray_as_today():
    """The product's searcher, but telling Optuna what Ray Tune's OptunaSearch tells it: every trial
    COMPLETE at its last value, ASHA's cuts included. Only inside this process, only while open."""
    from ray.tune.search.optuna import OptunaSearch

    from tune_genres.sweep import pruning_search

    cls = pruning_search.PruningAwareOptunaSearch
    own = cls.__dict__["on_trial_complete"]
    cls.on_trial_complete = OptunaSearch.on_trial_complete
    try:
        yield
    finally:
        cls.on_trial_complete = own


class OptunaTells:
    """Counts what the searcher told Optuna (COMPLETE, PRUNED, FAIL) while open: the check that the
    two TPE + ASHA variants differ as they should."""

    def __init__(self):
        self.states: dict[str, int] = {}

    @contextlib.contextmanager
    def counting(self):
        import optuna

        tell = optuna.study.Study.tell
        self.states = {}

        def counted(study, trial, values=None, state=None, **kwargs):
            name = "COMPLETE" if state is None else state.name
            self.states[name] = self.states.get(name, 0) + 1
            return tell(study, trial, values, state=state, **kwargs)

        optuna.study.Study.tell = counted
        try:
            yield self
        finally:
            optuna.study.Study.tell = tell


def arrival_probe(select: str):
    """A Tune callback keeping (trial, epoch, value) of every result, in the order the driver got them."""
    from ray.tune import Callback

    class Arrivals(Callback):
        def __init__(self):
            self.rows: list[tuple[str, int, float]] = []

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if select in result:
                self.rows.append((trial.trial_id, result.get("epoch"), result[select]))

    return Arrivals()


def best_so_far(values: list[float], lower_better: bool) -> list[float]:
    best, out = None, []
    for value in values:
        if value == value:  # not NaN
            best = value if best is None or (value < best if lower_better else value > best) else best
        out.append(best if best is not None else float("nan"))
    return out


def reached(curve: list[float], target: float, lower_better: bool) -> int | None:
    for epochs, value in enumerate(curve, 1):
        if value <= target if lower_better else value >= target:
            return epochs
    return None


def at(curve: list[float], epochs: int) -> float:
    return curve[min(epochs, len(curve)) - 1] if curve else float("nan")


def run(args, dataset: Path, storage: Path) -> dict:
    """Every strategy for every seed (seed-major: a busy spell on the machine hits all four alike)."""
    from tune_genres.sweep.driver import SweepOptions, run_sweep
    from tune_genres.sweep.sweep_file import Sweep
    from tune_genres.training.metrics import lower_is_better

    lower = lower_is_better(args.select)
    tells = OptunaTells()
    runs: dict[str, list[dict]] = {s: [] for s in STRATEGIES}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for strategy in STRATEGIES:
            data = head_sweep_dict(strategy, seed, args.trials, args.scales, args.min_epochs, args.max_epochs,
                                   args.grace, args.concurrent, args.select)
            name = f"{strategy.replace('+', '-')}-{seed}"
            sweep = Sweep.from_dict(data, name=name)
            probe = arrival_probe(args.select)
            patch = ray_as_today() if strategy == "tpe+asha-ray" else contextlib.nullcontext()
            started = time.perf_counter()
            with patch, tells.counting():
                outcome = run_sweep(sweep, SweepOptions(dataset=dataset, storage=str(storage), name=name, verbose=0,
                                                        callbacks=[probe]))
            wall = time.perf_counter() - started
            if outcome.interrupted:  # Ctrl-C (Tune takes it, and the driver stops the sweep in good order)
                raise KeyboardInterrupt(f"{name} was interrupted; the seeds finished before it stand in --json")
            curve = best_so_far([v for *_, v in probe.rows], lower)
            trials = {t for t, *_ in probe.rows}
            precision = read_precision(Path(outcome.path))
            record = {"seed": seed, "epochs": len(curve), "trials": len(trials), "best": at(curve, 10**9),
                      "wall_s": wall, "optuna_told": dict(tells.states), "precision": precision, "curve": curve,
                      "arrivals": probe.rows}
            runs[strategy].append(record)
            print(f"{strategy} seed {seed}: {len(trials)} trials, {len(curve)} epochs, best {args.select} "
                  f"{record['best']:.4f}, told Optuna {record['optuna_told'] or '-'}, {precision}, {wall:.0f} s "
                  f"({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.1f})", flush=True)
            if args.json:  # what finished so far, in case the run is cut short
                write_figures(args, runs, partial=True)
    return runs


def read_precision(exp: Path) -> str:
    import json

    try:
        return json.loads((exp / "precision.json").read_text())["precision"]
    except (OSError, KeyError, ValueError):
        return "unknown"


def summarise(args, runs: dict[str, list[dict]]) -> dict:
    """The tables: best select at several epoch budgets (fractions of random's mean epochs), and per
    seed the epochs each search needed to reach random's best, as a fraction of random's epochs."""
    from tune_genres.training.metrics import lower_is_better

    lower = lower_is_better(args.select)
    seeds = [r["seed"] for r in runs["random"]]
    random_epochs = statistics.mean(r["epochs"] for r in runs["random"])
    marks = sorted({max(1, round(random_epochs * f)) for f in (0.1, 0.2, 1 / 3, 0.5, 1.0)})
    table: dict[str, dict] = {}
    for strategy in STRATEGIES:
        done = runs[strategy][: len(seeds)]
        by_seed = {r["seed"]: r for r in done}
        row = {}
        for m in marks:
            values = [at(r["curve"], m) for r in done]
            row[m] = {"mean": statistics.mean(values), "min": min(values), "max": max(values)} if values else None
        fractions = []
        for seed, base in zip(seeds, runs["random"]):
            if seed not in by_seed:
                continue
            n = reached(by_seed[seed]["curve"], base["best"], lower)
            fractions.append(None if n is None else n / base["epochs"])
        got = [f for f in fractions if f is not None]
        inf_median = statistics.median([f if f is not None else float("inf") for f in fractions]) if fractions else None
        table[strategy] = {
            "at": row, "epochs_used": [r["epochs"] for r in done], "wall_s": [r["wall_s"] for r in done],
            "optuna_told": [r["optuna_told"] for r in done], "precision": sorted({r["precision"] for r in done}),
            "reach_fraction": fractions,
            "reach_mean_of_reached": statistics.mean(got) if got else None,
            "reach_median": inf_median,  # a seed that never reached counts as infinitely many epochs
            "reached_seeds": len(got), "seeds": len(fractions),
        }
    return {"marks": marks, "random_epochs_mean": random_epochs, "seeds": seeds, "strategies": table}


def print_tables(args, runs, summary, on: str) -> None:
    marks, table = summary["marks"], summary["strategies"]
    print(f"\nBest {args.select} reached by epochs trained (all trials), mean [min, max] over seeds; {on}:")
    print("| strategy | " + " | ".join(f"at {m} epochs" for m in marks) + " | epochs used | wall s |")
    print("|---|" + "---:|" * (len(marks) + 2))
    for strategy in STRATEGIES:
        t = table[strategy]
        cells = [f"{c['mean']:.4f} [{c['min']:.4f}, {c['max']:.4f}]" if c else "-" for c in (t["at"][m] for m in marks)]
        used = t["epochs_used"]
        print(f"| {LABELS[strategy]} | " + " | ".join(cells) + f" | {statistics.mean(used):.0f} [{min(used)}, {max(used)}]"
              f" | {statistics.mean(t['wall_s']):.0f} |")
    print(f"\nEpochs needed to reach random's best {args.select} (same seed), as a fraction of random's epochs "
          "(that seed's); the aim for TPE + ASHA pruned as pruned: at most 0.33, and below Ray's way:")
    print("| strategy | " + " | ".join(f"seed {s}" for s in summary["seeds"]) + " | mean (of those reached) | median |")
    print("|---|" + "---:|" * (len(summary["seeds"]) + 2))
    for strategy in STRATEGIES:
        t = table[strategy]
        cells = ["not reached" if f is None else f"{f:.3f}" for f in t["reach_fraction"]]
        mean = "-" if t["reach_mean_of_reached"] is None else f"{t['reach_mean_of_reached']:.3f} ({t['reached_seeds']} of {t['seeds']})"
        median = "not reached" if t["reach_median"] in (None, float("inf")) else f"{t['reach_median']:.3f}"
        print(f"| {LABELS[strategy]} | " + " | ".join(cells) + f" | {mean} | {median} |")
    print("\nRandom's own best came at (fraction of its epochs): "
          + ", ".join(f"{f:.2f}" if f is not None else "-" for f in table["random"]["reach_fraction"]))
    for strategy in ("tpe", "tpe+asha", "tpe+asha-ray"):
        print(f"{strategy}: told Optuna {table[strategy]['optuna_told']}")


def plot(args, runs, summary, path: Path, on: str) -> None:
    """Left: the whole curves (mean and range over seeds); right: the same from a tenth of random's
    epochs on, its y axis on the last few thousandths, where the searches part. Dotted: a third of
    random's epochs (the aim's budget); dashed: random's best, mean over seeds."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = len(summary["seeds"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    third = summary["random_epochs_mean"] / 3
    random_best = statistics.mean(r["best"] for r in runs["random"][:seeds])
    for i, ax in enumerate(axes):
        zoomed = i == 1
        for strategy in STRATEGIES:
            curves = [r["curve"] for r in runs[strategy][:seeds]]
            if not curves:
                continue
            xs = range(1, max(len(c) for c in curves) + 1)
            values = [[at(c, x) for c in curves] for x in xs]
            line = ax.plot(xs, [statistics.mean(v) for v in values], label=LABELS[strategy], lw=1.5)[0]
            ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], color=line.get_color(),
                            alpha=0.08 if zoomed else 0.15)
        ax.axvline(third, color="grey", ls=":", lw=1)
        ax.axhline(random_best, color="grey", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set(xlabel="epochs trained, all trials (log)", ylabel=f"best {args.select} so far")
        if zoomed:
            ax.set_xlim(summary["random_epochs_mean"] / 10, None)
            ax.set_ylim(random_best - 0.012, random_best + 0.008)
            ax.set_title("zoomed: from 1/10 of random's epochs", fontsize=9)
        else:
            ax.set_title(f"Head search on Lite0 features: {args.trials} trials, {seeds} seeds (mean, range)", fontsize=9)
            ax.legend(fontsize=7, loc="lower right")
    axes[1].text(third, axes[1].get_ylim()[1], " 1/3 of random's epochs", color="grey", fontsize=7, va="top")
    fig.text(0.01, 0.005, textwrap.fill(on, 190), fontsize=5.5, color="grey")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"Plot: {path}")


def measured_on(args, dataset: Path, runs) -> str:
    from figures import cpu_name

    precisions = sorted({r["precision"] for rs in runs.values() for r in rs})
    return (f"{dataset} (ratio 58, input_scale {', '.join(f'{s:g}' for s in args.scales)}), {args.trials} trials a "
            f"search, epochs drawn in [{args.min_epochs}, {args.max_epochs}], ASHA grace {args.grace} reduction 3 "
            f"max_t {args.max_epochs}, {args.concurrent} trials at a time, 1 CPU each, heads in {'/'.join(precisions)}, "
            f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores, load {os.getloadavg()[0]:.1f} at the end")


def write_figures(args, runs, partial: bool = False, summary: dict | None = None, on: str = "") -> None:
    from figures import write_json

    finished = min(len(r) for r in runs.values())
    if finished == 0:
        return
    summary = summary or summarise(args, {s: r[:finished] for s, r in runs.items()})
    settings = {k: getattr(args, k) for k in ("select", "trials", "scales", "min_epochs", "max_epochs", "grace", "concurrent")}
    write_json(args.json, "search_efficiency_heads", partial=partial, measured_on=on, settings=settings,
               summary=summary, runs={s: [{k: v for k, v in r.items() if k != "arrivals"} for r in rs]
                                      for s, rs in runs.items()})


def replot(args) -> None:
    """The tables and plot again from a --json file, a partial one (a run cut short) included: the
    seeds every strategy finished."""
    import json

    runs: dict[str, list[dict]] = {s: [] for s in STRATEGIES}
    notes = []
    for path in args.replot:  # several files: their seeds together (runs with other --first-seed)
        saved = json.loads(path.read_text())
        if any(saved["settings"][k] != v for k, v in vars(args).items() if k in saved["settings"] and path != args.replot[0]):
            raise SystemExit(f"{path}: its settings differ from {args.replot[0]}'s: {saved['settings']}")
        for key, value in saved["settings"].items():
            setattr(args, key, value)
        finished = min(len(r) for r in saved["runs"].values())
        for strategy in STRATEGIES:
            runs[strategy] += saved["runs"][strategy][:finished]
        notes.append(saved["measured_on"] or f"partial run of {saved['date']}: {finished} seeds finished")
    summary = summarise(args, runs)
    on = "; ".join(notes)
    print_tables(args, runs, summary, on)
    plot(args, runs, summary, args.plot or Path("search-efficiency-heads.png"), on)


def main(args, dataset: Path | None, tmp: Path, storage: Path | None = None) -> None:
    import ray

    from tune_genres.sweep.cluster import connect

    if dataset is None:  # --quick: generated posters, and their Lite0 features at x1 only
        from sweep_overhead import demo_dataset

        dataset = demo_dataset(tmp / "demo", 400, [58])
    os.environ["RAY_ADDRESS"] = "local"
    connect(None)  # one local Ray for every sweep
    started = time.perf_counter()
    try:
        runs = run(args, dataset, storage or tmp / "exps")
    finally:
        ray.shutdown()
    wall = time.perf_counter() - started
    summary = summarise(args, runs)
    on = measured_on(args, dataset, runs) + f", {wall / 60:.1f} min in all"
    print_tables(args, runs, summary, on)
    plot(args, runs, summary, args.plot or Path("search-efficiency-heads.png"), on)
    if args.json:
        write_figures(args, runs, summary=summary, on=on)
