"""Every reader on an experiment in an object store (`s3://bucket/prefix/EXP` and `.../EXP/TRIAL`),
against a real S3-compatible server on 127.0.0.1 (tests/support/s3_server.py): report, compare,
evaluate, predict and the notebook's Results print what they print on a local copy of the same
experiment, and never the secret.

One experiment, written locally by hand (tests/support/made_up_experiment.py: a grid of 4
finished trials) and uploaded as it is. One trial also holds two real checkpoints (an untrained
mini-VGG, cheap to save) and no trial.json: it is read back from Tune's result.json, as a trial
whose driver died before recording it, and evaluate takes its latest checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.made_up_experiment import write_made_up_grid
from tune_genres.cli import main
from tune_genres.models.minivgg import MiniVGG
from tune_genres.results.location import ExperimentLocation
from tune_genres.training.checkpoint import CHECKPOINT_FILE, save_checkpoint
from tune_genres.training.loop import make_optimizer
from tune_genres.training.rng import generator_state, make_generator

NAME = "grid"
GENRES = ("Horror", "Romance", "Action")  # the tiny dataset's, which the checkpoints score
TRIAL = "lr=1e-3,r=30,loss=bce"  # holds the checkpoints, and no record of its own
LATEST = "checkpoint_000002"
REPORT_FILES = {"results.md", "results.csv", "importance.csv", "heatmap.png", "learning-curves.png",
                "parallel-coordinates.png"}


def write_checkpoint(directory: Path, epoch: int, seed: int) -> None:
    """An untrained mini-VGG at ratio 30 (the tiny dataset's 55x80), saved as a trial saves one."""
    import torch

    torch.manual_seed(seed)
    model = MiniVGG(len(GENRES), 80, 55)
    meta = {"genres": list(GENRES), "ratio": 30, "size": [55, 80], "loss": "bce", "model_config": model.config,
            "lr": 1e-3, "config": {"lr": 1e-3, "ratio": 30, "loss": "bce"}}
    save_checkpoint(directory, model=model, optimizer=make_optimizer(model, 1e-3), epoch=epoch, best=None,
                    generator_state=generator_state(make_generator(0)), meta=meta)


def write_experiment(exp: Path) -> Path:
    write_made_up_grid(exp, lrs=[1e-3, 1e-4], ratios=[30, 44], losses=["bce"], epochs=2)
    (exp / TRIAL / "trial.json").unlink()
    write_checkpoint(exp / TRIAL / "checkpoint_000001", epoch=1, seed=1)
    write_checkpoint(exp / TRIAL / LATEST, epoch=2, seed=2)
    return exp


def upload(folder: Path, where: ExperimentLocation) -> None:
    """Every file under `folder` into the object store below `where`, as it is."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        where.write_bytes(path.relative_to(folder).as_posix(), path.read_bytes())


@pytest.fixture
def experiment(tmp_path, s3):
    """(the local copy, its URI in the bucket): the same experiment, neither reported yet."""
    local = write_experiment(tmp_path / "local" / NAME)
    uri = s3.uri(NAME)
    upload(local, ExperimentLocation(uri))
    return local, uri


def run(argv: list, capsys, s3) -> tuple[int, str, str]:
    """The command line's (exit status, stdout, stderr); nothing printed holds the credentials."""
    status = main([str(a) for a in argv])
    printed = capsys.readouterr()
    for credential in (s3.server.secret, s3.server.access_key):
        assert credential not in printed.out + printed.err
    return status, printed.out, printed.err


def bucket_files(s3) -> dict[str, bytes]:
    """This test's objects (key below its prefix -> bytes); none holds the secret."""
    objects = s3.objects()
    assert not [key for key, data in objects.items() if s3.server.secret.encode() in data]
    return objects


def without_column(text: str, column: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k != column} for row in csv.DictReader(io.StringIO(text))]


