"""Tiny real sweeps on a local Ray (2 CPUs): a random search whose configurations each train with 2
seeds, reported as mean ± sd per configuration; and trials that stop on a plateau, scored on test
by themselves, which the report counts."""

from __future__ import annotations

import json

import pytest

from support.sweeps import read_results
from support.tiny_dataset import write_tiny_dataset
from tune_genres.cli import main


def sweep(tmp_path, text: str, *sets: str):
    dataset = write_tiny_dataset(tmp_path / "ds", count=40)
    path = tmp_path / "s.toml"
    path.write_text(text)
    argv = ["sweep", str(path), "--dataset", str(dataset), "--storage", str(tmp_path / "exps"), "--quiet"]
    assert main(argv + [arg for s in sets for arg in ("--set", s)]) == 0
    exp = tmp_path / "exps" / "s"
    return exp, read_results(exp), (exp / "results.md").read_text()


def test_a_random_search_with_repeats_trains_each_draw_with_two_seeds_and_reports_their_mean(ray_local, tmp_path):
    exp, rows, markdown = sweep(
        tmp_path, "name = 's'\n[space]\nlr = {loguniform = [1e-4, 1e-2]}\nratio = [30]\n"
                  "[search]\nalgorithm = 'random'\nnum_samples = 2\nseed = 3\n"
                  "[train]\nloss = 'bce'\nepochs = 2\nbatch_size = 8\nseed = 5\n", "search.repeats=2")

    assert len(rows) == 4 and all(",seed=" in name for name in rows)
    configurations = {}
    for name, row in rows.items():
        params = json.loads((exp / name / "params.json").read_text())
        configurations.setdefault(params["lr"], []).append(params["seed"])
        assert row["repeats"] == "2" and row["test_map"]
    assert len(configurations) == 2 and all(sorted(seeds) == [5, 6] for seeds in configurations.values())

    assert "Seeds repeat each of the 2 configurations 2 times (seeds 5, 6)" in markdown
    assert "## Configurations over their seeds, best mean val_map first" in markdown
    by_configuration = {}
    for row in rows.values():
        by_configuration.setdefault(row["configuration"], []).append(row)
    for name, repeats in by_configuration.items():
        values = [float(r["val_map"]) for r in repeats]
        mean, sd = sum(values) / 2, abs(values[0] - values[1]) / 2 ** 0.5
        assert float(repeats[0]["mean_val_map"]) == pytest.approx(mean)
        assert f"| {name} | 5, 6 | {mean:.3f} ± {sd:.3f} (2) |" in markdown
    # The chosen configuration's test score: the mean of its two trials' single scorings.
    best = max(by_configuration.values(), key=lambda repeats: float(repeats[0]["mean_val_map"]))
    test_mean = sum(float(r["test_map"]) for r in best) / 2
    assert "Best configuration, chosen on validation by its mean **val_map** (over its 2 repeats, seeds 5, 6)" in markdown
    assert f"test_map {test_mean:.3f} ± " in markdown
    # compare's headline: the configuration its mean chose, over its 2 seeds, and that test mean
    assert main(["compare", str(exp), "--out", str(tmp_path / "page")]) == 0
    page = (tmp_path / "page" / "comparison.md").read_text()
    assert f"{best[0]['configuration']} (2 seeds)" in page and f"{test_mean:.3f} ± " in page


def test_trials_that_stop_on_a_plateau_score_test_themselves_and_the_report_counts_them(ray_local, tmp_path):
    # A learning rate too small to move a float32 weight: every epoch scores as the first, so with a
    # patience of 2 both trials stop at epoch 3 of 5.
    exp, rows, markdown = sweep(
        tmp_path, "name = 's'\n[grid]\nlr = [1e-12, 2e-12]\nratio = [30]\n"
                  "[train]\nloss = 'bce'\nepochs = 5\nbatch_size = 8\ncheckpoint_every = 5\n"
                  "[scheduler]\npatience = 2\n")

    assert {row["status"] for row in rows.values()} == {"stopped on plateau"}
    for name, row in rows.items():
        assert (row["epochs_done"], row["best_epoch"], row["patience"]) == ("3", "1", "2")
        assert row["test_map"] and row["test_scored_by"] == "trial"  # scored once, by the trial, at its stop
        record = json.loads((exp / name / "trial.json").read_text())
        assert record["status"] == "stopped on plateau" and record["checkpoint"].endswith("checkpoint_000000")
    assert "2 of 2 trials stopped on a plateau (val_map no better for 2 epochs), at epoch 3 (2 trials)" in markdown
