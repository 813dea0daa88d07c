"""What the driver hands every trial through Ray's object store, put there once per sweep:

    arrays      ratio -> data.trial_arrays (the posters), for trials that look at posters
    features    (model, ratio, input_scale) -> the same arrays with a frozen body's features
                instead of posters (feature_cache.py), for trials that train a head alone
    pretrained  model -> its ImageNet state dict, so a node with no copy of the weights trains too

Checked first, before Ray starts: every model takes every ratio's posters at its input_scale,
and the ImageNet weights the sweep asks for are on this machine (one line naming the command
that gets them otherwise).
"""

from __future__ import annotations

import sys

from dataset_builder.errors import BadInput
from dataset_builder.store import Dataset

from ..models.catalog import too_small
from .sweep_file import Sweep


def input_scales(sweep: Sweep) -> list[float]:
    """The input_scale values trials may take: the listed ones, or a distribution's two ends."""
    if "input_scale" in sweep.distributions:
        return [sweep.distributions["input_scale"].low, sweep.distributions["input_scale"].high]
    return sweep.grid["input_scale"]


def check_models(sweep: Sweep, dataset: Dataset) -> None:
    """One line for a model too small for a ratio, or for ImageNet weights not on this machine."""
    for model in sweep.grid["model"]:
        for ratio in sweep.ratios:
            width, height = dataset.size(ratio)
            for scale in input_scales(sweep):
                why = too_small(model, width, height, scale)
                if why:
                    raise BadInput(f"{sweep.path}: {sweep.section}.model: ratio {ratio}: {why}; "
                                   "drop that ratio for it, or raise input_scale")
    if "imagenet" in sweep.grid["weights"]:
        from ..models.pretrained import check_weights

        for model in sweep.grid["model"]:
            check_weights(model, f"{sweep.path}: weights = \"imagenet\"")


def cached_keys(sweep: Sweep) -> list[tuple[str, int, float]]:
    """(model, ratio, input_scale) of every frozen body whose features trials can share: trials
    with freeze = "backbone" and augment = "none" (augmented posters change what the body sees),
    at listed input scales (a drawn scale has no one feature matrix)."""
    if "backbone" not in sweep.grid["freeze"] or "none" not in sweep.grid["augment"] or "input_scale" in sweep.distributions:
        return []
    return [(m, r, float(s)) for m in sweep.grid["model"] for r in sweep.ratios for s in sweep.grid["input_scale"]]


def uncached_notes(sweep: Sweep) -> list[str]:
    """Why frozen-body trials that could have trained on cached features will run the whole network."""
    if "backbone" not in sweep.grid["freeze"]:
        return []
    notes = []
    if any(a != "none" for a in sweep.grid["augment"]):
        notes.append("frozen-body trials with augment other than \"none\" run the whole network each epoch "
                     "(the body sees augmented posters): no cached features for them")
    if "input_scale" in sweep.distributions:
        notes.append("input_scale is drawn, so no one feature matrix serves the frozen-body trials: "
                     "they run the whole network each epoch; list the scales to cache their features")
    return notes


def needs_posters(sweep: Sweep) -> bool:
    """Whether any trial trains on posters rather than cached features."""
    return not cached_keys(sweep) or "none" in sweep.grid["freeze"] or len(sweep.grid["augment"]) > 1


def put_trial_inputs(sweep: Sweep, dataset: Dataset) -> dict:
    """The object-store references trials take their inputs from (the dict in this module's docstring)."""
    import ray

    from ..models.pretrained import load_imagenet_weights
    from ..training.data import trial_arrays
    from .feature_cache import cached_features

    pretrained = {}
    if "imagenet" in sweep.grid["weights"]:
        pretrained = {m: load_imagenet_weights(m) for m in sweep.grid["model"]}
    posters = {r: trial_arrays(dataset, r) for r in sweep.ratios}
    features = {}
    for model, ratio, scale in cached_keys(sweep):
        matrix = cached_features(dataset, model, ratio, scale, pretrained[model])
        width, height = dataset.size(ratio)
        arrays = {k: v for k, v in posters[ratio].items() if k != "images"} | {"features": matrix, "size": [width, height]}
        features[(model, ratio, scale)] = ray.put(arrays)
    for note in uncached_notes(sweep):
        print(f"tune-genres: {note}", file=sys.stderr)
    # Posters and whole-network weights only where some trial trains on posters.
    on_posters = needs_posters(sweep)
    return {
        "arrays": {r: ray.put(arrays) for r, arrays in posters.items()} if on_posters else {},
        "features": features,
        "pretrained": {m: ray.put(state) for m, state in pretrained.items()} if on_posters else {},
    }


def trial_inputs(config: dict, inputs: dict) -> tuple:
    """(the arrays reference, the pretrained reference or None) one trial takes from put_trial_inputs' dict."""
    from ..training.hyperparameters import setting

    key = (setting(config, "model"), config["ratio"], float(setting(config, "input_scale")))
    frozen = setting(config, "freeze") == "backbone" and setting(config, "augment") == "none"
    if frozen and key in inputs["features"]:
        return inputs["features"][key], None
    pretrained = inputs["pretrained"].get(key[0]) if setting(config, "weights") == "imagenet" else None
    return inputs["arrays"][config["ratio"]], pretrained
