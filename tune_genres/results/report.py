"""The results report of an experiment folder, finished or partial:

    results.csv            a row per trial: params, epochs, best epoch, the chosen (best-epoch) weights'
                           val and test metrics (at 0.5 and at tuned thresholds), the last epoch's,
                           the checkpoint holding the best weights, time, node
    results.md             the learning rate x ratio table of one metric, the baselines beside it,
                           how many trials stopped on a plateau ([scheduler] patience) and when,
                           the best trial, chosen by the experiment's select_metric (validation)
                           (a random or TPE search, or a grid of one lr x ratio cell such as a seed
                           sweep: its 10 best trials instead), which hyperparameters mattered.
                           Where seeds repeat configurations ([search] repeats, a grid's
                           num_samples, a swept seed), a table cell is a configuration's mean ± sd
                           over its repeats, and the best configuration is the one with the best
                           mean select_metric; its best repeat is the trial whose weights evaluate
                           and predict take
    heatmap.png            that table as a heatmap (one panel per other swept value; tabled grids only)
    results.csv's repeats  with repeats, each row also names its configuration and holds its
                           repeats' count, mean and sd of the select_metric and of its test score
    importance.csv         parameter, importance, method: fANOVA over the trials' best select_metric
    parallel-coordinates.png   one line per trial across the swept parameters to the select_metric
    learning-curves.png    validation mAP and training loss per epoch, one line per trial (past 10
                           trials, the 10 best by select_metric in colour, the rest grey)

The experiment is read and its report written where it lives (results/location.py): a local folder,
or a URI such as s3://bucket/prefix/NAME, each file whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from dataset_builder.atomic import write_atomic
from dataset_builder.errors import BadInput

from ..training.hyperparameters import HYPERPARAMETERS, format_setting
from ..training.metrics import lower_is_better, metric_name
from .charts import fmt, heatmap, learning_curves, parallel_coordinates, spread_text
from .importance import importance, importance_lines, swept_parameters
from .location import ExperimentLocation, Where, location
from .outputs import report_write_failure
from .provenance import environment_lines
from .records import read_baselines, read_experiment
from .repeats import (best_configuration, configuration_label, configurations, repeated, seeds_text, test_counterpart,
                      varied_keys, with_configuration_columns)
from ..training.metrics import THRESHOLDED
from .trials import SHOWN, check_experiment_folder, group_label, grouping_keys, read_trials, select_metric, tabled_as_grid, trial_row


@report_write_failure
def write_report(exp_dir: Where, metric: str | None = None, partial: bool = False) -> dict:
    """The report of the experiment at `exp_dir` (a folder, a URI or an ExperimentLocation), written
    into it: {"table", "markdown", "select"}.

    metric: the one the table and heatmap show (default: the experiment's select_metric). The
    best trial is always the one its select_metric chose, whatever the table shows. `partial`: the
    sweep was interrupted, and results.md says so at the top."""
    exp = location(exp_dir)
    check_experiment_folder(exp)
    trials = read_trials(exp)
    if not trials:
        raise BadInput(f"{exp}: no trials here (expected folders holding params.json)")
    found_record = read_experiment(exp)
    select = select_metric(exp, trials, found_record)
    metric = metric or select
    table = pd.DataFrame([trial_row(t, select) for t in trials]).sort_values(["lr", "ratio"], ascending=[False, True])
    if metric not in table.columns:
        shown = ", ".join(c for c in table.columns if c.startswith(("val_", "test_", "last_")))
        raise BadInput(f"--metric {metric}: unknown; choose one of {shown}")
    baselines = read_baselines(exp)

    record = found_record or {}
    ranked = not tabled_as_grid(table, record.get("search", "grid"))  # a search, or a grid of one cell
    repeats = repeated(table)
    if repeats:
        table = with_configuration_columns(table, select)
    if ranked:
        table = best_first(table, f"best_{select}")
    params = swept_parameters(table)
    found, rested_on = importance(table, select) if params else (None, 0)

    write_whole(exp, "results.csv", lambda p: table.to_csv(p, index=False))
    markdown = results_markdown(exp.name, table, metric, select, baselines, ranked, partial,
                                warm_start=record.get("warm_start", []))
    if found is not None:
        stopped = int((table["status"] == "stopped early").sum())
        markdown += "\n" + "\n".join(importance_lines(found, rested_on, select, stopped))
        write_whole(exp, "importance.csv", lambda p: found.to_csv(p, index=False))
        if rested_on:  # with no finite score (every trial diverged) there is no line to draw
            write_whole(exp, "parallel-coordinates.png", lambda p: parallel_coordinates(table, params, f"best_{select}", p))
    markdown += "".join(f"\n{line}\n" for line in environment_lines(with_trial_gpus(record.get("environment"), table)))
    write_whole(exp, "results.md", lambda p: p.write_text(markdown))
    if ranked:
        exp.delete("heatmap.png")  # an earlier report's, from before it ranked
    else:
        cells = configurations(table, [metric]) if repeats else table  # a configuration's repeats share a cell
        write_whole(exp, "heatmap.png", lambda p: heatmap(cells, metric, p))
    write_whole(exp, "learning-curves.png", lambda p: learning_curves(trials, p, select))
    return {"table": table, "markdown": markdown, "select": select}


def write_whole(exp: ExperimentLocation, name: str, write: Callable[[Path], object]) -> None:
    """One report file into the experiment, whole: write(a temporary path), then put in place. On a
    local disk through this module's write_atomic (a rename), which a test fails midway to check that
    nothing half-written is left; in an object store one upload."""
    if exp.is_local:
        write_atomic(exp.local_path / name, write)
    else:
        exp.write_file(name, write)


def with_trial_gpus(environment: dict | None, table: pd.DataFrame) -> dict | None:
    """The experiment's recorded environment with the GPU types its trials trained on (their rows
    name them; [] when every trial ran on a CPU)."""
    if not environment:
        return environment
    names = table["gpu_name"].dropna().unique().tolist() if "gpu_name" in table.columns else []
    on_gpu = table["device"].astype(str).str.startswith("cuda").any() if "device" in table.columns else False
    return {**environment, "gpus": sorted(names) if names or not on_gpu else ["(unnamed)"]}


def best_trial(table: pd.DataFrame, metric: str):
    """The trial `metric` chooses: the best one; where seeds repeat configurations, the best repeat of
    the configuration with the best mean (one lucky seed chooses no configuration)."""
    if repeated(table):
        table = best_configuration(table, metric)
        if table is None:
            return None
    return best_single(table, metric)


def best_single(table: pd.DataFrame, metric: str):
    scored = table.dropna(subset=[metric])
    if scored.empty:
        return None
    return scored.loc[scored[metric].idxmin() if lower_is_better(metric) else scored[metric].idxmax()]


def results_markdown(name: str, table: pd.DataFrame, metric: str, select: str, baselines: dict | None,
                     ranked: bool = False, partial: bool = False, warm_start: list[dict] = ()) -> str:
    split = "test" if metric.startswith(("test_", "last_test_")) else "val"
    others = grouping_keys(table)
    lines = [f"# Results: {name}", ""]
    if partial:
        lines += ["**Partial report: the sweep was interrupted.** Unfinished trials show what they had done; "
                  "run the same `tune-genres sweep` command with --resume to finish them.", ""]
    done = (table["status"] == "finished").sum()
    weights = "the last epoch's weights" if metric.startswith("last_") else "each trial's best-epoch weights"
    lines.append(f"{len(table)} trials, {done} finished. Table: **{metric}** ({describe(metric_name(metric))}, {weights}).")
    for source in warm_start:  # experiment.json's record of a tpe study's warm start (sweep/warm_start.py)
        lines.append(f"The search was warm-started from {source['trials']} trials of {source['experiment']} "
                     "(not trained again, not in this table).")
    lines += plateau_lines(table, select)
    if baselines:
        counts = baselines.get("counts", {})
        lines.append(
            f"Dataset: {baselines['dataset']} ({len(baselines['genres'])} genres: {', '.join(baselines['genres'])}; "
            f"{counts.get('train', '?')} train / {counts.get('val', '?')} val / {counts.get('test', '?')} test posters)."
        )
    repeats = repeated(table)
    if repeats:
        lines.append(repeats_line(table, select, ranked))
    lines.append("")
    groups = [] if ranked else table.groupby(others) if others else [((), table)]
    if ranked:
        lines += top_trials_lines(table, metric, select)
    if ranked and repeats:
        lines += configuration_lines(table, metric, select)
    for key, group in groups:
        if others:
            lines += [f"## {group_label(others, key)}", ""]
        lines += metric_table_lines(group, metric, repeats) + [""]
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


def plateau_lines(table: pd.DataFrame, select: str) -> list[str]:
    """How many trials their [scheduler] patience stopped, and at which epochs (how many at each)."""
    stopped = table[table["status"] == "stopped on plateau"]
    if stopped.empty:
        return []
    patience = " or ".join(str(int(p)) for p in sorted(stopped["patience"].dropna().unique()))
    at = ", ".join(f"{epoch}" + (f" ({count} trials)" if count > 1 else "")
                   for epoch, count in stopped["epochs_done"].astype(int).value_counts().sort_index().items())
    return [f"{len(stopped)} of {len(table)} trials stopped on a plateau ({select} no better for {patience} epochs), "
            f"at epoch {at}; each was scored on test once, with its best epoch's weights."]


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


def metric_table_lines(group: pd.DataFrame, metric: str, repeats: bool) -> list[str]:
    """The lr x ratio table of `metric`: each trial's value, or, where seeds repeat configurations,
    each configuration's mean ± sd over its repeats (how many scored it)."""
    if not repeats:
        return grid_table_lines(group, metric)
    return grid_table_lines(configurations(group, [metric]), metric, lambda row: spread_text(row, metric))


