"""Ensembles chosen on validation: Caruana et al.'s greedy forward selection with replacement over
the trials of one or more experiments on one dataset, from the predictions their records keep
(training/predictions.py), never from a checkpoint.

Step 1 is the best single trial by the experiments' select_metric on validation; each further
step adds (again, when that helps most) the trial whose probabilities, averaged in, score best.
After `size` steps the shortest prefix with the best score is kept, so the ensemble's validation
score is never below its best member's. A member's weight is how often it was picked, over the
steps kept. The choice made, the test split is scored once: the ensemble beside the best single
trial and the baselines that never look at a poster.

    OUT/ensemble.json   what evaluate and predict take as they take a checkpoint: the members
                        (experiment, trial, checkpoint, weight, ratio, model, input_scale), the
                        dataset (path and fingerprint), the loss, the thresholds tuned on the
                        ensemble's validation probabilities, the steps, the test scores
    OUT/ensemble.md     the same, to read (results/ensemble_page.py)

OUT is a folder or a URI (results/location.py); by default `ensemble` inside the first experiment,
where compare finds it. ensemble.json is written last: a folder holding it holds a whole ensemble.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dataset_builder.errors import BadInput

from ..training.hyperparameters import setting
from ..training.losses import loss_of_probabilities
from ..training.metrics import MetricWarning, compute_metrics, metric_name, tune_thresholds, tuned_metrics
from ..training.predictions import PREDICTIONS_FILE, predictions_from_bytes
from ..training.selection import improves
from .ensemble_page import ensemble_markdown
from .intervals import RESAMPLES, bootstrap_intervals
from .location import ExperimentLocation, Where, location
from .outputs import check_output_folder
from .records import read_baselines, read_experiment
from .trial_record import json_ready
from .trials import Trial, check_experiment_folder, read_trials

ENSEMBLE_FILE = "ensemble.json"
PAGE = "ensemble.md"
FOLDER = "ensemble"  # OUT's default, inside the first experiment
ENSEMBLE_FORMAT = 1
DEFAULT_SIZE = 25
ENSEMBLE_KEYS = {"format": int, "members": list, "genres": list, "loss": str, "thresholds": list, "threshold": (int, float)}
ENSEMBLE_REMEDY = "choose it again with `tune-genres ensemble`"
# The rows of every candidate's predictions that must be the same for their probabilities to be averaged.
ALIGNED = ("genres", "val_rows", "val_ids", "val_labels", "test_rows", "test_ids", "test_labels")


@dataclass
class Candidate:
    """A trial whose chosen weights' predictions its record keeps."""

    experiment: ExperimentLocation
    trial: Trial
    predictions: dict[str, np.ndarray]

    @property
    def label(self) -> str:
        return f"{self.experiment.name}/{self.trial.name}"


@dataclass
class Selection:
    picks: list[int]  # the candidate each step added (its index), in order
    scores: list[float]  # the ensemble's validation score after each step
    kept: int  # the steps kept: the shortest prefix that reaches the best score

    def counts(self) -> Counter:
        return Counter(self.picks[: self.kept])


def greedy_selection(val_probs: Sequence[np.ndarray], score: Callable[[np.ndarray], float], metric: str,
                     size: int) -> Selection:
    """Caruana's forward selection with replacement: start from the best single candidate, then
    `size` - 1 times add the candidate whose probabilities, averaged in, give the best score
    (ties: the first candidate); keep the best prefix. `metric` says which way is better."""
    singles = [score(p) for p in val_probs]
    first = best_index(singles, metric)
    if first is None:
        raise ValueError("no candidate scores a finite value")
    picks, scores = [first], [singles[first]]
    total = np.asarray(val_probs[first], dtype=np.float64).copy()
    while len(picks) < size:
        step = [score((total + p) / (len(picks) + 1)) for p in val_probs]
        pick = best_index(step, metric)
        if pick is None:
            break
        picks.append(pick)
        scores.append(step[pick])
        total += val_probs[pick]
    return Selection(picks, scores, best_index(scores, metric) + 1)


