"""Soft overlap losses on softmax probabilities: Dice, Jaccard, Tversky, exponential-log Dice.

With soft counts per sample and class (sums over voxels of the class probability p and the
one-hot target g): tp = sum p g, fp = sum p (1 - g), fn = sum (1 - p) g, and smoothing s:

    dice     = (2 tp + s) / (2 tp + fp + fn + s)
    jaccard  = (tp + s/2) / (tp + fp + fn + s/2)            (MONAI's smoothing convention)
    tversky  = (tp + s) / (tp + alpha fp + beta fn + s)     (alpha = beta = 0.5, s = 0: Dice)
    explog   = mean over samples and classes of (-ln dice)^gamma   (Wong et al. 2018)

Each loss is 1 - index (explog: as written), averaged over samples and the foreground classes
(``include_background=False``, the default) or summed counts over the batch first
(``batch=True``). Voxels labelled ``ignore_index`` count for nothing. The counts come from
MONAI's DiceLoss/TverskyLoss, fed with probabilities and one-hot targets prepared here.
"""

from __future__ import annotations

import torch
from monai.losses import DiceLoss
from monai.losses import TverskyLoss as MonaiTverskyLoss
from torch import nn

from livseg.losses._inputs import LossInputError, check_pair, one_hot_and_mask


class _OverlapLoss(nn.Module):
    name = "overlap"

    def __init__(self, *, include_background: bool = False, smooth: float = 1e-5, batch: bool = False,
                 ignore_index: int | None = None) -> None:
        super().__init__()
        self.include_background = include_background
        self.smooth = smooth
        self.batch = batch
        self.ignore_index = ignore_index
        self.last_terms: dict[str, torch.Tensor] = {}

    def _prepare(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        target = check_pair(logits, target, self.name)
        if logits.shape[1] < 2:
            raise LossInputError(f"loss '{self.name}'", expected="logits with >= 2 classes (softmax)",
                                 found=f"{logits.shape[1]} channel(s)")
        probs = torch.softmax(logits.float(), dim=1)
        onehot, mask = one_hot_and_mask(target, logits.shape[1], self.ignore_index)
        if mask is not None:
            probs = probs * mask
        return probs, onehot

    def _finish(self, loss: torch.Tensor) -> torch.Tensor:
        self.last_terms = {self.name: loss.detach()}
        return loss


class SoftDiceLoss(_OverlapLoss):
    """1 - soft Dice over the foreground classes (see the module docstring)."""

    name = "dice"

    def __init__(self, *, include_background: bool = False, smooth: float = 1e-5, batch: bool = False,
                 ignore_index: int | None = None) -> None:
        super().__init__(include_background=include_background, smooth=smooth, batch=batch,
                         ignore_index=ignore_index)
        self._dice = DiceLoss(include_background=self.include_background, smooth_nr=self.smooth,
                              smooth_dr=self.smooth, batch=self.batch)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._finish(self._dice(*self._prepare(logits, target)))


class JaccardLoss(_OverlapLoss):
    """1 - soft Jaccard index (intersection over union) over the foreground classes."""

    name = "jaccard"

    def __init__(self, *, include_background: bool = False, smooth: float = 1e-5, batch: bool = False,
                 ignore_index: int | None = None) -> None:
        super().__init__(include_background=include_background, smooth=smooth, batch=batch,
                         ignore_index=ignore_index)
        self._jaccard = DiceLoss(include_background=self.include_background, smooth_nr=self.smooth,
                                 smooth_dr=self.smooth, batch=self.batch, jaccard=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._finish(self._jaccard(*self._prepare(logits, target)))


class TverskyLoss(_OverlapLoss):
    """1 - Tversky index; ``alpha`` weighs false positives, ``beta`` false negatives."""

    name = "tversky"

    def __init__(self, *, alpha: float = 0.3, beta: float = 0.7, include_background: bool = False,
                 smooth: float = 1e-5, batch: bool = False, ignore_index: int | None = None) -> None:
        super().__init__(include_background=include_background, smooth=smooth, batch=batch,
                         ignore_index=ignore_index)
        self.alpha, self.beta = alpha, beta
        self._tversky = MonaiTverskyLoss(include_background=self.include_background, alpha=alpha, beta=beta,
                                    smooth_nr=self.smooth, smooth_dr=self.smooth, batch=self.batch)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self._finish(self._tversky(*self._prepare(logits, target)))


class ExpLogDiceLoss(_OverlapLoss):
    """Exponential logarithmic Dice (Wong et al. 2018): mean of (-ln dice)^gamma.

    gamma < 1 (0.3 in the paper) raises the loss of classes that are already fairly well
    segmented less than that of poor ones, which helps small structures such as tumours.
    The power is taken as ``(x + 1e-6)^gamma - 1e-6^gamma`` with x = -ln dice, so that a perfect
    score costs exactly 0 and gamma < 1 still has a finite gradient there.
    This is the Dice term of Wong's loss; their weighted cross-entropy term can be added as a
    compound (e.g. ``build_loss("0.8*explog_dice+0.2*focal", focal={"gamma": 0.3})``).
    """

    name = "explog_dice"

    def __init__(self, *, gamma: float = 0.3, include_background: bool = False, smooth: float = 1e-5,
                 batch: bool = False, ignore_index: int | None = None) -> None:
        super().__init__(include_background=include_background, smooth=smooth, batch=batch,
                         ignore_index=ignore_index)
        self.gamma = gamma
        self._dice = DiceLoss(include_background=self.include_background, smooth_nr=self.smooth,
                              smooth_dr=self.smooth, batch=self.batch, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        dice = 1.0 - self._dice(*self._prepare(logits, target))
        eps = 1e-6
        loss = ((-torch.log(dice.clamp_min(1e-12))).clamp_min(0.0) + eps).pow(self.gamma) - eps ** self.gamma
        loss = loss.mean()
        return self._finish(loss)
