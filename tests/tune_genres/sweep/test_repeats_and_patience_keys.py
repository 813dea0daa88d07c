"""[search] repeats and [scheduler] patience in a sweep file: what they mean for the trials, and
that sweeps without them keep their fingerprints (an experiment started before them resumes)."""

from __future__ import annotations

from tune_genres.sweep.driver import param_space
from tune_genres.sweep.search import searched_space, tune_num_samples
from tune_genres.sweep.sweep_file import Sweep

GRID = {"lr": [1e-3, 1e-4], "ratio": [30]}
SPACE = {"lr": {"loguniform": [1e-4, 1e-2]}, "ratio": [30]}


def test_repeats_on_a_grid_mean_what_num_samples_mean():
    by_repeats = Sweep.from_dict({"grid": GRID, "train": {"seed": 7}, "search": {"repeats": 3}}, name="x")
    by_samples = Sweep.from_dict({"grid": GRID, "train": {"seed": 7}, "search": {"num_samples": 3}}, name="x")
    assert by_repeats.repeats == by_samples.repeats == 3 and by_repeats.trial_count == by_samples.trial_count == 6
    assert searched_space(by_repeats) == searched_space(by_samples)
    assert searched_space(by_repeats)["seed"] == {"grid_search": [7, 8, 9]} and tune_num_samples(by_repeats) == 1
    assert by_repeats.swept_keys() == by_samples.swept_keys()


def test_a_searchs_repeats_multiply_its_draws_and_name_their_seed():
    sweep = Sweep.from_dict({"space": SPACE, "train": {"seed": 4},
                             "search": {"algorithm": "random", "num_samples": 5, "repeats": 2}}, name="x")
    assert sweep.trial_count == tune_num_samples(sweep) == 10
    assert "seed" in sweep.swept_keys() and sweep.trial_values()["seed"] == [4, 5]
    assert searched_space(sweep)["seed"] == 4  # the repeater sets each repeat's seed (repeated_search.py)


def test_patience_reaches_the_trials_only_when_set():
    base = {"grid": GRID, "train": {"epochs": 10}}
    assert "patience" not in param_space(Sweep.from_dict(base, name="x"))
    patient = Sweep.from_dict({**base, "scheduler": {"patience": 3}}, name="x")
    assert param_space(patient)["patience"] == 3 and patient.scheduler["type"] == "none"
    with_asha = Sweep.from_dict({**base, "scheduler": {"type": "asha", "grace_period": 2, "patience": 3}}, name="x")
    assert param_space(with_asha)["patience"] == 3 and param_space(with_asha)["checkpoint_epochs"] == [2, 6]


def test_sweeps_without_the_new_keys_keep_their_fingerprints_and_the_keys_change_them():
    content = {"space": SPACE, "search": {"algorithm": "tpe", "num_samples": 4},
               "scheduler": {"type": "asha", "grace_period": 1}, "train": {"epochs": 4}}
    # As computed before repeats and patience existed (commit c81ceee).
    assert Sweep.from_dict(content, name="x").fingerprint == "7501e72716a25012"
    explicit = {**content, "search": {**content["search"], "repeats": 1}}
    assert Sweep.from_dict(explicit, name="x").fingerprint == "7501e72716a25012"
    patient = {**content, "scheduler": {**content["scheduler"], "patience": 2}}
    assert Sweep.from_dict(patient, name="x").fingerprint != "7501e72716a25012"
    without_asha = {**content, "scheduler": {}}  # ASHA cuts no repeats (refused beside them)
    repeated = {**without_asha, "search": {**content["search"], "repeats": 2}}
    assert Sweep.from_dict(repeated, name="x").fingerprint != Sweep.from_dict(without_asha, name="x").fingerprint


def test_a_trial_its_patience_ended_reaches_optuna_as_complete_not_pruned():
    from optuna.trial import TrialState

    from tune_genres.sweep.search import search_algorithm
    from tune_genres.sweep.search_space import to_tune

    sweep = Sweep.from_dict({"space": SPACE, "train": {"epochs": 8}, "search": {"algorithm": "tpe", "num_samples": 1},
                             "scheduler": {"patience": 2}}, name="x")
    searcher = search_algorithm(sweep, 0)
    searcher.set_search_properties("best_val_map", "max", {"lr": to_tune(sweep.distributions["lr"])})
    searcher.suggest("t")
    searcher.on_trial_complete("t", {"best_val_map": 0.4, "epoch": 3, "config/epochs": 8, "stopped_on_plateau": True})
    (trial,) = searcher._ot_study.trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.4
