"""augment_batch: what each kind does to a batch, and that the trial's generator alone decides it."""

from __future__ import annotations

import pytest
import torch

import torch.nn.functional as F

from tune_genres.training.augment import AUGMENTS, BRIGHTNESS, CONTRAST, _crop_grid, augment_batch

N, H, W = 64, 31, 22  # a small portrait poster, odd sizes


def batch(n: int = N, seed: int = 0) -> torch.Tensor:
    """Random (so left-right asymmetric) images in [0, 1], channels_last as ResidentSplit.batches gives."""
    x = torch.rand(n, 3, H, W, generator=torch.Generator().manual_seed(seed))
    return x.contiguous(memory_format=torch.channels_last)


def gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augments_lists_the_kinds():
    assert AUGMENTS == ("none", "flip", "standard")


def test_none_returns_the_batch_itself_and_draws_nothing():
    x, g = batch(), gen()
    before = g.get_state()
    assert augment_batch(x, "none", g) is x
    assert torch.equal(g.get_state(), before)


def test_flip_mirrors_some_samples_and_leaves_the_rest():
    x = batch()
    out = augment_batch(x, "flip", gen())
    assert out.shape == x.shape and out.is_contiguous(memory_format=torch.channels_last)
    flipped = [torch.equal(o, m) for o, m in zip(out, x.flip(3))]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))  # each one or the other (the images are asymmetric)
    assert 0 < sum(flipped) < N


def test_flip_is_deterministic_for_a_seed():
    x = batch()
    assert torch.equal(augment_batch(x, "flip", gen(5)), augment_batch(x, "flip", gen(5)))


@pytest.mark.parametrize("channels_last", [True, False])
def test_standard_keeps_shape_dtype_format_and_range(channels_last):
    x = batch() if channels_last else batch().contiguous()
    out = augment_batch(x, "standard", gen())
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert out.is_contiguous() == (not channels_last)
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x, atol=1e-2)
    assert (out - x).flatten(1).abs().amax(1).min() > 1e-2  # every sample changed, not just some


def test_standard_is_deterministic_for_a_seed_and_differs_across_seeds():
    x = batch()
    first, again = augment_batch(x, "standard", gen(7)), augment_batch(x, "standard", gen(7))
    assert torch.equal(first, again)
    assert not torch.allclose(first, augment_batch(x, "standard", gen(8)), atol=1e-3)


def test_standard_crop_stays_inside_the_poster():
    # A constant poster stays constant: no black border from sampling past its edge, and brightness
    # and contrast only move the constant itself (within their jitter).
    x = torch.full((N, 3, H, W), 0.7).contiguous(memory_format=torch.channels_last)
    out = augment_batch(x, "standard", gen())
    assert out.flatten(1).std(1).max() < 1e-3
    means = out.flatten(1).mean(1)
    assert means.min() >= 0.7 * BRIGHTNESS[0] - 1e-4 and means.max() <= 0.7 * BRIGHTNESS[1] + 1e-4
    assert means.std() > 0.01  # the brightness jitter is there


def test_standard_crop_samples_only_inside_the_poster_and_mirrors_some():
    # Ramps across (red) and down (green) the poster: inside it, bilinear sampling of a ramp is a
    # ramp again (brightness and contrast only scale and shift it), while a crop reaching past an
    # edge would flatten where it samples the edge pixels. The outermost output pixels are left
    # out: they fall in the poster's outermost half pixel, which sampling clamps to that pixel.
    x = torch.full((N, 3, H, W), 0.5)
    x[:, 0] = torch.linspace(0.25, 0.75, W)
    x[:, 1] = torch.linspace(0.25, 0.75, H).view(H, 1)
    out = augment_batch(x, "standard", gen())
    across, down = out[:, 0, :, 1:-1], out[:, 1, 1:-1, :]
    assert (across.diff(dim=2).diff(dim=2).abs().max()) < 1e-4
    assert (down.diff(dim=1).diff(dim=1).abs().max()) < 1e-4
    assert across.diff(dim=2).abs().min() > 1e-3  # still a ramp, not flattened
    slopes = across.diff(dim=2).mean((1, 2))
    assert (slopes > 0).any() and (slopes < 0).any()  # some mirrored, some not


def test_standard_scales_a_posters_tones_within_the_jitter():
    # A grey poster, 0.3 above and 0.6 below: every crop keeps some of both (it is at least
    # sqrt(0.6 / (4/3)) = 0.67 of the poster's height), so the gap between them is 0.3 times the
    # brightness and contrast factors.
    x = torch.zeros(N, 3, H, W)
    x[:, :, : H // 2] = 0.3
    x[:, :, H // 2 :] = 0.6
    out = augment_batch(x, "standard", gen())
    spread = out.amax((1, 2, 3)) - out.amin((1, 2, 3))
    assert spread.max() <= 0.3 * BRIGHTNESS[1] * CONTRAST[1] + 1e-4
    assert spread.min() >= 0.3 * BRIGHTNESS[0] * CONTRAST[0] - 1e-4


def test_crop_grid_is_affine_grids():
    crop = torch.rand(5, 4, generator=gen()) * 2 - 1
    theta = torch.zeros(5, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = crop.unbind(1)
    expected = F.affine_grid(theta, [5, 3, H, W], align_corners=False)
    torch.testing.assert_close(_crop_grid(crop, H, W), expected)


def test_generator_advances_and_a_restored_state_repeats_the_batch():
    x, g = batch(), gen()
    state = g.get_state()
    for kind in ("flip", "standard"):
        g.set_state(state)
        first = augment_batch(x, kind, g)
        assert not torch.equal(g.get_state(), state)
        second = augment_batch(x, kind, g)
        assert not torch.equal(first, second)
        g.set_state(state)
        assert torch.equal(augment_batch(x, kind, g), first)


def test_unknown_kind_raises_naming_the_valid_ones():
    with pytest.raises(ValueError, match="flip"):
        augment_batch(batch(4), "cutout", gen())
