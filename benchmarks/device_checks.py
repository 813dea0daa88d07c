"""The checks of one device's training path, shared by gpu_check.py and the tests marked `cuda`.

Free of Ray and pytest (the GPU machine has neither): every check runs training.trial.run_trial with
a plain report function, as the sweep's trainable runs it, on posters synthesised here as uint8
arrays (no dataset to build, no JPEG to decode).

- resident_check: the splits live on the device as uint8 and a trial trains there.
- resume_check: N epochs straight, against the same trial stopped after a checkpoint (as a crash
  stops it), its checkpoint loaded onto the device and resumed: final metrics equal to TOLERANCE.
- cross_device_check: a checkpoint written on one device loads, bit for bit, and resumes on another.
- throughput: one trial per ratio and mode (eager fp32, bf16, bf16 + torch.compile): images/s, memory.
- packing: N trial processes sharing the device at once: aggregate images/s.
- kill_and_resume: a trial process killed with SIGKILL mid-trial, resumed from its last checkpoint
  in a new process, against an uninterrupted process.
- feature_pass_memory_check (CUDA): after a frozen body's feature pass, as the sweep's driver runs
  it before the trials, the process holds (nearly) no GPU memory (sweep/feature_cache.py).

Run as a script it is one trial process (packing, kill_and_resume): `python device_checks.py SPEC.json`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The GPU machine has this project unpacked, not installed: import it from here.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dataset_builder.images import size_for_ratio  # noqa: E402
from tune_genres.sweep.sweep_file import TRAIN_KEYS  # noqa: E402 (the schema; no Ray)
from tune_genres.sweep.worker_env import release_freed_memory, trial_env  # noqa: E402 (no Ray)
from tune_genres.training.checkpoint import load_checkpoint  # noqa: E402
from tune_genres.training.data import ResidentSplit  # noqa: E402
from tune_genres.training.device import set_threads  # noqa: E402
from tune_genres.training.precision import forget_compiled  # noqa: E402
from tune_genres.training.trial import run_trial  # noqa: E402

GENRES = 4
# Resumed against uninterrupted. On the CPU the two are equal to the last bit. On a GPU they are
# not: cuDNN's max-pool backward adds gradients with atomics in no fixed order, and cudnn.benchmark
# may choose other kernels in another process, so the runs differ in the last bits from the first
# step and drift a little. The threshold-free scores (val and test map and roc_auc_macro) must
# then agree to METRIC_TOLERANCE and the losses (train, val, test) to LOSS_TOLERANCE, relative.
# (Thresholded scores such as F1 or subset accuracy move by a whole poster at a time: compared
# exactly on the CPU only.)
METRIC_TOLERANCE = 0.02
LOSS_TOLERANCE = 0.02
COMPARED_METRICS = ("val_map", "val_roc_auc_macro", "test_map", "test_roc_auc_macro")
COMPARED_LOSSES = ("train_loss", "val_loss", "test_loss")
# Per-epoch measurements and where a row ran: not results, never compared.
NOT_RESULTS = {"train_images_per_s", "epoch_s", "timestamp", "pid", "device", "precision", "node_id", "gpu_ids"}


# -- data and configs ----------------------------------------------------------------------------


def synthetic_arrays(ratio: int, train: int, val: int, test: int, seed: int = 0) -> dict:
    """data.trial_arrays' dict for `ratio`: uint8 posters whose genres show as bright bands (so a
    few epochs learn something), multi-hot labels (each row at least one genre), contiguous splits."""
    width, height = size_for_ratio(ratio)
    count = train + val + test
    rng = np.random.default_rng(seed)
    labels = (rng.random((count, GENRES)) < 0.35).astype(np.uint8)
    labels[np.arange(count), rng.integers(0, GENRES, count)] = 1
    images = rng.integers(0, 96, (count, height, width, 3), dtype=np.uint8)
    band = height // GENRES
    for genre in range(GENRES):
        images[labels[:, genre] == 1, genre * band : (genre + 1) * band, :, genre % 3] += 128
    rows = np.arange(count, dtype=np.int64)
    return {
        "images": images,
        "labels": labels,
        "genres": [f"genre{g}" for g in range(GENRES)],
        "train": rows[:train],
        "val": rows[train : train + val],
        "test": rows[train + val :],
    }


def trial_config(ratio: int, **overrides) -> dict:
    """A trial's config as the driver makes it (the sweep file's defaults), with `overrides`."""
    config = {key: spec.default for key, spec in TRAIN_KEYS.items()}
    config.update(lr=1e-3, ratio=ratio, loss="bce", batch_size=32, checkpoint_every=1, precision="fp32")
    config.update(overrides)
    return config


def device_memory(device: torch.device) -> dict:
    """Peak memory since the last reset_peak_memory: GPU memory allocated by torch, or the process's RSS."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return {"peak_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
                "device_used_mib": (total - free) / 2**20}
    return {"peak_rss_mib": peak_rss_mib()}


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        # The trial environment's malloc keeps freed memory in the process (worker_env.py): hand it
        # back first, as the trainable does when a trial ends, or the peak is every earlier run's.
        release_freed_memory()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: restart VmHWM (peak RSS) from now
        except OSError:
            pass  # elsewhere the peak is the process's


