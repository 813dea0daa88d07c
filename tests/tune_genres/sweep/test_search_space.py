"""[space] and [search] in sweep files, Sweep.from_dict and --set: what each accepts, and every
mistake as one line naming the file (or the dict) and the key, before Ray starts."""

from __future__ import annotations

import tomllib

import pytest

from dataset_builder.errors import BadInput
from tune_genres.sweep.search_space import Distribution
from support.sweeps import sweep_file_error
from tune_genres.sweep.sweep_file import Sweep, load_sweep

SPACE = """
[space]
lr = {loguniform = [1e-5, 1e-2]}
dropout = {uniform = [0.1, 0.7]}
ratio = {choice = [30, 44, 58]}
batch_size = {choice = [16, 32, 64]}
epochs = {randint = [10, 50]}
[search]
algorithm = "tpe"
num_samples = 20
seed = 7
max_concurrent = 2
[scheduler]
type = "asha"
"""


def test_a_space_holds_distributions_and_choices(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SPACE)
    sweep = load_sweep(path)
    assert sweep.distributions == {"lr": Distribution("loguniform", 1e-5, 1e-2), "dropout": Distribution("uniform", 0.1, 0.7),
                                   "epochs": Distribution("randint", 10, 50)}
    assert sweep.grid["ratio"] == [30, 44, 58] and sweep.grid["batch_size"] == [16, 32, 64] and sweep.grid["loss"] == ["cce"]
    assert sweep.ratios == [30, 44, 58] and sweep.trial_count == 20 and sweep.max_epochs == 50
    assert "epochs" not in sweep.train  # it varies: a hyperparameter, not a setting
    assert sweep.search == {"algorithm": "tpe", "num_samples": 20, "seed": 7, "max_concurrent": 2, "repeats": 1,
                            "warm_start": []}
    assert set(sweep.swept_keys()) == {"lr", "dropout", "ratio", "batch_size", "epochs"}


def test_grid_stays_and_a_grid_repeats_num_samples_times(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[grid]\nlr = [1e-3, 1e-4]\nratio = [30, 58]\nepochs = [3]\n[search]\nnum_samples = 3\n")
    sweep = load_sweep(path)
    assert sweep.algorithm == "grid" and sweep.trial_count == 12
    assert sweep.train["epochs"] == 3 and "epochs" not in sweep.grid  # one value: a setting
    path.write_text("[space]\nlr = [1e-3, 1e-4]\nratio = [30]\nepochs = [3, 6]\n")
    sweep = load_sweep(path)
    assert sweep.grid["epochs"] == [3, 6] and sweep.max_epochs == 6 and sweep.trial_count == 4


def test_search_changes_the_fingerprint_a_grid_file_keeps_its_own(tmp_path):
    grid = "[grid]\nlr = [1e-3]\nratio = [30]\n"
    (tmp_path / "a.toml").write_text(grid)
    (tmp_path / "b.toml").write_text(grid.replace("grid", "space"))
    (tmp_path / "c.toml").write_text(grid + "[search]\nalgorithm = 'random'\n")
    (tmp_path / "d.toml").write_text(grid + "[search]\nalgorithm = 'random'\nseed = 1\n")
    a, b, c, d = (load_sweep(tmp_path / f"{n}.toml").fingerprint for n in "abcd")
    assert a == b  # [space] with lists is the same sweep as [grid]
    assert len({a, c, d}) == 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("[space]\nlr = {loguniform = [1e-5, 1e-2]}\nratios = [30]\n", "unknown key space.ratios (did you mean 'ratio'?)"),
        ("[space]\nlr = {logunifrom = [1e-5, 1e-2]}\nratio = [30]\n", "space.lr: expected a list or one of {loguniform"),
        ("[space]\nlr = {loguniform = [1e-2, 1e-5]}\nratio = [30]\n[search]\nalgorithm='tpe'\n", "space.lr: low 0.01 must be below high 1e-05"),
        ("[space]\nlr = {loguniform = [1e-3, 1e-3]}\nratio = [30]\n[search]\nalgorithm='tpe'\n", "space.lr: low 0.001 must be below high"),
        ("[space]\ndropout = {loguniform = [0.0, 0.5]}\nlr = [1e-3]\nratio = [30]\n[search]\nalgorithm='tpe'\n", "space.dropout: loguniform needs low > 0"),
        ("[space]\nlr = {loguniform = [-1e-3, 1e-2]}\nratio = [30]\n", "space.lr.loguniform[0]: -0.001 is out of range (> 0)"),
        ("[space]\nlr = {uniform = [1e-3]}\nratio = [30]\n", "space.lr: uniform takes [low, high]"),
        ("[space]\nlr = [1e-3]\nratio = {uniform = [30, 58]}\n", "space.ratio: uniform makes no sense for ratio: give a list"),
        ("[space]\nlr = [1e-3]\nratio = [30]\nloss = {randint = [0, 1]}\n", "space.loss: randint makes no sense for loss"),
        ("[space]\nlr = {randint = [1, 2]}\nratio = [30]\n", "space.lr: randint draws integers; lr is a number"),
        ("[space]\nlr = [1e-3]\nratio = [30]\nbatch_size = {uniform = [8, 64]}\n", "space.batch_size: uniform draws numbers; batch_size is an integer"),
        ("[space]\nlr = [1e-3]\nratio = [30]\nepochs = {randint = [0, 5]}\n", "space.epochs.randint[0]: 0 is out of range (>= 1)"),
        ("[space]\nlr = {loguniform = [1e-5, 1e-2]}\nratio = [30]\n", "space.lr is a distribution, which a grid cannot enumerate"),
        ("[grid]\nlr = [1e-3]\nratio = [30]\n[space]\ndropout = [0.5]\n", "both [grid] and [space]"),
        ("[grid]\nlr = {loguniform = [1e-5, 1e-2]}\nratio = [30]\n", "grid.lr: expected a non-empty list"),
        ("[space]\nlr = [1e-3]\nratio = [30]\n[search]\nalgorithm = 'bayes'\n", "search.algorithm: unknown 'bayes' (valid: grid, random, tpe)"),
        ("[space]\nlr = [1e-3]\nratio = [30]\n[search]\nnum_sample = 3\n", "unknown key search.num_sample (did you mean 'num_samples'?)"),
        ("[space]\nlr = [1e-3]\nratio = [30]\n[search]\nnum_samples = 0\n", "search.num_samples: 0 is out of range (>= 1)"),
        ("[space]\nlr = [1e-3]\nratio = [30]\n[train]\nepochs = 5\n[search]\nseed = -1\n", "search.seed: -1 is out of range (>= 0)"),
        ("[space]\nlr = [1e-3]\nratio = [30]\nepochs = [5]\n[train]\nepochs = 5\n", "epochs is set in both [space] and [train]"),
    ],
)
def test_each_space_mistake_is_one_line_naming_the_file_and_key(tmp_path, text, message):
    assert message in sweep_file_error(tmp_path, text)


