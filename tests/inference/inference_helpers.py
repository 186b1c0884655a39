"""Shared inputs of the inference tests: a threshold network and small bundles.

``ThresholdNet`` is a real (tiny) convolutional network with fixed weights: a 3x3x3 mean
filter (edge-replicated) followed by a threshold, ``logit_fg = gain * (mean - threshold)``
(or ``threshold - mean`` with ``dark=True``), plus two deep-supervision branches whose
thresholds are shifted by -/+ 0.05. Its output is a known function of the input, so tests
of grid handling can say what the labels must be; it is registered under "test-threshold"
so checkpoints can name it like any network.
"""

from __future__ import annotations

import torch
from torch import nn

from livseg.config import config_from_dict
from livseg.inference import InferenceSettings, ModelBundle
from livseg.models import SegmentationOutput, register_model


class ThresholdNet(nn.Module):
    num_branches = 2

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, threshold: float = 0.6,
                 gain: float = 20.0, dark: bool = False) -> None:
        super().__init__()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.smooth = nn.Conv3d(1, 1, 3, padding=1, padding_mode="replicate", bias=False)
        with torch.no_grad():
            self.smooth.weight.fill_(1.0 / 27.0)
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self.gain = float(gain)
        self.sign = -1.0 if dark else 1.0

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        mean = self.smooth(x)

        def logits(shift: float) -> torch.Tensor:
            fg = self.sign * self.gain * (mean - (self.threshold + shift))
            return torch.cat([torch.zeros_like(fg), fg], dim=1)

        return SegmentationOutput(logits(0.0), (logits(-0.05), logits(0.05)))


@register_model("test-threshold", description="test-only: 3x3x3 mean filter + threshold")
def build_threshold(in_channels: int = 1, num_classes: int = 2, **options: object) -> ThresholdNet:
    return ThresholdNet(in_channels, num_classes, **options)  # type: ignore[arg-type]


def threshold_config(*, task: str = "liver", spacing_mm=None, crop: str = "body", threshold: float = 0.6,
                     dark: bool = False, patch_xyz=(32, 32, 16), orientation: str | None = "LPS"):
    """A resolved training config that names the threshold network."""
    return config_from_dict({
        "name": f"test-threshold-{task}",
        "data": {"task": task},
        "preprocessing": {"orientation": orientation, "hu_window": [-200, 200], "normalisation": "unit",
                          "spacing_mm": None if spacing_mm is None else list(spacing_mm), "crop": crop},
        "model": {"name": "test-threshold", "options": {"threshold": threshold, "dark": dark}},
        "training": {"patch_voxels_xyz": list(patch_xyz)},
    }, require_data=False)


def threshold_bundle(**kwargs) -> ModelBundle:
    """A bundle of the threshold network (settings: the config's defaults, CRF on)."""
    settings_kwargs = kwargs.pop("settings", {})
    config = threshold_config(**kwargs)
    network = build_threshold(**config.model.options)
    settings = InferenceSettings(window_voxels_xyz=config.training.patch_voxels_xyz, **settings_kwargs)
    return ModelBundle(network=network, preprocessing=config.preprocessing, task=config.data.task,
                       settings=settings, name=config.name, config=config)
