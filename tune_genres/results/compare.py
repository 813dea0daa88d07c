"""Several experiments side by side, as one Markdown page (what `tune-genres compare` prints):

    the headline table   a row per experiment: the trial its select_metric chose on validation,
                         that trial's val and test scores, the test baselines beside them, and the
                         compute its trials took; where seeds repeat configurations, the configuration
                         its mean chose, and its scores' mean ± sd over its repeats; below it, the
                         experiment's ensemble (results/ensemble.py), where it has one
    a section each       a grid over learning rate x ratio (and at most one other key, such as
                         loss): a table per metric in TABLED, and the epochs each trial trained
                         (the scheduler's cuts); any other experiment: its best trials, ranked

Every number comes from each experiment's own report (`write_report`), which this refreshes, so
the page and the folders' results.md never disagree. With an output folder (on this machine),
each experiment's report files (tables and pictures; never checkpoints) are copied beside the page.
An experiment is a local folder or a URI such as s3://bucket/prefix/NAME (results/location.py),
and experiments of both kinds compare on one page.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dataset_builder.atomic import write_atomic
from dataset_builder.errors import BadInput

from .charts import fmt, spread_text
from .ensemble import FOLDER as ENSEMBLE_FOLDER, read_ensemble
from .location import ExperimentLocation, Where, location
from .outputs import check_output_folder
from .records import read_baselines, read_experiment
from .repeats import best_configuration, configuration_label, configurations, repeated, varied_keys
from .report import (best_trial, chosen_configuration_lines, configuration_lines, configuration_scores, describe,
                     grid_table_lines, metric_table_lines, top_trials_lines, write_report)
from .trials import check_experiment_folder, group_label, grouping_keys, tabled_as_grid

# The metrics a grid's section tables: validation chose, test was scored once on the chosen weights.
TABLED = ("val_map", "test_map", "test_roc_auc_macro", "test_categorical_accuracy")
# An experiment's report files worth publishing: small tables and pictures, no weights.
REPORT_FILES = ("results.md", "results.csv", "heatmap.png", "learning-curves.png", "importance.csv",
                "parallel-coordinates.png", "sweep.toml", "baselines.json")
PAGE = "comparison.md"


class Experiment:
    """One experiment folder (or URI), its report refreshed."""

    def __init__(self, folder: ExperimentLocation):
        check_experiment_folder(folder)
        report = write_report(folder)
        self.folder = folder
        self.name = folder.name
        self.table: pd.DataFrame = report["table"]
        self.select: str = report["select"]
        self.record = read_experiment(folder) or {}
        self.baselines = read_baselines(folder) or {}
        self.ran = command_line(folder.join("sweep.toml")) or self.record.get("sweep", "?")
        self.ensemble = read_ensemble(folder.join(ENSEMBLE_FOLDER))  # `tune-genres ensemble`'s, where it writes by default

    @property
    def repeats(self) -> bool:
        """Do seeds repeat its configurations (its choice is then a configuration, by its mean)?"""
        return repeated(self.table)

    @property
    def is_grid(self) -> bool:
        return tabled_as_grid(self.table, self.record.get("search", "grid"))

    def baseline(self, split: str, predictor: str, metric: str):
        return self.baselines.get(split, {}).get(predictor, {}).get(metric)


def command_line(sweep_copy: ExperimentLocation) -> str | None:
    """The sweep file and its --set overrides, from the first line of the experiment's sweep.toml
    (the driver writes that line only when there were overrides; otherwise the copy is verbatim)."""
    if not sweep_copy.is_file():
        return None
    # Shown, never parsed: a byte that is not UTF-8 (a hand-edited copy) shows as U+FFFD.
    first = (sweep_copy.read_bytes().decode("utf-8", errors="replace").splitlines() or [""])[0]
    return first.removeprefix("# ") if first.startswith("# ") and " with --set " in first else None


def compare(folders: list[Where]) -> tuple[str, list[Experiment]]:
    folders = [location(f) for f in folders]
    names = [f.name for f in folders]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadInput(f"experiment names must differ (their reports are kept by name): {', '.join(repeated)}")
    experiments = [Experiment(f) for f in folders]
    lines = ["# Experiments compared", "", *headline_lines(experiments)]
    for exp in experiments:
        lines += section_lines(exp)
    return "\n".join(lines) + "\n", experiments


def headline_lines(experiments: list[Experiment]) -> list[str]:
    lines = [
        "Each experiment's best trial, chosen on validation by its select_metric; test scored once, on that "
        "trial's best-epoch weights. Beside it, the test split's baselines: the label prior's mAP and the "
        "majority genre's categorical accuracy (the ROC-AUC of both is 0.5).",
        *([] if not any(exp.ensemble for exp in experiments) else [
            "An experiment's ensemble (`tune-genres ensemble`, in its ensemble folder) follows its row: its members "
            "chosen on validation by Caruana's greedy selection, its test scored once after the choice."]),
        "",
        *([] if not any(exp.repeats for exp in experiments) else [
            "Where seeds repeat configurations, the configuration with the best mean select_metric on validation "
            "is chosen: its scores are the mean ± sd over its repeats (how many), its best epochs one per repeat.",
            ""]),
        "| experiment | genres | trials (stopped early) | chosen on val | best epoch | val score | test mAP | prior mAP "
        "| test ROC-AUC | test accuracy | majority accuracy | trial-hours |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for exp in experiments:
        stopped = int((exp.table["status"] == "stopped early").sum())
        hours = exp.table["wall_s"].fillna(0).sum() / 3600
        genres = len(exp.baselines.get("genres", [])) or "?"
        chosen = chosen_cells(exp)
        lines.append(
            f"| {exp.name} | {genres} | {len(exp.table)} ({stopped}) | " + " | ".join(chosen[:4]) + " | "
            f"{fmt(exp.baseline('test', 'prior', 'map'))} | " + " | ".join(chosen[4:]) + " | "
            f"{fmt(exp.baseline('test', 'majority', 'categorical_accuracy'))} | {hours:.2f} |"
        )
        if exp.ensemble is not None:
            lines.append(ensemble_row(exp, genres))
    return lines + [""]


def ensemble_row(exp: Experiment, genres) -> str:
    """The headline row of the experiment's ensemble: its members, chosen on validation, and its
    test scores, scored once after the choice."""
    ensemble = exp.ensemble
    tested = ensemble["test"]["ensemble"]["metrics"]
    members = len(ensemble["members"])
    from_others = len(ensemble["experiments"]) > 1
    return (f"| {exp.name} ensemble | {genres} | {members} of {ensemble['candidates']}"
            f"{' (with other experiments)' if from_others else ''} | Caruana, {ensemble['kept_steps']} steps | – | "
            f"{fmt(ensemble['val_score'])}{'' if ensemble['select_metric'] == 'val_map' else ' (' + ensemble['select_metric'] + ')'} | "
            f"{fmt(tested['map'])} | {fmt(exp.baseline('test', 'prior', 'map'))} | {fmt(tested['roc_auc_macro'])} | "
            f"{fmt(tested['categorical_accuracy'])} | {fmt(exp.baseline('test', 'majority', 'categorical_accuracy'))} | – |")


# The headline's scores of an experiment's choice, after its val score.
HEADLINE_TESTS = ("test_map", "test_roc_auc_macro", "test_categorical_accuracy")


def chosen_cells(exp: Experiment) -> list[str]:
    """The headline's cells of what the experiment chose: its name, best epoch, val score, then test
    mAP, ROC-AUC and accuracy (a trial's; or a repeated configuration's, over its repeats)."""
    best = best_trial(exp.table, exp.select)
    if best is None:
        return ["none yet"] + ["–"] * 5
    if exp.repeats:
        return configuration_cells(exp)
    return [best["trial"], f"{best['best_epoch']}", val_score(best, exp.select), *(fmt(best.get(m)) for m in HEADLINE_TESTS)]


def configuration_cells(exp: Experiment) -> list[str]:
    """The configuration the mean chose: its name and repeats, each repeat's best epoch (in seed
    order), and each score's mean ± sd over its repeats."""
    repeats = best_configuration(exp.table, exp.select).sort_values("seed")
    chosen = configurations(repeats, [exp.select, *HEADLINE_TESTS]).iloc[0]
    name = f"{configuration_label(chosen, varied_keys(exp.table))} ({chosen['repeats']} seeds)"
    epochs = "/".join(str(epoch) for epoch in repeats["best_epoch"])
    val = spread_text(chosen, exp.select) + ("" if exp.select == "val_map" else f" ({exp.select})")
    return [name, epochs, val, *(spread_text(chosen, m) for m in HEADLINE_TESTS)]


