"""One trial's training, top to bottom, free of Ray: build, (resume,) train, validate, report, test.

The Ray trainable (sweep/trainable.py) calls run_trial with Tune's report and checkpoint; tests,
benchmarks and a GPU machine without Ray call it with a plain function. Each epoch trains,
validates and reports; the epoch that scores best on `select_metric` (validation) keeps its
weights beside the latest ones. Every `checkpoint_every` epochs, at each epoch in
`checkpoint_epochs` (ASHA's rungs, where it may stop the trial) and at the end the report carries
a checkpoint directory holding both. The last report adds the test split's metrics: test_* of
the best epoch's weights, scored once (selection.score_chosen), last_test_* of the last epoch's,
and `thresholds`, the per-genre decision thresholds tuned on validation for the chosen weights;
its checkpoint holds those weights' val and test probabilities too (predictions.py).
With a `patience`, a trial whose select_metric has not improved for that many epochs ends there,
scored as at its last epoch, its last row saying `stopped_on_plateau`.

run_trial reads as its steps, each a function below it in the order it calls them:
build_trial, resume_trial, set_arithmetic, then per epoch train_epoch, keep_if_best,
(score_at_end,) checkpoint_and_report.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..models.registry import create_head, create_model, load_body_weights, network_config
from .checkpoint import save_checkpoint
from .data import ResidentSplit
from .features import FeatureSplit
from .hyperparameters import setting
from .loop import lr_factor, make_optimizer, predict_split, set_epoch_lr, train_one_epoch
from .losses import balanced_pos_weight
from .metrics import compute_metrics, prefixed
from .precision import compile_for_training, trial_precision, use_precision
from .predictions import split_index, with_probabilities, write_predictions
from .rng import generator_state, make_generator, seed_everything, set_rng_state
from .selection import DEFAULT_SELECT_METRIC, STOPPED_ON_PLATEAU, improves, plateaued, score_chosen

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
    With `features` (a frozen body's outputs for every poster: features.py) the trial builds and
    trains the head alone on them. pretrained: the ImageNet state dict for `weights = "imagenet"`
    (the driver's, through the object store); None loads it from this machine (models/pretrained.py).
    """
    trial = build_trial(config, arrays, torch.device(device), pretrained)
    if resume is not None:
        resume_trial(trial, resume)
    set_arithmetic(trial, resume, placement)
    epochs = config["epochs"]
    for epoch in range(trial.start_epoch + 1, epochs + 1):
        metrics = train_epoch(trial, epoch)
        keep_if_best(trial, metrics)
        thresholds = predictions = None
        on_plateau = epoch < epochs and plateaued(epoch, trial.best["epoch"], config.get("patience"))
        if on_plateau:
            metrics[STOPPED_ON_PLATEAU] = True  # the record's status says so (results/trial_record.py)
        if epoch == epochs or on_plateau:
            scores, chosen = score_at_end(trial.model, trial.best_weights, trial.val, trial.test, config)
            thresholds = chosen.thresholds
            predictions = with_probabilities(trial.rows_index, chosen.val_probs, chosen.test_probs)
            metrics.update(scores, thresholds=[float(t) for t in thresholds])
        checkpoint_and_report(trial, metrics, report, thresholds, predictions)
        if on_plateau:
            return


def no_best(select: str) -> dict:
    """The best epoch before any: NaN until an epoch scores a finite value."""
    return {"epoch": 0, "metric": select, "value": float("nan")}


@dataclass
class Trial:
    """What a trial's steps share: what trains, on which splits, and what it has chosen so far."""

    config: dict
    model: nn.Module  # what learns: the whole network, or its head alone on cached features
    optimizer: torch.optim.Optimizer
    train: ResidentSplit | FeatureSplit
    val: ResidentSplit | FeatureSplit
    test: ResidentSplit | FeatureSplit
    val_labels: np.ndarray  # the validation split's labels, as the metrics take them
    rows_index: dict  # the val and test rows' dataset rows, ids and labels, for the kept predictions
    generator: torch.Generator  # shuffles (and augments) the training split
    pos_weight: torch.Tensor | None  # bce's per-genre weights, or None
    meta: dict  # what every checkpoint records besides the weights
    select: str  # the validation metric that chooses the best epoch
    device: torch.device
    start_epoch: int = 0  # epochs done before this run (a resume's)
    best: dict = field(default_factory=dict)  # the chosen epoch so far: {"epoch", "metric", "value"}
    best_weights: dict | None = None  # its weights: a CPU copy, never the device's memory
    # Every epoch's row of this trial's lineage; it travels in each checkpoint, so rows the driver
    # had not yet synced to storage when it died are never lost.
    history: list[dict] = field(default_factory=list)
    trained: nn.Module | None = None  # `model`, or its torch.compile'd view that the step runs
    amp_dtype: torch.dtype | None = None  # the forward pass's autocast dtype; None: fp32
    placement: dict = field(default_factory=dict)  # where it runs, added to every row