def peak_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- one trial in this process -------------------------------------------------------------------


class Stop(Exception):
    """Raised by a report function to end a trial after a checkpoint, as a crash would."""


def keep_checkpoint(checkpoint_dir: str, keep: Path, epoch: int) -> Path:
    """Copy run_trial's checkpoint (gone after the report) to keep/epoch_NNNN, whole or not at all."""
    keep.mkdir(parents=True, exist_ok=True)
    final, partial = keep / f"epoch_{epoch:04d}", keep / f".epoch_{epoch:04d}.partial"
    shutil.copytree(checkpoint_dir, partial)
    partial.rename(final)
    return final


def latest_checkpoint(keep: Path) -> Path:
    return max(keep.glob("epoch_*"))


def train(config: dict, arrays: dict, device, *, resume: dict | None = None, stop_after: int | None = None,
          keep: Path | None = None, on_row=None) -> list[dict]:
    """run_trial with a plain report function: the rows it reported. Checkpoints are copied to
    `keep`; the trial stops after epoch `stop_after`; on_row(row) sees each row as it comes."""
    rows: list[dict] = []

    def report(metrics: dict, checkpoint_dir: str | None = None) -> None:
        rows.append(dict(metrics))
        if checkpoint_dir is not None and keep is not None:
            keep_checkpoint(checkpoint_dir, keep, metrics["epoch"])
        if on_row is not None:
            on_row(rows[-1])
        if metrics["epoch"] == stop_after:
            raise Stop

    try:
        run_trial(config, arrays, report, resume=resume, device=device)
    except Stop:
        pass
    finally:
        forget_compiled()  # as the trainable does when a trial ends
    return rows


def compare(straight: list[dict], lineage: list[dict], exact: bool) -> dict:
    """Does the resumed lineage end where the uninterrupted run ended? Epochs 1..N each once, the same
    precision, and the final scores equal (exact) or within the tolerances."""
    last, other = straight[-1], lineage[-1]
    metric_diff = max(abs(last[k] - other[k]) for k in COMPARED_METRICS)
    loss_diff = max(abs(last[k] - other[k]) / max(abs(last[k]), 1e-12) for k in COMPARED_LOSSES)
    epochs_whole = [row["epoch"] for row in lineage] == list(range(1, last["epoch"] + 1))
    same_precision = {row["precision"] for row in lineage} == {last["precision"]}
    results = sorted(k for k in last if k not in NOT_RESULTS and isinstance(last[k], (int, float)))
    if exact:
        close = all(last[k] == other[k] or (math.isnan(last[k]) and math.isnan(other[k])) for k in results)
    else:
        close = metric_diff <= METRIC_TOLERANCE and loss_diff <= LOSS_TOLERANCE
    return {
        "matches": bool(close and epochs_whole and same_precision),
        "exact": exact,
        "epochs_whole": epochs_whole,
        "same_precision": same_precision,
        "max_metric_diff": metric_diff,
        "max_loss_rel_diff": loss_diff,
        "final": {k: last[k] for k in COMPARED_METRICS + COMPARED_LOSSES},
    }


def small_arrays(ratio: int = 30) -> dict:
    return synthetic_arrays(ratio, train=256, val=128, test=128)


# -- the checks ----------------------------------------------------------------------------------


