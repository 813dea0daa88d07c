"""The page `tune-genres ensemble` prints and writes beside ensemble.json (results/ensemble.py):
the members and their weights, the validation that chose them, then the test split, scored once,
for the ensemble beside the best single trial and the baselines, with bootstrap intervals."""

from __future__ import annotations

from ..training.metrics import LOWER_IS_BETTER, METRICS, THRESHOLDED
from .charts import fmt
from .intervals import LEVEL
from .location import ExperimentLocation


def ensemble_markdown(record: dict) -> str:
    select, test = record["select_metric"], record["test"]
    best = record["best_single"]
    counts = test.get("counts") or {}
    lines = [
        f"# Ensemble of {len(record['members'])} trials, chosen on validation by {select}",
        "",
        f"Caruana's greedy forward selection with replacement over {record['candidates']} trials of "
        f"{', '.join(record['experiments'])}, on {record['dataset']} (fingerprint {record['dataset_fingerprint']}; "
        f"{len(record['genres'])} genres: {', '.join(record['genres'])}). Step 1 is the best single trial; each step "
        f"adds the trial whose probabilities, averaged in, score best on {counts.get('val', '?')} validation posters; "
        f"{record['kept_steps']} of {len(record['steps'])} steps kept (the shortest prefix with the best score). "
        "A member's weight is its share of the steps kept.",
        *[f"Note: {note}." for note in record["notes"]],
        "",
        f"| member | experiment | weight | ratio | model | input_scale | {select} alone |",
        "|---|---|---:|---:|---|---:|---:|",
        *[f"| {m['trial']} | {ExperimentLocation(m['experiment']).name} | {m['weight']:.3f} | {m['ratio']} | {m['model']} "
          f"| {m['input_scale']:g} | {fmt(m['val_score'], 4)} |" for m in record["members"]],
        "",
        f"Validation ({select}, what chose): ensemble **{fmt(record['val_score'], 4)}**, best single trial "
        f"{fmt(best['val_score'], 4)} ({best['trial']}). After each step: "
        + ", ".join(fmt(step["val_score"], 4) for step in record["steps"]) + ".",
        "",
        f"Test, scored once after the choice, on {test['count']} posters; genre predicted at probability >= "
        f"{record['threshold']:g} (*_tuned: per-genre thresholds tuned on the ensemble's validation probabilities). "
        "Baselines never look at a poster: label prior = the training split's genre frequencies, majority = its "
        "most frequent genre.",
        "",
    ]
    intervals = test["ensemble"]["intervals"] is not None
    if intervals:
        lines += [f"Intervals: {LEVEL:.0%} bootstrap over {test['interval_resamples']} draws of the test posters.", ""]
    head = "| test metric | ensemble |" + (" interval |" if intervals else "") + " best single |" + (
        " interval |" if intervals else "") + " label prior | majority |"
    lines += [head, "|---|" + "---:|" * (head.count("|") - 2)]
    baselines = test.get("baselines") or {}

    def cells(scores: dict, metric: str, tuned: bool) -> str:
        value = scores["metrics_tuned" if tuned else "metrics"][metric]
        if not intervals:
            return f" {fmt(value, 4)} |"
        span = "–" if tuned else "-".join(fmt(v, 4) for v in scores["intervals"][metric])
        return f" {fmt(value, 4)} | {span} |"

    for metric in METRICS:
        prior = baselines.get("prior", {}).get(metric)
        majority = baselines.get("majority", {}).get(metric)
        label = f"{metric} (lower)" if metric in LOWER_IS_BETTER else metric
        lines.append(f"| {label} |" + cells(test["ensemble"], metric, False) + cells(test["best_single"], metric, False)
                     + f" {fmt(prior, 4)} | {fmt(majority, 4)} |")
    for metric in THRESHOLDED:
        name = f"{metric}_tuned"
        lines.append(f"| {name}{' (lower)' if name in LOWER_IS_BETTER else ''} |" + cells(test["ensemble"], name, True) + cells(test["best_single"], name, True)
                     + " – | – |")
    lines.append(f"| loss (lower) | {fmt(test['ensemble']['loss'], 4)} |" + (" – |" if intervals else "")
                 + f" {fmt(test['best_single']['loss'], 4)} |" + (" – |" if intervals else "") + " – | – |")
    return "\n".join(lines) + "\n"
