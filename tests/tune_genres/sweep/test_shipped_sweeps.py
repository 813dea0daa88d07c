"""Every sweep file in sweeps/ run as a user runs it: `tune-genres sweep FILE --dataset D --storage S
--name X --quiet --set ...`, then `tune-genres report` on it, then `tune-genres compare` over all of
them. On a tiny dataset, shortened with --set only where it must be (epochs, checkpoints, ASHA's
first rung, a patience), each keeps its own search algorithm, num_samples and scheduler: a 50-trial random
search draws 50 trials. A file added to sweeps/ is picked up without editing this test."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest

from support.tiny_dataset import write_tiny_dataset
from tune_genres.cli import main
from tune_genres.sweep.sweep_file import load_sweep

SWEEPS = Path(__file__).resolve().parents[3] / "sweeps"
SWEEP_FILES = sorted(SWEEPS.glob("*.toml"))
# The study's six sizes, so that every shipped file's ratios are in the dataset.
ALL_RATIOS = (30, 44, 58, 72, 86, 100)


def shortening(sweep_file: Path) -> list[str]:
    """The --set arguments that make a shipped sweep quick: 1 epoch (3 under ASHA, its first rung
    at 1, so that it stops some trials: Ray refuses a grace period past the last epoch; 3 with a
    patience, then 1, so that it may stop one: a longer one is refused; 1 more than a warm-up the
    file has), a checkpoint every epoch."""
    content = tomllib.loads(sweep_file.read_text())
    asha = content.get("scheduler", {}).get("type") == "asha"
    patience = "patience" in content.get("scheduler", {})
    warmup = content.get("train", {}).get("warmup_epochs", 0)
    epochs = max(3 if asha or patience else 1, warmup + 1)
    swept = next((s for s in ("grid", "space") if "epochs" in content.get(s, {})), None)
    sets = [f"{swept}.epochs=[{epochs}]" if swept else f"train.epochs={epochs}", "train.checkpoint_every=1"]
    if asha:
        sets.append("scheduler.grace_period=1")
    if patience:
        sets.append("scheduler.patience=1")
    return sets


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("shipped") / "tiny", count=40, ratios=ALL_RATIOS)


@pytest.fixture(scope="module")
def run_shipped(dataset, ray_local, tmp_path_factory):
    """run_shipped(sweep_file) -> its experiment folder, swept once per module."""
    storage = tmp_path_factory.mktemp("shipped-exps")
    done: dict[Path, Path] = {}

    def run(sweep_file: Path) -> Path:
        if sweep_file not in done:
            sets = [arg for s in shortening(sweep_file) for arg in ("--set", s)]
            code = main(["sweep", str(sweep_file), "--dataset", str(dataset), "--storage", str(storage),
                         "--name", sweep_file.stem, "--quiet", *sets])
            assert code == 0, f"tune-genres sweep {sweep_file.name} exited {code}"
            done[sweep_file] = storage / sweep_file.stem
        return done[sweep_file]

    return run


def results(exp: Path) -> list[dict]:
    with open(exp / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("sweep_file", SWEEP_FILES, ids=[p.name for p in SWEEP_FILES])
def test_a_shipped_sweep_runs_every_trial_and_is_reported(sweep_file, run_shipped, capsys):
    shipped, shortened = load_sweep(sweep_file), load_sweep(sweep_file, shortening(sweep_file))
    assert (shortened.algorithm, shortened.trial_count, shortened.scheduler["type"]) == \
        (shipped.algorithm, shipped.trial_count, shipped.scheduler["type"])
    exp = run_shipped(sweep_file)
    capsys.readouterr()

    assert main(["report", str(exp)]) == 0
    rows = results(exp)
    assert len(rows) == shipped.trial_count and len({r["trial"] for r in rows}) == len(rows)
    assert {r["status"] for r in rows} <= {"finished", "stopped early", "stopped on plateau"}, sorted({r["status"] for r in rows})
    assert all(r["test_map"] for r in rows), "a trial's chosen weights were never scored on test"
    if shipped.scheduler["type"] == "asha" and len(rows) >= 3 * shipped.scheduler["reduction_factor"]:
        assert any(r["status"] == "stopped early" for r in rows), "ASHA stopped no trial"
    markdown = (exp / "results.md").read_text()
    assert f"{len(rows)} trials, " in markdown and "Best trial, chosen by **val_map**" in markdown
    assert markdown in capsys.readouterr().out  # the report printed what it wrote
    assert (exp / "learning-curves.png").stat().st_size > 10_000
    if len(shipped.swept_keys()) > 0 and len(rows) > 1:
        assert (exp / "importance.csv").is_file()


@pytest.mark.slow
def test_compare_sets_every_shipped_sweep_side_by_side(run_shipped, tmp_path, capsys):
    experiments = [run_shipped(f) for f in SWEEP_FILES]
    capsys.readouterr()
    assert main(["compare", *map(str, experiments), "--out", str(tmp_path / "page")]) == 0
    page = (tmp_path / "page" / "comparison.md").read_text()
    assert page in capsys.readouterr().out
    for exp in experiments:
        assert f"\n## {exp.name}\n" in page and f"| {exp.name} | 3 | {len(results(exp))} (" in page
        assert (tmp_path / "page" / exp.name / "results.md").is_file()
