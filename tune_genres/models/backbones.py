"""Pretrainable image classifiers with a G-genre head: torchvision's and timm's networks, their
ImageNet classification layer taken off, a dropout + linear head put on.

The network takes what every model here takes, float N x 3 x H x W in [0, 1], and does on the
device what a pretrained network needs first: resizes by `input_scale` (ImageNet networks see
224-pixel objects; our posters are 55x80 to 182x268) and normalises as its weights expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .catalog import MODELS
from .scaling import resize


def model_config(name: str, num_classes: int, height: int, width: int, dropout: float = 0.5,
                 input_scale: float = 1.0, frozen: bool = False) -> dict:
    """The constructor's arguments as a plain dict: what a checkpoint stores to rebuild the model."""
    return {"name": name, "num_classes": int(num_classes), "height": int(height), "width": int(width),
            "dropout": float(dropout), "input_scale": float(input_scale), "frozen": bool(frozen)}


def build_body(name: str) -> tuple[nn.Module, int]:
    """(the network without its ImageNet classifier, returning pooled features N x F; F)."""
    family = MODELS[name].family
    if family == "timm":
        try:
            import timm
        except ImportError:
            raise ImportError(f"{name} is built by timm: pip install 'tune-genres[pretrained]'") from None
        body = timm.create_model(MODELS[name].timm_name, pretrained=False, num_classes=0)
        return body, body.num_features
    from torchvision.models import get_model

    body = get_model(name, weights=None)
    # The last Linear is ImageNet's 1000-way layer (resnet's fc, the others' classifier[-1]); what
    # feeds it is the pooled feature vector (with mobilenet_v3's pretrained hidden layer before it).
    attr, last = None, None
    for module_name, module in body.named_modules():
        if isinstance(module, nn.Linear):
            attr, last = module_name, module
    path = attr.split(".")
    parent = body.get_submodule(".".join(path[:-1])) if len(path) > 1 else body
    setattr(parent, path[-1], nn.Identity())
    return body, last.in_features


def create_head(name: str, num_classes: int, dropout: float = 0.5) -> nn.Sequential:
    """`name`'s head alone, freshly initialised: dropout, then one logit per genre from the body's
    pooled features (the catalog's width). Its state_dict keys ("1.weight", "1.bias") are the whole
    network's `head.` ones."""
    width = MODELS[name].num_features
    if width is None:
        raise ValueError(f"{name} has no head apart from its body")
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))


@contextmanager
def own_random_stream() -> Iterator[None]:
    """Random draws inside come from a stream of their own (seeded by the global RNG's next draw)
    and leave torch's global RNG as they found it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, ())))
        yield


class BackboneClassifier(nn.Module):
    """body (pretrainable) -> dropout -> linear head of num_classes logits.

    frozen: the body is fixed (its weights and its batch-norm statistics): only the head learns,
    and `train()` leaves the body in eval mode.
    """

    def __init__(self, name: str, num_classes: int, height: int, width: int, dropout: float = 0.5,
                 input_scale: float = 1.0, frozen: bool = False):
        super().__init__()
        self.config = model_config(name, num_classes, height, width, dropout, input_scale, frozen)
        # The body's initialisation draws from its own stream, so that the global RNG is where it
        # was: a head built alone (create_head, a trial on cached features) then gets the same
        # initial weights, and the trial the same dropout masks, as the whole network's.
        with own_random_stream():
            self.body, self.num_features = build_body(name)
        self.head = create_head(name, num_classes, dropout)
        info = MODELS[name]
        self.register_buffer("mean", torch.tensor(info.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(info.std).view(1, 3, 1, 1), persistent=False)
        self.input_scale = input_scale
        self.frozen = frozen
        if frozen:
            self.body.requires_grad_(False)

    @classmethod
    def from_config(cls, config: dict) -> BackboneClassifier:
        return cls(**config)

    def train(self, mode: bool = True) -> BackboneClassifier:
        super().train(mode)
        if self.frozen:
            self.body.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The body's pooled features (N x F) of posters x (float N x 3 x H x W in [0, 1])."""
        return self.body((resize(x, self.input_scale) - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).float())