def best_index(values: Sequence[float], metric: str) -> int | None:
    """The index of the best finite value (the first of equals), or None when none is finite."""
    best = None
    for i, value in enumerate(values):
        if improves(value, math.nan if best is None else values[best], metric):
            best = i
    return best


def scorer(select: str, loss: str, threshold: float, labels: np.ndarray) -> Callable[[np.ndarray], float]:
    """The validation metric `select` of probabilities on these labels (val_loss: from the probabilities)."""
    name = metric_name(select)
    if name == "loss":
        return lambda probs: loss_of_probabilities(loss, probs, labels)
    return lambda probs: compute_metrics(probs, labels, threshold)[name]


# -- reading the candidates -------------------------------------------------------------------------


def read_candidates(experiments: list[ExperimentLocation]) -> tuple[list[Candidate], dict, list[str]]:
    """(every trial whose chosen weights were scored, the first experiment's record, notes on the
    trials left out). One BadInput line for experiments on different datasets or choosing by
    different metrics, a scored trial that keeps no predictions, or rows that do not line up."""
    records = [experiment_record(exp) for exp in experiments]
    first = records[0]
    for exp, record in zip(experiments[1:], records[1:]):
        if record["dataset_fingerprint"] != first["dataset_fingerprint"]:
            raise BadInput(
                f"{exp}: trained on dataset {record['dataset']} (fingerprint {record['dataset_fingerprint']}), not "
                f"{experiments[0]}'s {first['dataset']} (fingerprint {first['dataset_fingerprint']}); an ensemble "
                "averages one dataset's posters: pass experiments on the same dataset")
        if record["select_metric"] != first["select_metric"]:
            raise BadInput(f"{exp}: chooses by {record['select_metric']}, {experiments[0]} by {first['select_metric']}; "
                           "an ensemble is chosen by one validation metric: pass experiments that share it")
    candidates, unscored = [], 0
    for exp in experiments:
        for trial in read_trials(exp):
            if trial.record.get("test_scored_by") is None:
                unscored += 1  # running, errored, or stopped and not yet scored: no chosen weights to average
                continue
            file = predictions_file(trial)
            if file is None:
                raise BadInput(f"{trial.folder}: trial {trial.name} keeps no predictions of its chosen weights (its "
                               "experiment ran before trials kept them); run its sweep again, under a new --name, "
                               "to ensemble its trials")
            candidates.append(Candidate(exp, trial, read_predictions(file)))
    if not candidates:
        raise BadInput(f"{', '.join(map(str, experiments))}: no trial has scored its chosen weights yet; nothing to ensemble")
    check_aligned(candidates)
    notes = [f"{unscored} trials without scored chosen weights (running, errored, or stopped and not yet scored) "
             "left out"] if unscored else []
    return candidates, first, notes


def predictions_file(trial: Trial) -> ExperimentLocation | None:
    """The predictions its record names; else its last checkpoint's own copy (a driver that died
    before it copied them beside the record), or None."""
    if trial.record.get("predictions"):
        return trial.folder.join(trial.record["predictions"])
    if trial.record.get("checkpoint"):
        in_checkpoint = location(trial.record["checkpoint"]).join(PREDICTIONS_FILE)
        return in_checkpoint if in_checkpoint.is_file() else None
    return None


def experiment_record(exp: ExperimentLocation) -> dict:
    check_experiment_folder(exp)
    record = read_experiment(exp)
    if record is None:
        raise BadInput(f"{exp}: records no dataset fingerprint (it ran before experiment.json was written), so its "
                       "trials cannot be shown to share posters with others; run its sweep again to ensemble it")
    return record


def read_predictions(file: ExperimentLocation) -> dict[str, np.ndarray]:
    try:
        return predictions_from_bytes(file.read_bytes(), str(file))
    except ValueError as e:
        raise BadInput(f"{e}; run its trial's sweep again to keep them anew") from None


def check_aligned(candidates: list[Candidate]) -> None:
    """Every candidate's val and test rows must be the first's, in the same order, with the same labels."""
    reference = candidates[0]
    for candidate in candidates[1:]:
        for key in ALIGNED:
            a, b = reference.predictions.get(key), candidate.predictions.get(key)
            if (a is None) != (b is None) or (a is not None and (a.shape != b.shape or (a != b).any())):
                raise BadInput(f"{candidate.trial.folder}: its predictions' {key} differ from {reference.label}'s: "
                               "their rows do not line up, so their probabilities cannot be averaged")


