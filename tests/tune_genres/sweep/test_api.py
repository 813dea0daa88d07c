"""The notebook API, run as README.md shows it (on a tiny dataset, fewer trials and epochs)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib
from pathlib import Path

import pytest

from support.tiny_dataset import write_tiny_dataset

README = Path(__file__).resolve().parents[3] / "README.md"


def notebook_example() -> str:
    text = README.read_text()
    section = text[text.index("### From a notebook"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def substitute(code: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert code.count(old) == 1, f"README's notebook example no longer holds {old!r}"
        code = code.replace(old, new)
    return code


def test_the_readme_example_is_ten_lines_or_so():
    lines = [line for line in notebook_example().splitlines() if line.strip()]
    assert len(lines) <= 12 and lines[0] == "from tune_genres import Sweep, run_sweep"


def test_importing_tune_genres_loads_neither_ray_nor_torch():
    import subprocess
    import sys

    code = "import sys, tune_genres; tune_genres.Sweep; print('ray' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_bad_dict_is_one_line_before_ray_starts(tmp_path):
    from dataset_builder.errors import BadInput
    from tune_genres import Sweep, run_sweep

    with pytest.raises(BadInput, match=r"^<sweep>: space.ratio: uniform makes no sense for ratio"):
        Sweep.from_dict({"space": {"lr": [1e-3], "ratio": {"uniform": [30, 58]}}})
    sweep = Sweep.from_dict({"space": {"lr": [1e-3], "ratio": [44]}})
    dataset = write_tiny_dataset(tmp_path / "ds", ratios=(30,))
    with pytest.raises(BadInput, match=r"no ratio 44 in this dataset .* edit <sweep> space.ratio$"):
        run_sweep(sweep, dataset=dataset, storage=tmp_path / "exps", name="x")
    assert not (tmp_path / "exps").exists()


def test_the_readme_notebook_example_runs_and_returns_the_results(tmp_path):
    import ray

    dataset = write_tiny_dataset(tmp_path / "ds", count=60, ratios=(30,))
    code = substitute(notebook_example(), {
        '"demo-out/dataset"': repr(str(dataset)),
        '"experiments"': repr(str(tmp_path / "exps")),
        '"epochs": 10': '"epochs": 2',
        '"num_samples": 8': '"num_samples": 3',
    })
    namespace: dict = {}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), namespace)
    finally:
        ray.shutdown()
    results, table = namespace["results"], namespace["results"].table
    exp = Path(results.path)
    assert exp == tmp_path / "exps" / "notebook"
    assert len(table) == 3 and sorted(n[:5] for n in table["trial"]) == ["0000_", "0001_", "0002_"]
    assert (table["status"] == "finished").all() and (table["epochs_done"] == 2).all()
    assert table["lr"].between(1e-4, 1e-2).all() and table["dropout"].between(0.2, 0.6).all()
    assert results.best["trial"] == table.loc[table["val_map"].idxmax(), "trial"]
    assert Path(results.best_checkpoint).is_dir() and results.best_checkpoint.startswith(str(exp))
    assert results.best["trial"] in out.getvalue() and "test_map" in out.getvalue()
    copy = tomllib.loads((exp / "sweep.toml").read_text())
    assert copy["search"] == {"algorithm": "tpe", "num_samples": 3, "seed": 0} and copy["train"]["epochs"] == 2
    assert json.loads((exp / "experiment.json").read_text())["search"] == "tpe"
    assert (exp / "results.csv").is_file() and not (exp / "heatmap.png").exists()  # a search ranks, a grid maps
    markdown = (exp / "results.md").read_text()
    assert "## The 3 best of 3 trials by val_map" in markdown and "| lr \\ ratio |" not in markdown
    assert "## Which hyperparameters mattered" in markdown and "fANOVA over 3 trials' best val_map" in markdown
    importance = (exp / "importance.csv").read_text().splitlines()
    assert importance[0] == "parameter,importance,method" and {line.split(",")[0] for line in importance[1:]} == {"lr", "dropout"}
    assert (exp / "parallel-coordinates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
