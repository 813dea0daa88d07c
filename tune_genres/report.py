"""The results report of an experiment folder, finished or partial.

Reads each trial's params.json, result.json (one JSON line per epoch, written by Tune's driver)
and the metrics history its latest checkpoint carries (rows result.json lost when the driver died
before syncing it), and the experiment's baselines.json, and writes:

    results.csv            a row per trial: params, epochs, best epoch, val and test metrics, time, node
    results.md             the learning rate x ratio table of one metric, the baselines beside it,
                           the best trial named
    heatmap.png            that table as a heatmap (one panel per other swept value)
    learning-curves.png    validation metric and training loss per epoch, one line per trial
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dataset_builder.atomic import write_atomic  # noqa: E402
from dataset_builder.errors import BadInput  # noqa: E402

from .metrics import LOWER_IS_BETTER  # noqa: E402
from .naming import format_lr  # noqa: E402
from .trial_status import read_status  # noqa: E402

HYPERPARAMETERS = ("lr", "ratio", "loss", "batch_size", "dropout", "seed")
SHOWN = ("map", "roc_auc_macro", "f1_macro", "f1_micro", "categorical_accuracy", "subset_accuracy", "hamming_loss")


@dataclass
class Trial:
    folder: Path
    name: str
    config: dict
    rows: list[dict]

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}


def read_trials(exp_dir: Path) -> list[Trial]:
    trials = []
    for params in sorted(exp_dir.glob("*/params.json")):
        folder = params.parent
        config = json.loads(params.read_text())
        rows = merge_rows(logged_rows(folder / "result.json"), checkpoint_history(folder))
        trials.append(Trial(folder, folder.name, config, rows))
    return trials


def logged_rows(result: Path) -> list[dict]:
    """result.json's rows in order; a line cut off by a crash is skipped."""
    rows = []
    if result.is_file():
        for line in result.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    # Cut off by a crash; a resumed run appends after it, so the rows after it stand too.
                    continue
    return rows


def checkpoint_history(folder: Path) -> list[dict]:
    """The per-epoch rows carried by the trial's furthest readable checkpoint ([] when none)."""
    from .checkpoint import load_checkpoint  # torch: only when there are checkpoints to read

    furthest = None
    for directory in sorted(folder.glob("checkpoint_*")):
        try:
            state = load_checkpoint(directory)
        except BadInput:
            continue  # cut off mid-upload (a crash, a full disk): the checkpoints before it stand
        if furthest is None or state["epoch"] >= furthest["epoch"]:
            furthest = state
    return furthest["history"] if furthest else []


def merge_rows(logged: list[dict], history: list[dict]) -> list[dict]:
    """One row per epoch: the checkpoint's history for the epochs it covers (the final model's own
    lineage, kept even where result.json lost them), result.json for the epochs after it. A trial
    restored from a checkpoint logs the epochs after it twice: the later row is the one that counts."""
    by_epoch = {row["epoch"]: row for row in logged if row.get("epoch") is not None}
    for row in history:
        # Tune's own fields (time_total_s, node_ip) exist only in result.json's row: keep them.
        by_epoch[row["epoch"]] = {**by_epoch.get(row["epoch"], {}), **row}
    return [by_epoch[e] for e in sorted(by_epoch)]


def trial_state(trial: Trial, epochs_done: int, epochs: int) -> str:
    """finished | stopped early (by the scheduler) | error | running (or interrupted) | not started."""
    ended = read_status(trial.folder)
    if epochs_done == epochs:
        return "finished"
    if ended is not None:
        return "error" if ended["status"] == "ERROR" else "stopped early"
    return "running" if trial.rows else "not started"