def test_from_dict_validates_as_a_file_does():
    sweep = Sweep.from_dict(tomllib.loads(SPACE))
    assert sweep.distributions["lr"] == Distribution("loguniform", 1e-5, 1e-2) and sweep.name.startswith("sweep-")
    assert tomllib.loads(sweep.text) == tomllib.loads(SPACE)  # the experiment's copy of it
    with pytest.raises(BadInput, match=r"^<sweep>: unknown key train.epoch \(did you mean 'epochs'\?\)$"):
        Sweep.from_dict({"grid": {"lr": [1e-3], "ratio": [30]}, "train": {"epoch": 3}})
    with pytest.raises(BadInput, match=r"<sweep>: space.lr: low 0.01 must be below high"):
        Sweep.from_dict({"space": {"lr": {"loguniform": [1e-2, 1e-5]}, "ratio": [30]}, "search": {"algorithm": "tpe"}})


def test_set_overrides_a_key_in_toml_syntax_and_the_copy_holds_the_merge(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("# mine\n[grid]\nlr = [1e-3, 1e-4]\nratio = [30]\n[train]\nepochs = 50\n")
    plain = load_sweep(path)
    assert plain.text == path.read_text()
    sweep = load_sweep(path, ["train.epochs=2", "grid.loss=['bce']", "name='short'"])
    assert sweep.train["epochs"] == 2 and sweep.grid["loss"] == ["bce"] and sweep.name == "short"
    assert sweep.fingerprint != plain.fingerprint
    copy = tomllib.loads(sweep.text)
    assert copy["train"]["epochs"] == 2 and copy["grid"] == {"lr": [1e-3, 1e-4], "ratio": [30], "loss": ["bce"]}
    path.write_text("[space]\nlr = [1e-3]\nratio = [30]\n[search]\nalgorithm = 'tpe'\n")
    sweep = load_sweep(path, ["space.lr={loguniform=[1e-4,1e-2]}"])
    assert sweep.distributions["lr"] == Distribution("loguniform", 1e-4, 1e-2)
    # A bare word is a string, as a shell user types it; the same word quoted is the same sweep.
    bare = load_sweep(path, ["train.loss=bce", "search.algorithm=random"])
    assert tomllib.loads(bare.text)["train"]["loss"] == "bce" and bare.search["algorithm"] == "random"
    assert bare.fingerprint == load_sweep(path, ["train.loss='bce'", "search.algorithm='random'"]).fingerprint


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs", "--set train.epochs: expected KEY=VALUE"),
        ("train.epochs=[1,", "--set train.epochs=[1,: '[1,' is not a TOML value"),
        ("train.epochs=two", "train.epochs: expected an integer"),
        ("epochs=2", "--set epochs=2: expected SECTION.KEY"),
        ("train.epoch=2", "unknown key train.epoch (did you mean 'epochs'?)"),
        ("train.epochs=0", "train.epochs: 0 is out of range (>= 1)"),
        ("grid.lr={loguniform=[1e-4,1e-2]}", "grid.lr: expected a non-empty list"),
    ],
)
def test_a_bad_set_is_one_line(tmp_path, override, message):
    path = tmp_path / "s.toml"
    path.write_text("[grid]\nlr = [1e-3]\nratio = [30]\n")
    with pytest.raises(BadInput) as caught:
        load_sweep(path, [override])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_refuses_a_bad_set_with_exit_2_before_ray_starts(tmp_path, capsys):
    from tune_genres.cli import main

    path = tmp_path / "s.toml"
    path.write_text("[grid]\nlr = [1e-3]\nratio = [30]\n")
    code = main(["sweep", str(path), "--dataset", str(tmp_path / "nowhere"), "--set", "train.epochs=2",
                 "--set", "space.lr={loguniform=[1e-4,1e-2]}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith(f"{path}: space.lr is a distribution, which a grid cannot enumerate: set [search] "
                                      'algorithm = "random" or "tpe" (--set search.algorithm=random), or give a list')
    assert len(err.splitlines()) == 1 and not (tmp_path / "experiments").exists()
