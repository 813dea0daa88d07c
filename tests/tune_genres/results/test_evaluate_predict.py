"""Using a trained checkpoint: `evaluate` on a built dataset and `predict` on real poster files."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dataset_builder.errors import BadInput
from dataset_builder.store import open_dataset
from tune_genres.training.checkpoint import save_checkpoint
from tune_genres.commands import evaluate as evaluate_command
from tune_genres.commands import predict as predict_command
from tune_genres.training.data import ResidentSplit, trial_arrays
from tune_genres.results.evaluate import evaluate
from tune_genres.training.metrics import METRICS, baselines, compute_metrics
from tune_genres.models.minivgg import MiniVGG
from tune_genres.training.loop import make_optimizer, predict_split, train_one_epoch
from tune_genres.training.rng import generator_state, make_generator, seed_everything

GENRES = ("Horror", "Romance", "Action")


def train_checkpoint(dataset: Path, directory: Path, loss_name: str) -> MiniVGG:
    """One epoch on the dataset's train split at ratio 30, saved as the trainable would."""
    seed_everything(0)
    arrays = trial_arrays(open_dataset(dataset), 30)
    model = MiniVGG(len(GENRES), 80, 55).to(memory_format=torch.channels_last)
    optimizer, generator = make_optimizer(model, 1e-3), make_generator(0)
    train_one_epoch(model, optimizer, ResidentSplit.from_arrays(arrays, "train", "cpu"), loss_name, 8, generator)
    config = {"lr": 1e-3, "ratio": 30, "loss": loss_name, "threshold": 0.3}
    meta = {"genres": list(GENRES), "ratio": 30, "size": [55, 80], "loss": loss_name,
            "model_config": model.config, "lr": 1e-3, "config": config}
    save_checkpoint(directory, model=model, optimizer=optimizer, epoch=1, best=None,
                    generator_state=generator_state(generator), meta=meta)
    return model.eval()


@pytest.fixture
def trained(tiny_dataset, tmp_path):
    dataset = tiny_dataset(count=40, genres=GENRES)
    model = train_checkpoint(dataset, tmp_path / "checkpoint", "cce")
    return dataset, tmp_path / "checkpoint", model


