"""Sliding-window inference: window grid, z-slabs, stitching, branch blending, mirroring.

Networks here are a randomly initialised tiny 3D DSN (only geometry and arithmetic matter:
no accuracy is claimed) and fixed-weight predictors whose output is known by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data.utils import dense_patch_slices
from monai.inferers.utils import _get_scan_interval

from inference_helpers import ThresholdNet
from livseg.inference.windows import (WindowPredictor, grow_window, plan_slabs, sliding_window_probabilities,
                                      window_starts)
from livseg.models import SegmentationOutput, build_model


def tiny_dsn(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("dsn3d", num_classes=2, widths=(2, 2, 2, 2, 2), channels_last=False).eval()


class AddConstant(torch.nn.Module):
    """Logits whose softmax foreground is exactly ``input + 0.25`` (for inputs in [0, 0.5])."""

    num_branches = 0

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        p = x.double() + 0.25
        return SegmentationOutput(torch.cat([torch.log1p(-p), torch.log(p)], dim=1).float())


@pytest.mark.parametrize("size,window,overlap", [(100, 16, 0.25), (100, 16, 0.5), (37, 16, 0.75),
                                                 (16, 16, 0.5), (17, 16, 0.25), (300, 72, 0.25)])
def test_window_starts_are_monais(size, window, overlap):
    interval = _get_scan_interval((size,), (window,), 1, (overlap,))
    monai_starts = [s[0].start for s in dense_patch_slices((size,), (window,), interval)]
    assert window_starts(size, window, overlap) == monai_starts


@pytest.mark.parametrize("depth,window,overlap,rows", [(300, 72, 0.25, 2), (300, 72, 0.5, 2), (300, 72, 0.75, 1),
                                                       (500, 40, 0.5, 3), (101, 16, 0.25, 1), (73, 72, 0.25, 1)])
def test_slabs_hold_every_window_of_the_voxels_they_keep(depth, window, overlap, rows):
    starts = window_starts(depth, window, overlap)
    slabs = plan_slabs(depth, window, overlap, rows)
    assert slabs[0].keep_start == 0 and slabs[-1].keep_stop == depth
    assert all(a.keep_stop == b.keep_start for a, b in zip(slabs, slabs[1:]))
    for slab in slabs:
        # MONAI's windows on the slab are exactly the whole volume's windows inside it.
        inside = [s - slab.start for s in starts if slab.start <= s and s + window <= slab.stop]
        assert window_starts(slab.stop - slab.start, window, overlap) == inside
        for z in range(slab.keep_start, slab.keep_stop):
            covering = [s for s in starts if s <= z < s + window]
            assert all(slab.start <= s and s + window <= slab.stop for s in covering), (z, slab)
    if len(starts) > rows + 2:
        assert len(slabs) > 1


@pytest.mark.parametrize("shape,window", [((20, 24, 28), (24, 32, 32)), ((16, 24, 32), (16, 24, 32))])
def test_one_window_reproduces_the_whole_volume_forward(shape, window):
    network = tiny_dsn()
    image = np.random.default_rng(1).uniform(0, 1, shape).astype(np.float32)
    stitched = sliding_window_probabilities(network, image, window_zyx=window, overlap=0.25, weights=(1, 0, 0),
                                            store_dtype=np.float32)
    with torch.no_grad():
        direct = torch.softmax(network(torch.from_numpy(image)[None, None]).main, dim=1)[0].numpy()
    np.testing.assert_allclose(stitched, direct, rtol=0, atol=1e-6)


@pytest.mark.parametrize("overlap,slab_voxels", [(0.5, None), (0.25, None), (0.5, 12 * 20 * 24), (0.25, 10 * 20 * 24)])
def test_arange_stitching_is_exact(overlap, slab_voxels):
    """MONAI's own check: a predictor that adds a constant must come back as input + constant."""
    shape = (34, 20, 24)
    image = (np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / (2 * np.prod(shape))).astype(np.float32)
    stitched = sliding_window_probabilities(AddConstant(), image, window_zyx=(8, 8, 8), overlap=overlap,
                                            weights=(1.0,), store_dtype=np.float32, slab_voxels=slab_voxels)
    step = 1 / (2 * np.prod(shape))  # neighbouring voxels differ by this: a shifted window would show
    np.testing.assert_allclose(stitched[1], image + 0.25, rtol=0, atol=step / 10)
    np.testing.assert_allclose(stitched[0], 0.75 - image, rtol=0, atol=step / 10)