def repeats_line(table: pd.DataFrame, select: str, ranked: bool) -> str:
    """How seeds repeat the configurations, and what that changes in the tables and in the choice."""
    configs = configurations(table, [])
    counts = sorted(set(configs["repeats"]))
    times = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    seeds = seeds_text(sorted(int(seed) for seed in table["seed"].dropna().unique()))
    where = "the configurations' table below gives" if ranked else "each table cell is"
    many = len(configs) > 1
    repeated_ones = f"each of the {len(configs)} configurations" if many else "the one configuration"
    choice = f", and the best configuration is the one with the best mean {select} on validation" if many else ""
    return (f"Seeds repeat {repeated_ones} {times} times (seeds {seeds}): {where} a configuration's mean ± sd over "
            f"its repeats (in brackets, how many scored){choice}.")


def configuration_lines(table: pd.DataFrame, metric: str, select: str) -> list[str]:
    """Each configuration's mean ± sd over its seeds, best mean first (a ranked experiment's repeats,
    such as a seed sweep of one cell)."""
    metrics = list(dict.fromkeys([select, metric, test_counterpart(select)]))
    configs = best_first(configurations(table, metrics), select)
    keys = varied_keys(table)
    lines = [f"## Configurations over their seeds, best mean {select} first", "",
             "| configuration | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---:|" * len(metrics)]
    for _, row in configs.iterrows():
        cells = [spread_text(row, m) for m in metrics]
        lines.append(f"| {configuration_label(row, keys)} | {seeds_text(row['seeds'])} | " + " | ".join(cells) + " |")
    return lines + [""]


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
    chosen = configuration_scores(table, select) if repeated(table) else None
    lines = [] if chosen is None else chosen_configuration_lines(table, chosen, select)
    among = "" if chosen is None else " among its repeats"
    lines += [
        f"Best trial, chosen by **{select}**{among}: **{best['trial']}**, {select} {fmt(best[select])} at its best "
        f"epoch {best['best_epoch']} of {best['epochs_done']}{'' if chosen is None else weights_note(best)}.",
        "",
        f"Chosen by {select} on {val_count} validation posters; test scored once on each trial's best-epoch "
        f"weights (epoch {best['best_epoch']} for this one). *_tuned: at per-genre thresholds tuned on validation; "
        "last epoch: the last epoch's weights, for comparison only.",
        "",
    ]
    if pd.isna(best.get("test_map")):
        return lines + ["Its test split has not been scored yet (the trial has not ended).", ""]
    test = baselines.get("test") if baselines else None
    # With repeats, a last column: the chosen configuration's test scores over all its repeats.
    spread = (lambda m: "") if chosen is None else (lambda m: f" {spread_text(chosen, f'test_{m}')} |")
    header = "| test metric | best trial | last epoch | label prior | majority |"
    lines += [header + ("" if chosen is None else " its configuration, mean ± sd |"),
              "|---|---:|---:|---:|---:|" + ("" if chosen is None else "---:|")]
    for m in SHOWN:
        prior, majority = (test["prior"].get(m), test["majority"].get(m)) if test else (None, None)
        lines.append(f"| {m} | {fmt(best.get(f'test_{m}'))} | {fmt(best.get(f'last_test_{m}'))} | {fmt(prior)} | "
                     f"{fmt(majority)} |" + spread(m))
    for m in THRESHOLDED:
        lines.append(f"| {m}_tuned | {fmt(best.get(f'test_{m}_tuned'))} | – | – | – |" + spread(f"{m}_tuned"))
    return lines + [""]