def val_score(best: pd.Series, select: str) -> str:
    """The chosen trial's select_metric, named unless it is the usual val_map."""
    return fmt(best[select]) + ("" if select == "val_map" else f" ({select})")


def section_lines(exp: Experiment) -> list[str]:
    table = exp.table
    counts = exp.baselines.get("counts", {})
    status = table["status"].value_counts()
    lines = [
        f"## {exp.name}", "",
        f"`{exp.ran}`, on {exp.record.get('dataset', '?')}: {', '.join(exp.baselines.get('genres', []))}; "
        f"{counts.get('train', '?')} train / {counts.get('val', '?')} val / {counts.get('test', '?')} test posters. "
        f"{len(table)} trials: " + ", ".join(f"{n} {s}" for s, n in status.items()) + ".",
        "",
    ]
    if exp.repeats and best_trial(table, exp.select) is not None:
        lines += chosen_configuration_lines(table, configuration_scores(table, exp.select), exp.select)
    if not exp.is_grid:
        ranked = top_trials_lines(table, "test_map", exp.select)
        if exp.repeats:
            ranked += configuration_lines(table, "test_map", exp.select)
        # The ranked lists' own headings go one level down, under this section's.
        return lines + [("#" + line if line.startswith("## ") else line) for line in ranked]
    others = grouping_keys(table)
    groups = list(table.groupby(others)) if others else [((), table)]
    for metric in TABLED:
        split, name = metric.split("_", 1)
        for key, group in groups:
            where = f" ({group_label(others, key)})" if others else ""
            lines += [f"### {split} {describe(name)}{where}", ""]
            lines += metric_table_lines(group, metric, exp.repeats) + [""]
        prior = exp.baseline(split, "prior", name)
        majority = exp.baseline(split, "majority", name)
        lines += [f"Baselines on {split}: label prior {fmt(prior)}, majority genre {fmt(majority)}.", ""]
    epochs = int(table["epochs"].max())
    for key, group in groups:
        where = f" ({group_label(others, key)})" if others else ""
        lines += [f"### Epochs trained, of {epochs}{where}; best epoch in brackets", ""]
        lines += epochs_table_lines(group, exp.repeats)
        lines.append("")
    return lines


