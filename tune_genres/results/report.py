"""The results report of an experiment folder, finished or partial:

    results.csv            a row per trial: params, epochs, best epoch, the chosen (best-epoch) weights'
                           val and test metrics (at 0.5 and at tuned thresholds), the last epoch's,
                           the checkpoint holding the best weights, time, node
    results.md             the learning rate x ratio table of one metric, the baselines beside it,
                           the best trial, chosen by the experiment's select_metric (validation)
                           (a random or TPE search, or a grid of one lr x ratio cell such as a seed
                           sweep: its 10 best trials instead), which hyperparameters mattered
    heatmap.png            that table as a heatmap (one panel per other swept value; tabled grids only)
    importance.csv         parameter, importance, method: fANOVA over the trials' best select_metric
    parallel-coordinates.png   one line per trial across the swept parameters to the select_metric
    learning-curves.png    validation mAP and training loss per epoch, one line per trial (past 10
                           trials, the 10 best by select_metric in colour, the rest grey)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pandas as pd

from dataset_builder.atomic import write_atomic
from dataset_builder.errors import BadInput

from ..training.hyperparameters import HYPERPARAMETERS, format_setting
from ..training.metrics import lower_is_better, metric_name
from .charts import fmt, heatmap, learning_curves, parallel_coordinates
from .importance import importance, importance_lines, swept_parameters
from .outputs import report_write_failure
from .records import read_baselines, read_experiment
from ..training.metrics import THRESHOLDED
from .trials import SHOWN, check_experiment_folder, group_label, grouping_keys, read_trials, select_metric, tabled_as_grid, trial_row


@report_write_failure
def write_report(exp_dir: str | os.PathLike, metric: str | None = None, partial: bool = False) -> dict:
    """metric: the one the table and heatmap show (default: the experiment's select_metric). The
    best trial is always the one its select_metric chose, whatever the table shows. `partial`: the
    sweep was interrupted, and results.md says so at the top."""
    exp_dir = Path(exp_dir)
    check_experiment_folder(exp_dir)
    trials = read_trials(exp_dir)
    if not trials:
        raise BadInput(f"{exp_dir}: no trials here (expected folders holding params.json)")
    select = select_metric(exp_dir, trials)
    metric = metric or select
    table = pd.DataFrame([trial_row(t, select) for t in trials]).sort_values(["lr", "ratio"], ascending=[False, True])
    if metric not in table.columns:
        shown = ", ".join(c for c in table.columns if c.startswith(("val_", "test_", "last_")))
        raise BadInput(f"--metric {metric}: unknown; choose one of {shown}")
    baselines = read_baselines(exp_dir)

    record = read_experiment(exp_dir) or {}
    ranked = not tabled_as_grid(table, record.get("search", "grid"))  # a search, or a grid of one cell
    if ranked:
        table = best_first(table, f"best_{select}")
    params = swept_parameters(table)
    found, rested_on = importance(table, select) if params else (None, 0)

    write_atomic(exp_dir / "results.csv", lambda p: table.to_csv(p, index=False))
    markdown = results_markdown(exp_dir, table, metric, select, baselines, ranked, partial)
    if found is not None:
        stopped = int((table["status"] == "stopped early").sum())
        markdown += "\n" + "\n".join(importance_lines(found, rested_on, select, stopped))
        write_atomic(exp_dir / "importance.csv", lambda p: found.to_csv(p, index=False))
        if rested_on:  # with no finite score (every trial diverged) there is no line to draw
            write_atomic(exp_dir / "parallel-coordinates.png",
                         lambda p: parallel_coordinates(table, params, f"best_{select}", p))
    write_atomic(exp_dir / "results.md", lambda p: p.write_text(markdown))
    if ranked:
        (exp_dir / "heatmap.png").unlink(missing_ok=True)  # an earlier report's, from before it ranked
    else:
        write_atomic(exp_dir / "heatmap.png", lambda p: heatmap(table, metric, p))
    write_atomic(exp_dir / "learning-curves.png", lambda p: learning_curves(trials, p, select))
    return {"table": table, "markdown": markdown, "select": select}


def best_trial(table: pd.DataFrame, metric: str):
    scored = table.dropna(subset=[metric])
    if scored.empty:
        return None
    return scored.loc[scored[metric].idxmin() if lower_is_better(metric) else scored[metric].idxmax()]


def results_markdown(exp_dir: Path, table: pd.DataFrame, metric: str, select: str, baselines: dict | None,
                     ranked: bool = False, partial: bool = False) -> str:
    split = "test" if metric.startswith(("test_", "last_test_")) else "val"
    others = grouping_keys(table)
    lines = [f"# Results: {exp_dir.name}", ""]
    if partial:
        lines += ["**Partial report: the sweep was interrupted.** Unfinished trials show what they had done; "
                  "run the same `tune-genres sweep` command with --resume to finish them.", ""]
    done = (table["status"] == "finished").sum()
    weights = "the last epoch's weights" if metric.startswith("last_") else "each trial's best-epoch weights"
    lines.append(f"{len(table)} trials, {done} finished. Table: **{metric}** ({describe(metric_name(metric))}, {weights}).")
    if baselines:
        counts = baselines.get("counts", {})
        lines.append(
            f"Dataset: {baselines['dataset']} ({len(baselines['genres'])} genres: {', '.join(baselines['genres'])}; "
            f"{counts.get('train', '?')} train / {counts.get('val', '?')} val / {counts.get('test', '?')} test posters)."
        )
    lines.append("")
    groups = [] if ranked else table.groupby(others) if others else [((), table)]
    if ranked:
        lines += top_trials_lines(table, metric, select)
    for key, group in groups:
        if others:
            lines += [f"## {group_label(others, key)}", ""]
        lines += grid_table_lines(group, metric) + [""]
    if baselines and split in baselines:
        lines.append(f"Baselines on the {split} split (no image looked at):")
        lines.append("")
        lines.append("| predictor | " + " | ".join(SHOWN) + " |")
        lines.append("|---|" + "---:|" * len(SHOWN))
        for which, label in (("prior", "label prior (training genre frequencies)"), ("majority", "always the most frequent genre")):
            scores = baselines[split][which]
            lines.append(f"| {label} | " + " | ".join(fmt(scores.get(m)) for m in SHOWN) + " |")
        lines.append("")
    diverged = table[(table["epochs_done"] > 0) & table[f"best_{select}"].isna()]["trial"].tolist()
    if diverged:
        lines += [f"Never produced a finite {select} (diverged; scored NaN, never chosen): {', '.join(diverged)}.", ""]
    lines += best_trial_lines(table, select, baselines)
    lines.append("categorical_accuracy is the study's \"accuracy\" (Keras categorical accuracy: the top prediction "
                 "equals the first positive genre in list order); read it beside the baselines, never alone.")
    return "\n".join(lines) + "\n"


def grid_table_lines(group: pd.DataFrame, metric: str, cell: Callable[[pd.Series], str] | None = None) -> list[str]:
    """One metric as a learning rate x ratio Markdown table, a trial per cell; cell(row) formats a cell
    (default: the metric's value)."""
    cell = cell or (lambda row: fmt(row[metric]))
    rows = {(row["lr"], row["ratio"]): row for _, row in group.drop_duplicates(["lr", "ratio"]).iterrows()}
    lrs = sorted({lr for lr, _ in rows}, reverse=True)
    ratios = sorted({ratio for _, ratio in rows})
    lines = ["| lr \\ ratio | " + " | ".join(f"{r}%" for r in ratios) + " |", "|---|" + "---:|" * len(ratios)]
    for lr in lrs:
        cells = [cell(rows[lr, r]) if (lr, r) in rows else "–" for r in ratios]
        lines.append(f"| {format_setting('lr', lr)} | " + " | ".join(cells) + " |")
    return lines


def top_trials_lines(table: pd.DataFrame, metric: str, select: str, count: int = 10) -> list[str]:
    """A search's best trials by select_metric, with their swept values (the lr x ratio table of a grid)."""
    params = swept_parameters(table)
    ranked = best_first(table, f"best_{select}").head(count)
    columns = [*params, f"best_{select}", *([metric] if metric not in (select, f"best_{select}") else []),
               "epochs_done", "status"]
    lines = [f"## The {len(ranked)} best of {len(table)} trials by {select}", "",
             "| # | trial | " + " | ".join(columns) + " |", "|---:|---|" + "---:|" * len(columns)]
    for rank, (_, row) in enumerate(ranked.iterrows(), 1):
        cells = [table_cell(c, row[c]) for c in columns]
        lines.append(f"| {rank} | {row['trial']} | " + " | ".join(cells) + " |")
    return lines + [""]


def table_cell(column: str, value) -> str:
    """A setting to its significant digits (a drawn 0.000187 stays 1.87e-4), a score to 3 decimals."""
    if column in HYPERPARAMETERS:
        return format_setting(column, value)
    return fmt(value) if isinstance(value, float) else str(value)


def best_first(table: pd.DataFrame, column: str) -> pd.DataFrame:
    return table.sort_values(column, ascending=lower_is_better(column.removeprefix("best_")), na_position="last")


def best_trial_lines(table: pd.DataFrame, select: str, baselines: dict | None) -> list[str]:
    """The trial the experiment's select_metric chose, its test scores beside the baselines, and how it was chosen."""
    best = best_trial(table, select)
    if best is None:
        return [f"No trial has a finite {select} yet: none is chosen.", ""]
    val_count = (baselines or {}).get("counts", {}).get("val", "?")
    lines = [
        f"Best trial, chosen by **{select}**: **{best['trial']}**, {select} {fmt(best[select])} at its best epoch "
        f"{best['best_epoch']} of {best['epochs_done']}.",
        "",
        f"Chosen by {select} on {val_count} validation posters; test scored once on each trial's best-epoch "
        f"weights (epoch {best['best_epoch']} for this one). *_tuned: at per-genre thresholds tuned on validation; "
        "last epoch: the last epoch's weights, for comparison only.",
        "",
    ]
    if pd.isna(best.get("test_map")):
        return lines + ["Its test split has not been scored yet (the trial has not ended).", ""]
    test = baselines.get("test") if baselines else None
    lines += ["| test metric | best trial | last epoch | label prior | majority |", "|---|---:|---:|---:|---:|"]
    for m in SHOWN:
        prior, majority = (test["prior"].get(m), test["majority"].get(m)) if test else (None, None)
        lines.append(f"| {m} | {fmt(best.get(f'test_{m}'))} | {fmt(best.get(f'last_test_{m}'))} | {fmt(prior)} | {fmt(majority)} |")
    for m in THRESHOLDED:
        lines.append(f"| {m}_tuned | {fmt(best.get(f'test_{m}_tuned'))} | – | – | – |")
    return lines + [""]
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
