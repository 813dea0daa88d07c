"""One trial's training, top to bottom, free of Ray: build, (resume,) train, validate, report, test.

The Ray trainable (sweep/trainable.py) calls run_trial with Tune's report and checkpoint; tests,
benchmarks and a GPU machine without Ray call it with a plain function. Each epoch trains,
validates and reports; the epoch that scores best on `select_metric` (validation) keeps its
weights beside the latest ones. Every `checkpoint_every` epochs, at each epoch in
`checkpoint_epochs` (ASHA's rungs, where it may stop the trial) and at the end the report carries
a checkpoint directory holding both. The last report adds the test split's metrics: test_* of
the best epoch's weights, scored once (selection.score_chosen), and last_test_* of the last epoch's.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from collections.abc import Callable

import torch

from ..models.registry import create_model, load_body_weights
from .checkpoint import save_checkpoint
from .data import ResidentSplit
from .features import FeatureSplit
from .hyperparameters import setting
from .loop import lr_factor, make_optimizer, predict_split, set_epoch_lr, train_one_epoch
from .losses import balanced_pos_weight
from .metrics import compute_metrics, prefixed
from .precision import compile_for_training, trial_precision, use_precision
from .rng import generator_state, make_generator, seed_everything, set_rng_state
from .selection import DEFAULT_SELECT_METRIC, improves, score_chosen

# report(metrics, checkpoint_dir=None): checkpoint_dir, when given, exists only during the call.
Report = Callable[..., None]


def run_trial(
    config: dict,
    arrays: dict,
    report: Report,
    resume: dict | None = None,
    device: torch.device | str = "cpu",
    placement: dict | None = None,
    pretrained: dict | None = None,
) -> None:
    """Train one configuration on `arrays` (data.trial_arrays' dict) on `device`.

    resume: a checkpoint's state (checkpoint.load_checkpoint) to continue from: weights, optimizer,
    epoch, RNG states, the best epoch so far with its weights, and the history. placement: where
    the trial runs (node, GPU ids), added to every row. arrays may carry the dataset's
    `fingerprint` and `ids`: the checkpoints then record them (evaluate refuses training posters).
    With `features` (a frozen body's outputs for every poster: features.py) the trial trains the
    head alone on them. pretrained: the ImageNet state dict for `weights = "imagenet"` (the
    driver's, through the object store); None loads it from this machine (models/pretrained.py).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
    seed_everything(config["seed"])
    network, model, cached = build_network(config, arrays, pretrained)
    Split = FeatureSplit if cached else ResidentSplit
    train, val, test = (Split.from_arrays(arrays, name, device) for name in ("train", "val", "test"))
    genres = list(arrays["genres"])
    height, width = network.config["height"], network.config["width"]
    model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config["lr"], betas=(config["beta1"], config["beta2"]), eps=config["eps"],
                               optimizer=setting(config, "optimizer"), weight_decay=setting(config, "weight_decay"),
                               backbone_lr_scale=setting(config, "backbone_lr_scale"))
    pos_weight = None
    if setting(config, "pos_weight") == "balanced":
        pos_weight = balanced_pos_weight(arrays["labels"][arrays["train"]]).to(device)
    augment = setting(config, "augment")
    generator = make_generator(config["seed"])
    select = config.get("select_metric", DEFAULT_SELECT_METRIC)
    meta = {
        "model": setting(config, "model"),
        "genres": genres,
        "ratio": config["ratio"],
        "size": [width, height],
        "loss": config["loss"],
        "model_config": network.config,
        "lr": config["lr"],
        "config": config,
        "select_metric": select,
        "dataset_fingerprint": arrays.get("fingerprint"),
        "sweep_fingerprint": config.get("sweep_fingerprint"),
        "train_ids": [str(i) for i in arrays["ids"][arrays["train"]]] if "ids" in arrays else None,
        **({"holds": "head"} if cached else {}),
    }
    # `history` holds every epoch's metrics row of this trial's lineage and travels in each
    # checkpoint, so rows the driver had not yet synced to storage when it died are never lost.
    # `best` is the epoch chosen so far (NaN until an epoch scores a finite value); its weights
    # are `best_weights`, a CPU copy.
    start_epoch, best, best_weights, history = 0, {"epoch": 0, "metric": select, "value": float("nan")}, None, []
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        start_epoch, history = resume["epoch"], resume["history"]
        if resume.get("best_model") is not None and resume["best"].get("metric") == select:
            best, best_weights = resume["best"], resume["best_model"]
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
    checkpoint_epochs = set(config.get("checkpoint_epochs", ()))
    for epoch in range(start_epoch + 1, epochs + 1):
        started = time.perf_counter()
        set_epoch_lr(optimizer, lr_factor(epoch, epochs, setting(config, "schedule"), setting(config, "warmup_epochs")))
        train_loss = train_one_epoch(trained, optimizer, train, config["loss"], config["batch_size"], generator, amp_dtype,
                                     augment=augment, pos_weight=pos_weight)
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
        if improves(metrics[select], best["value"], select):
            best = {"epoch": epoch, "metric": select, "value": metrics[select]}
            best_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        metrics["best_epoch"] = best["epoch"]
        metrics[f"best_{select}"] = best["value"]
        last = epoch == epochs
        thresholds = None
        if last:
            scores, thresholds = score_at_end(model, best_weights, val, test, config)
            metrics.update(scores)
        # Wall-clock end of the epoch (Tune keeps a reported timestamp): rows from the checkpoint's
        # history and from result.json then say when they happened alike.
        metrics["timestamp"] = time.time()
        history.append(dict(metrics))
        if last or epoch % config["checkpoint_every"] == 0 or epoch in checkpoint_epochs:
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
                    best_model=best_weights,
                    thresholds=thresholds,
                )
                report(metrics, checkpoint_dir=directory)
        else:
            report(metrics)


def build_network(config: dict, arrays: dict, pretrained: dict | None) -> tuple[torch.nn.Module, torch.nn.Module, bool]:
    """(the whole network, the part that trains, whether it trains on cached features).

    The part that trains is the network itself, or its head when `arrays` holds the frozen body's
    features. ImageNet weights go into the body (`pretrained`, else this machine's copy)."""
    genres = list(arrays["genres"])
    cached = "features" in arrays
    height, width = arrays["size"][::-1] if cached else arrays["images"].shape[1:3]
    name = setting(config, "model")
    network = create_model(name, len(genres), height, width, dropout=config["dropout"],
                           input_scale=setting(config, "input_scale"), frozen=setting(config, "freeze") == "backbone")
    if setting(config, "weights") == "imagenet" and not cached:
        if pretrained is None:
            from ..models.pretrained import load_imagenet_weights

            pretrained = load_imagenet_weights(name)
        load_body_weights(network, pretrained)
    return network, network.head if cached else network, cached


def score_at_end(model, best_weights: dict | None, val, test, config: dict):
    """At the trial's end: (metrics, thresholds). The chosen weights, the best epoch's (the last's
    when no epoch scored a finite value), get thresholds tuned on validation and the test split
    scored once (test_*); the last epoch's weights are scored too, for comparison only (last_test_*)."""
    last_loss, last_probs = predict_split(model, test, config["loss"])
    test_labels = test.labels.cpu().numpy()
    metrics = {"last_test_loss": last_loss, **prefixed("last_test", compute_metrics(last_probs, test_labels, config["threshold"]))}
    chosen = copy.deepcopy(model)
    chosen.load_state_dict(best_weights if best_weights is not None else model.state_dict())
    scores, thresholds = score_chosen(chosen, val, test, config["loss"], config["threshold"])
    return {**metrics, **scores}, thresholds