def files_under(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_report_on_a_uri_writes_into_the_bucket_the_report_of_its_local_copy(experiment, tmp_path, s3, capsys,
                                                                             monkeypatch):
    local, uri = experiment
    assert run(["report", local], capsys, s3)[:2] == (0, (local / "results.md").read_text() + "\n")
    monkeypatch.chdir(tmp_path)
    before = files_under(tmp_path)
    status, printed, _ = run(["report", uri], capsys, s3)
    assert status == 0 and printed == (local / "results.md").read_text() + "\n"
    assert files_under(tmp_path) == before  # nothing written on this machine (no s3:/ folder), the copy untouched

    written = bucket_files(s3)
    report = {key.removeprefix(f"{NAME}/"): data for key, data in written.items() if key.count("/") == 1}
    assert REPORT_FILES <= report.keys()
    assert report["results.md"] == (local / "results.md").read_bytes()
    assert report["importance.csv"] == (local / "importance.csv").read_bytes()
    for picture in ("heatmap.png", "learning-curves.png", "parallel-coordinates.png"):
        assert report[picture].startswith(b"\x89PNG")
    # Row for row the same table; the trial read back from Tune's files names its latest checkpoint where it is.
    remote_csv, local_csv = report["results.csv"].decode(), (local / "results.csv").read_text()
    assert without_column(remote_csv, "best_checkpoint") == without_column(local_csv, "best_checkpoint")
    checkpoints = {row["trial"]: row["best_checkpoint"] for row in csv.DictReader(io.StringIO(remote_csv))}
    assert checkpoints[TRIAL] == f"{uri}/{TRIAL}/{LATEST}"


def test_results_for_a_notebook_read_a_uri_as_they_read_its_local_copy(experiment, s3):
    from tune_genres import Results

    local, uri = experiment
    here, there = Results.of(local), Results.of(uri)
    assert there.path == uri and there.markdown == here.markdown
    columns = [c for c in here.table.columns if c != "best_checkpoint"]
    assert there.table[columns].equals(here.table[columns])
    assert there.best["trial"] == here.best["trial"]


def test_compare_takes_a_uri_beside_a_local_experiment(experiment, tmp_path, s3, capsys):
    local, uri = experiment
    other = tmp_path / "others" / "repeats"
    write_made_up_grid(other, lrs=[1e-3], ratios=[30, 44], losses=["bce", "cce"], epochs=2)

    status, page_here, _ = run(["compare", local, other, "--out", tmp_path / "out-local"], capsys, s3)
    assert status == 0
    status, page_there, _ = run(["compare", uri, other, "--out", tmp_path / "out-s3"], capsys, s3)
    assert status == 0 and page_there == page_here
    published = tmp_path / "out-s3" / NAME
    assert {p.name for p in published.iterdir()} == {p.name for p in (tmp_path / "out-local" / NAME).iterdir()}
    assert (published / "results.md").read_bytes() == (local / "results.md").read_bytes()
    assert not list(published.glob("checkpoint_*"))


@pytest.mark.parametrize("given", [TRIAL, f"{TRIAL}/{LATEST}", f"{TRIAL}/{LATEST}/{CHECKPOINT_FILE}"],
                         ids=["trial", "checkpoint-folder", "checkpoint-file"])
def test_evaluate_a_checkpoint_in_the_bucket_prints_what_its_local_copy_prints(experiment, tiny_dataset, s3, capsys,
                                                                               given):
    local, uri = experiment
    dataset = tiny_dataset(genres=GENRES)
    options = ["--device", "cpu", "--bootstrap", "50"]
    status, here, _ = run(["evaluate", local / given, dataset, *options], capsys, s3)
    assert status == 0
    status, there, _ = run(["evaluate", f"{uri}/{given}", dataset, *options], capsys, s3)
    assert status == 0
    # The trial's latest checkpoint, named where it is (never its temporary copy); every figure the same.
    assert here.startswith(f"checkpoint {local / TRIAL / LATEST / CHECKPOINT_FILE}: last weights (epoch 2)")
    assert there == here.replace(str(local), uri)


def test_evaluate_writes_its_json_as_for_a_local_checkpoint(experiment, tiny_dataset, tmp_path, s3, capsys):
    local, uri = experiment
    dataset = tiny_dataset(genres=GENRES)
    written = {}
    for where, out in ((local / TRIAL, tmp_path / "here.json"), (f"{uri}/{TRIAL}", tmp_path / "there.json")):
        assert run(["evaluate", where, dataset, "--device", "cpu", "--bootstrap", "0", "--out", out], capsys, s3)[0] == 0
        written[out.stem] = out.read_text()
    there = json.loads(written["there"])
    assert there["checkpoint"] == f"{uri}/{TRIAL}/{LATEST}/{CHECKPOINT_FILE}"
    assert there == json.loads(written["here"].replace(str(local), uri))


def test_predict_with_a_checkpoint_in_the_bucket_prints_what_its_local_copy_prints(experiment, tmp_path, s3, capsys):
    local, uri = experiment
    posters = []
    for index in range(2):
        posters.append(tmp_path / f"poster-{index}.png")
        pixels = np.random.default_rng(index).integers(0, 256, (268, 182, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(posters[-1])
    status, here, _ = run(["predict", local / TRIAL, *posters, "--device", "cpu"], capsys, s3)
    assert status == 0
    status, there, _ = run(["predict", f"{uri}/{TRIAL}", *posters, "--device", "cpu"], capsys, s3)
    assert status == 0
    assert there == here.replace(str(local), uri) and len(there.splitlines()) == 3
    assert there.startswith(f"checkpoint {uri}/{TRIAL}: last weights (epoch 2)")


def refused(argv: list, capsys, s3) -> str:
    """The command exits 2 with one line on stderr and nothing on stdout; returns the line."""
    status, printed, error = run(argv, capsys, s3)
    assert status == 2 and printed == "" and error.count("\n") == 1, error
    return error.removeprefix("tune-genres: error: ").rstrip("\n")


def test_a_broken_record_in_the_bucket_is_one_line_naming_its_uri_and_nothing_is_written(experiment, s3, capsys):
    _, uri = experiment
    broken = "lr=1e-4,r=30,loss=bce"
    ExperimentLocation(uri).write_text(f"{broken}/trial.json", "garbage")
    before = bucket_files(s3)
    for command in ("report", "compare"):
        line = refused([command, uri], capsys, s3)
        assert line.startswith(f"{uri}/{broken}/trial.json: not valid JSON (line 1 column 1): Expecting value; ")
    assert bucket_files(s3) == before


def test_a_uri_without_an_experiment_or_a_checkpoint_is_one_line(experiment, tiny_dataset, s3, capsys):
    _, uri = experiment
    dataset = tiny_dataset(genres=GENRES)
    assert refused(["report", f"{uri}-missing"], capsys, s3) == f"{uri}-missing: no such experiment folder"
    assert refused(["report", f"{uri}/{TRIAL}"], capsys, s3) == (
        f"{uri}/{TRIAL}: a trial's folder, not an experiment's; pass its experiment folder, {uri}")
    other_trial = f"{uri}/lr=1e-4,r=30,loss=bce"
    assert refused(["evaluate", other_trial, dataset], capsys, s3) == (
        f"{other_trial}: no checkpoint here (expected a trial folder, a directory holding {CHECKPOINT_FILE}, or the file)")


def test_a_cut_off_checkpoint_in_the_bucket_is_named_by_its_uri_not_its_temporary_copy(experiment, tiny_dataset, s3,
                                                                                        capsys):
    local, uri = experiment
    file = f"{TRIAL}/{LATEST}/{CHECKPOINT_FILE}"
    ExperimentLocation(uri).write_bytes(file, (local / file).read_bytes()[:1000])
    line = refused(["evaluate", f"{uri}/{TRIAL}", tiny_dataset(genres=GENRES)], capsys, s3)
    assert line.startswith(f"{uri}/{file}: not a readable tune-genres checkpoint (cut off")
