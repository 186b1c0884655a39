"""Checks and conversions shared by the losses: logits (N, C, *S) and integer targets (N, *S)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from livseg.errors import LivsegError


class LossInputError(LivsegError):
    """Logits and target given to a loss do not fit together."""


def check_pair(logits: torch.Tensor, target: torch.Tensor, loss_name: str) -> torch.Tensor:
    """Validate shapes and dtype; return the target as (N, *S) int64.

    Accepts a target of shape (N, *S) or (N, 1, *S). Raises LossInputError otherwise, or when
    the target is not an integer tensor.
    """
    if logits.dim() < 3:
        raise LossInputError(f"loss '{loss_name}'", expected="logits (N, C, D, H, W)",
                             found=f"shape {tuple(logits.shape)}")
    if target.dim() == logits.dim() and target.shape[1] == 1:
        target = target[:, 0]
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise LossInputError(
            f"loss '{loss_name}'", expected=f"a target (N, D, H, W) = {tuple(logits.shape[:1] + logits.shape[2:])} "
            "matching the logits", found=f"target shape {tuple(target.shape)} for logits {tuple(logits.shape)}",
            fix="crop the target to the network's output size (valid-convolution networks output less)")
    if target.dtype.is_floating_point or target.dtype == torch.bool:
        raise LossInputError(f"loss '{loss_name}'", expected="an integer label target",
                             found=f"dtype {target.dtype}", fix="pass labels as int64 (target.long())")
    return target.long()


def one_hot_and_mask(target: torch.Tensor, num_classes: int, ignore_index: int | None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One-hot target (N, C, *S) float and, with ``ignore_index``, a mask (N, 1, *S) of kept voxels.

    Raises LossInputError when a (non-ignored) label is outside 0..C-1.
    """
    mask = None
    if ignore_index is not None:
        keep = target != ignore_index
        target = torch.where(keep, target, torch.zeros_like(target))
        mask = keep.unsqueeze(1)
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= num_classes:
        raise LossInputError("loss target", expected=f"labels in 0..{num_classes - 1}",
                             found=f"labels from {low} to {high}",
                             fix="set the network's num_classes to cover every label, or map the labels")
    onehot = F.one_hot(target, num_classes).movedim(-1, 1)
    return onehot.float() if mask is None else onehot.float() * mask, mask
