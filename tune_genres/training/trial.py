"""One trial's training, top to bottom, free of Ray: build, (resume,) train, validate, report, test.

The Ray trainable (sweep/trainable.py) calls run_trial with Tune's report and checkpoint; tests,
benchmarks and a GPU machine without Ray call it with a plain function. Each epoch trains,
validates and reports; every `checkpoint_every` epochs and at the end the report carries a
checkpoint directory. The last report adds the test split's metrics.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable

import torch

from ..models import DEFAULT_MODEL, create_model
from .checkpoint import save_checkpoint
from .data import ResidentSplit
from .loop import make_optimizer, predict_split, train_one_epoch
from .metrics import compute_metrics
from .precision import compile_for_training, trial_precision, use_precision
from .rng import generator_state, make_generator, seed_everything, set_rng_state

# The metric that decides the "best epoch" a trial reports (higher is better).
BEST_METRIC = "val_map"

# report(metrics, checkpoint_dir=None): checkpoint_dir, when given, exists only during the call.
Report = Callable[..., None]


def run_trial(
    config: dict,
    arrays: dict,
    report: Report,
    resume: dict | None = None,
    device: torch.device | str = "cpu",
    placement: dict | None = None,
) -> None:
    """Train one configuration on `arrays` (data.trial_arrays' dict) on `device`.

    resume: a checkpoint's state (checkpoint.load_checkpoint) to continue from: weights, optimizer,
    epoch, RNG states, the best metric so far and the history. placement: where the trial runs
    (node, GPU ids), added to every row.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
    seed_everything(config["seed"])
    train, val, test = (ResidentSplit.from_arrays(arrays, name, device) for name in ("train", "val", "test"))
    genres = list(arrays["genres"])
    _, height, width, _ = arrays["images"].shape
    model = create_model(DEFAULT_MODEL, len(genres), height, width, dropout=config["dropout"])
    model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config["lr"], betas=(config["beta1"], config["beta2"]), eps=config["eps"])
    generator = make_generator(config["seed"])
    meta = {
        "model": DEFAULT_MODEL,
        "genres": genres,
        "ratio": config["ratio"],
        "size": [width, height],
        "loss": config["loss"],
        "model_config": model.config,
        "lr": config["lr"],
        "config": config,
    }
    # `history` holds every epoch's metrics row of this trial's lineage and travels in each
    # checkpoint, so rows the driver had not yet synced to storage when it died are never lost.
    start_epoch, best, history = 0, {"epoch": 0, BEST_METRIC: -1.0}, []
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        start_epoch, best, history = resume["epoch"], resume["best"], resume["history"]
        set_rng_state(resume["rng"], device)
        generator = make_generator(config["seed"], resume["generator"])

    placement = {**(placement or {"pid": os.getpid()}), "device": str(device)}
    # A trial started before `precision` existed resumes in the fp32 it began in; a resumed trial
    # keeps the precision its checkpoint records, whatever this node would choose.
    precision = trial_precision(config.get("precision", "fp32"), device, resume)
    amp_dtype = use_precision(precision, device)
    trained = compile_for_training(model, device) if config.get("compile", False) else model
    placement["precision"] = meta["precision"] = precision
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
                report(metrics, checkpoint_dir=directory)
        else:
            report(metrics)


def prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{name}": float(value) for name, value in metrics.items()}
