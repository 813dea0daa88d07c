"""The search algorithms as the driver builds them, drawing configurations without running a trial:
a seed fixes the sequence, lists are choices, TPE optimises the select_metric, names stay unique."""

from __future__ import annotations

import pytest

from tune_genres.sweep.driver import param_space, scheduler_milestones
from tune_genres.sweep.naming import TrialNamer, trial_name
from tune_genres.sweep.search import search_algorithm, searched_space, searcher_metric
from tune_genres.sweep.sweep_file import Sweep

SPACE = {"lr": {"loguniform": [1e-5, 1e-2]}, "ratio": [30, 58], "dropout": {"uniform": [0.1, 0.7]},
         "epochs": {"randint": [2, 5]}}


def sweep(algorithm: str, seed: int = 0, **run) -> Sweep:
    return Sweep.from_dict({"space": SPACE, "search": {"algorithm": algorithm, "num_samples": 6, "seed": seed}, "run": run})


def draw_random(s: Sweep) -> list[dict]:
    from ray.tune.experiment import Experiment

    algorithm = search_algorithm(s, 0)
    algorithm.add_configurations(Experiment("x", run=lambda config: None, config=param_space(s), num_samples=6))
    return [algorithm.next_trial().config for _ in range(6)]


def draw_tpe(s: Sweep, scores=None) -> list[dict]:
    algorithm = search_algorithm(s, 0)
    algorithm.set_search_properties(None, None, searched_space(s))
    metric, _ = searcher_metric(s)
    configs = []
    for i in range(6):
        configs.append(algorithm.suggest(f"t{i}"))
        algorithm.on_trial_complete(f"t{i}", {metric: (scores or (lambda c: c["lr"]))(configs[-1])})
    return configs


def test_random_draws_the_same_configurations_for_the_same_seed():
    first, again, other = draw_random(sweep("random", 1)), draw_random(sweep("random", 1)), draw_random(sweep("random", 2))
    assert first == again and first != other
    assert all(1e-5 <= c["lr"] <= 1e-2 and c["ratio"] in (30, 58) and 0.1 <= c["dropout"] <= 0.7 and 2 <= c["epochs"] <= 5
               for c in first)
    assert all(isinstance(c["epochs"], int) for c in first)
    assert first[0]["select_metric"] == "val_map" and first[0]["beta1"] == 0.9  # fixed settings ride along
    assert len({c["lr"] for c in first}) == 6


def test_tpe_draws_the_same_sequence_for_the_same_seed_and_both_ends_of_randint():
    first, again, other = draw_tpe(sweep("tpe", 1)), draw_tpe(sweep("tpe", 1)), draw_tpe(sweep("tpe", 2))
    assert first == again and first != other
    assert all(c["ratio"] in (30, 58) and 2 <= c["epochs"] <= 5 and 1e-5 <= c["lr"] <= 1e-2 for c in first)


@pytest.mark.parametrize("select, expected", [("val_map", ("best_val_map", "max")), ("val_loss", ("best_val_loss", "min"))])
def test_tpe_optimises_each_trials_best_select_metric_in_its_direction(select, expected):
    s = sweep("tpe", select_metric=select)
    assert searcher_metric(s) == expected
    searcher = search_algorithm(s, 0)
    assert (searcher.metric, searcher.mode) == expected


def test_max_concurrent_limits_tpe_and_random():
    from ray.tune.search import ConcurrencyLimiter

    limited = search_algorithm(sweep("tpe"), 2)
    assert isinstance(limited, ConcurrencyLimiter) and limited.max_concurrent == 2
    assert search_algorithm(sweep("random"), 3).max_concurrent == 3
    assert search_algorithm(Sweep.from_dict({"grid": {"lr": [1e-3], "ratio": [30]}}), 0) is None


def test_asha_with_sampled_epochs_stops_at_the_most_a_trial_may_train():
    s = Sweep.from_dict({"space": {**SPACE, "epochs": {"randint": [10, 50]}}, "search": {"algorithm": "tpe"},
                         "scheduler": {"type": "asha", "grace_period": 5, "reduction_factor": 3}})
    assert scheduler_milestones(s) == [5, 15, 45]


def test_sampled_trial_names_are_unique_short_and_readable():
    configs = draw_random(sweep("random", 1))
    swept = sweep("random").swept_keys()
    names = [trial_name(c, swept, i) for i, c in enumerate(configs)]
    assert len(set(names)) == 6 and all(len(n) < 60 for n in names)
    c = configs[0]
    parts = dict(part.split("=") for part in names[0].split("_", 1)[1].split(","))
    assert names[0].startswith("0000_lr=") and parts["r"] == str(c["ratio"]) and parts["epochs"] == str(c["epochs"])
    for short, key in (("lr", "lr"), ("do", "dropout")):  # drawn numbers rounded to 3 significant digits
        assert len(parts[short].split("e")[0].replace(".", "").lstrip("0")) <= 3
        assert abs(float(parts[short]) - c[key]) <= 5e-3 * c[key]
    namer = TrialNamer(swept, sampled=True, start=5)
    trials = [type("Trial", (), {"trial_id": f"id{i}", "config": c}) for i, c in enumerate(configs[:2])]
    import copy

    assert copy.deepcopy(namer) is namer  # Tune copies the spec per trial; the count must be shared
    assert [namer(t) for t in trials + trials][:3] == [f"0005_{names[0][5:]}", f"0006_{names[1][5:]}", f"0005_{names[0][5:]}"]
    # a grid keeps its names exactly: a resumed old experiment finds its trials
    assert trial_name({"lr": 1e-3, "ratio": 58, "loss": "bce"}, ["lr", "ratio"]) == "lr=1e-3,r=58"


