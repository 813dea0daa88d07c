"""The results report of an experiment folder, finished or partial:

    results.csv            a row per trial: params, epochs, best epoch, val and test metrics, time, node
    results.md             the learning rate x ratio table of one metric, the baselines beside it,
                           the best trial named
    heatmap.png            that table as a heatmap (one panel per other swept value)
    learning-curves.png    validation metric and training loss per epoch, one line per trial
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from dataset_builder.atomic import write_atomic
from dataset_builder.errors import BadInput

from ..training.hyperparameters import format_lr
from ..training.metrics import lower_is_better
from .charts import fmt, heatmap, learning_curves
from .trials import SHOWN, grouping_keys, read_trials, trial_row


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
    return scored.loc[scored[metric].idxmin() if lower_is_better(metric) else scored[metric].idxmax()]


def results_markdown(exp_dir: Path, table: pd.DataFrame, metric: str, baselines: dict | None) -> str:
    split, name = metric.split("_", 1)
    others = grouping_keys(table)
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
