"""Pretrained backbones: fine-tuning throughput against a typical pipeline, and the cached-feature head sweep's pace.

Two measurements on the same posters (ratio 58 by default, 106x155):

1. Fine-tuning (the whole network learns: freeze "none"; Adam; batch 32; fp32), images/s, for
   each model (resnet18 with random weights, efficientnet_lite0 with its ImageNet weights: speed
   does not depend on the weights) at each input scale:
   - ours: `train_one_epoch` on a `ResidentSplit` (uint8 resident, index batches), the model made
     by `create_model(name, ..., input_scale=s)` (it resizes by s and normalises on the device),
     channels_last, fused Adam from `make_optimizer`: as `run_trial` sets a trial up;
   - typical: what a user writes first for a pretrained model (train_throughput.py's pipeline): a
     Dataset opening each poster's JPEG with Pillow, torchvision Resize to the scaled size +
     ToTensor + Normalize with the model's mean and std, a shuffling DataLoader (0 workers, and
     one per core unless --quick), then the same model's body and head (no on-device resize or
     normalisation), NCHW, torch's default Adam, `loss.item()` every step. The faster worker
     setting is the baseline. Also timed: one pass of that DataLoader alone (its data cost).
   The contenders of a (model, scale) take turns (train_throughput.race), each keeping its best
   epoch; each warms up on one batch. An epoch has --images posters at scale 1 and as many pixels
   at larger scales (--images / scale**2 posters, at least one batch).

2. The cached-feature head sweep (freeze "backbone", weights "imagenet"): efficientnet_lite0's
   features of every poster computed once with `extract_features` (the feature pass, timed), then
   --trials head trials through `run_trial` with a plain report (no Ray), each --epochs epochs,
   varying lr and dropout, timed one by one after an untimed 1-epoch trial (lazy imports). Printed:
   trials per minute and the projected time of a 50-configuration head sweep run one trial after
   another (the feature pass + 50 trials); the issue's target is under 5 minutes. With --dataset
   the sweep uses every poster of the dataset and its splits; with synthetic posters, a 70/15/15
   split of them.

The issue's targets: ours at least 2x the typical pipeline's images/s for the same model; a
50-configuration head sweep in under 5 minutes. It runs under a trial's process settings
(tune_genres/sweep/worker_env.py), as train_throughput does.

    .venv/bin/python benchmarks/transfer_throughput.py [--dataset DIR] [--ratio 58] [--models resnet18,efficientnet_lite0]
        [--scales 1,2] [--images N] [--repeats N] [--workers 0,2] [--head-posters N] [--trials N] [--epochs N]
        [--threads N] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from tune_genres.sweep.worker_env import rerun_under_trial_env  # noqa: E402

if __name__ == "__main__":
    rerun_under_trial_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from figures import cpu_name, write_json  # noqa: E402 (this folder is on sys.path)
from train_throughput import (  # noqa: E402
    BATCH, CPU, GENRES, LOSS, LR, PosterFiles, dataset_posters, load, parse_ratios, race, synthetic_posters,
    typical_training, write_jpegs,
)

from dataset_builder.images import size_for_ratio  # noqa: E402
from dataset_builder.store import open_dataset  # noqa: E402
from tune_genres.models.catalog import MODELS, WHEEL  # noqa: E402
from tune_genres.models.pretrained import load_imagenet_weights  # noqa: E402
from tune_genres.models.registry import create_model, load_body_weights  # noqa: E402
from tune_genres.training.data import ResidentSplit, trial_arrays  # noqa: E402
from tune_genres.training.device import set_threads  # noqa: E402
from tune_genres.training.features import extract_features  # noqa: E402
from tune_genres.training.loop import make_optimizer, train_one_epoch  # noqa: E402
from tune_genres.training.metrics import MetricWarning  # noqa: E402
from tune_genres.training.trial import run_trial  # noqa: E402

FEATURE_MODEL = "efficientnet_lite0"  # the one whose ImageNet weights ship offline (a wheel)
SWEEP_SIZE = 50  # the head sweep
TARGET_SPEEDUP = 2.0
TARGET_SWEEP_S = 5 * 60
# A head trial: tests/tune_genres/training/test_transfer.py's CONFIG at the study's batch, one
# checkpoint (at the end); lr and dropout vary from trial to trial.
HEAD_CONFIG = {
    "lr": 1e-3, "loss": "bce", "batch_size": BATCH, "dropout": 0.5, "seed": 0,
    "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "threshold": 0.5,
    "precision": "fp32", "compile": False, "select_metric": "val_map",
    "model": FEATURE_MODEL, "weights": "imagenet", "freeze": "backbone",
}
HEAD_LRS = (1e-3, 3e-3, 1e-2, 3e-4)
HEAD_DROPOUTS = (0.5, 0.2)


def backbone(name: str, num_classes: int, height: int, width: int, input_scale: float, frozen: bool = False) -> nn.Module:
    """create_model's network, seeded; ImageNet weights where they are on this machine offline (efficientnet_lite0)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes, height, width, input_scale=input_scale, frozen=frozen)
    if MODELS[name].weights == WHEEL:
        load_body_weights(model, load_imagenet_weights(name))
    return model