def test_hparams_gives_drawn_values_an_interval_domain_and_lists_a_discrete_one():
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
    from torch.utils.tensorboard.summary import hparams

    from tune_genres.sweep.tensorboard import with_intervals

    s = sweep("tpe")
    experiment, _, _ = hparams({"lr": 1e-5, "dropout": 0.1, "ratio": 30}, {"best/val_map": 0.0},
                               hparam_domain_discrete={"ratio": [30, 58]})
    with_intervals(experiment, s.distributions)
    infos = {i.name: i for i in HParamsPluginData.FromString(experiment.value[0].metadata.plugin_data.content).experiment.hparam_infos}
    assert (infos["lr"].domain_interval.min_value, infos["lr"].domain_interval.max_value) == (1e-5, 1e-2)
    assert (infos["dropout"].domain_interval.min_value, infos["dropout"].domain_interval.max_value) == (0.1, 0.7)
    assert [v.number_value for v in infos["ratio"].domain_discrete.values] == [30, 58]


def repeated_grid(num_samples: int = 3) -> Sweep:
    return Sweep.from_dict({"grid": {"lr": [1e-3, 1e-4], "ratio": [30]}, "train": {"seed": 7},
                            "search": {"num_samples": num_samples}})


def test_a_repeated_grid_gives_each_repeat_its_own_seed_and_tune_one_pass():
    from tune_genres.sweep.search import tune_num_samples

    s = repeated_grid()
    space = searched_space(s)
    assert space["seed"] == {"grid_search": [7, 8, 9]} and space["lr"] == {"grid_search": [1e-3, 1e-4]}
    assert tune_num_samples(s) == 1 and s.trial_count == 6
    assert tune_num_samples(sweep("random")) == 6  # a search's num_samples stay its draws
    assert searched_space(repeated_grid(num_samples=1))["seed"] == 7  # no repeats: one seed, as before


def test_a_repeated_grids_trials_are_named_by_their_values_and_seed():
    s = repeated_grid()
    seeds, lrs = searched_space(s)["seed"]["grid_search"], searched_space(s)["lr"]["grid_search"]
    configs = [{"lr": lr, "ratio": 30, "seed": seed} for lr in lrs for seed in seeds]
    namer = TrialNamer(s.swept_keys(), sampled=False)
    names = [namer(type("Trial", (), {"trial_id": f"id{i}", "config": c})) for i, c in enumerate(configs)]
    assert names[:3] == ["lr=1e-3,r=30,seed=7", "lr=1e-3,r=30,seed=8", "lr=1e-3,r=30,seed=9"]
    assert len(set(names)) == 6


def test_a_grid_that_lists_seeds_cannot_be_repeated_too(tmp_path):
    from support.sweeps import sweep_file_error

    text = "[grid]\nlr = [1e-3]\nratio = [30]\nseed = [0, 1]\n[search]\nnum_samples = 3\n"
    assert sweep_file_error(tmp_path, text).endswith(
        "bad.toml: [grid] seed and [search] num_samples both repeat the grid; keep one")
    one_seed = Sweep.from_dict({"grid": {"lr": [1e-3], "ratio": [30], "seed": [4]}, "search": {"num_samples": 3}})
    assert one_seed.trial_values()["seed"] == [4, 5, 6]  # one listed seed is the first repeat's


@pytest.mark.parametrize("last_epoch_as_a_result", [True, False], ids=["every-epoch", "asha-stop"])
def test_a_trial_asha_stopped_goes_to_optuna_as_pruned_with_its_epochs_a_finished_one_as_complete(last_epoch_as_a_result):
    """Tune hands the searcher no on_trial_result for the epoch where ASHA stops a trial (at a rung,
    or at the last epoch: "asha-stop"), only its end: that epoch is the trial's last intermediate value all the same."""
    from optuna.trial import TrialState

    from tune_genres.sweep.search_space import to_tune

    sweep = Sweep.from_dict({"space": {"lr": {"loguniform": [1e-4, 1e-2]}, "ratio": [30]}, "train": {"epochs": 8},
                             "search": {"algorithm": "tpe", "num_samples": 2},
                             "scheduler": {"type": "asha", "grace_period": 1}})
    searcher = search_algorithm(sweep, 0)
    searcher.set_search_properties("best_val_map", "max", {"lr": to_tune(sweep.distributions["lr"])})
    for trial_id, epochs_done in (("cut", 1), ("whole", 8)):
        searcher.suggest(trial_id)
        for epoch in range(1, epochs_done + last_epoch_as_a_result):  # as Tune hands them: flattened rows
            searcher.on_trial_result(trial_id, {"best_val_map": 0.3 + epoch / 100, "training_iteration": epoch})
        searcher.on_trial_complete(trial_id, {"best_val_map": 0.3 + epochs_done / 100, "epoch": epochs_done,
                                              "config/epochs": 8, "training_iteration": epochs_done})
    cut, whole = searcher._ot_study.trials
    assert cut.state == TrialState.PRUNED and cut.intermediate_values == {1: 0.31} and cut.value == 0.31
    assert whole.state == TrialState.COMPLETE and whole.value == 0.38
    assert whole.intermediate_values == {epoch: 0.3 + epoch / 100 for epoch in range(1, 9)}
