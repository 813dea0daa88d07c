"""The study's mini-VGG, for any poster size.

Four 'valid' 3x3 convolutions (no padding, as Keras' default), each followed by ReLU and a 2x2
max-pool that floors odd sizes, then three fully connected layers with dropout between them.
The flatten size therefore follows the input size: 192 features at 55x80, 8064 at 182x268.

Each stage runs conv -> max-pool -> ReLU: ReLU is monotonic, so max(relu(x)) == relu(max(x))
exactly, forward and backward (the same element wins the pool, the same mask zeroes it), and the
ReLU touches a quarter of the values. At 182x268 that made a training step 1.2x faster on the
CPU (benchmarks/README.md); the state_dict is unchanged (the convolutions keep their indices).

Initialisation is Keras' default (Glorot-uniform weights, zero biases), so a trial starts where
the study's Keras model started, not from PyTorch's Kaiming-uniform default.
"""

from __future__ import annotations

import torch
from torch import nn

from .scaling import resize, scaled_size

# Output channels of the four convolutions and widths of the two hidden dense layers.
CONV_CHANNELS = (32, 32, 32, 64)
HIDDEN_UNITS = (64, 32)


def model_config(num_classes: int, height: int, width: int, dropout: float = 0.5, input_scale: float = 1.0) -> dict:
    """The constructor's arguments as a plain dict: what a checkpoint stores to rebuild the model
    (input_scale only when it resizes, so the study's configs read as they always did)."""
    config = {"num_classes": int(num_classes), "height": int(height), "width": int(width), "dropout": float(dropout)}
    return config | ({"input_scale": float(input_scale)} if input_scale != 1 else {})


def feature_map_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) after the four conv(3x3, valid) + maxpool(2) stages, floored like Keras."""
    for _ in CONV_CHANNELS:
        height, width = (height - 2) // 2, (width - 2) // 2
        if height < 1 or width < 1:
            raise ValueError("input too small for four 'valid' conv + pool stages (needs at least 46x46)")
    return height, width


class MiniVGG(nn.Module):
    def __init__(self, num_classes: int, height: int, width: int, dropout: float = 0.5, input_scale: float = 1.0):
        super().__init__()
        self.config = model_config(num_classes, height, width, dropout, input_scale)
        # input_scale resizes each batch before the first convolution (on the device, bilinear).
        self.input_scale = input_scale
        # The classifier's width follows the size the convolutions are given: the one rule's.
        height, width = scaled_size(height, width, input_scale)
        layers: list[nn.Module] = []
        in_channels = 3
        for out_channels in CONV_CHANNELS:
            layers += [nn.Conv2d(in_channels, out_channels, 3), nn.MaxPool2d(2), nn.ReLU(inplace=True)]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        fh, fw = feature_map_size(height, width)
        self.flatten_features = in_channels * fh * fw
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.flatten_features, HIDDEN_UNITS[0]),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(HIDDEN_UNITS[0], HIDDEN_UNITS[1]),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(HIDDEN_UNITS[1], num_classes),
        )
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    @classmethod
    def from_config(cls, config: dict) -> MiniVGG:
        return cls(**config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float N x 3 x H x W in [0, 1]; returns logits N x num_classes (fp32)."""
        features = self.features(resize(x, self.input_scale))
        # The classifier stays in fp32 under bf16 autocast: the convolutions are nearly all the
        # work, and with a bf16 classifier too the demo's test mAP at 30% fell in 6 of 6 trials
        # against fp32, with it in fp32 3 fell and 3 rose (benchmarks/README.md).
        with torch.autocast(x.device.type, enabled=False):
            return self.classifier(features.float())
