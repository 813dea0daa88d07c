"""The mini-VGG's shapes at every study size, and its parameter count checked by hand."""

from __future__ import annotations

import pytest
import torch

from dataset_builder.images import STUDY_RATIOS, size_for_ratio
from tune_genres.models.minivgg import MiniVGG, model_config

# Flatten size = 64 x H' x W', each side through four stages of conv3x3 'valid' (-2) then
# maxpool 2 (floor halve):
#   55x80   H 80->78->39->37->18->16->8->6->3       W 55->53->26->24->12->10->5->3->1    64*3*1  = 192
#   80x118  H 118->116->58->56->28->26->13->11->5   W 80->78->39->37->18->16->8->6->3    64*5*3  = 960
#   106x155 H 155->153->76->74->37->35->17->15->7   W 106->104->52->50->25->23->11->9->4 64*7*4  = 1792
#   131x193 H 193->191->95->93->46->44->22->20->10  W 131->129->64->62->31->29->14->12->6 64*10*6 = 3840
#   157x230 H 230->228->114->112->56->54->27->25->12 W 157->155->77->75->37->35->17->15->7 64*12*7 = 5376
#   182x268 H 268->266->133->131->65->63->31->29->14 W 182->180->90->88->44->42->21->19->9 64*14*9 = 8064
FLATTEN = {30: 192, 44: 960, 58: 1792, 72: 3840, 86: 5376, 100: 8064}


@pytest.mark.parametrize("ratio", STUDY_RATIOS)
def test_flatten_size_and_output_shape_at_every_study_size(ratio):
    w, h = size_for_ratio(ratio)
    model = MiniVGG(num_classes=5, height=h, width=w)
    assert model.flatten_features == FLATTEN[ratio]
    x = torch.rand(2, 3, h, w).contiguous(memory_format=torch.channels_last)
    logits = model(x)
    assert logits.shape == (2, 5)
    assert model.classifier[1].in_features == FLATTEN[ratio]


def test_parameter_count_at_55x80_by_hand():
    # conv1 3*3*3*32+32 = 896; conv2 and conv3 3*3*32*32+32 = 9248 each; conv4 3*3*32*64+64 = 18496
    # fc1 192*64+64 = 12352; fc2 64*32+32 = 2080; fc3 32*4+4 = 132
    # total 896 + 9248 + 9248 + 18496 + 12352 + 2080 + 132 = 52452
    model = MiniVGG(num_classes=4, height=80, width=55)
    assert sum(p.numel() for p in model.parameters()) == 52452


def test_config_rebuilds_the_same_architecture_and_dropout():
    model = MiniVGG(num_classes=3, height=155, width=106, dropout=0.25)
    assert model.config == model_config(3, 155, 106, 0.25)
    rebuilt = MiniVGG.from_config(model.config)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
    assert [m.p for m in rebuilt.modules() if isinstance(m, torch.nn.Dropout)] == [0.25, 0.25]


def test_keras_like_init_zero_biases():
    model = MiniVGG(num_classes=4, height=80, width=55)
    biases = [m.bias for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(biases) == 7 and all(torch.count_nonzero(b) == 0 for b in biases)
    # Glorot-uniform bound for fc3: sqrt(6 / (32 + 4)) = 0.408
    assert model.classifier[-1].weight.abs().max() <= (6 / 36) ** 0.5


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match="too small"):
        MiniVGG(num_classes=4, height=45, width=80)
    MiniVGG(num_classes=4, height=46, width=46)
