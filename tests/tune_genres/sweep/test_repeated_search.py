"""[search] repeats through the searcher, without training: each drawn configuration goes to K
trials with seeds train.seed + 0..K-1, and the searcher (Optuna's study) hears their mean once all
K have ended; the groups survive Tune's save and restore (a --resume)."""

from __future__ import annotations

import pytest

from tune_genres.sweep.repeated_search import SeedRepeater
from tune_genres.sweep.search import search_algorithm, searched_space, searcher_metric, tune_num_samples
from tune_genres.sweep.sweep_file import Sweep

SPACE = {"lr": {"loguniform": [1e-5, 1e-2]}, "ratio": [30, 58]}


def repeated(algorithm: str, repeats: int = 3, num_samples: int = 2, seed: int = 0) -> Sweep:
    return Sweep.from_dict({"space": SPACE, "train": {"seed": 10},
                            "search": {"algorithm": algorithm, "num_samples": num_samples, "repeats": repeats,
                                       "seed": seed}})


def searcher_of(sweep: Sweep, max_concurrent: int = 0):
    searcher = search_algorithm(sweep, max_concurrent)
    searcher.set_search_properties(None, None, searched_space(sweep))
    return searcher


def study(searcher):
    while not hasattr(searcher, "_ot_study"):
        searcher = searcher.searcher
    return searcher._ot_study


@pytest.mark.parametrize("algorithm", ["tpe", "random"])
def test_each_configuration_goes_to_k_seeds_and_the_searcher_hears_their_mean(algorithm):
    from optuna.trial import TrialState

    sweep = repeated(algorithm)
    assert sweep.trial_count == tune_num_samples(sweep) == 6 and sweep.repeats == 3
    searcher = searcher_of(sweep)
    assert isinstance(searcher, SeedRepeater)
    metric, _ = searcher_metric(sweep)
    configs = [searcher.suggest(f"t{i}") for i in range(3)]
    assert [c["seed"] for c in configs] == [10, 11, 12] and "__trial_index__" not in configs[0]
    assert all({k: c[k] for k in SPACE} == {k: configs[0][k] for k in SPACE} for c in configs)
    for i, value in enumerate((0.2, 0.5)):
        searcher.on_trial_complete(f"t{i}", {metric: value})
    assert study(searcher).trials[0].state == TrialState.RUNNING  # one repeat still training
    searcher.on_trial_complete("t2", {metric: 0.8})
    first = study(searcher).trials[0]
    assert first.state == TrialState.COMPLETE and first.value == pytest.approx(0.5)
    second = searcher.suggest("t3")
    assert second["seed"] == 10 and second["lr"] != configs[0]["lr"]
    assert len(study(searcher).trials) == 2  # one Optuna trial per configuration, not per seed


def test_random_with_repeats_draws_the_same_configurations_for_the_same_seed():
    def draws(seed):
        searcher = searcher_of(repeated("random", repeats=2, seed=seed))
        return [searcher.suggest(f"t{i}") for i in range(2)]

    assert draws(1) == draws(1) != draws(2)


def test_max_concurrent_counts_trials_each_repeat_one():
    searcher = searcher_of(repeated("tpe"), max_concurrent=2)
    assert [searcher.suggest(f"t{i}") is None for i in range(3)] == [False, False, True]


def test_a_restored_repeater_knows_its_groups_and_tells_the_mean(tmp_path):
    from optuna.trial import TrialState

    sweep = repeated("tpe", repeats=2)
    searcher = searcher_of(sweep)
    metric, _ = searcher_metric(sweep)
    first = searcher.suggest("t0")
    searcher.suggest("t1")
    searcher.on_trial_complete("t0", {metric: 0.3})
    searcher.save(str(tmp_path / "searcher.pkl"))

    restored = searcher_of(sweep)  # as --resume builds it, then Tune restores its saved state
    restored.restore(str(tmp_path / "searcher.pkl"))
    restored.on_trial_complete("t1", {metric: 0.5})
    done = study(restored).trials[0]
    assert done.state == TrialState.COMPLETE and done.value == pytest.approx(0.4) and done.params["lr"] == first["lr"]
    assert restored.suggest("t2")["seed"] == 10  # the next configuration's first repeat