def trial_row(trial: Trial) -> dict:
    last = trial.last
    row = {k: trial.config.get(k) for k in HYPERPARAMETERS}
    row["trial"] = trial.name
    row["epochs_done"] = last.get("epoch", 0)
    row["epochs"] = trial.config.get("epochs")
    row["status"] = trial_state(trial, row["epochs_done"], row["epochs"])
    row["best_epoch"] = last.get("best_epoch")
    row["best_val_map"] = last.get("best_val_map")
    for split in ("val", "test"):
        row[f"{split}_loss"] = last.get(f"{split}_loss")
        for metric in SHOWN:
            row[f"{split}_{metric}"] = last.get(f"{split}_{metric}")
    row["train_images_per_s"] = last.get("train_images_per_s")
    # Tune's total; for a row only a checkpoint kept, the epochs' own time (startup not counted).
    row["wall_s"] = last.get("time_total_s", sum(r.get("epoch_s", 0.0) for r in trial.rows) or None)
    row["node_id"] = last.get("node_id")
    row["node_ip"] = last.get("node_ip")
    row["gpu_ids"] = last.get("gpu_ids")
    row["device"] = last.get("device")
    return row


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def write_report(exp_dir: str | os.PathLike, metric: str = "test_map") -> dict:
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        raise BadInput(f"{exp_dir}: no such experiment folder")
    trials = read_trials(exp_dir)
    if not trials:
        raise BadInput(f"{exp_dir}: no trials here (expected folders holding params.json)")
    table = pd.DataFrame([trial_row(t) for t in trials]).sort_values(["lr", "ratio"], ascending=[False, True])
    if metric not in table.columns:
        raise BadInput(f"--metric {metric}: unknown; choose one of {', '.join(c for c in table.columns if c.startswith(('val_', 'test_')))}")
    baselines_path = exp_dir / "baselines.json"
    baselines = json.loads(baselines_path.read_text()) if baselines_path.is_file() else None

    write_atomic(exp_dir / "results.csv", lambda p: table.to_csv(p, index=False))
    markdown = results_markdown(exp_dir, table, metric, baselines)
    write_atomic(exp_dir / "results.md", lambda p: p.write_text(markdown))
    write_atomic(exp_dir / "heatmap.png", lambda p: heatmap(table, metric, p))
    write_atomic(exp_dir / "learning-curves.png", lambda p: learning_curves(trials, p))
    return {"table": table, "markdown": markdown}


def best_trial(table: pd.DataFrame, metric: str):
    scored = table.dropna(subset=[metric])
    if scored.empty:
        return None
    name = metric.split("_", 1)[1]
    return scored.loc[scored[metric].idxmin() if name in LOWER_IS_BETTER else scored[metric].idxmax()]


