"""Shared inputs of the tune-crf tests: a fixed-weight intensity-band network, its bundle, phantoms.

``BandNet`` is a real (tiny) convolutional network with fixed weights: a k x k x k mean filter
(edge-replicated) of the prepared intensities, then ``logit_fg = gain * (half_width - |mean -
centre|)``: "liver" is an intensity band around the portal-venous liver's HU. Its two
deep-supervision branches use a narrower and a wider band. With a 1-voxel filter the phantoms'
noise (5-25 HU) leaves speckle in and around the liver, which a dense CRF can clean: a noisy
but honest unary from a real forward pass. It is registered as "test-tuning-band" so
checkpoints can name it like any network.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from livseg.config import config_from_dict
from livseg.phantoms import write_phantoms
from livseg.inference import InferenceSettings, ModelBundle, save_bundle
from livseg.models import SegmentationOutput, register_model

#: The prepared-intensity window of the test model: unit normalisation of [-200, 300] HU.
HU_WINDOW = (-200.0, 300.0)
#: Phantom set whose first three cases are portal-venous (liver 96-110 HU), stored LAS, LPI, RAI.
PHANTOM_SEED = 0
PHANTOM_SIZE = (64, 64, 32)


def hu_to_unit(hu: float) -> float:
    return (hu - HU_WINDOW[0]) / (HU_WINDOW[1] - HU_WINDOW[0])


class BandNet(nn.Module):
    num_branches = 2

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, centre_hu: float = 105.0,
                 half_width_hu: float = 25.0, kernel: int = 1, gain: float = 0.2) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.smooth = nn.Conv3d(1, 1, kernel, padding=kernel // 2, padding_mode="replicate", bias=False)
        with torch.no_grad():
            self.smooth.weight.fill_(1.0 / kernel ** 3)
        self.register_buffer("centre", torch.tensor(hu_to_unit(centre_hu)))
        self.half_width = half_width_hu / (HU_WINDOW[1] - HU_WINDOW[0])
        # gain is per HU: logits are gain * (half width - distance) in HU.
        self.gain = gain * (HU_WINDOW[1] - HU_WINDOW[0])

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        mean = self.smooth(x)

        def logits(scale: float) -> torch.Tensor:
            fg = self.gain * (self.half_width * scale - (mean - self.centre).abs())
            return torch.cat([torch.zeros_like(fg), fg], dim=1)

        return SegmentationOutput(logits(1.0), (logits(0.6), logits(1.6)))


@register_model("test-tuning-band", description="test-only: intensity band around the liver's HU")
def build_band(in_channels: int = 1, num_classes: int = 2, **options: object) -> BandNet:
    return BandNet(in_channels, num_classes, **options)  # type: ignore[arg-type]


def band_bundle(**options: object) -> ModelBundle:
    """A bundle of the band network (LPS working grid, body crop, CRF on, default settings)."""
    config = config_from_dict({
        "name": "test-tuning-band",
        "data": {"task": "liver"},
        "preprocessing": {"orientation": "LPS", "hu_window": list(HU_WINDOW), "normalisation": "unit",
                          "spacing_mm": None, "crop": "body"},
        "model": {"name": "test-tuning-band", "options": dict(options)},
        "training": {"patch_voxels_xyz": [64, 64, 32]},
    }, require_data=False)
    network = build_band(**config.model.options)
    settings = InferenceSettings(window_voxels_xyz=config.training.patch_voxels_xyz)
    return ModelBundle(network=network, preprocessing=config.preprocessing, task="liver", settings=settings,
                       name=config.name, config=config)


def write_band_model(path: Path, **options: object) -> Path:
    """Save the band network as a livseg checkpoint (what ``--model`` reads)."""
    return save_bundle(band_bundle(**options), path)


def write_test_phantoms(folder: Path, n: int = 3) -> Path:
    """``n`` phantoms (64 x 64 x 32) as a pairs data set in ``folder``; returns ``folder``."""
    write_phantoms(folder, n=n, seed=PHANTOM_SEED, size_xyz=PHANTOM_SIZE)
    return folder
