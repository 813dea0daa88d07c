"""The driver decides a sweep's precision once, for every trial; a trial gets at most one GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dataset_builder.errors import BadInput
from tune_genres.sweep.driver import SweepOptions, resources
from tune_genres.sweep.precision_choice import check_precision, decide_precision
from tune_genres.sweep.sweep_file import load_sweep
from tune_genres.training.precision import native_bf16


def no_cluster() -> list[str]:
    raise AssertionError("the cluster's GPU types were asked for though not needed")


@pytest.mark.parametrize("types, expected", [
    (["H200"], "bf16"),
    (["A10G", "L4"], "bf16"),
    (["A100-80G", "H100"], "bf16"),
    (["V100"], "fp32"),
    (["A10G", "T4"], "fp32"),  # a mixed cluster: one precision for all, the one every GPU has
    (["SOMETHING-NEW"], "fp32"),  # unknown here: fp32, never wrong, and the reason says so
    ([], "fp32"),  # no GPU node up yet
])
def test_auto_on_gpus_follows_every_gpu_type_of_the_cluster(types, expected):
    decision = decide_precision("auto", 0.25, lambda: types)
    assert decision.precision == expected and decision.requested == "auto"
    if expected == "fp32":
        assert "bf16" in decision.why  # says how to get bf16, or why not


def test_auto_on_cpus_follows_the_drivers_cpu_and_an_explicit_value_stands():
    expected = "bf16" if native_bf16(torch.device("cpu")) else "fp32"
    assert decide_precision("auto", 0, no_cluster).precision == expected
    for requested in ("fp32", "tf32", "bf16"):
        assert decide_precision(requested, 1, no_cluster).precision == requested


def test_tf32_for_cpu_trials_is_refused_naming_the_key():
    check_precision("tf32", 0.5, "s.toml: train.precision")
    with pytest.raises(BadInput, match=r"^s.toml: train.precision: 'tf32' is a GPU setting") as caught:
        check_precision("tf32", 0, "s.toml: train.precision")
    assert "\n" not in str(caught.value)


def sweep_file(tmp_path: Path, gpus: float) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f"[grid]\nlr = [1e-3]\nratio = [30]\n[resources]\ngpus_per_trial = {gpus}\n")
    return path


def test_more_than_one_gpu_per_trial_is_refused_from_the_file_or_the_command_line(tmp_path):
    path = sweep_file(tmp_path, 2)
    with pytest.raises(BadInput) as caught:
        resources(load_sweep(path), SweepOptions(dataset=tmp_path))
    assert str(caught.value) == (f"{path}: resources.gpus_per_trial = 2: a trial of this model uses one GPU; ask for 1, "
                                 "or for a fraction such as 0.25 to pack several trials onto each GPU")
    with pytest.raises(BadInput, match=r"^--gpus-per-trial 1.5: a trial of this model uses one GPU"):
        resources(load_sweep(sweep_file(tmp_path, 0)), SweepOptions(dataset=tmp_path, gpus_per_trial=1.5))
    assert resources(load_sweep(sweep_file(tmp_path, 1)), SweepOptions(dataset=tmp_path))["gpu"] == 1
    assert resources(load_sweep(sweep_file(tmp_path, 0.25)), SweepOptions(dataset=tmp_path))["gpu"] == 0.25
