"""Cross-entropy and focal loss on logits (N, C, *S) and integer targets (N, *S)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from monai.losses import FocalLoss as MonaiFocalLoss
from torch import nn

from livseg.losses._inputs import LossInputError, check_pair, one_hot_and_mask


def _class_weights(weight: Sequence[float] | None) -> torch.Tensor | None:
    return None if weight is None else torch.as_tensor([float(w) for w in weight], dtype=torch.float32)


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy, optionally class-weighted; torch's ``cross_entropy``.

    With class weights w the mean is weighted: ``sum_v w[y_v] * nll_v / sum_v w[y_v]`` over the
    voxels v that are not ``ignore_index``.

    Args:
        weight: one weight per class (e.g. a class-balanced loss), or None.
        ignore_index: label value whose voxels do not count, or None.
        label_smoothing: as in ``torch.nn.functional.cross_entropy``.
    """

    name = "ce"

    def __init__(self, *, weight: Sequence[float] | None = None, ignore_index: int | None = None,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("weight", _class_weights(weight), persistent=False)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = check_pair(logits, target, self.name)
        if self.weight is not None and self.weight.numel() != logits.shape[1]:
            raise LossInputError("loss 'ce' option 'weight'", expected=f"{logits.shape[1]} class weights",
                                 found=f"{self.weight.numel()}")
        weight = None if self.weight is None else self.weight.to(logits.device)
        loss = F.cross_entropy(logits.float(), target, weight=weight,
                               ignore_index=-100 if self.ignore_index is None else self.ignore_index,
                               label_smoothing=self.label_smoothing)
        self.last_terms = {self.name: loss.detach()}
        return loss


class FocalLoss(nn.Module):
    """Softmax focal loss (Lin et al. 2017): mean over voxels of ``-a_t (1 - p_t)^gamma log p_t``.

    MONAI's ``FocalLoss`` computes the per-class terms; they are summed over classes and averaged
    over the voxels that are not ``ignore_index`` (MONAI's own "mean" would also divide by the
    number of classes). With ``gamma=0`` and no ``alpha`` it equals the cross-entropy.

    Args:
        gamma: focusing exponent (2 in the paper).
        alpha: None; a float a (weight a for foreground classes, 1 - a for background, as in the
            binary focal loss); or one weight per class.
        ignore_index: label value whose voxels do not count, or None.
    """

    name = "focal"

    def __init__(self, *, gamma: float = 2.0, alpha: float | Sequence[float] | None = None,
                 ignore_index: int | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha
        self.ignore_index = ignore_index
        self._focal = MonaiFocalLoss(include_background=True, to_onehot_y=False, gamma=gamma,
                                     alpha=alpha, reduction="none", use_softmax=True)
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = check_pair(logits, target, self.name)
        if isinstance(self.alpha, (list, tuple)) and len(self.alpha) != logits.shape[1]:
            raise LossInputError("loss 'focal' option 'alpha'", expected=f"{logits.shape[1]} class weights",
                                 found=f"{len(self.alpha)}")
        onehot, mask = one_hot_and_mask(target, logits.shape[1], self.ignore_index)
        per_voxel = self._focal(logits.float(), onehot).sum(dim=1)           # (N, *S)
        if mask is None:
            loss = per_voxel.mean()
        else:
            keep = mask[:, 0].to(per_voxel.dtype)
            loss = (per_voxel * keep).sum() / keep.sum().clamp_min(1.0)
        self.last_terms = {self.name: loss.detach()}
        return loss