# -- choosing and scoring --------------------------------------------------------------------------


def choose_ensemble(experiments: list[Where], size: int = DEFAULT_SIZE, resamples: int = RESAMPLES) -> dict:
    """The ensemble's record (what ensemble.json holds): chosen on validation, then test scored once."""
    experiments = list(dict.fromkeys(location(e) for e in experiments))
    candidates, first, notes = read_candidates(experiments)
    select = first["select_metric"]
    val_labels = candidates[0].predictions["val_labels"]
    # The fixed threshold of the thresholded metrics: the trials' own, where they share one.
    fixed = {float(c.trial.config.get("threshold", 0.5)) for c in candidates}
    threshold = fixed.pop() if len(fixed) == 1 else 0.5
    with warnings.catch_warnings():
        # A genre the validation split lacks would warn at every candidate of every step.
        warnings.simplefilter("ignore", MetricWarning)
        candidates, loss = comparable(candidates, select, threshold, val_labels, notes)
        score = scorer(select, loss, threshold, val_labels)
        try:
            selection = greedy_selection([c.predictions["val_probs"] for c in candidates], score, select, size)
        except ValueError:
            raise BadInput(f"{', '.join(map(str, experiments))}: no trial scores a finite {select}; nothing to "
                           "ensemble") from None
        singles = [score(c.predictions["val_probs"]) for c in candidates]
    counts = selection.counts()
    members = [member(candidates[i], n / selection.kept, n, singles[i]) for i, n in counts.items()]
    weights = {i: n / selection.kept for i, n in counts.items()}
    val_probs = sum(w * candidates[i].predictions["val_probs"].astype(np.float64) for i, w in weights.items())
    test_probs = sum(w * candidates[i].predictions["test_probs"].astype(np.float64) for i, w in weights.items())
    best = candidates[selection.picks[0]]
    tuned = tune_thresholds(val_probs, val_labels)
    test_labels = best.predictions["test_labels"]
    baselines = read_baselines(experiments[0]) or {}
    return json_ready({
        "format": ENSEMBLE_FORMAT,
        "experiments": [str(e) for e in experiments],
        "dataset": first["dataset"],
        "dataset_fingerprint": first["dataset_fingerprint"],
        "genres": [str(g) for g in best.predictions["genres"]],
        "select_metric": select,
        "loss": loss,
        "threshold": threshold,
        "thresholds": [float(t) for t in tuned],
        "size": size,
        "candidates": len(candidates),
        "notes": notes,
        "steps": [{"trial": candidates[i].label, "val_score": s} for i, s in zip(selection.picks, selection.scores)],
        "kept_steps": selection.kept,
        "members": sorted(members, key=lambda m: -m["weight"]),
        "val_score": selection.scores[selection.kept - 1],
        "best_single": member(best, 1.0, 1, singles[selection.picks[0]]),
        "test": {
            "count": len(test_labels),
            "ensemble": scored_on_test(test_probs, test_labels, threshold, tuned, loss, resamples),
            "best_single": scored_on_test(best.predictions["test_probs"], test_labels, threshold,
                                       tune_thresholds(best.predictions["val_probs"], val_labels), loss, resamples),
            "interval_resamples": resamples,
            "baselines": baselines.get("test"),
            "counts": baselines.get("counts"),
        },
    })