def configuration_scores(table: pd.DataFrame, select: str) -> pd.Series:
    """The chosen configuration (best mean select_metric) as configurations() gives it: its select
    metric and every test score, mean ± sd over its repeats."""
    tests = [f"test_{m}" for m in SHOWN] + [f"test_{m}_tuned" for m in THRESHOLDED]
    metrics = list(dict.fromkeys([select, test_counterpart(select), *tests]))
    return configurations(best_configuration(table, select), metrics).iloc[0]


def chosen_configuration_lines(table: pd.DataFrame, chosen: pd.Series, select: str) -> list[str]:
    """Which configuration its mean chose (configuration_scores' row; a seed sweep's only one), and
    over which seeds."""
    test = test_counterpart(select)
    chose = (f"Best configuration, chosen on validation by its mean **{select}**" if len(configurations(table, [])) > 1
             else "The one configuration")
    return [
        f"{chose} (over its {chosen['repeats']} repeats, seeds {seeds_text(chosen['seeds'])}): "
        f"**{configuration_label(chosen, varied_keys(table))}**, {select} {spread_text(chosen, select)}, "
        f"{test} {spread_text(chosen, test)}.",
        "",
    ]


def weights_note(best: pd.Series) -> str:
    """Where a repeated experiment's chosen weights are: its best repeat's checkpoint."""
    checkpoint = best.get("best_checkpoint")
    where = f" (`{checkpoint}`)" if isinstance(checkpoint, str) else ""
    return f"; its weights{where} are the ones `evaluate` and `predict` take"


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
