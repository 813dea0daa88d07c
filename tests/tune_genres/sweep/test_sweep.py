"""The sweep end to end on a real local Ray (2 CPUs): trials, checkpoints, report, TensorBoard, resume."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dataset_builder.build import build
from tune_genres.cli import main
from tune_genres.training.checkpoint import load_checkpoint
from tune_genres.training.hyperparameters import format_lr
from support.posters import learnable_raw
from support.sweeps import kill_driver_mid_sweep, logged_epochs


TINY_SWEEP = """
name = "tiny"
[grid]
lr = [3e-3, 1e-3]
ratio = [30, 44]
[train]
loss = "bce"
epochs = 2
checkpoint_every = 1
batch_size = 16
[run]
num_to_keep = 1
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep-data")
    learnable_raw(root / "raw", count=160)
    build(root / "raw", root / "ds", "top:4", ratios=[30, 44], seed=0)
    return root / "ds"


@pytest.fixture(scope="module")
def finished(dataset, ray_local, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    (root / "tiny.toml").write_text(TINY_SWEEP)
    code = main(["sweep", str(root / "tiny.toml"), "--dataset", str(dataset), "--storage", str(root / "exps"), "--quiet"])
    assert code == 0
    return root / "exps" / "tiny"


def read_results(exp: Path) -> list[dict]:
    with open(exp / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_grid_point_trains_and_is_reported(finished):
    rows = read_results(finished)
    assert sorted(r["trial"] for r in rows) == ["lr=1e-3,r=30", "lr=1e-3,r=44", "lr=3e-3,r=30", "lr=3e-3,r=44"]
    for row in rows:
        assert row["status"] == "finished" and row["epochs_done"] == "2"
        assert 0.0 <= float(row["test_map"]) <= 1.0 and 0.0 <= float(row["test_roc_auc_macro"]) <= 1.0
        assert row["node_id"] and float(row["wall_s"]) > 0
    for name in ("results.md", "heatmap.png", "learning-curves.png", "baselines.json", "sweep.toml"):
        assert (finished / name).is_file(), name
    assert (finished / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (finished / "results.md").read_text()
    assert "| lr \\ ratio | 30% | 44% |" in markdown and "Best trial, chosen by **val_map**" in markdown
    assert "Chosen by val_map on 19 validation posters; test scored once on each trial's best-epoch weights" in markdown
    assert "label prior" in markdown
    for row in rows:  # the trial scored its own chosen weights; results.csv says where they are
        assert row["test_scored_by"] == "trial" and Path(row["best_checkpoint"]).is_dir()
        assert 1 <= int(row["best_epoch"]) <= 2 and row["last_test_map"]
    assert json.loads((finished / "experiment.json").read_text())["select_metric"] == "val_map"


def test_checkpoints_are_kept_as_configured_and_usable(finished, dataset, capsys):
    trial = finished / "lr=1e-3,r=30"
    checkpoints = sorted(trial.glob("checkpoint_*"))
    assert len(checkpoints) == 1  # num_to_keep = 1
    assert main(["evaluate", str(checkpoints[-1]), str(dataset), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "map" in out and "prior" in out


def test_the_drivers_precision_is_every_trials_and_recorded(finished):

    decided = json.loads((finished / "precision.json").read_text())
    assert decided["requested"] == "auto" and decided["precision"] in ("fp32", "bf16") and decided["why"]
    trials = sorted(finished.glob("lr=*"))
    assert len(trials) == 4
    for trial in trials:
        assert json.loads((trial / "params.json").read_text())["precision"] == decided["precision"]
        assert load_checkpoint(next(trial.glob("checkpoint_*")))["meta"]["precision"] == decided["precision"]


def test_learns_something_on_a_learnable_set(finished):
    # The posters carry their genres as colour bands: even 2 epochs must beat the label prior.
    baselines = json.loads((finished / "baselines.json").read_text())
    best = max(read_results(finished), key=lambda r: float(r["test_roc_auc_macro"]))
    assert float(best["test_roc_auc_macro"]) > baselines["test"]["prior"]["roc_auc_macro"] + 0.1


def test_report_on_a_partial_experiment(finished, tmp_path, capsys):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(finished, partial)
    # Cut one trial's record back to its first epoch: stopped there by the scheduler, then still running.
    record_file = partial / "lr=3e-3,r=44" / "trial.json"
    record = json.loads(record_file.read_text())
    record.update(rows=record["rows"][:1], epochs_done=1, scores={}, test_scored_by=None, status="stopped early")
    record_file.write_text(json.dumps(record))
    assert main(["report", str(partial), "--metric", "val_map"]) == 0
    rows = {r["trial"]: r for r in read_results(partial)}
    assert rows["lr=3e-3,r=44"]["status"] == "stopped early" and rows["lr=3e-3,r=44"]["epochs_done"] == "1"
    record_file.write_text(json.dumps(dict(record, status="running")))
    assert main(["report", str(partial), "--metric", "val_map"]) == 0
    rows = {r["trial"]: r for r in read_results(partial)}
    assert rows["lr=3e-3,r=44"]["status"] == "running"
    assert rows["lr=1e-3,r=30"]["status"] == "finished"
    assert "4 trials, 3 finished" in capsys.readouterr().out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_shows_every_trials_curves_and_hparams(finished):
    port = free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    proc = subprocess.Popen(
        [str(tensorboard), "--logdir", str(finished), "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def get(path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    try:
        deadline = time.time() + 60
        while True:
            try:
                tags = get("/data/plugin/scalars/tags")
                if len(tags) >= 4:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "TensorBoard did not come up"
            time.sleep(0.5)
        trial_runs = {run: t for run, t in tags.items() if run.startswith("lr=")}
        assert sorted(trial_runs) == ["lr=1e-3,r=30", "lr=1e-3,r=44", "lr=3e-3,r=30", "lr=3e-3,r=44"]
        for run, run_tags in trial_runs.items():
            for tag in ("train/loss", "val/loss", "val/map", "val/roc_auc_macro", "val/categorical_accuracy", "test/map", "best/val_map"):
                assert tag in run_tags, (run, tag)
        series = get("/data/plugin/scalars/scalars?run=lr%3D1e-3%2Cr%3D30&tag=val%2Fmap")
        assert [point[1] for point in series] == [1, 2]  # one point per epoch

        experiment = get("/data/plugin/hparams/experiment", {"experimentName": ""})
        hparams = {h["name"]: h for h in experiment["hparamInfos"]}
        assert {"lr", "ratio", "loss"} <= set(hparams)
        assert sorted(hparams["ratio"]["domainDiscrete"]) == [30, 44]
        metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
        assert {"best/val_map", "val/map", "test/map"} <= metrics
        groups = get("/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [], "startIndex": 0, "sliceSize": 100,
        })
        sessions = {s["name"] for g in groups["sessionGroups"] for s in g["sessions"]}
        # One HParams row per trial: the root experiment run is not a session.
        assert sessions == set(trial_runs)
        for group in groups["sessionGroups"]:
            assert {"lr", "ratio"} <= set(group["hparams"])
            assert any(m["name"]["tag"] == "test/map" for m in group["metricValues"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_dataset_without_the_sweeps_ratio_fails_before_ray(dataset, tmp_path, capsys):
    (tmp_path / "s.toml").write_text("[grid]\nlr = [1e-3]\nratio = [58]\n")
    code = main(["sweep", str(tmp_path / "s.toml"), "--dataset", str(dataset), "--storage", str(tmp_path / "exps")])
    err = capsys.readouterr().err
    assert code == 2 and "no ratio 58 in this dataset (it has 30, 44)" in err
    assert not (tmp_path / "exps").exists()


def test_existing_experiment_needs_resume_or_a_new_name(finished, dataset, capsys):
    code = main(["sweep", str(finished / "sweep.toml"), "--dataset", str(dataset), "--storage", str(finished.parent)])
    err = capsys.readouterr().err
    assert code == 2 and "already holds an experiment; pass --resume" in err


def test_driver_killed_mid_sweep_resumes_without_rerunning_finished_trials(dataset, tmp_path):
    """SIGKILL the driver once the first trial is done; --resume finishes the rest only."""
    # 30 epochs of 0.05-0.5 s here; the driver dies within about a second of the second trial's
    # first checkpoint, while that trial is still training.
    epochs = 30
    (tmp_path / "s.toml").write_text(
        f"name = 'k'\n[grid]\nlr = [3e-3, 1e-3]\nratio = [30]\n[train]\nloss = 'bce'\nepochs = {epochs}\ncheckpoint_every = 2\n"
        "[resources]\nmax_concurrent = 1\n"
    )
    command = [str(Path(sys.executable).with_name("tune-genres")), "sweep", str(tmp_path / "s.toml"),
               "--dataset", str(dataset), "--storage", str(tmp_path / "exps"), "--quiet"]
    env = dict(os.environ, TUNE_GLOBAL_CHECKPOINT_S="1")
    # The same sweep, never interrupted, run alongside: what the resumed sweep must end up equal to.
    reference = subprocess.Popen(command[:-3] + ["--storage", str(tmp_path / "reference"), "--quiet"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    exp = tmp_path / "exps" / "k"
    kill_driver_mid_sweep(driver, exp, "lr=1e-3,r=30/checkpoint_*", 240)
    first_rows = (exp / "lr=3e-3,r=30" / "result.json").read_text()
    logged = [epoch for epoch, _ in logged_epochs(exp / "lr=1e-3,r=30")]
    assert 2 <= max(logged) < epochs, "the second trial was not interrupted mid-run"

    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = {r["trial"]: r for r in read_results(exp)}
    assert {t: r["epochs_done"] for t, r in rows.items()} == {"lr=3e-3,r=30": str(epochs), "lr=1e-3,r=30": str(epochs)}
    # The finished trial was not run again: its rows are as the killed driver left them.
    assert (exp / "lr=3e-3,r=30" / "result.json").read_text() == first_rows
    logged = [epoch for epoch, _ in logged_epochs(exp / "lr=1e-3,r=30")]
    assert sorted(set(logged)) == list(range(1, epochs + 1))

    from tune_genres.results.trials import read_trials

    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err[-2000:]
    # Equal to the uninterrupted run to the last digit: training is deterministic given the seed,
    # and a restore brings back the weights, the optimizer and every RNG state.
    expected = {r["trial"]: r for r in read_results(tmp_path / "reference" / "k")}
    scores = [c for c in expected["lr=1e-3,r=30"] if c.startswith(("val_", "test_", "last_", "best_")) and c != "best_checkpoint"]
    assert {t: [r[c] for c in scores] for t, r in rows.items()} == {t: [r[c] for c in scores] for t, r in expected.items()}
    curves = [{t.name: [(r["epoch"], r["train_loss"], r["val_map"]) for r in t.rows] for t in read_trials(folder)}
              for folder in (exp, tmp_path / "reference" / "k")]
    assert curves[0] == curves[1]


def test_resume_refuses_a_rebuilt_dataset_a_changed_sweep_and_flags_tune_would_ignore(finished, dataset, tmp_path, capsys):
    # The same posters rebuilt with another split seed, under another path: its test split holds training posters.
    rebuilt = tmp_path / "rebuilt"
    build(dataset.parent / "raw", rebuilt, "top:4", ratios=[30, 44], seed=1)
    capsys.readouterr()  # the build's progress bar
    resume = ["sweep", str(finished / "sweep.toml"), "--storage", str(finished.parent), "--resume"]
    assert main(resume + ["--dataset", str(rebuilt)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"dataset {rebuilt.resolve()} (fingerprint" in err and "is not the one" in err and "--name tiny-2" in err
    assert len(err.splitlines()) == 1
    changed = tmp_path / "tiny.toml"
    changed.write_text((finished / "sweep.toml").read_text().replace("epochs = 2", "epochs = 3"))
    assert main(["sweep", str(changed), "--dataset", str(dataset), "--storage", str(finished.parent), "--resume"]) == 2
    assert "differs from the one" in capsys.readouterr().err
    assert main(resume + ["--dataset", str(dataset), "--max-concurrent", "1"]) == 2
    assert "--max-concurrent 1 differs from the experiment's 0" in capsys.readouterr().err


def test_a_folder_left_before_tune_saved_any_state_is_taken_over(dataset, ray_local, tmp_path, capsys):
    # What a driver killed between writing the experiment folder and Tune's first save leaves.
    (tmp_path / "one.toml").write_text(TINY_SWEEP.replace('"tiny"', '"one"').replace("lr = [3e-3, 1e-3]", "lr = [3e-3]")
                                       .replace("ratio = [30, 44]", "ratio = [30]").replace("epochs = 2", "epochs = 1"))
    folder = tmp_path / "exps" / "one"
    folder.mkdir(parents=True)
    (folder / "sweep.toml").write_text((tmp_path / "one.toml").read_text())
    command = ["sweep", str(tmp_path / "one.toml"), "--dataset", str(dataset), "--storage", str(tmp_path / "exps"), "--quiet"]
    assert main(command + ["--resume"]) == 0
    assert "holds no saved Tune state yet" in capsys.readouterr().out
    assert [r["status"] for r in read_results(folder)] == ["finished"]


def test_asha_stops_the_weak_trials_early(dataset, ray_local, tmp_path, capsys):
    (tmp_path / "asha.toml").write_text(
        "name = 'asha'\n[grid]\nlr = [3e-3, 1e-3, 1e-4, 1e-5]\nratio = [30]\n[train]\nloss = 'bce'\nepochs = 4\n"
        "checkpoint_every = 2\nbatch_size = 16\n[scheduler]\ntype = 'asha'\ngrace_period = 1\nreduction_factor = 2\n"
    )
    code = main(["sweep", str(tmp_path / "asha.toml"), "--dataset", str(dataset), "--storage", str(tmp_path / "exps"), "--quiet"])
    assert code == 0
    rows = read_results(tmp_path / "exps" / "asha")
    states = sorted(r["status"] for r in rows)
    assert "finished" in states and "stopped early" in states, states
    for row in rows:
        assert (row["status"] == "finished") == (row["epochs_done"] == "4")
        # Every trial's chosen weights were scored on test once: by itself, or by the driver when ASHA stopped it.
        assert row["test_scored_by"] == ("trial" if row["status"] == "finished" else "driver")
        assert 0 <= float(row["test_map"]) <= 1 and 1 <= int(row["best_epoch"]) <= int(row["epochs_done"])
        if row["status"] == "stopped early":
            # The driver's scores are in the trial's record, and its tuned thresholds in the checkpoint,
            # where evaluate and predict find them.
            record = json.loads((tmp_path / "exps" / "asha" / row["trial"] / "trial.json").read_text())
            assert record["scores"]["test_map"] == float(row["test_map"]) and record["checkpoint"] == row["best_checkpoint"]
            assert load_checkpoint(record["checkpoint"])["thresholds"] == record["thresholds"]
            assert len(record["thresholds"]) == 4

    # compare shows where ASHA cut each trial: epochs trained (best epoch) in the lr x ratio table.
    assert main(["compare", str(tmp_path / "exps" / "asha")]) == 0
    epochs = markdown_table(capsys.readouterr().out, "### Epochs trained, of 4; best epoch in brackets")
    for row in rows:
        assert epochs[format_lr(float(row["lr"]))] == [f"{row['epochs_done']} ({row['best_epoch']})"]


def markdown_table(page: str, heading: str) -> dict[str, list[str]]:
    """The Markdown table under `heading` as {first cell: the other cells}."""
    lines = page.split(heading + "\n", 1)[1].lstrip("\n").splitlines()
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_compare_puts_each_experiments_choice_beside_the_baselines_and_publishes_its_report(finished, tmp_path, capsys):
    import shutil

    other = tmp_path / "exps" / "tiny-again"
    shutil.copytree(finished, other)
    out = tmp_path / "published"
    assert main(["compare", str(finished), str(other), "--out", str(out)]) == 0
    page = capsys.readouterr().out
    assert (out / "comparison.md").read_text() == page
    rows = {r["trial"]: r for r in read_results(finished)}
    best = max(rows.values(), key=lambda r: float(r["val_map"]))
    baselines = json.loads((finished / "baselines.json").read_text())
    line = next(l for l in page.splitlines() if l.startswith("| tiny |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == best["trial"] and cells[5] == f"{float(best['val_map']):.3f}"
    assert cells[6] == f"{float(best['test_map']):.3f}" and cells[7] == f"{baselines['test']['prior']['map']:.3f}"
    # The lr x ratio table of test mAP holds every trial's own test score.
    section = page.split("## tiny\n", 1)[1]
    table = markdown_table(section, "### test macro average precision")
    assert table["3e-3"] == [f"{float(rows[f'lr=3e-3,r={r}']['test_map']):.3f}" for r in (30, 44)]
    assert markdown_table(section, "### Epochs trained, of 2; best epoch in brackets")["1e-3"][0] == \
        f"2 ({rows['lr=1e-3,r=30']['best_epoch']})"
    # Tables and pictures only: no checkpoints leave the experiment.
    for name in ("tiny", "tiny-again"):
        assert {p.name for p in (out / name).iterdir()} >= {"results.md", "results.csv", "heatmap.png",
                                                           "learning-curves.png", "sweep.toml", "baselines.json"}
        assert not list((out / name).glob("checkpoint_*"))


def test_compare_refuses_two_experiments_of_one_name_and_a_missing_folder(finished, tmp_path, capsys):
    assert main(["compare", str(finished), str(finished)]) == 2
    assert main(["compare", str(finished), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tune-genres: error: experiment names must differ (their reports are kept by name): tiny",
                   f"tune-genres: error: {tmp_path / 'nowhere'}: no such experiment folder"]
