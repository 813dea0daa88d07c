"""A sweep whose experiment lives on object storage, as a cluster without a shared disk runs it:
`tune-genres sweep --storage s3://...` against a real S3 server (moto's, on 127.0.0.1), the
endpoint and keys given the AWS SDKs' way. Everything the experiment holds goes to the bucket and
nothing to this disk, no secret is written or printed, a killed driver's sweep resumes there with
every trial once, a rebuilt dataset is refused, and the readers take the URI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from dataset_builder.build import build
from support.processes import interruptible, killed_at_exit, wait_for, while_running
from support.sweeps import TUNE_GENRES, learnable_dataset, write_sweep

EPOCHS = 2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return learnable_dataset(tmp_path_factory.mktemp("s3-data"))


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """A tune-genres command as a user runs it, in the environment the `s3` fixture pointed at the server."""
    env = {**os.environ, "TUNE_GENRES_STORAGE": str(cwd / "default-storage")}
    return subprocess.run([TUNE_GENRES, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def whole_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def records(objects: dict[str, bytes], experiment: str) -> dict[str, dict]:
    """Each trial's record in the bucket, by trial name."""
    return {key.split("/")[-2]: json.loads(data) for key, data in objects.items()
            if key.startswith(f"{experiment}/") and key.endswith("/trial.json")}