def results_markdown(exp_dir: Path, table: pd.DataFrame, metric: str, baselines: dict | None) -> str:
    split, name = metric.split("_", 1)
    others = [k for k in ("loss", "batch_size", "dropout", "seed") if table[k].nunique() > 1]
    lines = [f"# Results: {exp_dir.name}", ""]
    done = (table["status"] == "finished").sum()
    lines.append(f"{len(table)} trials, {done} finished. Metric: **{metric}** ({split} split, {describe(name)}).")
    if baselines:
        counts = baselines.get("counts", {})
        lines.append(
            f"Dataset: {baselines['dataset']} ({len(baselines['genres'])} genres: {', '.join(baselines['genres'])}; "
            f"{counts.get('train', '?')} train / {counts.get('val', '?')} val / {counts.get('test', '?')} test posters)."
        )
    lines.append("")
    groups = table.groupby(others) if others else [((), table)]
    for key, group in groups:
        if others:
            key = key if isinstance(key, tuple) else (key,)
            lines += [f"## {', '.join(f'{k}={v}' for k, v in zip(others, key))}", ""]
        pivot = group.pivot_table(index="lr", columns="ratio", values=metric, aggfunc="first").sort_index(ascending=False)
        lines.append("| lr \\ ratio | " + " | ".join(f"{r}%" for r in pivot.columns) + " |")
        lines.append("|---|" + "---:|" * len(pivot.columns))
        for lr, values in pivot.iterrows():
            lines.append(f"| {format_lr(lr)} | " + " | ".join(fmt(v) for v in values) + " |")
        lines.append("")
    if baselines and split in baselines:
        lines.append(f"Baselines on the {split} split (no image looked at):")
        lines.append("")
        lines.append("| predictor | " + " | ".join(SHOWN) + " |")
        lines.append("|---|" + "---:|" * len(SHOWN))
        for which, label in (("prior", "label prior (training genre frequencies)"), ("majority", "always the most frequent genre")):
            scores = baselines[split][which]
            lines.append(f"| {label} | " + " | ".join(fmt(scores.get(m)) for m in SHOWN) + " |")
        lines.append("")
    best = best_trial(table, metric)
    if best is not None:
        lines.append(f"Best trial by {metric}: **{best['trial']}** = {fmt(best[metric])} (best validation epoch {best['best_epoch']}, {best['epochs_done']} epochs).")
        lines.append("")
        lines.append(f"| {split} metric | best trial | label prior | majority |")
        lines.append("|---|---:|---:|---:|")
        for m in SHOWN:
            prior = baselines[split]["prior"].get(m) if baselines and split in baselines else None
            majority = baselines[split]["majority"].get(m) if baselines and split in baselines else None
            lines.append(f"| {m} | {fmt(best.get(f'{split}_{m}'))} | {fmt(prior)} | {fmt(majority)} |")
        lines.append("")
    lines.append("categorical_accuracy is the study's \"accuracy\" (Keras categorical accuracy: the top prediction "
                 "equals the first positive genre in list order); read it beside the baselines, never alone.")
    return "\n".join(lines) + "\n"


def describe(name: str) -> str:
    return {
        "map": "macro average precision",
        "roc_auc_macro": "macro ROC-AUC",
        "f1_macro": "macro F1 at threshold",
        "f1_micro": "micro F1 at threshold",
        "categorical_accuracy": "Keras categorical accuracy",
        "subset_accuracy": "exact-match ratio",
        "hamming_loss": "Hamming loss, lower is better",
        "loss": "loss, lower is better",
    }.get(name, name)


def heatmap(table: pd.DataFrame, metric: str, path: Path) -> None:
    others = [k for k in ("loss", "batch_size", "dropout", "seed") if table[k].nunique() > 1]
    groups = list(table.groupby(others)) if others else [("all", table)]
    fig, axes = plt.subplots(1, len(groups), figsize=(1.2 + 1.3 * table["ratio"].nunique() * len(groups), 1 + 0.6 * table["lr"].nunique() + 1), squeeze=False)
    for ax, (key, group) in zip(axes[0], groups):
        pivot = group.pivot_table(index="lr", columns="ratio", values=metric, aggfunc="first").sort_index(ascending=False)
        image = ax.imshow(pivot.values.astype(float), cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(pivot.columns)), [f"{r}%" for r in pivot.columns])
        ax.set_yticks(range(len(pivot.index)), [format_lr(lr) for lr in pivot.index])
        ax.set_xlabel("shrink ratio")
        ax.set_ylabel("learning rate")
        for (i, j), value in pd.DataFrame(pivot.values).stack().items():
            ax.text(j, i, fmt(value), ha="center", va="center", color="white", fontsize=8)
        ax.set_title(f"{metric}" + (f" ({key})" if others else ""))
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def learning_curves(trials: list[Trial], path: Path) -> None:
    fig, (ax_val, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    for trial in trials:
        epochs = [r["epoch"] for r in trial.rows]
        label = trial.name
        ax_val.plot(epochs, [r.get("val_map") for r in trial.rows], label=label)
        ax_loss.plot(epochs, [r.get("train_loss") for r in trial.rows], label=label)
    ax_val.set(xlabel="epoch", ylabel="validation mAP", title="validation mAP per epoch")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss per epoch")
    ax_val.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)