def warm_up_on(short: Callable[[], object], full: Callable[[], object]) -> Callable[[], object]:
    """A contender for race(): its first call (race's warm-up turn) runs `short`, later ones `full`."""
    calls = 0

    def run() -> object:
        nonlocal calls
        calls += 1
        return (short if calls == 1 else full)()

    return run


# -- 1. fine-tuning --------------------------------------------------------------------------------


def our_fine_tuning(name: str, images: np.ndarray, labels: np.ndarray, scale: float) -> Callable[[], object]:
    """One epoch as run_trial trains it: the registry's model (resize and normalise on the device),
    channels_last, make_optimizer's fused Adam, a ResidentSplit, fp32."""
    _, height, width, _ = images.shape
    model = backbone(name, labels.shape[1], height, width, scale).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, LR)
    generator = torch.Generator().manual_seed(0)
    split = ResidentSplit.from_indices(images, labels, np.arange(len(images)), CPU)
    first = ResidentSplit.from_indices(images, labels, np.arange(BATCH), CPU)
    return warm_up_on(lambda: train_one_epoch(model, optimizer, first, LOSS, BATCH, generator),
                      lambda: train_one_epoch(model, optimizer, split, LOSS, BATCH, generator))


def typical_posters(name: str, paths: list[Path], labels: np.ndarray, height: int, width: int, scale: float) -> PosterFiles:
    """JPEG files, resized on the CPU to the scaled size and normalised as the model's weights expect."""
    info = MODELS[name]
    return PosterFiles(paths, labels, round(height * scale), round(width * scale), mean=info.mean, std=info.std)


def typical_fine_tuning(name: str, paths: list[Path], labels: np.ndarray, height: int, width: int, scale: float,
                        workers: int) -> Callable[[], object]:
    """The same network's body + head (its input already resized and normalised), NCHW, default Adam."""
    network = backbone(name, labels.shape[1], height, width, 1.0)
    epoch = typical_training(nn.Sequential(network.body, network.head), typical_posters(name, paths, labels, height, width, scale), workers)
    return warm_up_on(lambda: epoch(batches=1), epoch)


def data_pass_s(posters: PosterFiles, rounds: int) -> float:
    """Best seconds of one pass of the typical DataLoader (0 workers) with no model: its data cost."""
    loader = torch.utils.data.DataLoader(posters, batch_size=BATCH, shuffle=True, num_workers=0)

    def run() -> None:
        for _ in loader:
            pass

    return race({"data": run}, rounds)["data"]


def measure_fine_tuning(name: str, images: np.ndarray, labels: np.ndarray, scale: float, folder: Path,
                        workers: list[int], rounds: int) -> dict:
    _, height, width, _ = images.shape
    load_before = load()
    paths = write_jpegs(images, folder)
    contenders = {"ours": our_fine_tuning(name, images, labels, scale)}
    for w in workers:
        contenders[f"typical_{w}_workers"] = typical_fine_tuning(name, paths, labels, height, width, scale, w)
    per_s = {k: len(images) / s for k, s in race(contenders, rounds).items()}
    typical = {k.split("_")[1]: v for k, v in per_s.items() if k.startswith("typical_")}
    best_typical = max(typical.values())
    data_s = data_pass_s(typical_posters(name, paths, labels, height, width, scale), rounds)
    return {
        "model": name,
        "input_scale": scale,
        "poster_size": [width, height],
        "input_size": [round(width * scale), round(height * scale)],
        "images_per_epoch": len(images),
        "images_per_s": per_s["ours"],
        "typical_images_per_s": best_typical,
        "typical_by_workers": typical,
        "speedup_vs_typical": per_s["ours"] / best_typical,
        "target_met": per_s["ours"] / best_typical >= TARGET_SPEEDUP,
        # The typical epoch's share spent reading, decoding, resizing and normalising (0 workers).
        "typical_data_s": data_s,
        "typical_data_share": data_s / (len(images) / typical["0"]) if "0" in typical else None,
        "load_avg": [load_before, load()],
    }


