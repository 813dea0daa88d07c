"""The trainable: one trial of the sweep (Ray Tune's function API), read top to bottom.

Entry: the ratio's arrays come from Ray's object store (put there once by the driver), so no
trial reads the disk. The trial resumes from `tune.get_checkpoint()` when Tune restarts it,
restoring weights, optimizer, epoch, RNG states and the best metric so far. Each epoch trains,
validates and reports; every `checkpoint_every` epochs and at the end the report carries a
checkpoint. The last report adds the test split's metrics.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

import ray
import torch
from ray import tune

from .checkpoint import load_checkpoint, save_checkpoint
from .data import ResidentSplit
from .metrics import compute_metrics
from .model import MiniVGG, model_config
from .training import (
    autocast_dtype,
    compile_for_training,
    generator_state,
    make_generator,
    make_optimizer,
    predict_split,
    seed_everything,
    set_rng_state,
    train_one_epoch,
)
from .worker_env import release_freed_memory

# The metric that decides the "best epoch" a trial reports (higher is better).
BEST_METRIC = "val_map"


def granted_cpus() -> int:
    """CPUs Tune granted this trial: torch must use exactly these, or trials sharing a node fight."""
    try:
        resources = tune.get_context().get_trial_resources().required_resources
        return max(1, int(resources.get("CPU", 1)))
    except Exception:  # outside a Tune session (a plain call, as in tests and benchmarks)
        return max(1, len(os.sched_getaffinity(0)))


def set_threads(cpus: int) -> None:
    torch.set_num_threads(cpus)
    try:
        torch.set_num_interop_threads(cpus)
    except RuntimeError:
        pass  # already fixed in this (reused) worker process; intra-op threads are what matter


def trial_device() -> torch.device:
    """CUDA when Ray granted this trial a GPU (Ray sets CUDA_VISIBLE_DEVICES to it), else CPU."""
    if torch.cuda.is_available() and ray.is_initialized() and ray.get_gpu_ids():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def train_trial(config: dict, data: dict) -> None:
    """Tune entry point. `data` maps each ratio to an ObjectRef of data.trial_arrays()."""
    # Tune logs a line per saved checkpoint from every worker; the report and TensorBoard say it better.
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    arrays = data[config["ratio"]]
    if isinstance(arrays, ray.ObjectRef):
        arrays = ray.get(arrays)
    try:
        run_trial(config, arrays, report=tune.report, checkpoint=tune.get_checkpoint())
    finally:
        # The process keeps its freed training buffers while the trial runs (worker_env.py); a
        # reused worker may wait idle, or next train a smaller ratio, so give them back now.
        release_freed_memory()


def run_trial(config: dict, arrays: dict, report, checkpoint=None) -> None:
    """The training loop, free of Tune: `report(metrics, checkpoint=...)` is called each epoch."""
    set_threads(granted_cpus())
    device = trial_device()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
    seed_everything(config["seed"])
    train, val, test = (ResidentSplit.from_arrays(arrays, name, device) for name in ("train", "val", "test"))
    genres = list(arrays["genres"])
    _, height, width, _ = arrays["images"].shape
    model_cfg = model_config(len(genres), height, width, config["dropout"])
    model = MiniVGG.from_config(model_cfg).to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config["lr"], betas=(config["beta1"], config["beta2"]), eps=config["eps"])
    generator = make_generator(config["seed"])
    meta = {
        "genres": genres,
        "ratio": config["ratio"],
        "size": [width, height],
        "loss": config["loss"],
        "model_config": model_cfg,
        "lr": config["lr"],
        "config": config,
    }
    # `history` holds every epoch's metrics row of this trial's lineage and travels in each
    # checkpoint, so rows the driver had not yet synced to storage when it died are never lost.
    start_epoch, best, history = 0, {"epoch": 0, BEST_METRIC: -1.0}, []
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = load_checkpoint(directory, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, history = state["epoch"], state["best"], state["history"]
        set_rng_state(state["rng"])
        generator = make_generator(config["seed"], state["generator"])

    placement = {**where_am_i(), "device": str(device)}
    # A trial started before `precision` existed resumes in the fp32 it began in.
    amp_dtype = autocast_dtype(config.get("precision", "fp32"), device)
    trained = compile_for_training(model, device) if config.get("compile", False) else model
    placement["precision"] = "bf16" if amp_dtype == torch.bfloat16 else "fp32"
    val_labels = arrays["labels"][arrays["val"]]
    epochs = config["epochs"]
    for epoch in range(start_epoch + 1, epochs + 1):
        started = time.perf_counter()
        train_loss = train_one_epoch(trained, optimizer, train, config["loss"], config["batch_size"], generator, amp_dtype)
        train_s = time.perf_counter() - started
        val_loss, val_probs = predict_split(model, val, config["loss"])
        metrics = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            **prefixed("val", compute_metrics(val_probs, val_labels, config["threshold"])),
            "train_images_per_s": len(train) / train_s,
            "epoch_s": time.perf_counter() - started,
            **placement,
        }
        if metrics[BEST_METRIC] > best[BEST_METRIC]:
            best = {"epoch": epoch, BEST_METRIC: metrics[BEST_METRIC]}
        metrics["best_epoch"] = best["epoch"]
        metrics[f"best_{BEST_METRIC}"] = best[BEST_METRIC]
        last = epoch == epochs
        if last:
            test_loss, test_probs = predict_split(model, test, config["loss"])
            metrics["test_loss"] = test_loss
            metrics.update(prefixed("test", compute_metrics(test_probs, arrays["labels"][arrays["test"]], config["threshold"])))
        # Wall-clock end of the epoch (Tune keeps a reported timestamp): rows from the checkpoint's
        # history and from result.json then say when they happened alike.
        metrics["timestamp"] = time.time()
        history.append(dict(metrics))
        if last or epoch % config["checkpoint_every"] == 0:
            with tempfile.TemporaryDirectory() as directory:
                save_checkpoint(
                    directory,
                    model=model,
                    optimizer=optimizer,
                    epoch=epoch,
                    best=best,
                    generator_state=generator_state(generator),
                    meta=meta,
                    history=history,
                )
                report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            report(metrics)


def where_am_i() -> dict:
    """The Ray node, GPU ids and process this trial runs in, for the report and for fault drills."""
    if not ray.is_initialized():
        return {"pid": os.getpid()}
    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "pid": os.getpid(),
    }


def prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{name}": float(value) for name, value in metrics.items()}