def test_a_sweep_on_s3_keeps_its_experiment_there_and_no_secret_anywhere(s3, dataset, tmp_path):
    sweep = write_sweep(tmp_path / "small.toml", "small", [3e-3, 1e-3], epochs=EPOCHS)
    storage = s3.uri("exps")
    ran = run(["sweep", str(sweep), "--dataset", str(dataset), "--storage", storage, "--quiet"], tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert f"tune-genres: experiment {storage}/small" in ran.stderr

    objects = s3.objects()
    for name in ("experiment.json", "baselines.json", "precision.json", "sweep.toml", "results.md", "results.csv"):
        assert f"exps/small/{name}" in objects, name
    assert "exps/small/.driver.lock" not in objects  # released
    experiment = json.loads(objects["exps/small/experiment.json"])
    assert experiment["select_metric"] == "val_map" and experiment["environment"]["python"]
    trials = records(objects, "exps/small")
    assert sorted(trials) == ["lr=1e-3,r=30", "lr=3e-3,r=30"]
    for name, record in trials.items():
        assert record["status"] == "finished" and [r["epoch"] for r in record["rows"]] == list(range(1, EPOCHS + 1))
        assert record["test_scored_by"] == "trial" and 0 <= record["scores"]["test_map"] <= 1
        assert record["checkpoint"].startswith(f"{storage}/small/{name}/checkpoint_")
        assert f"exps/small/{name}/{record['checkpoint'].rsplit('/', 1)[1]}/checkpoint.pt" in objects
        # The chosen weights' predictions, copied beside the record for ensembles.
        assert record["predictions"] == "predictions.npz" and f"exps/small/{name}/predictions.npz" in objects
    assert "| lr \\ ratio | 30% |" in objects["exps/small/results.md"].decode()

    # Nothing of the experiment on this disk: not here, not in the default storage.
    assert not (tmp_path / "default-storage").exists() and not (tmp_path / "experiments").exists()
    # The secret key reached the trials (their checkpoints are in the bucket) but no file, log line or message.
    secret = s3.server.secret
    assert secret not in ran.stdout + ran.stderr
    assert not [key for key, data in objects.items() if secret.encode() in data]

    # --resume across a dataset rebuilt with another split: refused on S3 as on a disk.
    rebuilt = tmp_path / "rebuilt"
    build(dataset.parent / "raw", rebuilt, "top:4", ratios=[30], seed=1)
    refused = run(["sweep", str(sweep), "--dataset", str(rebuilt), "--storage", storage, "--resume", "--quiet"], tmp_path)
    assert refused.returncode == 2
    assert "is not the one" in refused.stderr and "resuming would mix splits" in refused.stderr

    # The readers take the URI: the report read back from the bucket is the one the sweep wrote.
    reported = run(["report", f"{storage}/small"], tmp_path)
    assert reported.returncode == 0, reported.stderr[-2000:]
    assert s3.objects()["exps/small/results.md"] == objects["exps/small/results.md"]
    best = trials["lr=3e-3,r=30"]["checkpoint"]
    evaluated = run(["evaluate", best, str(dataset), "--bootstrap", "0"], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert f"measured on {dataset}, split test:" in evaluated.stdout
    assert secret not in reported.stdout + reported.stderr + evaluated.stdout + evaluated.stderr

    # An ensemble of its trials, written into the experiment in the bucket; evaluate takes its URI.
    ensembled = run(["ensemble", f"{storage}/small", "--size", "3", "--bootstrap", "0"], tmp_path)
    assert ensembled.returncode == 0, ensembled.stderr[-2000:]
    assert "exps/small/ensemble/ensemble.json" in s3.objects()
    evaluated = run(["evaluate", f"{storage}/small/ensemble", str(dataset), "--bootstrap", "0"], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert evaluated.stdout.startswith(f"ensemble {storage}/small/ensemble: the mean of ")
    assert secret not in ensembled.stdout + ensembled.stderr + evaluated.stdout + evaluated.stderr


def test_a_driver_killed_on_s3_resumes_with_every_trial_once(s3, dataset, tmp_path):
    epochs = 16
    sweep = write_sweep(tmp_path / "long.toml", "long", [3e-3, 1e-3], epochs=epochs, checkpoint_every=2, batch_size=4,
                        extra="[resources]\nmax_concurrent = 1\n")
    command = ["sweep", str(sweep), "--dataset", str(dataset), "--storage", s3.uri("exps"), "--quiet"]
    driver = subprocess.Popen([TUNE_GENRES, *command], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible,
                              env={**os.environ, "TUNE_GENRES_STORAGE": str(tmp_path / "default-storage")})
    with killed_at_exit(driver):
        def checkpointed() -> bool:
            return any("/checkpoint_" in key for key in s3.server.objects(f"{s3.prefix}/exps/long"))

        wait_for(while_running(driver, checkpointed), 240, "the first trial's first checkpoint in the bucket")
        driver.send_signal(signal.SIGKILL)  # no handler runs: its lock object stays behind
        driver.wait(timeout=30)

    resumed = run(command + ["--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"took over the lock of a driver that is no longer running (pid {driver.pid} on host" in resumed.stderr
    trials = records(s3.objects(), "exps/long")
    assert sorted(trials) == ["lr=1e-3,r=30", "lr=3e-3,r=30"]  # each trial once, none started twice
    for record in trials.values():
        assert record["status"] == "finished"
        assert [r["epoch"] for r in record["rows"]] == list(range(1, epochs + 1))  # every epoch, once


@pytest.fixture
def cluster(s3):
    """Two 1-CPU raylets on this machine, started after the `s3` fixture pointed the environment
    at the server (RAY_TMPDIR: away from any other Ray here). The nodes get no S3 settings of
    their own: the driver hands them to its trials."""
    import shutil
    import tempfile

    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="tg-s3-", dir="/tmp")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", temp)
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        nodes.add_node(num_cpus=1)
        nodes.wait_for_nodes()
        try:
            yield nodes
        finally:
            nodes.shutdown()
            shutil.rmtree(temp, ignore_errors=True)


def test_a_node_lost_mid_trial_on_s3_and_its_trial_finishes_on_another_from_its_s3_checkpoint(s3, cluster, dataset, tmp_path):
    import ray

    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    epochs = 8
    sweep = write_sweep(tmp_path / "three.toml", "three", [3e-3, 1e-3, 5e-4], epochs=epochs, checkpoint_every=1, batch_size=4)
    command = [TUNE_GENRES, "sweep", str(sweep), "--dataset", str(dataset), "--address", cluster.address,
               "--storage", s3.uri("exps"), "--quiet"]
    # The driver syncs its trials' records to the bucket every second (Tune's default: minutes).
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1", "TUNE_GENRES_STORAGE": str(tmp_path / "default-storage")}
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def on_doomed() -> str | None:
        """The trial that reported its second epoch from the doomed node (its first checkpoint is in the bucket)."""
        running = {key[len(s3.prefix) + 1:]: data for key, data in s3.server.objects(s3.prefix, "/trial.json").items()}
        # A record the driver replaces while this poll reads it once came back cut short (seen in a CI
        # run): while polling, such a one is read again at the next poll; the assertions below read whole ones.
        running = {key: data for key, data in running.items() if whole_json(data)}
        for name, record in records(running, "exps/three").items():
            if any(r.get("node_id") == doomed.node_id and r["epoch"] >= 2 for r in record["rows"]):
                return name
        return None

    with killed_at_exit(driver):
        victim = wait_for(while_running(driver, on_doomed), 240, "a trial's second epoch on the doomed node", every=0.2)
        cluster.remove_node(doomed, allow_graceful=False)  # its raylet and every process on it are killed
        output, _ = driver.communicate(timeout=400)
    assert driver.returncode == 0, output[-3000:]

    trials = records(s3.objects(), "exps/three")
    assert {(r["status"], r["epochs_done"]) for r in trials.values()} == {("finished", epochs)}
    nodes = [r["node_id"] for r in trials[victim]["rows"]]
    assert [r["epoch"] for r in trials[victim]["rows"]] == list(range(1, epochs + 1))  # none lost, none twice
    assert nodes[0] == doomed.node_id and nodes[-1] != doomed.node_id  # resumed elsewhere from its S3 checkpoint
    assert not (tmp_path / "default-storage").exists() and s3.server.secret not in output


def test_a_tpe_sweep_on_s3_keeps_its_study_journal_in_the_bucket(s3, dataset, tmp_path):
    """The journal is appended to in a working copy on the driver and uploaded with Tune's snapshots
    (sweep/optuna_study.py): at the end the bucket's optuna.log holds every trial, told its best value."""
    import optuna

    sweep = tmp_path / "tpe.toml"
    sweep.write_text("name = 'tpe'\n[space]\nlr = {loguniform = [1e-4, 1e-2]}\nratio = [30]\n"
                     f"[train]\nloss = 'bce'\nepochs = {EPOCHS}\nbatch_size = 16\n"
                     "[search]\nalgorithm = 'tpe'\nnum_samples = 2\nmax_concurrent = 1\n")
    ran = run(["sweep", str(sweep), "--dataset", str(dataset), "--storage", s3.uri("exps"), "--quiet"], tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]

    def bucket_study():
        objects = s3.objects()
        (tmp_path / "optuna.log").write_bytes(objects["exps/tpe/optuna.log"])
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna.log")))
        return optuna.load_study(study_name="tpe", storage=storage), records(objects, "exps/tpe")

    study, trials = bucket_study()
    assert sorted(t.value for t in study.trials) == sorted(r["best_value"] for r in trials.values())
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) and len(trials) == 2

    # A resumed driver (here of a finished sweep) starts its working copy from the bucket's journal
    # and uploads it again whole: the study keeps its trials.
    told = [(t.params, t.value) for t in study.trials]
    resumed = run(["sweep", str(sweep), "--dataset", str(dataset), "--storage", s3.uri("exps"), "--quiet", "--resume"],
                  tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [(t.params, t.value) for t in bucket_study()[0].trials] == told