def test_slab_path_equals_whole_volume_path_on_a_tall_volume():
    network = tiny_dsn(seed=3)
    image = np.random.default_rng(2).uniform(0, 1, (150, 12, 20)).astype(np.float32)
    kwargs = dict(window_zyx=(16, 12, 16), overlap=0.5, weights=(0.5, 0.25, 0.25), store_dtype=np.float32)
    whole = sliding_window_probabilities(network, image, **kwargs)
    calls = []
    slabs = sliding_window_probabilities(network, image, slab_voxels=32 * 12 * 20,
                                         on_slab=lambda i, n: calls.append(n), **kwargs)
    assert calls and calls[0] >= 5  # really cut into slabs
    np.testing.assert_allclose(slabs, whole, rtol=0, atol=1e-6)


def test_blending_branches_then_fusing_equals_fusing_in_each_window():
    network = tiny_dsn(seed=4)
    image = np.random.default_rng(3).uniform(0, 1, (20, 24, 24)).astype(np.float32)
    weights = (0.6, 0.1, 0.3)
    kwargs = dict(window_zyx=(12, 16, 16), overlap=0.5, store_dtype=np.float32)
    fused = sliding_window_probabilities(network, image, weights=weights, **kwargs)
    outputs = sliding_window_probabilities(network, image, weights=weights, keep_outputs=True, **kwargs)
    assert len(outputs) == 3
    by_hand = sum(w * p for w, p in zip(weights, outputs))
    np.testing.assert_allclose(fused, by_hand, rtol=0, atol=1e-6)
    for p in outputs:
        np.testing.assert_allclose(p.sum(axis=0), 1.0, atol=1e-5)


def test_mirroring_is_undone_for_a_mirror_symmetric_network():
    """A mean filter with replicated edges commutes with flips: TTA must change nothing."""
    image = np.random.default_rng(4).uniform(0, 1, (20, 30, 26)).astype(np.float32)
    kwargs = dict(window_zyx=(12, 16, 16), overlap=0.5, weights=(1, 0, 0), store_dtype=np.float32)
    plain = sliding_window_probabilities(ThresholdNet(threshold=0.5, gain=4.0), image, **kwargs)
    mirrored = sliding_window_probabilities(ThresholdNet(threshold=0.5, gain=4.0), image, tta=True, **kwargs)
    np.testing.assert_allclose(mirrored, plain, rtol=0, atol=1e-5)


def test_mirroring_averages_the_eight_flips():
    """For a network that is not symmetric, TTA is the mean of the flipped-back predictions."""
    network = tiny_dsn(seed=5)
    x = torch.from_numpy(np.random.default_rng(5).uniform(0, 1, (1, 1, 8, 12, 12)).astype(np.float32))
    predictor = WindowPredictor(network, (1, 0, 0), tta=True)
    with torch.no_grad():
        tta = predictor(x)
        by_hand = torch.zeros_like(tta)
        for dims in [(), (2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4)]:
            flipped = torch.flip(x, dims) if dims else x
            prob = torch.softmax(network(flipped).main, dim=1)
            by_hand += (torch.flip(prob, dims) if dims else prob) / 8
    assert predictor.calls == 1 and len(predictor.flips) == 8
    torch.testing.assert_close(tta, by_hand, rtol=0, atol=1e-6)


def test_default_store_is_float16_within_its_resolution():
    network = tiny_dsn()
    image = np.random.default_rng(6).uniform(0, 1, (12, 16, 16)).astype(np.float32)
    kwargs = dict(window_zyx=(12, 16, 16), overlap=0.25, weights=(1, 0, 0))
    half = sliding_window_probabilities(network, image, **kwargs)
    full = sliding_window_probabilities(network, image, store_dtype=np.float32, **kwargs)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), full, rtol=0, atol=2.0 ** -11)


def test_window_grows_to_whole_axes_within_its_budget():
    # CHAOS-like prepared volume: 8 windows of 72x160x160 at overlap 0.25, or one of the whole volume.
    assert grow_window((72, 160, 160), (78, 162, 248), None) == (72, 160, 160)
    assert grow_window((72, 160, 160), (78, 162, 248), 78 * 162 * 248) == (78, 162, 248)
    # Growing z alone saves half the windows (2 -> 1), y alone too; x does not fit any more.
    assert grow_window((72, 160, 160), (78, 162, 400), 78 * 162 * 160) == (78, 162, 160)
    assert grow_window((72, 160, 160), (78, 162, 400), 78 * 160 * 160) == (72, 162, 160)  # tie: the smaller
    assert grow_window((16, 16, 16), (8, 40, 40), 1) == (8, 16, 16)  # never below the volume's own size
