"""An experiment folder written by hand, as a random search of many trials leaves it, for the
report's tests and timings: no Ray, no training.

Per trial: params.json (its config), result.json (a row per epoch as the trainable logs it, the
last with its test scores) and its record, trial.json, as the driver writes it from those rows;
beside them experiment.json and baselines.json.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np

from tune_genres.results.trial_record import add_result, ended, new_record, read_record, write_record
from tune_genres.training.predictions import PREDICTIONS_FILE, predictions_bytes, split_index, with_probabilities
from tune_genres.sweep.naming import trial_name

SHOWN_METRICS = ("map", "roc_auc_macro", "f1_macro", "f1_micro", "categorical_accuracy", "subset_accuracy", "hamming_loss")
# The drawn weight decay of the best trial: a table that prints it as 0.000 has lost it.
BEST_WEIGHT_DECAY = 0.000187
DRAWN = ["lr", "dropout", "weight_decay"]


def write_made_up_search(exp: Path, count: int, epochs: int = 6, seed: int = 0) -> None:
    """`count` trials of a random search over lr, dropout and weight decay at ratio 58. Trial 0007
    scores best on validation and was drawn with weight decay BEST_WEIGHT_DECAY."""
    draw = random.Random(seed)
    exp.mkdir(parents=True)
    write_json(exp / "experiment.json", experiment_record("random"))
    write_json(exp / "baselines.json", made_up_baselines())
    for index in range(count):
        config = {"lr": 10 ** draw.uniform(-4, -2), "ratio": 58, "dropout": draw.uniform(0.0, 0.7),
                  "weight_decay": 10 ** draw.uniform(-4, -1), "epochs": epochs, "select_metric": "val_map",
                  "loss": "bce", "model": "efficientnet_lite0", "weights": "imagenet", "freeze": "backbone"}
        peak = draw.uniform(0.30, 0.55)
        if index == 7:
            config["weight_decay"], peak = BEST_WEIGHT_DECAY, 0.60
        write_trial(exp / trial_name(config, DRAWN, index), config, peak)


def write_made_up_grid(exp: Path, lrs: list[float], ratios: list[int], losses: list[str], epochs: int = 4) -> None:
    """Every lr x ratio x loss of a grid, finished; the best at the highest ratio, lowest lr, bce."""
    exp.mkdir(parents=True)
    write_json(exp / "experiment.json", experiment_record("grid"))
    write_json(exp / "baselines.json", made_up_baselines())
    for lr in lrs:
        for ratio in ratios:
            for loss in losses:
                config = {"lr": lr, "ratio": ratio, "loss": loss, "epochs": epochs, "select_metric": "val_map"}
                peak = 0.3 + ratio / 1000 - lr * 10 + (0.01 if loss == "bce" else 0)
                write_trial(exp / trial_name(config, ["lr", "ratio", "loss"]), config, peak)


def write_made_up_repeats(exp: Path, peaks: dict[float, list[float]], ratio: int = 30, epochs: int = 4) -> None:
    """A grid of learning rates at one ratio, each repeated with seeds 0, 1, ...: {lr: [val_map peak per seed]}."""
    exp.mkdir(parents=True)
    write_json(exp / "experiment.json", experiment_record("grid"))
    write_json(exp / "baselines.json", made_up_baselines())
    for lr, by_seed in peaks.items():
        for seed, peak in enumerate(by_seed):
            config = {"lr": lr, "ratio": ratio, "seed": seed, "epochs": epochs, "select_metric": "val_map"}
            write_trial(exp / trial_name(config, ["lr", "ratio", "seed"]), config, peak)


def write_trial(folder: Path, config: dict, peak: float) -> None:
    """A finished trial whose val_map rises to `peak` and falls back a little (best epoch before the last)."""
    folder.mkdir()
    write_json(folder / "params.json", config)
    epochs = config["epochs"]
    rows, best, best_epoch = [], -math.inf, 0
    for epoch in range(1, epochs + 1):
        val_map = peak - 0.02 * abs(epoch - (epochs - 1))
        if val_map > best:
            best, best_epoch = val_map, epoch
        rows.append({"epoch": epoch, "training_iteration": epoch, "train_loss": 0.7 - 0.08 * peak * epoch,
                     **{f"val_{m}": scores(val_map)[m] for m in SHOWN_METRICS}, "val_loss": 0.6,
                     "best_val_map": best, "best_epoch": best_epoch, "time_total_s": 3.0 * epoch})
    rows[-1].update({f"test_{m}": scores(peak - 0.03)[m] for m in SHOWN_METRICS})
    rows[-1].update({f"last_test_{m}": scores(rows[-1]["val_map"] - 0.03)[m] for m in SHOWN_METRICS})
    (folder / "result.json").write_text("".join(json.dumps(row) + "\n" for row in rows))
    record = new_record(folder.name, config)
    for row in rows:
        add_result(record, row)
    ended(record, errored=False)
    write_record(folder, record)


def write_made_up_predictions(exp: Path, seed: int = 0, val: int = 60, test: int = 60) -> None:
    """predictions.npz beside each trial's record, named by it, as the driver keeps them: each
    trial's probabilities are the labels seen through noise of its own, so trials differ and
    averaging them can help. The same val and test posters (and labels) for every trial."""
    rng = np.random.default_rng(seed)
    genres = made_up_baselines()["genres"]
    labels = (rng.random((val + test, len(genres))) < 0.3).astype(np.uint8)
    arrays = {"labels": labels, "genres": genres, "ids": np.array([f"tt{i:07d}" for i in range(val + test)]),
              "val": np.arange(val), "test": np.arange(val, val + test)}
    for folder in sorted(p for p in exp.iterdir() if (p / "trial.json").is_file()):
        noise = rng.uniform(0.8, 2.5)
        logits = 2.0 * labels - 1 + noise * rng.normal(size=labels.shape)
        probs = 1 / (1 + np.exp(-logits))
        kept = with_probabilities(split_index(arrays), probs[:val], probs[val:])
        (folder / PREDICTIONS_FILE).write_bytes(predictions_bytes(kept))
        record = read_record(folder)
        record["predictions"] = PREDICTIONS_FILE
        write_record(folder, record)


def scores(level: float) -> dict:
    """Every shown metric at about `level` (the hamming loss the other way round)."""
    return {m: (1 - level) / 2 if m == "hamming_loss" else level for m in SHOWN_METRICS}


def experiment_record(search: str) -> dict:
    return {"dataset": "made-up", "dataset_fingerprint": "0" * 16, "sweep": "made-up.toml", "sweep_fingerprint": "1" * 16,
            "select_metric": "val_map", "search": search}


def made_up_baselines() -> dict:
    prior = {**scores(0.28), "roc_auc_macro": 0.5}
    majority = {**scores(0.25), "categorical_accuracy": 0.39}
    split = {"prior": prior, "majority": majority}
    return {"dataset": "made-up", "genres": ["Horror", "Romance", "Action", "Documentary"],
            "val": split, "test": split, "counts": {"train": 1632, "val": 350, "test": 350}}


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value))