# -- 2. the cached-feature head sweep ------------------------------------------------------------


def sweep_arrays(args: argparse.Namespace, ratio: int, synthetic: tuple[np.ndarray, np.ndarray] | None) -> tuple[dict, str]:
    """(run_trial's arrays with images, where the posters come from): a dataset's, or a 70/15/15 split of synthetic ones."""
    if args.dataset:
        arrays = trial_arrays(open_dataset(args.dataset), ratio)
        if args.head_posters and args.head_posters < len(arrays["images"]):
            keep = np.arange(args.head_posters)
            arrays = {**arrays, "images": arrays["images"][keep], "labels": arrays["labels"][keep], "ids": arrays["ids"][keep],
                      **{s: arrays[s][arrays[s] < args.head_posters] for s in ("train", "val", "test")}}
            return arrays, f"the first {args.head_posters} posters of {args.dataset} (its splits)"
        return arrays, f"all {len(arrays['images'])} posters of {args.dataset} (its splits)"
    images, labels = synthetic
    n = len(images)
    order = np.random.default_rng(0).permutation(n)
    train_end, val_end = int(0.7 * n), int(0.85 * n)
    arrays = {"images": images, "labels": labels, "genres": list(GENRES),
              "train": np.sort(order[:train_end]), "val": np.sort(order[train_end:val_end]), "test": np.sort(order[val_end:])}
    return arrays, f"{n} synthetic posters (seed 0), split 70/15/15"


