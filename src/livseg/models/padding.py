"""Pad a volume to the sizes a network can divide, and crop its outputs back.

Networks with ``s`` stride-2 stages need every spatial size to be a multiple of ``2**s``; they
pad their input here (edge values repeated, split as evenly as possible before and after) and
crop every output back, so callers may pass any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def padding_for(size: int, multiple: int, minimum: int = 1) -> tuple[int, int]:
    """(before, after) voxels that bring ``size`` to the next multiple of ``multiple`` >= ``minimum``."""
    target = max(size, minimum)
    target = -(-target // multiple) * multiple
    extra = target - size
    return extra // 2, extra - extra // 2


def pad_spatial(x: torch.Tensor, multiple: int, minimum: int = 1) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Pad the spatial axes of ``x`` (N, C, *S) by edge replication.

    Args:
        x: tensor (N, C, D, H, W) or (N, C, H, W).
        multiple: every padded spatial size is a multiple of this.
        minimum: every padded spatial size is at least this.

    Returns:
        (padded tensor, crop) where ``output[(..., *crop)]`` maps a same-size output of the padded
        tensor back to the original spatial size. Nothing is copied when no padding is needed.
    """
    spatial = x.shape[2:]
    pads = [padding_for(int(n), multiple, minimum) for n in spatial]
    crop = tuple(slice(before, before + int(n)) for (before, _), n in zip(pads, spatial))
    if not any(before or after for before, after in pads):
        return x, crop
    flat: list[int] = []
    for before, after in reversed(pads):  # F.pad takes the last axis first
        flat += [before, after]
    return F.pad(x, flat, mode="replicate"), crop


def crop_spatial(y: torch.Tensor, crop: tuple[slice, ...]) -> torch.Tensor:
    """Apply the crop returned by :func:`pad_spatial` to an output (N, C, *S)."""
    if all(s.start == 0 and s.stop == n for s, n in zip(crop, y.shape[2:])):
        return y
    return y[(slice(None), slice(None), *crop)]


def center_crop(y: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Crop the spatial axes of ``y`` (N, C, *S) around their centre to ``size``.

    Used where a valid-convolution network's feature maps are larger than its output; every
    size difference it meets is even, so the crop is centred exactly.
    """
    slices = []
    for have, want in zip(y.shape[2:], size):
        start = (int(have) - int(want)) // 2
        slices.append(slice(start, start + int(want)))
    return y[(slice(None), slice(None), *slices)]
