"""Models by name: `create_model(name, num_classes, height, width, **options)`, as timm does it.

A checkpoint stores the name and the model's `config` (its constructor's arguments), so
`model_from_config` rebuilds any model the registry knows. The names and their facts are in
catalog.py; `pretrained` loads ImageNet weights into a backbone's body.
"""

from __future__ import annotations

import torch
from torch import nn

from . import backbones, minivgg
from .backbones import BackboneClassifier
from .catalog import DEFAULT_MODEL, MODELS
from .minivgg import MiniVGG

__all__ = ["DEFAULT_MODEL", "create_model", "create_head", "network_config", "model_from_config", "load_body_weights"]


def check_name(name: str) -> None:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")


def create_model(name: str, num_classes: int, height: int, width: int, **options) -> nn.Module:
    """A `name` network with a `num_classes` output for height x width posters, freshly initialised.

    options: dropout and input_scale for every model; frozen for the pretrainable ones."""
    check_name(name)
    if MODELS[name].family == "minivgg":
        options.pop("frozen", None)
        return MiniVGG(num_classes=num_classes, height=height, width=width, **options)
    return BackboneClassifier(name, num_classes=num_classes, height=height, width=width, **options)


def create_head(name: str, num_classes: int, dropout: float = 0.5) -> nn.Module:
    """The head alone of a pretrainable `name` network (what trains on its frozen body's cached
    features), freshly initialised exactly as create_model initialises the whole network's from
    the same RNG state: building the body is skipped, not its effect on the head."""
    check_name(name)
    return backbones.create_head(name, num_classes, dropout)


def network_config(name: str, num_classes: int, height: int, width: int, **options) -> dict:
    """The `config` create_model(...) would give its network, without building it: what a
    head-only trial's checkpoint records, so that evaluate rebuilds the whole network."""
    check_name(name)
    if MODELS[name].family == "minivgg":
        options.pop("frozen", None)
        return minivgg.model_config(num_classes, height, width, **options)
    return backbones.model_config(name, num_classes, height, width, **options)


def model_from_config(name: str, config: dict) -> nn.Module:
    """The model a checkpoint describes (its name and config), freshly initialised."""
    check_name(name)
    return MiniVGG.from_config(config) if MODELS[name].family == "minivgg" else BackboneClassifier.from_config(config)


def load_body_weights(model: BackboneClassifier, imagenet: dict[str, torch.Tensor]) -> None:
    """Load an ImageNet state dict (models/pretrained.py) into the model's body: every body tensor
    must be there; the ImageNet classifier's are left out (the head replaces it)."""
    wanted = model.body.state_dict().keys()
    missing = [k for k in wanted if k not in imagenet]
    if missing:
        raise ValueError(f"{model.config['name']}: the ImageNet weights lack {len(missing)} of the body's tensors, first {missing[0]}")
    model.body.load_state_dict({k: imagenet[k] for k in wanted})