def measure_head_sweep(arrays: dict, ratio: int, scale: float, trials: int, epochs: int) -> dict:
    load_before = load()
    images = arrays["images"]
    _, height, width, _ = images.shape
    started = time.perf_counter()
    network = backbone(FEATURE_MODEL, len(arrays["genres"]), height, width, scale, frozen=True)
    built = time.perf_counter()
    features = extract_features(network, images)
    feature_s = time.perf_counter() - started
    extract_s = time.perf_counter() - built
    cached = {k: v for k, v in arrays.items() if k != "images"} | {"features": features, "size": [width, height]}

    def report(metrics: dict, checkpoint_dir: str | None = None) -> None:
        rows.append(metrics)

    base = {**HEAD_CONFIG, "ratio": ratio, "input_scale": scale}
    rows: list[dict] = []
    # A small synthetic test split may lack a genre's positives: the metrics say so each epoch.
    warnings.simplefilter("ignore", MetricWarning)
    run_trial({**base, "epochs": 1, "checkpoint_every": 1}, cached, report)  # untimed: lazy imports, first allocations
    seconds, results = [], []
    for i in range(trials):
        lr, dropout = HEAD_LRS[i % len(HEAD_LRS)], HEAD_DROPOUTS[(i // len(HEAD_LRS)) % len(HEAD_DROPOUTS)]
        rows = []
        t = time.perf_counter()
        run_trial({**base, "lr": lr, "dropout": dropout, "seed": i, "epochs": epochs, "checkpoint_every": epochs}, cached, report)
        seconds.append(time.perf_counter() - t)
        results.append({"lr": lr, "dropout": dropout, "seconds": seconds[-1], "test_map": rows[-1].get("test_map"),
                        "best_val_map": rows[-1].get("best_val_map"), "epoch_s": statistics.median(r["epoch_s"] for r in rows)})
    per_trial = statistics.mean(seconds)
    projected = feature_s + SWEEP_SIZE * per_trial
    return {
        "model": FEATURE_MODEL,
        "input_scale": scale,
        "posters": len(images),
        "train_rows": len(arrays["train"]),
        "input_size": [round(width * scale), round(height * scale)],
        "features": list(features.shape),
        "feature_pass_s": feature_s,
        "feature_extract_s": extract_s,
        "feature_posters_per_s": len(images) / extract_s,
        "trials": results,
        "epochs_per_trial": epochs,
        "trial_s_mean": per_trial,
        "trial_s_range": [min(seconds), max(seconds)],
        "trials_per_minute": 60 / per_trial,
        "projected_sweep_size": SWEEP_SIZE,
        "projected_sweep_s": projected,
        "target_s": TARGET_SWEEP_S,
        "target_met": projected < TARGET_SWEEP_S,
        "load_avg": [load_before, load()],
    }


# -- the run -------------------------------------------------------------------------------------


def parse_list(text: str, kind: type, flag: str) -> list:
    try:
        return [kind(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"{flag} {text}: expected a comma-separated list") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="a built dataset: its train posters (fine-tuning) and all its posters (head sweep)")
    parser.add_argument("--ratio", default="58", help="the study ratio to measure (default 58: 106x155)")
    parser.add_argument("--models", default="resnet18,efficientnet_lite0", help="models to fine-tune")
    parser.add_argument("--scales", default="1,2", help="input scales to fine-tune at")
    parser.add_argument("--images", type=int, help="posters per timed fine-tuning epoch at scale 1 (default 96, --quick 32)")
    parser.add_argument("--repeats", type=int, help="timed epochs per contender, best kept (default 2, --quick 1)")
    parser.add_argument("--workers", help="the typical DataLoader's worker counts (default 0 and one per core; --quick 0)")
    parser.add_argument("--head-posters", type=int, help="posters for the head sweep (default: all of --dataset; 600 synthetic, --quick 160)")
    parser.add_argument("--head-scale", type=float, default=1.0, help="the head sweep's input_scale (default 1)")
    parser.add_argument("--trials", type=int, help="timed head trials (default 6, --quick 2)")
    parser.add_argument("--epochs", type=int, help="epochs per head trial (default 30, --quick 10)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: this process's CPUs)")
    parser.add_argument("--quick", action="store_true", help="a minute or two: fewer posters, epochs and trials")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    (ratio,) = parse_ratios(args.ratio)
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS or MODELS[m].family == "minivgg"]
    if unknown:
        raise SystemExit(f"--models: {unknown[0]} is not a pretrainable model ({', '.join(m for m in MODELS if m != 'minivgg')})")
    scales = parse_list(args.scales, float, "--scales")
    count = args.images or (32 if args.quick else 96)
    rounds = args.repeats or (1 if args.quick else 2)
    workers = parse_list(args.workers, int, "--workers") if args.workers else ([0] if args.quick else sorted({0, args.threads}))
    trials = args.trials or (2 if args.quick else 6)
    epochs = args.epochs or (10 if args.quick else 30)
    if count < BATCH or rounds < 1 or trials < 1 or epochs < 1:
        raise SystemExit(f"expected at least {BATCH} images, 1 repeat, 1 trial and 1 epoch")
    set_threads(args.threads)
    machine = {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
               "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}
    on = f"{machine['cpu']}, {args.threads} torch threads, torch {torch.__version__}"
    print(f"Measuring on {on}; load average {load():.2f} at start.", file=sys.stderr)
    started = time.perf_counter()

    synthetic = None
    if args.dataset:
        images, labels = dataset_posters(args.dataset, count, [ratio])
        source = f"the first {len(labels)} train posters of {args.dataset}"
    else:
        head_count = args.head_posters or (160 if args.quick else 600)
        everything, all_labels = synthetic_posters(max(count, head_count), [ratio], workers=args.threads)
        synthetic = (everything[ratio][:head_count], all_labels[:head_count])
        images, labels = {ratio: everything[ratio][:count]}, all_labels[:count]
        source = f"{count} synthetic posters (seed 0)"
    images = images[ratio]
    height, width = images.shape[1:3]
    assert (width, height) == size_for_ratio(ratio)

    fine: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="transfer-bench-") as tmp:
        for name in models:
            for scale in scales:
                # The same pixels per epoch at every scale, at least one batch.
                n = min(len(images), max(BATCH, round(count / scale**2)))
                entry = measure_fine_tuning(name, images[:n], labels[:n], scale, Path(tmp) / f"{name}-{scale:g}", workers, rounds)
                fine.append(entry)
                print(f"  {name} x{scale:g}: ours {entry['images_per_s']:.2f} img/s, typical {entry['typical_images_per_s']:.2f} "
                      f"({time.perf_counter() - started:.0f} s so far)", file=sys.stderr)

    arrays, head_source = sweep_arrays(args, ratio, synthetic)
    head = measure_head_sweep(arrays, ratio, args.head_scale, trials, epochs)
    print_fine_tuning(fine, on, source, rounds, workers)
    print_head_sweep(head, on, head_source)
    print(f"\nMeasured in {time.perf_counter() - started:.0f} s; load average {load():.2f} at the end: on a shared "
          "machine, rerun and compare the ratios.")
    if args.json:
        write_json(args.json, "transfer_throughput", machine=machine, posters=source, ratio=ratio, repeats=rounds,
                   workers=workers, fine_tuning=fine, head_sweep={**head, "posters_from": head_source})


def print_fine_tuning(fine: list[dict], on: str, source: str, rounds: int, workers: list[int]) -> None:
    print(f"\nFine-tuning (freeze none), batch {BATCH}, {LOSS} loss, Adam, fp32, on {on}; posters: {source}; "
          f"best of {rounds} timed epoch(s) each, contenders taking turns.")
    print(f"Typical: JPEG files + torchvision Resize/ToTensor/Normalize + shuffling DataLoader ({', '.join(map(str, workers))} "
          "workers: the faster counts) + the same body and head, NCHW, default Adam.\n")
    worker_cols = [f"typical {w} workers img/s" for w in workers]
    columns = ["model", "input scale", "input size", "posters/epoch", "ours img/s", *worker_cols, "ours / typical",
               f"target {TARGET_SPEEDUP:g}x", "typical's data share", "load"]
    print("| " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * (len(columns) - 1))
    for e in fine:
        share = "-" if e["typical_data_share"] is None else f"{100 * e['typical_data_share']:.1f}%"
        cells = [e["model"], f"{e['input_scale']:g}", f"{e['input_size'][0]}x{e['input_size'][1]}", str(e["images_per_epoch"]),
                 f"{e['images_per_s']:.2f}", *[f"{e['typical_by_workers'][str(w)]:.2f}" for w in workers],
                 f"**{e['speedup_vs_typical']:.2f}x**", "met" if e["target_met"] else "not met", share,
                 f"{e['load_avg'][0]:.1f}-{e['load_avg'][1]:.1f}"]
        print("| " + " | ".join(cells) + " |")


def print_head_sweep(h: dict, on: str, source: str) -> None:
    print(f"\nCached-feature head sweep ({h['model']} frozen, ImageNet weights, input scale {h['input_scale']:g}: "
          f"{h['input_size'][0]}x{h['input_size'][1]}), run_trial without Ray, on {on}; posters: {source}.\n")
    print("| posters | feature pass s | of it extracting s (posters/s) | train rows | trials | epochs each | "
          "s per trial (mean; range) | trials/min | projected 50-trial sweep s | target < 300 s | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    print(f"| {h['posters']} | {h['feature_pass_s']:.1f} | {h['feature_extract_s']:.1f} ({h['feature_posters_per_s']:.1f}) | "
          f"{h['train_rows']} | {len(h['trials'])} | {h['epochs_per_trial']} | {h['trial_s_mean']:.2f}; "
          f"{h['trial_s_range'][0]:.2f}-{h['trial_s_range'][1]:.2f} | **{h['trials_per_minute']:.1f}** | "
          f"**{h['projected_sweep_s']:.0f}** | {'met' if h['target_met'] else 'not met'} | "
          f"{h['load_avg'][0]:.1f}-{h['load_avg'][1]:.1f} |")
    print("\nThe trials (seconds, median epoch seconds, best val_map, test_map):")
    for t in h["trials"]:
        print(f"  lr {t['lr']:g}, dropout {t['dropout']:g}: {t['seconds']:.2f} s, epoch {t['epoch_s'] * 1000:.0f} ms, "
              f"best val_map {t['best_val_map']:.3f}, test_map {t['test_map']:.3f}")


if __name__ == "__main__":
    main()