def comparable(candidates: list[Candidate], select: str, threshold: float, val_labels: np.ndarray,
               notes: list[str]) -> tuple[list[Candidate], str]:
    """(the candidates whose probabilities can be averaged, their loss), a note in `notes` for each
    kind left out. Probabilities mean one thing per loss (softmax shares one unit, sigmoid does
    not): the best single trial's loss decides. A diverged trial's are not finite."""
    loss_of = {id(c): setting(c.trial.config, "loss") for c in candidates}
    losses = set(loss_of.values())
    loss = losses.pop() if len(losses) == 1 else None
    if loss is None:
        singles = [scorer(select, loss_of[id(c)], threshold, val_labels)(c.predictions["val_probs"]) for c in candidates]
        best = best_index(singles, select)
        loss = loss_of[id(candidates[0 if best is None else best])]
        others = sorted(set(loss_of.values()) - {loss})
        left = sum(loss_of[id(c)] != loss for c in candidates)
        notes.append(f"{left} trials trained with loss {', '.join(others)} left out (their probabilities mean "
                     f"something else than {loss}'s)")
        candidates = [c for c in candidates if loss_of[id(c)] == loss]
    finite = [c for c in candidates if np.isfinite(c.predictions["val_probs"]).all()]
    if len(finite) < len(candidates):
        notes.append(f"{len(candidates) - len(finite)} trials whose probabilities are not finite (diverged) left out")
    return finite, loss


def member(candidate: Candidate, weight: float, count: int, val_score: float) -> dict:
    config = candidate.trial.config
    return {"experiment": str(candidate.experiment), "trial": candidate.trial.name,
            "checkpoint": candidate.trial.record["checkpoint"], "weight": weight, "picked": count,
            "val_score": val_score, "ratio": config.get("ratio"), "model": setting(config, "model"),
            "input_scale": setting(config, "input_scale")}


def scored_on_test(probs: np.ndarray, labels: np.ndarray, threshold: float, thresholds: np.ndarray, loss: str,
                resamples: int) -> dict:
    """The test split's scores of chosen probabilities, with their bootstrap intervals."""
    return {"loss": loss_of_probabilities(loss, probs, labels),
            "metrics": compute_metrics(probs, labels, threshold),
            "metrics_tuned": tuned_metrics(probs, labels, thresholds),
            "intervals": bootstrap_intervals(probs, labels, threshold, resamples) if resamples else None}


# -- the ensemble folder ---------------------------------------------------------------------------


def ensemble_out(experiments: list[Where], out: Where | None) -> ExperimentLocation:
    """Where the ensemble goes (default: FOLDER inside the first experiment); refused before any
    work when it is a file, or a folder holding anything but an ensemble."""
    out = location(out) if out is not None else location(experiments[0]).join(FOLDER)
    if out.is_local:
        check_output_folder(out.local_path, "--out", files=(ENSEMBLE_FILE, PAGE))
    elif out.is_file():
        raise BadInput(f"--out {out}: is a file; name a folder to write into (it is created when missing)")
    entries = out.list() if out.is_dir() else []
    if entries and ENSEMBLE_FILE not in entries:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise BadInput(f"--out {out}: holds files that are not an ensemble ({shown}); name a new or empty folder, "
                       "or an ensemble's to replace it")
    return out


def write_ensemble(experiments: list[Where], size: int = DEFAULT_SIZE, out: Where | None = None,
                   resamples: int = RESAMPLES) -> tuple[ExperimentLocation, dict]:
    """Choose the ensemble and write OUT/ensemble.md, then OUT/ensemble.json; (OUT, the record)."""
    if not experiments:
        raise BadInput("no experiment given: pass one or more experiment folders (or URIs)")
    if size < 1:
        raise BadInput(f"--size {size}: expected the number of selection steps, 1 or more (1: the best single trial)")
    if resamples < 0:
        raise BadInput(f"--bootstrap {resamples}: expected a number of draws, 0 or more")
    out = ensemble_out(experiments, out)
    record = choose_ensemble(experiments, size, resamples)
    try:
        out.write_text(PAGE, ensemble_markdown(record))
        out.write_json(ENSEMBLE_FILE, record)  # last: a folder holding it holds a whole ensemble
    except OSError as e:
        raise BadInput(f"--out {out}: cannot write the ensemble there ({e.strerror or e}); the experiments are "
                       "intact") from None
    return out, record


def read_ensemble(where: Where) -> dict | None:
    """The ensemble.json in the folder `where` names, or None where there is none (a checkpoint)."""
    at = location(where)
    if at.is_local and not at.local_path.is_dir():
        return None
    return at.read_json(ENSEMBLE_FILE, ENSEMBLE_REMEDY, ENSEMBLE_KEYS)