def epochs_table_lines(group: pd.DataFrame, repeats: bool) -> list[str]:
    """Each trial's epochs trained (best epoch), or each configuration's, one per repeat in seed order
    ("2/2 (1/2)")."""
    if not repeats:
        return grid_table_lines(group, "epochs_done", lambda row: f"{row['epochs_done']} ({row['best_epoch']})")

    def per_repeat(config: pd.Series) -> str:
        trials = group.loc[config["trials"]].sort_values("seed")
        return "/".join(map(str, trials["epochs_done"])) + " (" + "/".join(map(str, trials["best_epoch"])) + ")"

    return grid_table_lines(configurations(group, []), "epochs_done", per_repeat)


def write_comparison(folders: list[Where], out: str | os.PathLike | None) -> str:
    """The page; with out (a local folder), also OUT/comparison.md and OUT/<experiment>/<report files>."""
    folders = [location(f) for f in folders]
    if out is not None:  # before any report is refreshed
        out = local_folder(out)
        check_output_folder(out, "--out", subfolders=[f.name for f in folders], files=[PAGE])
    markdown, experiments = compare(folders)
    if out is not None:
        publish(out, experiments, markdown)
    return markdown


def local_folder(out: str | os.PathLike) -> Path:
    """--out names a folder on this machine: a URI is refused (each experiment's report is written
    into the experiment, wherever it lives, already)."""
    if not location(out).is_local:
        raise BadInput(f"--out {location(out)}: expected a folder on this machine; each experiment's own report is "
                       "written into it wherever it lives")
    return Path(out)


def publish(out: Path, experiments: list[Experiment], markdown: str) -> None:
    """OUT/<experiment>/<report files>, then OUT/comparison.md; each file whole or not at all, and a
    write that fails on the way (a full disk) one line."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for exp in experiments:
            target = out / exp.name
            target.mkdir(exist_ok=True)
            for name in report_files(exp.folder):
                write_atomic(target / name, lambda p, src=exp.folder.join(name): p.write_bytes(src.read_bytes()))
        write_atomic(out / PAGE, lambda p: p.write_text(markdown))
    except OSError as e:
        raise BadInput(f"--out {out}: cannot write there ({e.strerror or e}); the experiments and their "
                       "refreshed reports are intact") from None


def report_files(folder: ExperimentLocation) -> list[str]:
    """Which of REPORT_FILES the experiment holds (on an object store, one listing)."""
    present = {name for name, is_folder in folder.entries() if not is_folder}
    return [name for name in REPORT_FILES if name in present]
