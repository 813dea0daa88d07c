"""Models by name: `create_model(name, num_classes, height, width, **options)`, as timm does it.

A checkpoint stores the name and the model's `config` (its constructor's arguments), so
`model_from_config` rebuilds any model the registry knows.
"""

from __future__ import annotations

from torch import nn

from .minivgg import MiniVGG

# name -> the class; each has .config (its constructor's keyword arguments) and .from_config.
MODELS: dict[str, type[nn.Module]] = {"minivgg": MiniVGG}
DEFAULT_MODEL = "minivgg"  # the study's


def create_model(name: str, num_classes: int, height: int, width: int, **options) -> nn.Module:
    """A `name` network with a `num_classes` output for height x width posters, freshly initialised."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    return MODELS[name](num_classes=num_classes, height=height, width=width, **options)


def model_from_config(name: str, config: dict) -> nn.Module:
    """The model a checkpoint describes (its name and config), freshly initialised."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    return MODELS[name].from_config(config)