def resident_check(device) -> dict:
    """The splits are uint8 on the device, batches float on the device, and a trial trains there."""
    device = torch.device(device)
    arrays = small_arrays()
    split = ResidentSplit.from_arrays(arrays, "train", device)
    x, y = next(split.batches(32, torch.Generator().manual_seed(0)))
    rows = train(trial_config(30, epochs=1), arrays, device)
    ok = (split.images.dtype == torch.uint8 and split.images.device.type == device.type
          and x.dtype == torch.float32 and x.device.type == device.type and y.device.type == device.type
          and rows[-1]["device"].startswith(device.type) and math.isfinite(rows[-1]["train_loss"]))
    return {"ok": bool(ok), "images": f"{tuple(split.images.shape)} {split.images.dtype} on {split.images.device}",
            "trained_on": rows[-1]["device"]}


def resume_check(device, precision: str = "fp32", compile: bool = False, epochs: int = 4, stop_after: int = 2) -> dict:
    """Uninterrupted against stopped after epoch `stop_after`'s checkpoint, loaded onto `device` and resumed."""
    device = torch.device(device)
    arrays = small_arrays()
    config = trial_config(30, epochs=epochs, precision=precision, compile=compile)
    started = time.perf_counter()
    straight = train(config, arrays, device)
    with tempfile.TemporaryDirectory(prefix="resume-check-") as tmp:
        first = train(config, arrays, device, stop_after=stop_after, keep=Path(tmp))
        state = load_checkpoint(latest_checkpoint(Path(tmp)), map_location=device)
        resumed = train(config, arrays, device, resume=state)
    result = compare(straight, first + resumed, exact=device.type == "cpu")
    result.update(precision=straight[-1]["precision"], compile=compile, resumed_from=stop_after,
                  seconds=time.perf_counter() - started)
    return result


def cross_device_check(device, other, epochs: int = 3, stop_after: int = 1) -> dict:
    """A checkpoint written on `device` loads onto `other` bit for bit, and the trial resumes there."""
    device, other = torch.device(device), torch.device(other)
    arrays = small_arrays()
    config = trial_config(30, epochs=epochs)
    with tempfile.TemporaryDirectory(prefix="cross-device-") as tmp:
        first = train(config, arrays, device, stop_after=stop_after, keep=Path(tmp))
        here = load_checkpoint(latest_checkpoint(Path(tmp)), map_location=device)
        there = load_checkpoint(latest_checkpoint(Path(tmp)), map_location=other)
    same_weights = all(torch.equal(here["model"][k].cpu(), there["model"][k].cpu()) for k in here["model"])
    on_other = all(t.device.type == other.type for t in there["model"].values())
    resumed = train(config, arrays, other, resume=there)
    lineage = first + resumed
    ok = (same_weights and on_other and [r["epoch"] for r in lineage] == list(range(1, epochs + 1))
          and resumed[-1]["device"].startswith(other.type) and math.isfinite(resumed[-1]["val_loss"]))
    return {"ok": bool(ok), "from": str(device), "to": str(other), "weights_equal_after_load": same_weights,
            "final_val_map": resumed[-1]["val_map"]}


# What a driver may keep reserved after its feature pass: the blocks are returned; a few MiB of
# allocator bookkeeping at most. (The CUDA context is not counted by torch's allocator.)
FREED_TOLERANCE_MIB = 8.0


def feature_pass_memory_check(device, posters: int = 2048, ratio: int = 58, model: str = "resnet18",
                              scale: float = 2.0) -> dict:
    """A frozen body's features of `posters` synthetic posters on a CUDA device, as the driver
    computes them before the trials (sweep/feature_cache.body_features, randomly initialised
    weights: no download): afterwards torch.cuda.memory_reserved() is back to what it was before
    (run first in a fresh process: 0), within FREED_TOLERANCE_MIB. Figures in MiB."""
    from tune_genres.sweep.feature_cache import body_features  # no Ray: numpy and dataset_builder only

    device = torch.device(device)
    if device.type != "cuda":
        raise ValueError("feature_pass_memory_check measures CUDA memory: give it a CUDA device")
    width, height = size_for_ratio(ratio)
    images = np.random.default_rng(0).integers(0, 256, (posters, height, width, 3), dtype=np.uint8)
    mib = 2**20
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_reserved(device) / mib
    torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    matrix = body_features(images, model, GENRES, height, width, scale, None, device)
    seconds = time.perf_counter() - started
    torch.cuda.synchronize(device)
    after = torch.cuda.memory_reserved(device) / mib
    ok = matrix.shape[0] == posters and bool(np.isfinite(matrix).all()) and after <= before + FREED_TOLERANCE_MIB
    return {"ok": bool(ok), "model": model, "posters": posters, "ratio": ratio, "input_scale": scale,
            "image_array_mib": images.nbytes / mib, "reserved_before_mib": before,
            "peak_reserved_mib": torch.cuda.max_memory_reserved(device) / mib, "reserved_after_mib": after,
            "allocated_after_mib": torch.cuda.memory_allocated(device) / mib, "seconds": seconds}


