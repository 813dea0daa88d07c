"""A grid repeated with [search] num_samples on a real local Ray (2 CPUs): each repeat trains with
its own seed, and the report gives each configuration's mean ± sd over its repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.sweeps import learnable_dataset, read_results, write_sweep
from tune_genres.cli import main


def test_each_repeat_of_a_grid_point_trains_with_its_own_seed(ray_local, tmp_path):
    dataset = learnable_dataset(tmp_path / "data")
    sweep = write_sweep(tmp_path / "repeated.toml", "repeated", [3e-3, 1e-3], epochs=2,
                        extra="[search]\nnum_samples = 2\n[run]\nnum_to_keep = 1\n")
    assert main(["sweep", str(sweep), "--dataset", str(dataset), "--storage", str(tmp_path / "exps"), "--quiet"]) == 0
    exp = tmp_path / "exps" / "repeated"

    rows = read_results(exp)
    assert sorted(rows) == ["lr=1e-3,r=30,seed=0", "lr=1e-3,r=30,seed=1", "lr=3e-3,r=30,seed=0", "lr=3e-3,r=30,seed=1"]
    for lr in ("1e-3", "3e-3"):
        repeats = [rows[f"lr={lr},r=30,seed={seed}"] for seed in (0, 1)]
        params = [json.loads((exp / row["trial"] / "params.json").read_text()) for row in repeats]
        assert [p["seed"] for p in params] == [0, 1]
        assert repeats[0]["val_map"] != repeats[1]["val_map"]  # another seed, another training
        assert repeats[0]["configuration"] == f"lr={lr}, ratio=30" and repeats[0]["repeats"] == "2"

    markdown = (exp / "results.md").read_text()
    assert "Seeds repeat each of the 2 configurations 2 times (seeds 0, 1)" in markdown
    for lr in ("1e-3", "3e-3"):
        values = [float(rows[f"lr={lr},r=30,seed={seed}"]["val_map"]) for seed in (0, 1)]
        mean, sd = sum(values) / 2, abs(values[0] - values[1]) / 2 ** 0.5
        assert f"| {lr} | {mean:.3f} ± {sd:.3f} (2) |" in markdown
    assert "Best configuration, chosen on validation by its mean **val_map**" in markdown