def run_command(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_evaluate_prints_and_writes_metrics_beside_the_baselines(trained, tmp_path, capsys):
    dataset, checkpoint, model = trained
    out = tmp_path / "reports" / "eval.json"
    assert run_command(evaluate_command, ["evaluate", str(checkpoint), str(dataset), "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out

    # The same numbers computed here without the evaluate module: the test split's 8 rows.
    ds = open_dataset(dataset)
    test_rows, train_rows = ds.split("test"), ds.split("train")
    loss, probs = predict_split(model, ResidentSplit.from_indices(ds.images(30), ds.labels, test_rows, "cpu"), "cce")
    expected = compute_metrics(probs, ds.labels[test_rows], threshold=0.3)
    expected_baselines = baselines(ds.labels[train_rows], ds.labels[test_rows])

    result = json.loads(out.read_text())
    assert result["count"] == 8 and result["split"] == "test" and result["dataset"] == str(dataset)
    assert result["threshold"] == 0.3  # the trial's own threshold
    assert result["loss"] == pytest.approx(loss)
    assert result["metrics"] == pytest.approx(expected)
    assert result["baselines"]["prior"] == pytest.approx(expected_baselines["prior"])
    assert result["baselines"]["majority"] == pytest.approx(expected_baselines["majority"])

    assert f"measured on {dataset}, split test: 8 posters" in printed
    assert "training split's genre frequencies (24 posters)" in printed
    rows = {line.split()[0]: line.split() for line in printed.splitlines() if line.split() and line.split()[0] in METRICS}
    assert list(rows) == list(METRICS)
    table = [line for line in printed[printed.index("metric "):].splitlines() if not line.startswith("wrote")]
    model_column_ends = {re.search(r"model|\d\.\d{4}", line).end() for line in table}
    assert len(table) == 2 + len(METRICS) + len(result["metrics_tuned"]) and len(model_column_ends) == 1
    for metric in METRICS:
        low, high = result["intervals"][metric]
        assert rows[metric][-4:] == [f"{expected[metric]:.4f}", f"{low:.4f}-{high:.4f}",
                                    f"{expected_baselines['prior'][metric]:.4f}",
                                    f"{expected_baselines['majority'][metric]:.4f}"], metric
        assert low <= expected[metric] <= high, metric
    assert "95% bootstrap interval over 1000 draws" in printed
    assert printed.rstrip().endswith(f"wrote {out}")
    assert [p.name for p in out.parent.iterdir()] == ["eval.json"]  # no temporary left


def test_evaluate_takes_a_trial_folder_and_scores_its_latest_checkpoint(trained, tmp_path):
    dataset, checkpoint, _ = trained
    trial = tmp_path / "lr=1e-3,r=30"
    for name in ("checkpoint_000001", "checkpoint_000002"):
        shutil.copytree(checkpoint, trial / name)
    result = evaluate(trial, dataset, resamples=0)
    assert result["checkpoint"] == str(trial / "checkpoint_000002" / "checkpoint.pt")
    assert result["intervals"] is None


def test_bootstrap_0_prints_no_interval_and_a_negative_count_is_refused(trained, capsys):
    dataset, checkpoint, _ = trained
    assert run_command(evaluate_command, ["evaluate", str(checkpoint), str(dataset), "--bootstrap", "0"]) == 0
    printed = capsys.readouterr().out
    assert "interval" not in printed
    assert ["metric", "model", "prior", "majority"] in [line.split() for line in printed.splitlines()]
    with pytest.raises(BadInput, match=r"^--bootstrap -5: expected a number of draws, 0 or more$"):
        run_command(evaluate_command, ["evaluate", str(checkpoint), str(dataset), "--bootstrap", "-5"])


def test_scoring_the_split_that_chose_says_its_scores_lean_high(trained, capsys):
    dataset, checkpoint, _ = trained
    assert run_command(evaluate_command, ["evaluate", str(checkpoint), str(dataset), "--split", "val", "--bootstrap", "0"]) == 0
    assert "note: the validation split chose these weights (their epoch) and their tuned thresholds" in capsys.readouterr().out
    assert run_command(evaluate_command, ["evaluate", str(checkpoint), str(dataset), "--bootstrap", "0"]) == 0
    assert "validation split chose" not in capsys.readouterr().out  # the test split: the honest figure, no note


def test_evaluate_all_scores_every_row(trained):
    dataset, checkpoint, _ = trained
    assert evaluate(checkpoint / "checkpoint.pt", dataset, split="all")["count"] == 40


def test_dataset_with_other_genres_is_a_one_line_error_naming_both(trained, tiny_dataset):
    _, checkpoint, _ = trained
    other = tiny_dataset("other", genres=("Horror", "Action", "Romance"))
    with pytest.raises(BadInput) as e:
        run_command(evaluate_command, ["evaluate", str(checkpoint), str(other)])
    message = str(e.value)
    assert message == (f"{other}: genres Horror, Action, Romance differ from checkpoint {checkpoint / 'checkpoint.pt'}'s "
                       "Horror, Romance, Action (same genres in the same order needed)")


def test_dataset_without_the_checkpoints_ratio_is_refused(trained, tiny_dataset):
    _, checkpoint, _ = trained
    other = tiny_dataset("other", genres=GENRES, ratios=(44, 58))
    with pytest.raises(BadInput, match=r"no ratio 30 \(it has 44, 58\), the ratio checkpoint .* was trained at"):
        run_command(evaluate_command, ["evaluate", str(checkpoint), str(other)])


def test_console_script_exits_2_with_one_line_on_mismatch(trained, tiny_dataset):
    _, checkpoint, _ = trained
    other = tiny_dataset("other", genres=("Drama", "Comedy", "Action"))
    done = subprocess.run([sys.executable, "-m", "tune_genres.cli", "evaluate", str(checkpoint), str(other)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("tune-genres: error: ")
    assert "Drama, Comedy, Action differ from checkpoint" in done.stderr


def write_posters(folder: Path) -> list[Path]:
    """Real image files: two 182x268 JPEGs, a PNG with transparency, and a file that is no image."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    paths = []
    for name in ("dark.jpg", "bright.jpg"):
        pixels = rng.integers(0, 120 if name == "dark.jpg" else 256, (268, 182, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, quality=90)
        paths.append(folder / name)
    rgba = rng.integers(0, 256, (268, 182, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    paths.append(folder / "alpha.png")
    (folder / "notes.jpg").write_text("not a poster")
    return paths


def expected_probs(model: MiniVGG, path: Path, loss_name: str) -> np.ndarray:
    """Independently: Pillow straight to 55x80 LANCZOS (a 182x268 poster needs no pre-shrink)."""
    img = Image.open(path)
    if img.mode == "RGBA":
        img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img)
    pixels = np.array(img.convert("RGB").resize((55, 80), Image.Resampling.LANCZOS))
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        logits = model(x)
    return (torch.softmax(logits, 1) if loss_name == "cce" else torch.sigmoid(logits))[0].numpy()


@pytest.mark.parametrize("loss_name", ["cce", "bce"])
def test_predict_prints_each_posters_genres_sorted_and_skips_broken_files(tiny_dataset, tmp_path, capsys, loss_name):
    model = train_checkpoint(tiny_dataset(genres=GENRES), tmp_path / "ck", loss_name)
    posters = write_posters(tmp_path / "posters")
    code = run_command(predict_command, ["predict", str(tmp_path / "ck"), *map(str, posters), str(tmp_path / "posters" / "notes.jpg")])
    captured = capsys.readouterr()
    assert code == 1  # one file was not a poster
    lines = captured.out.splitlines()
    # A checkpoint from before best weights and tuned thresholds were kept: its last weights at its fixed threshold.
    assert lines[0].startswith(f"checkpoint {tmp_path / 'ck'}: last weights (epoch 1), loss {loss_name} (")
    assert "posters resized to 55x80 (ratio 30)" in lines[0]
    assert lines[0].endswith("a genre is predicted at its threshold 0.3 for every genre (the checkpoint holds no tuned thresholds)")
    assert len(lines) == 1 + 3
    for path, line in zip(posters, lines[1:]):
        name, rest = line.split(": ", 1)
        assert name == str(path)
        rest, chosen = rest.rsplit(" -> ", 1)
        pairs = [item.rsplit(" ", 1) for item in rest.split(", ")]
        assert chosen == (", ".join(g for g, p in pairs if float(p) >= 0.3) or "none")
        assert sorted(g for g, _ in pairs) == sorted(GENRES)
        printed = [float(p) for _, p in pairs]
        assert printed == sorted(printed, reverse=True)
        expected = dict(zip(GENRES, expected_probs(model, path, loss_name)))
        for genre, p in pairs:
            assert float(p) == pytest.approx(expected[genre], abs=6e-4), (path.name, genre)
        if loss_name == "cce":
            assert sum(printed) == pytest.approx(1.0, abs=2e-3)
    assert f"skipped {tmp_path / 'posters' / 'notes.jpg'}: not-an-image" in captured.err
    assert "3 posters predicted, 1 skipped" in captured.err


def test_predict_on_the_shared_real_posters(shared_posters, tiny_dataset, tmp_path, capsys):
    model = train_checkpoint(tiny_dataset(genres=GENRES), tmp_path / "ck", "bce")
    posters = sorted((shared_posters / "posters-58").glob("*.jpg"))[:5]
    assert run_command(predict_command, ["predict", str(tmp_path / "ck"), *map(str, posters)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split(": ")[0] for line in lines] == [str(p) for p in posters]
    # A 106x155 poster is below the base size: resized straight to 55x80 (as the builder would).
    first = dict(item.rsplit(" ", 1) for item in lines[0].split(": ", 1)[1].rsplit(" -> ", 1)[0].split(", "))
    expected = dict(zip(GENRES, expected_probs(model, posters[0], "bce")))
    assert {g: float(p) for g, p in first.items()} == pytest.approx(expected, abs=6e-4)