MODES = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"},
         "bf16+compile": {"precision": "bf16", "compile": True}}


def throughput_arrays(ratio: int, train_count: int) -> dict:
    """Posters for throughput runs: a whole number of batches (no short last batch, so compile
    records one graph per ratio), a validation split an eighth of that."""
    train_count -= train_count % 32
    return synthetic_arrays(ratio, train=train_count, val=max(64, train_count // 8), test=64)


def throughput(device, ratio: int, arrays: dict, mode: str, epochs: int = 3) -> dict:
    """One trial of `epochs` on `arrays` (throughput_arrays(ratio, ...)) in `mode`: its best training
    images/s after the first epoch (which pays for compiling and cuDNN's kernel search), the first
    epoch's seconds, peak memory."""
    device = torch.device(device)
    reset_peak_memory(device)
    rows = train(trial_config(ratio, epochs=epochs, checkpoint_every=epochs, **MODES[mode]), arrays, device)
    memory = device_memory(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"images_per_s": max(r["train_images_per_s"] for r in rows[1:]), "first_epoch_s": rows[0]["epoch_s"],
            "steady_epoch_s": min(r["epoch_s"] for r in rows[1:]), "train_images": len(arrays["train"]),
            "precision": rows[-1]["precision"], **memory}


# -- trial processes -----------------------------------------------------------------------------


def start_trial_process(spec: dict, folder: Path) -> subprocess.Popen:
    """A trial process (this file run as a script) for `spec`, in the environment a Ray trial gets."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps(spec))
    log = open(folder / "log.txt", "w")
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(folder / "spec.json")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **trial_env()})


def read_rows(path: Path) -> list[dict]:
    """The whole lines of a trial process's rows file (a line being written is left for later)."""
    if not path.is_file():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]


def wait_for(condition, processes: list[subprocess.Popen], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        failed = [p for p in processes if p.poll() not in (None, 0)]
        if failed:
            raise RuntimeError(f"a trial process exited with {failed[0].returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def finish(processes: list[subprocess.Popen], folders: list[Path], timeout: float) -> None:
    for process, folder in zip(processes, folders):
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise RuntimeError(f"trial process in {folder} still running after {timeout:.0f} s") from None
        if code != 0:
            tail = (folder / "log.txt").read_text()[-2000:]
            raise RuntimeError(f"trial process in {folder} exited with {code}:\n{tail}")


def packing(device, processes: int, ratio: int, train_count: int, timed_epochs: int = 2, mode: str = "fp32",
            timeout: float = 300) -> dict:
    """`processes` trial processes on the device at once. Each trains one epoch (start-up, kernel
    search), waits until all have, then trains `timed_epochs` more. Aggregate images/s: every
    process's training images of the timed epochs over the wall time from the first timed epoch's
    start to the last one's end (their validation passes included, as in a sweep)."""
    device = torch.device(device)
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="packing-") as tmp:
        go = Path(tmp) / "go"
        folders = [Path(tmp) / f"trial{i}" for i in range(processes)]
        config = trial_config(ratio, epochs=1 + timed_epochs, checkpoint_every=1 + timed_epochs, **MODES[mode])
        spec = {"device": str(device), "config": config, "train": train_count, "val": 64, "test": 64,
                "threads": max(1, cpus // processes), "barrier": str(go)}
        started = time.perf_counter()
        running = [start_trial_process({**spec, "rows": str(f / "rows.jsonl")}, f) for f in folders]
        wait_for(lambda: all(read_rows(f / "rows.jsonl") for f in folders), running, timeout, "every process's first epoch")
        go.touch()
        finish(running, folders, timeout)
        rows = [[r for r in read_rows(f / "rows.jsonl") if r.get("epoch", 0) > 1 and "train_loss" in r] for f in folders]
        summaries = [read_rows(f / "rows.jsonl")[-1] for f in folders]
    window = max(r[-1]["timestamp"] for r in rows) - min(r[0]["timestamp"] - r[0]["epoch_s"] for r in rows)
    images = sum(len(r) * train_count for r in rows)
    return {
        "processes": processes,
        "aggregate_images_per_s": images / window,
        "per_process_images_per_s": [sum(x["train_images_per_s"] for x in r) / len(r) for r in rows],
        "threads_per_process": spec["threads"],
        "peak_per_process_mib": max(s["peak_mib"] for s in summaries),
        "device_used_mib": max(s.get("device_used_mib", 0.0) for s in summaries),
        "seconds": time.perf_counter() - started,
    }


def kill_and_resume(device, epochs: int = 5, kill_after: int = 3, checkpoint_every: int = 2, timeout: float = 300) -> dict:
    """An uninterrupted trial process; the same trial in a process killed with SIGKILL after epoch
    `kill_after` (its last checkpoint an earlier epoch, the epoch after it under way or about to be),
    then resumed from that checkpoint in a new process: does it end where the uninterrupted one did?"""
    device = torch.device(device)
    # The uninterrupted and the doomed process run side by side, each with half the CPUs (the
    # resumed one too: on the CPU the thread count is part of what makes a run repeat exactly).
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    config = trial_config(30, epochs=epochs, checkpoint_every=checkpoint_every)
    spec = {"device": str(device), "config": config, "train": 256, "val": 128, "test": 128, "threads": threads}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kill-resume-") as tmp:
        reference, victim, resumed = (Path(tmp) / name for name in ("reference", "victim", "resumed"))
        uninterrupted = start_trial_process({**spec, "rows": str(reference / "rows.jsonl")}, reference)
        # The victim holds still after reporting epoch `kill_after`, so the kill lands mid-trial
        # on any device speed: after a checkpoint, with the epochs after it not saved.
        process = start_trial_process({**spec, "rows": str(victim / "rows.jsonl"), "keep": str(victim / "checkpoints"),
                                       "hold_after": kill_after}, victim)
        wait_for(lambda: any(r.get("epoch") == kill_after for r in read_rows(victim / "rows.jsonl")), [process],
                 timeout, f"the victim's epoch {kill_after}")
        os.kill(process.pid, signal.SIGKILL)
        victim_exit = process.wait()
        finish([uninterrupted], [reference], timeout)
        checkpoint = latest_checkpoint(victim / "checkpoints")
        history = load_checkpoint(checkpoint)["history"]
        process = start_trial_process({**spec, "rows": str(resumed / "rows.jsonl"), "resume_from": str(checkpoint)}, resumed)
        finish([process], [resumed], timeout)
        straight = [r for r in read_rows(reference / "rows.jsonl") if "train_loss" in r]
        after = [r for r in read_rows(resumed / "rows.jsonl") if "train_loss" in r]
    result = compare(straight, history + after, exact=device.type == "cpu")
    result.update(victim_exit=victim_exit, killed_after_epoch=kill_after, resumed_from_epoch=len(history),
                  seconds=time.perf_counter() - started)
    return result


def trial_process(spec_path: str) -> None:
    """One trial process: trains spec's config on synthetic posters, writing each row (and a last
    line with its peak memory) to spec["rows"]; waits at spec["barrier"] after epoch 1; holds still
    after epoch spec["hold_after"] (to be killed); resumes from spec["resume_from"]."""
    spec = json.loads(Path(spec_path).read_text())
    device = torch.device(spec["device"])
    set_threads(spec["threads"])
    config = spec["config"]
    arrays = synthetic_arrays(config["ratio"], spec["train"], spec["val"], spec["test"])
    resume = load_checkpoint(spec["resume_from"], map_location=device) if spec.get("resume_from") else None
    rows_path, barrier = Path(spec["rows"]), spec.get("barrier")
    used = [0.0]

    def on_row(row: dict) -> None:
        with open(rows_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if device.type == "cuda":
            free, total = torch.cuda.mem_get_info(device)
            used[0] = max(used[0], (total - free) / 2**20)  # every process's memory on the device, contexts included
        if barrier and row["epoch"] == 1:
            while not os.path.exists(barrier):
                time.sleep(0.005)
        if row["epoch"] == spec.get("hold_after"):
            while True:
                time.sleep(1)  # until killed

    reset_peak_memory(device)
    keep = Path(spec["keep"]) if spec.get("keep") else None
    train(config, arrays, device, resume=resume, keep=keep, on_row=on_row)
    memory = device_memory(device)
    peak = memory.get("peak_allocated_mib", memory.get("peak_rss_mib"))
    with open(rows_path, "a") as f:
        f.write(json.dumps({"peak_mib": peak, "device_used_mib": used[0]}) + "\n")


if __name__ == "__main__":
    trial_process(sys.argv[1])