def build_trial(config: dict, arrays: dict, device: torch.device, pretrained: dict | None) -> Trial:
    """Seed, build what trains, put the splits and the model on `device`, make the optimizer."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
    seed_everything(config["seed"])
    model, model_config = build_network(config, arrays, pretrained)
    cached = "features" in arrays
    Split = FeatureSplit if cached else ResidentSplit
    train, val, test = (Split.from_arrays(arrays, name, device) for name in ("train", "val", "test"))
    model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config["lr"], betas=(config["beta1"], config["beta2"]), eps=config["eps"],
                               optimizer=setting(config, "optimizer"), weight_decay=setting(config, "weight_decay"),
                               backbone_lr_scale=setting(config, "backbone_lr_scale"))
    pos_weight = None
    if setting(config, "pos_weight") == "balanced":
        pos_weight = balanced_pos_weight(arrays["labels"][arrays["train"]]).to(device)
    select = config.get("select_metric", DEFAULT_SELECT_METRIC)
    return Trial(config=config, model=model, optimizer=optimizer, train=train, val=val, test=test,
                 val_labels=arrays["labels"][arrays["val"]], rows_index=split_index(arrays), generator=make_generator(config["seed"]),
                 pos_weight=pos_weight, meta=checkpoint_meta(config, arrays, model_config, select), select=select,
                 device=device, best=no_best(select))


def build_network(config: dict, arrays: dict, pretrained: dict | None) -> tuple[nn.Module, dict]:
    """(what trains, the whole network's config, which checkpoints record to rebuild it).

    With `features` in arrays (a frozen body's, cached) only the head is built: the body's
    construction and initialisation, thrown away here, were most of such a trial's start-up.
    Otherwise the whole network, ImageNet weights in its body (`pretrained`, else this machine's)."""
    genres = list(arrays["genres"])
    name = setting(config, "model")
    options = {"dropout": config["dropout"], "input_scale": setting(config, "input_scale"),
               "frozen": setting(config, "freeze") == "backbone"}
    if "features" in arrays:
        width, height = arrays["size"]
        head = create_head(name, len(genres), config["dropout"])
        fed = arrays["features"].shape[1]
        if fed != head[-1].in_features:
            raise ValueError(f"{name}'s head takes {head[-1].in_features} features per poster; the cached matrix has {fed}")
        return head, network_config(name, len(genres), height, width, **options)
    height, width = arrays["images"].shape[1:3]
    network = create_model(name, len(genres), height, width, **options)
    if setting(config, "weights") == "imagenet":
        if pretrained is None:
            from ..models.pretrained import load_imagenet_weights

            pretrained = load_imagenet_weights(name)
        load_body_weights(network, pretrained)
    return network, network.config


def checkpoint_meta(config: dict, arrays: dict, model_config: dict, select: str) -> dict:
    """What every checkpoint records to use the model alone and to check what it was trained on."""
    return {
        "model": setting(config, "model"),
        "genres": list(arrays["genres"]),
        "ratio": config["ratio"],
        "size": [model_config["width"], model_config["height"]],
        "loss": config["loss"],
        "model_config": model_config,
        "lr": config["lr"],
        "config": config,
        "select_metric": select,
        "dataset_fingerprint": arrays.get("fingerprint"),
        "sweep_fingerprint": config.get("sweep_fingerprint"),
        "train_ids": [str(i) for i in arrays["ids"][arrays["train"]]] if "ids" in arrays else None,
        **({"holds": "head"} if "features" in arrays else {}),
    }


def resume_trial(trial: Trial, resume: dict) -> None:
    """Continue from a checkpoint's state: weights, optimizer, epochs done, history, the best epoch
    (when chosen by this trial's select_metric) and the random states."""
    trial.model.load_state_dict(resume["model"])
    trial.optimizer.load_state_dict(resume["optimizer"])
    trial.start_epoch, trial.history = resume["epoch"], resume["history"]
    if resume.get("best_model") is not None and resume["best"].get("metric") == trial.select:
        # On the CPU, whatever device the checkpoint was loaded to: the best weights wait there for
        # the trial's end, where the device's memory is the training's.
        trial.best, trial.best_weights = resume["best"], on_cpu(resume["best_model"])
    set_rng_state(resume["rng"], trial.device)
    trial.generator = make_generator(trial.config["seed"], resume["generator"])


def on_cpu(weights: dict[str, torch.Tensor], copy: bool = False) -> dict[str, torch.Tensor]:
    """A state_dict's tensors on the CPU; copied even there when `copy` (a snapshot of live weights)."""
    return {k: v.detach().to("cpu", copy=copy) for k, v in weights.items()}


def set_arithmetic(trial: Trial, resume: dict | None, placement: dict | None) -> None:
    """Precision (a resumed trial keeps its checkpoint's), compilation, and where the rows say it runs."""
    device = trial.device
    trial.placement = {**(placement or {"pid": os.getpid()}), "device": str(device)}
    # A trial started before `precision` existed resumes in the fp32 it began in; a resumed trial
    # keeps the precision its checkpoint records, whatever this node would choose.
    precision = trial_precision(trial.config.get("precision", "fp32"), device, resume)
    trial.amp_dtype = use_precision(precision, device)
    trial.trained = compile_for_training(trial.model, device) if trial.config.get("compile", False) else trial.model
    trial.placement["precision"] = trial.meta["precision"] = precision


def train_epoch(trial: Trial, epoch: int) -> dict:
    """Train one epoch at its scheduled learning rate, then validate: the epoch's metrics row."""
    config = trial.config
    started = time.perf_counter()
    schedule = lr_factor(epoch, config["epochs"], setting(config, "schedule"), setting(config, "warmup_epochs"))
    set_epoch_lr(trial.optimizer, schedule)
    train_loss = train_one_epoch(trial.trained, trial.optimizer, trial.train, config["loss"], config["batch_size"],
                                 trial.generator, trial.amp_dtype, augment=setting(config, "augment"),
                                 pos_weight=trial.pos_weight)
    train_s = time.perf_counter() - started
    val_loss, val_probs = predict_split(trial.model, trial.val, config["loss"])
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_loss": val_loss,
        **prefixed("val", compute_metrics(val_probs, trial.val_labels, config["threshold"])),
        "train_images_per_s": len(trial.train) / train_s,
        "epoch_s": time.perf_counter() - started,
        **trial.placement,
    }


def keep_if_best(trial: Trial, metrics: dict) -> None:
    """Make this epoch the chosen one when it improves on select_metric (keeping a CPU copy of its
    weights); the row then says which epoch is chosen and its score."""
    if improves(metrics[trial.select], trial.best["value"], trial.select):
        trial.best = {"epoch": metrics["epoch"], "metric": trial.select, "value": metrics[trial.select]}
        trial.best_weights = on_cpu(trial.model.state_dict(), copy=True)
    metrics["best_epoch"] = trial.best["epoch"]
    metrics[f"best_{trial.select}"] = trial.best["value"]


def score_at_end(model, best_weights: dict | None, val, test, config: dict):
    """At the trial's end: (metrics, the chosen weights scored: selection.Chosen). The chosen
    weights, the best epoch's (the last's when no epoch scored a finite value), get thresholds tuned
    on validation and the test split scored once (test_*); the last epoch's weights are scored too,
    for comparison only (last_test_*)."""
    last_loss, last_probs = predict_split(model, test, config["loss"])
    test_labels = test.labels.cpu().numpy()
    metrics = {"last_test_loss": last_loss, **prefixed("last_test", compute_metrics(last_probs, test_labels, config["threshold"]))}
    chosen = copy.deepcopy(model)
    chosen.load_state_dict(best_weights if best_weights is not None else model.state_dict())
    scored = score_chosen(chosen, val, test, config["loss"], config["threshold"])
    return {**metrics, **scored.metrics}, scored


def checkpoint_and_report(trial: Trial, metrics: dict, report: Report, thresholds=None, predictions=None) -> None:
    """Add the row to the history and report it: with a checkpoint at the end, every
    checkpoint_every epochs and at each of checkpoint_epochs (ASHA's rungs); without one otherwise.
    The last checkpoint carries the chosen weights' predictions (predictions.py) beside its file."""
    config, epoch = trial.config, metrics["epoch"]
    # Wall-clock end of the epoch (Tune keeps a reported timestamp): rows from the checkpoint's
    # history and from result.json then say when they happened alike.
    metrics["timestamp"] = time.time()
    trial.history.append(dict(metrics))
    # thresholds: the trial's end (its last epoch, or a plateau's), where its test scores are
    due = (thresholds is not None or epoch % config["checkpoint_every"] == 0
           or epoch in set(config.get("checkpoint_epochs", ())))
    if not due:
        report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(directory, model=trial.model, optimizer=trial.optimizer, epoch=epoch, best=trial.best,
                        generator_state=generator_state(trial.generator), meta=trial.meta, history=trial.history,
                        best_model=trial.best_weights, thresholds=thresholds)
        if predictions is not None:
            write_predictions(directory, predictions)
        report(metrics, checkpoint_dir=directory)
