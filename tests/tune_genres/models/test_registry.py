"""The registry: every catalog model builds for G genres at the study's smallest size, rebuilds from
its config, resizes by input_scale, and says when a poster is too small for it."""

from __future__ import annotations

import pytest
import torch

from tune_genres.models.catalog import MODEL_NAMES, MODELS, too_small
from tune_genres.models.registry import create_model, model_from_config
from tune_genres.training.hyperparameters import SWEPT
from tune_genres.sweep.sweep_file import HYPERPARAMETER_KEYS


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_gives_one_logit_per_genre_at_55x80_and_rebuilds_from_its_config(name):
    torch.manual_seed(0)
    model = create_model(name, 4, 80, 55, dropout=0.5).eval()
    x = torch.rand(2, 3, 80, 55)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 4) and torch.isfinite(out).all()
        again = model_from_config(name, model.config).eval()
        again.load_state_dict(model.state_dict())
        assert torch.equal(again(x), out)


def test_input_scale_resizes_what_the_network_sees():
    seen = []
    model = create_model("resnet18", 3, 80, 55, input_scale=2.0).eval()
    model.body.conv1.register_forward_hook(lambda module, inputs, output: seen.append(tuple(inputs[0].shape[2:])))
    with torch.no_grad():
        model(torch.rand(1, 3, 80, 55))
    assert seen == [(160, 110)]
    vgg = create_model("minivgg", 3, 80, 55, input_scale=2.0)
    assert vgg.config["input_scale"] == 2.0 and vgg(torch.rand(1, 3, 80, 55)).shape == (1, 3)
    assert "input_scale" not in create_model("minivgg", 3, 80, 55).config  # the study's config as it always read


def test_a_frozen_body_stays_in_eval_mode_and_learns_nothing():
    model = create_model("mobilenet_v3_small", 3, 80, 55, frozen=True).train()
    assert not model.body.training and model.head.training
    assert not any(p.requires_grad for p in model.body.parameters())
    assert all(p.requires_grad for p in model.head.parameters())


def test_too_small_names_the_model_the_size_and_what_it_needs():
    assert too_small("resnet18", 55, 80, 1.0) is None
    assert too_small("resnet18", 55, 80, 0.5) == "resnet18 needs at least 32 pixels a side, and 55x80 x input_scale 0.5 gives 27"  # 27.5 floored: what the network gets
    assert too_small("minivgg", 55, 80, 0.75) is not None  # 41 < 46


def test_the_sweep_file_offers_every_catalog_model_and_a_short_name_for_each_key():
    assert HYPERPARAMETER_KEYS["model"].choices == MODEL_NAMES == tuple(MODELS)
    assert set(SWEPT) == set(HYPERPARAMETER_KEYS) and len(set(SWEPT.values())) == len(SWEPT)


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if MODELS[n].num_features is not None])
def test_a_head_built_alone_is_the_whole_network_s_head_and_its_config_the_network_s(name):
    from tune_genres.models.backbones import build_body
    from tune_genres.models.registry import create_head, network_config

    with torch.device("meta"):  # shapes only: the catalog's width is what the body gives
        assert build_body(name)[1] == MODELS[name].num_features
    options = {"dropout": 0.3, "input_scale": 2.0, "frozen": True}
    torch.manual_seed(7)
    whole = create_model(name, 4, 80, 55, **options)
    draw_after_whole = torch.rand(4)
    torch.manual_seed(7)
    head = create_head(name, 4, 0.3)
    # The same initial head, and the global RNG left where the whole network leaves it (dropout masks).
    assert head.state_dict().keys() == {k.removeprefix("head.") for k in whole.state_dict() if k.startswith("head.")}
    assert all(torch.equal(v, whole.head.state_dict()[k]) for k, v in head.state_dict().items())
    assert torch.equal(torch.rand(4), draw_after_whole)
    assert network_config(name, 4, 80, 55, **options) == whole.config
