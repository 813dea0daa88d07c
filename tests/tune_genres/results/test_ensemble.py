"""Ensembles chosen on validation (results/ensemble.py): Caruana's greedy selection on cases checked
by hand, the never-below-its-best-member promise on made-up predictions, the command as a user runs
it, and each bad input as one line that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from support.made_up_experiment import write_made_up_grid, write_made_up_predictions
from tune_genres.cli import main
from tune_genres.results.ensemble import ENSEMBLE_FILE, PAGE, choose_ensemble, greedy_selection, scorer
from tune_genres.sweep.api import Results
from tune_genres.training.metrics import compute_metrics
from tune_genres.training.predictions import PREDICTIONS_FILE, predictions_from_bytes


def test_greedy_selection_adds_with_replacement_and_keeps_the_best_prefix_as_caruana_does():
    # One number per candidate, scored by its squared distance to 0.5 (lower is better):
    # A 0.6 (0.01), B 0.2 (0.09), C 0.45 (0.0025). Step 1: C. Step 2: C+A averages 0.525 (0.000625),
    # C+B 0.325, C+C 0.45: A. Step 3: (C+A+C)/3 = 0.5 (0): C again. Step 4: (C+A+C+C)/4 = 0.4875
    # (0.00015625) beats +A's 0.525 and +B's 0.425, but not step 3: the first three steps are kept.
    probs = [np.array([0.6]), np.array([0.2]), np.array([0.45])]
    selection = greedy_selection(probs, lambda p: float((p[0] - 0.5) ** 2), "val_loss", size=4)
    assert selection.picks == [2, 0, 2, 2]
    assert selection.scores == pytest.approx([0.0025, 0.000625, 0.0, 0.00015625], abs=1e-15)
    assert selection.kept == 3 and selection.counts() == {2: 2, 0: 1}


def test_two_trials_each_good_at_one_genre_make_a_perfect_pair_and_ties_keep_the_shortest():
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    # A ranks genre 0 perfectly and genre 1 half right (AP 0.75): mAP 0.875. B the other way round,
    # worse (AP 1 and 5/12): mAP 0.708. Their mean ranks both genres perfectly: mAP 1, and no third
    # step can beat that, so the ensemble is A and B at 1/2 each.
    a = np.array([[0.9, 0.6], [0.1, 0.7], [0.8, 0.5], [0.2, 0.4]])
    b = np.array([[0.5, 0.1], [0.6, 0.9], [0.4, 0.2], [0.7, 0.8]])
    score = scorer("val_map", "bce", 0.5, labels)
    assert score(a) == pytest.approx(0.875) and score(b) == pytest.approx(0.5 * (1 + 5 / 12))
    selection = greedy_selection([b, a], score, "val_map", size=5)
    assert selection.picks[:2] == [1, 0] and selection.scores[:2] == pytest.approx([0.875, 1.0])
    assert selection.kept == 2 and selection.counts() == {1: 1, 0: 1}


@pytest.mark.parametrize("seed", range(6))
def test_the_validation_score_never_falls_below_the_best_single_candidate(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random((50, 4)) < 0.3).astype(np.uint8)
    probs = [1 / (1 + np.exp(-(labels * 2 - 1 + rng.uniform(1, 3) * rng.normal(size=labels.shape)))) for _ in range(8)]
    score = scorer("val_map", "bce", 0.5, labels)
    selection = greedy_selection(probs, score, "val_map", size=12)
    assert selection.scores[0] == max(score(p) for p in probs)  # step 1: the best single candidate
    assert selection.scores[selection.kept - 1] == max(selection.scores) >= selection.scores[0]
    assert sum(selection.counts().values()) == selection.kept


def kept(folder: Path) -> dict:
    return predictions_from_bytes((folder / PREDICTIONS_FILE).read_bytes(), str(folder))


@pytest.fixture
def grid(tmp_path) -> Path:
    exp = tmp_path / "grid"
    write_made_up_grid(exp, [1e-3, 3e-4, 1e-4], [30, 58], ["bce"])
    return exp


@pytest.mark.parametrize("seed", range(3))
def test_the_chosen_ensemble_scores_its_members_weighted_mean_and_never_below_its_best_member(grid, seed):
    write_made_up_predictions(grid, seed)
    record = choose_ensemble([grid], size=10, resamples=0)
    trials = {t.name: kept(t) for t in grid.iterdir() if t.is_dir()}
    labels = next(iter(trials.values()))["val_labels"]
    singles = {name: compute_metrics(p["val_probs"], labels)["map"] for name, p in trials.items()}
    assert record["best_single"]["val_score"] == max(singles.values())
    assert record["best_single"]["trial"] == max(singles, key=singles.get)
    assert record["val_score"] >= record["best_single"]["val_score"]
    assert sum(m["weight"] for m in record["members"]) == pytest.approx(1)
    # By hand: the members' probabilities at their weights, on validation (what chose) and on test (scored once).
    val = sum(m["weight"] * trials[m["trial"]]["val_probs"].astype(np.float64) for m in record["members"])
    test = sum(m["weight"] * trials[m["trial"]]["test_probs"].astype(np.float64) for m in record["members"])
    assert compute_metrics(val, labels)["map"] == pytest.approx(record["val_score"], abs=1e-12)
    test_labels = trials[record["best_single"]["trial"]]["test_labels"]
    assert record["test"]["ensemble"]["metrics"] == pytest.approx(compute_metrics(test, test_labels))
    best_test = trials[record["best_single"]["trial"]]["test_probs"]
    assert record["test"]["best_single"]["metrics"] == pytest.approx(compute_metrics(best_test, test_labels))


def test_the_command_writes_the_ensemble_into_the_experiment_where_compare_and_results_find_it(grid, capsys):
    write_made_up_predictions(grid, 1)
    assert main(["ensemble", str(grid), "--size", "6", "--bootstrap", "20"]) == 0
    printed = capsys.readouterr().out
    record = json.loads((grid / "ensemble" / ENSEMBLE_FILE).read_text())
    assert (grid / "ensemble" / PAGE).read_text() in printed
    assert printed.rstrip().endswith(f"wrote {grid / 'ensemble' / ENSEMBLE_FILE} and {grid / 'ensemble' / PAGE}")
    assert f"Validation (val_map, what chose): ensemble **{record['val_score']:.4f}**" in printed
    assert "| test metric | ensemble | interval | best single | interval | label prior | majority |" in printed
    assert record["dataset_fingerprint"] == "0" * 16 and record["kept_steps"] <= 6 == len(record["steps"])
    assert all(set(m) >= {"checkpoint", "weight", "ratio", "model", "input_scale", "val_score"} for m in record["members"])

    assert main(["compare", str(grid)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| grid ensemble |"))
    assert f"| {len(record['members'])} of {record['candidates']} |" in row
    assert f"| {record['test']['ensemble']['metrics']['map']:.3f} |" in row

    # The notebook's way, into a folder of its own; the same choice (validation alone chose it).
    again = Results.of(grid).ensemble(size=6, out=grid.parent / "mine", bootstrap=0)
    assert again["members"] == record["members"] and (grid.parent / "mine" / ENSEMBLE_FILE).is_file()
    # An ensemble's folder is replaced by another choice.
    assert main(["ensemble", str(grid), "--size", "1", "--bootstrap", "0"]) == 0
    assert len(json.loads((grid / "ensemble" / ENSEMBLE_FILE).read_text())["members"]) == 1


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def refused(argv: list, capsys) -> str:
    """The command line exits 2 with one line on stderr and nothing on stdout; that line."""
    assert main([str(a) for a in argv]) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1 and printed.err.startswith("tune-genres: error: ")
    return printed.err.removeprefix("tune-genres: error: ").rstrip("\n")


def test_bad_input_is_one_line_and_writes_nothing(grid, tmp_path, capsys):
    write_made_up_predictions(grid, 0)
    other = tmp_path / "other"
    write_made_up_grid(other, [1e-3], [30], ["bce"])
    write_made_up_predictions(other, 0)
    record = json.loads((other / "experiment.json").read_text())
    (other / "experiment.json").write_text(json.dumps({**record, "dataset": "rebuilt", "dataset_fingerprint": "2" * 16}))
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "todo.txt").write_text("mine")
    older = tmp_path / "older"
    write_made_up_grid(older, [1e-3], [30], ["bce"])  # its trials keep no predictions
    before = files_under(tmp_path)

    line = refused(["ensemble", grid, other], capsys)
    assert line == (f"{other}: trained on dataset rebuilt (fingerprint {'2' * 16}), not {grid}'s made-up (fingerprint "
                    f"{'0' * 16}); an ensemble averages one dataset's posters: pass experiments on the same dataset")
    line = refused(["ensemble", older], capsys)
    trial = next(p for p in older.iterdir() if p.is_dir())
    assert line.startswith(f"{trial}: trial {trial.name} keeps no predictions of its chosen weights") and "--name" in line
    assert refused(["ensemble", grid, "--size", "0"], capsys).startswith("--size 0: expected the number of selection steps")
    assert refused(["ensemble", grid, "--out", stranger], capsys) == (
        f"--out {stranger}: holds files that are not an ensemble (todo.txt); name a new or empty folder, or an "
        "ensemble's to replace it")
    assert refused(["ensemble", grid, "--out", stranger / "todo.txt"], capsys).startswith(
        f"--out {stranger / 'todo.txt'}: is a file")
    assert files_under(tmp_path) == before


def test_an_experiment_in_an_object_store_ensembles_as_a_local_copy_does(grid, s3, capsys):
    from tune_genres.results.location import ExperimentLocation

    write_made_up_predictions(grid, 2)
    uri = ExperimentLocation(s3.uri("grid"))
    for path in sorted(p for p in grid.rglob("*") if p.is_file()):
        uri.write_bytes(path.relative_to(grid).as_posix(), path.read_bytes())
    assert main(["ensemble", str(uri), "--size", "5", "--bootstrap", "0"]) == 0
    assert main(["ensemble", str(grid), "--size", "5", "--bootstrap", "0"]) == 0
    capsys.readouterr()
    remote = uri.join("ensemble").read_json(ENSEMBLE_FILE, "")
    local = json.loads((grid / "ensemble" / ENSEMBLE_FILE).read_text())
    assert remote["experiments"] == [str(uri)] and uri.is_file("ensemble/" + PAGE)
    assert [(m["trial"], m["weight"]) for m in remote["members"]] == [(m["trial"], m["weight"]) for m in local["members"]]
    assert remote["test"] == local["test"]
    assert main(["compare", str(uri)]) == 0
    assert any(line.startswith("| grid ensemble |") for line in capsys.readouterr().out.splitlines())
    for credential in (s3.server.secret, s3.server.access_key):
        assert credential not in json.dumps(remote)


def test_a_record_that_missed_its_predictions_finds_them_in_its_last_checkpoint(grid):
    # A driver that died between the trial's last checkpoint and copying its predictions beside the record.
    write_made_up_predictions(grid, 0)
    trial = sorted(p for p in grid.iterdir() if p.is_dir())[0]
    (trial / "checkpoint_000004").mkdir()
    (trial / PREDICTIONS_FILE).rename(trial / "checkpoint_000004" / PREDICTIONS_FILE)
    record = json.loads((trial / "trial.json").read_text())
    record.update(predictions=None, checkpoint=str(trial / "checkpoint_000004"))
    (trial / "trial.json").write_text(json.dumps(record))
    assert choose_ensemble([grid], size=3, resamples=0)["candidates"] == 6


def test_trials_of_another_loss_are_left_out_and_said_so(tmp_path):
    # Softmax probabilities share one unit, sigmoid ones do not: averaging them would mean nothing.
    exp = tmp_path / "losses"
    write_made_up_grid(exp, [1e-3, 1e-4], [30], ["bce", "cce"])
    write_made_up_predictions(exp, 0)
    record = choose_ensemble([exp], size=4, resamples=0)
    assert record["candidates"] == 2 and {m["trial"].rsplit("=", 1)[1] for m in record["members"]} == {record["loss"]}
    other = {"bce": "cce", "cce": "bce"}[record["loss"]]
    assert f"2 trials trained with loss {other} left out (their probabilities mean something else than " in record["notes"][0]
