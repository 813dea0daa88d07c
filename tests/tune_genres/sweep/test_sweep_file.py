"""Sweep files: the shipped ones say what they promise, and every mistake is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.sweeps import sweep_file_error
from tune_genres.sweep.sweep_file import load_sweep

SWEEPS = Path(__file__).resolve().parents[3] / "sweeps"


def test_paper_is_the_studys_grid_exactly():
    sweep = load_sweep(SWEEPS / "paper.toml")
    assert sweep.grid["lr"] == [1e-2, 5e-3, 1e-3, 5e-4, 1e-4]
    assert sweep.grid["ratio"] == [30, 44, 58, 72, 86, 100]
    assert sweep.grid["loss"] == ["cce"] and sweep.grid["batch_size"] == [32] and sweep.grid["dropout"] == [0.5]
    assert (sweep.train["epochs"], sweep.train["beta1"], sweep.train["beta2"], sweep.train["eps"]) == (50, 0.9, 0.999, 1e-8)
    assert sweep.trial_count == 30 and sweep.scheduler["type"] == "none"


def test_other_shipped_sweeps():
    assert load_sweep(SWEEPS / "asha.toml").scheduler["type"] == "asha"
    assert load_sweep(SWEEPS / "multilabel.toml").grid["loss"] == ["cce", "bce"]
    search = load_sweep(SWEEPS / "search.toml")
    assert (search.algorithm, search.scheduler["type"], search.trial_count) == ("tpe", "asha", 32)
    assert search.distributions["lr"].kind == "loguniform" and set(search.swept_keys()) == {"lr", "ratio", "dropout", "batch_size", "loss", "augment"}
    assert search.ratios == [30, 44, 58]  # the real posters' built ratios
    transfer = load_sweep(SWEEPS / "transfer.toml")
    assert transfer.grid["model"] == ["efficientnet_lite0"] and transfer.grid["freeze"] == ["backbone"]
    assert transfer.grid["augment"] == ["none"] and transfer.trial_count == 18  # every head on cached features
    heads = load_sweep(SWEEPS / "transfer-random.toml")
    assert (heads.algorithm, heads.trial_count, heads.grid["freeze"]) == ("random", 50, ["backbone"])
    finetune = load_sweep(SWEEPS / "finetune.toml")
    assert (finetune.grid["freeze"], finetune.grid["augment"], finetune.trial_count) == (["none"], ["standard"], 2)
    seeds = load_sweep(SWEEPS / "seeds.toml")
    assert (seeds.grid["seed"], seeds.grid["lr"], seeds.grid["ratio"], seeds.train["epochs"]) == ([0, 1, 2, 3, 4, 5], [5e-4], [30], 30)
    demo = load_sweep(SWEEPS / "demo.toml")
    assert demo.trial_count <= 4 and demo.train["epochs"] <= 10


def test_defaults_are_the_studys_fixed_facts(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[grid]\nlr = [1e-3]\nratio = [30]\n")
    sweep = load_sweep(path)
    assert sweep.grid["loss"] == ["cce"] and sweep.grid["batch_size"] == [32] and sweep.train["epochs"] == 50
    assert sweep.name == "s"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[train]\nepoch = 5\n", "unknown key train.epoch (did you mean 'epochs'?)"),
        ("[grid]\nlr = [1e-3]\nratios = [30]\n", "unknown key grid.ratios (did you mean 'ratio'?)"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[sheduler]\ntype = 'asha'\n", "unknown key 'sheduler' (did you mean 'scheduler'?)"),
        ("[grid]\nlr = ['fast']\nratio = [30]\n", "grid.lr[0]: expected a number, got str 'fast'"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[train]\nepochs = 2.5\n", "train.epochs: expected an integer, got float 2.5"),
        ("[grid]\nlr = [1e-3]\nratio = [0]\n", "grid.ratio[0]: 0 is out of range (>= 1)"),
        ("[grid]\nlr = [1e-3]\nratio = [130]\n", "grid.ratio[0]: 130 is out of range (<= 100)"),
        ("[grid]\nlr = [-1e-3]\nratio = [30]\n", "grid.lr[0]: -0.001 is out of range (> 0)"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\nloss = ['mse']\n", "grid.loss[0]: unknown 'mse' (valid: cce, bce)"),
        ("[grid]\nlr = 1e-3\nratio = [30]\n", "grid.lr: expected a non-empty list"),
        ("[grid]\nratio = [30]\n", "missing key grid.lr"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[resources]\ngpus_per_trial = -1\n", "resources.gpus_per_trial: -1.0 is out of range (>= 0)"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[train]\ndropout = true\n", "train.dropout: expected a number, got True"),
        ("[grid]\nlr = [1e-3, 1e-3]\nratio = [30]\n", "grid.lr: a value is listed twice"),
        ("[grid\nlr = [1e-3]\n", "not valid TOML"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[run]\nreport_metric = 'test_map'\n",
         "run.report_metric is now called run.select_metric"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[run]\nselect_metric = 'test_map'\n",
         "run.select_metric = 'test_map': the test split is never used to choose; use a validation metric such as 'val_map'"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[scheduler]\ntype = 'asha'\nmetric = 'test_loss'\n",
         "scheduler.metric = 'test_loss': the test split is never used to choose"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[run]\nselect_metric = 'val_mAP'\n", "run.select_metric: unknown 'val_mAP' (did you mean 'val_map'?)"),
        # models and how they learn (issue 13)
        ("[grid]\nlr = [1e-3]\nratio = [30]\nmodel = ['resnet81']\n", "grid.model[0]: unknown 'resnet81' (did you mean 'resnet18'?)"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\nmodel = ['minivgg', 'resnet18']\nweights = ['imagenet']\n",
         "weights = \"imagenet\" with model 'minivgg', which has no pretrained weights"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\nmodel = ['resnet18']\n[train]\nfreeze = 'backbone'\n",
         "freeze = \"backbone\" with weights = \"none\" would train a head on a random body; set weights = \"imagenet\""),
        ("[grid]\nlr = [1e-3]\nratio = [30]\nloss = ['cce', 'bce']\n[train]\npos_weight = 'balanced'\n",
         "pos_weight = \"balanced\" weighs bce's per-genre terms, but loss may be cce (loss = ['cce', 'bce'])"),
        ("[space]\nlr = [1e-3]\nratio = [30]\naugment = {uniform = [0, 1]}\n[search]\nalgorithm = 'random'\n",
         "space.augment: uniform makes no sense for augment: give a list"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[train]\ninput_scale = 8\n", "train.input_scale: 8.0 is out of range (<= 4)"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[train]\naugment = 'flp'\n", "train.augment: unknown 'flp' (did you mean 'flip'?)"),
    ],
)
def test_each_mistake_is_a_one_line_error_naming_the_key(tmp_path, text, message):
    assert message in sweep_file_error(tmp_path, text)


def test_select_metric_defaults_to_val_map_and_drives_the_scheduler(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[grid]\nlr = [1e-3]\nratio = [30]\n[scheduler]\ntype = 'asha'\n")
    assert load_sweep(path).run["select_metric"] == "val_map" and load_sweep(path).scheduler["metric"] == "val_map"
    path.write_text("[grid]\nlr = [1e-3]\nratio = [30]\n[scheduler]\ntype = 'asha'\n[run]\nselect_metric = 'val_loss'\n")
    assert load_sweep(path).scheduler["metric"] == "val_loss"


def test_the_sweep_fingerprint_follows_what_is_trained_not_how_it_runs(tmp_path):
    base = "[grid]\nlr = [1e-3]\nratio = [30]\n"
    fingerprints = {}
    for name, text in {"base": base, "renamed": "name = 'other'\n" + base,
                       "resources": base + "[resources]\ncpus_per_trial = 2\n",
                       "epochs": base + "[train]\nepochs = 10\n"}.items():
        (tmp_path / f"{name}.toml").write_text(text)
        fingerprints[name] = load_sweep(tmp_path / f"{name}.toml").fingerprint
    assert fingerprints["base"] == fingerprints["renamed"] == fingerprints["resources"] != fingerprints["epochs"]


def test_set_space_on_a_grid_file_draws_that_key_and_says_how_to_search(tmp_path):
    from dataset_builder.errors import BadInput

    demo = SWEEPS / "demo.toml"
    with pytest.raises(BadInput, match=r"space\.lr is a distribution, which a grid cannot enumerate.*--set search\.algorithm=random"):
        load_sweep(demo, ["space.lr={loguniform=[1e-4,1e-2]}"])
    drawn = load_sweep(demo, ["space.lr={loguniform=[1e-4,1e-2]}", "search.algorithm=random"])
    assert drawn.section == "space" and drawn.distributions["lr"].kind == "loguniform"
    assert drawn.grid["ratio"] == load_sweep(demo).grid["ratio"]  # the file's other lists are kept


def test_asha_that_would_never_cut_is_refused_before_ray(tmp_path):
    with pytest.raises(Exception, match=r"scheduler\.grace_period 5 is past the last epoch \(2\)"):
        load_sweep(SWEEPS / "asha.toml", ["train.epochs=2", "scheduler.grace_period=5"])
    assert load_sweep(SWEEPS / "asha.toml", ["train.epochs=2", "scheduler.grace_period=2"]).max_epochs == 2


def test_a_sweep_from_a_dict_without_a_name_is_a_new_experiment_each_time(monkeypatch):
    from tune_genres.sweep import sweep_file

    grid = {"grid": {"lr": [1e-3], "ratio": [30]}}
    times = iter(["sweep-20261205-101500", "sweep-20261205-101502"])
    monkeypatch.setattr(sweep_file.time, "strftime", lambda _: next(times))
    assert [sweep_file.Sweep.from_dict(grid).name for _ in range(2)] == ["sweep-20261205-101500", "sweep-20261205-101502"]
    assert sweep_file.Sweep.from_dict({**grid, "name": "mine"}).name == "mine"
    assert sweep_file.Sweep.from_dict(grid, name="given").name == "given"
