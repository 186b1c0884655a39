"""livseg's Gaussian window blending against MONAI's ``sliding_window_inference`` (the oracle
it replaces on the predict path): same windows, same weights, bit-identical results."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from livseg.inference.blending import blend_windows, gaussian_importance, window_starts


def _network(seed: int):
    torch.manual_seed(seed)
    conv = torch.nn.Conv3d(1, 3, 3, padding=1)

    def predictor(x: torch.Tensor):
        out = torch.softmax(conv(x), dim=1)
        return out, out.square()  # two outputs, as the deep-supervision heads give

    return predictor


@pytest.mark.parametrize("shape, window, overlap, sigma", [
    ((20, 30, 40), (8, 16, 16), 0.25, 0.125),
    ((17, 23, 29), (17, 10, 7), 0.5, 0.125),   # a window spanning one axis, odd sizes
    ((12, 12, 12), (12, 12, 12), 0.25, 0.25),  # one window
    ((9, 40, 11), (4, 13, 11), 0.0, 0.2),      # no overlap
])
def test_blending_is_monais_to_the_bit(shape, window, overlap, sigma):
    image = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 1, *shape)).astype(np.float32))
    predictor = _network(1)
    with torch.inference_mode():
        ours = blend_windows(predictor, image, window_zyx=window, overlap=overlap, sigma_scale=sigma)
        theirs = sliding_window_inference(image, roi_size=window, sw_batch_size=1, predictor=predictor,
                                          overlap=overlap, mode="gaussian", sigma_scale=sigma)
    assert len(ours) == 2
    for mine, monai_out in zip(ours, theirs):
        assert torch.equal(mine, torch.as_tensor(monai_out).as_subclass(torch.Tensor)), (shape, window)


def test_window_starts_and_weights():
    assert window_starts(10, 4, 0.5) == [0, 2, 4, 6]
    assert window_starts(10, 4, 0.25) == [0, 3, 6]
    assert window_starts(5, 8, 0.25) == [0]
    weights = gaussian_importance((5, 7, 9), 0.125)
    assert weights.shape == (5, 7, 9) and weights.dtype == torch.float32
    assert float(weights[2, 3, 4]) == 1.0 and float(weights.min()) >= 1e-3
    with pytest.raises(Exception, match="within the volume"):
        blend_windows(lambda x: x, torch.zeros(1, 1, 4, 4, 4), window_zyx=(5, 4, 4), overlap=0.25, sigma_scale=0.125)


def test_predicting_does_not_import_monai():
    """The predict path's start-up does not pay for MONAI (2-3 s of imports on 2 cores)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from livseg.inference import Segmenter\n"
            "from livseg.batch.runner import handle_case\n"
            "from livseg.phantoms import generate_phantom\n"
            "ct, _ = generate_phantom(1, size_xyz=(48, 40, 24))\n"
            "Segmenter.from_checkpoint('default', 'cpu').predict(ct)\n"
            "print(sorted(m for m in sys.modules if m == 'monai' or m.startswith('monai.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
