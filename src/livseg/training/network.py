"""The network as the training loop sees it: built from the config, unwrapped from DDP and
``torch.compile``, its branch count, and its outputs cropped to the labelled patch."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from livseg.config import Config
from livseg.errors import ConfigError
from livseg.models.catalogue import build_model
from livseg.models.output import SegmentationOutput


def build_network(config: Config) -> nn.Module:
    """The network ``config.model`` names, with the config's channels and classes."""
    return build_model(config.model.name, in_channels=config.model.in_channels,
                       num_classes=config.num_classes, **config.model.options)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain network inside DistributedDataParallel and ``torch.compile`` wrappers."""
    model = getattr(model, "_orig_mod", model)  # torch.compile
    model = getattr(model, "module", model)  # DistributedDataParallel
    return getattr(model, "_orig_mod", model)


def count_branches(model: nn.Module, config: Config, device: torch.device) -> int:
    """Deep-supervision outputs of ``model``: its ``num_branches``, else one tiny forward pass tells."""
    branches = getattr(model, "num_branches", None)
    if branches is not None:
        return int(branches)
    size = [s + 2 * config.training.context_voxels for s in config.training.patch_voxels_xyz[::-1]]
    with torch.no_grad():
        was_training = model.training
        model.eval()
        out = model(torch.zeros(1, config.model.in_channels, *size, device=device))
        model.train(was_training)
    return len(out.branches)


def centre_crop(tensor: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """The centre ``shape`` (voxels) of the trailing three axes (no-op when equal)."""
    have = tensor.shape[-3:]
    if tuple(have) == tuple(shape):
        return tensor
    starts = [(h - s) // 2 for h, s in zip(have, shape)]
    return tensor[(..., *[slice(a, a + int(s)) for a, s in zip(starts, shape)])]


def align(output: SegmentationOutput, target: torch.Tensor, patch_zyx: Sequence[int]
          ) -> tuple[SegmentationOutput, torch.Tensor]:
    """Crop outputs (N, C, d, h, w) and target (N, D, H, W) to the common labelled region.

    Networks with valid convolutions return less than their input: the target is cropped to
    the output. Networks with "same" convolutions return the whole input, context included:
    both are cropped to the labelled patch ``patch_zyx`` (voxels).
    """
    out_shape = output.main.shape[-3:]
    shape = [min(int(o), int(p)) for o, p in zip(out_shape, patch_zyx)]
    if any(int(t) < s for t, s in zip(target.shape[-3:], shape)):
        raise ConfigError("training.context_voxels", expected="network outputs no larger than its input",
                          found=f"output {tuple(out_shape)} for target {tuple(target.shape[-3:])}")
    main = centre_crop(output.main, shape)
    branches = tuple(centre_crop(b, shape) for b in output.branches)
    return SegmentationOutput(main, branches), centre_crop(target, shape)
