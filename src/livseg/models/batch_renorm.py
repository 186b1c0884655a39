"""Batch renormalisation (Ioffe 2017) for 2D and 3D feature maps.

Written by hand because neither PyTorch nor MONAI ships it. Batch renormalisation keeps batch
normalisation's training behaviour for large batches but corrects each batch's statistics
towards the running ones, which makes it usable with the tiny batches (1-4 patches) of 3D
training and removes the train/eval mismatch of plain batch normalisation.

Training, per channel with batch statistics mu_B, sigma_B (over N and the spatial axes) and
running statistics mu, sigma::

    r = clip(sigma_B / sigma, 1 / r_max, r_max)      (no gradient through r)
    d = clip((mu_B - mu) / sigma, -d_max, d_max)     (no gradient through d)
    y = gamma * ((x - mu_B) / sigma_B * r + d) + beta

Evaluation: ``y = gamma * (x - mu) / sigma + beta``. The running statistics follow
``mu += momentum * (mu_B - mu)`` and the same for sigma. During the first ``warmup_steps``
training steps r_max = 1 and d_max = 0, i.e. plain batch normalisation, as the paper advises
while the running statistics settle.
"""

from __future__ import annotations

import torch
from torch import nn

from livseg.errors import ConfigError


class BatchRenorm(nn.Module):
    """Batch renormalisation over (N, C, *S) tensors, any number of spatial axes.

    Args:
        num_features: channels C.
        eps: added to the variance before the square root.
        momentum: update rate of the running mean and standard deviation.
        r_max: bound of the scale correction r (>= 1).
        d_max: bound of the shift correction d (>= 0), in units of the running sigma.
        warmup_steps: training steps with r_max = 1, d_max = 0 (plain batch normalisation).
    """

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1,
                 r_max: float = 3.0, d_max: float = 5.0, warmup_steps: int = 0) -> None:
        super().__init__()
        if r_max < 1.0 or d_max < 0.0:
            raise ConfigError("BatchRenorm", expected="r_max >= 1 and d_max >= 0", found=f"{r_max} and {d_max}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.r_max = r_max
        self.d_max = d_max
        self.warmup_steps = warmup_steps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_std", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def _shape(self, x: torch.Tensor) -> list[int]:
        return [1, self.num_features] + [1] * (x.dim() - 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = self._shape(x)
        if not self.training:
            mean = self.running_mean.view(shape)
            std = self.running_std.view(shape)
            return (x - mean) / std * self.weight.view(shape) + self.bias.view(shape)
        axes = [0] + list(range(2, x.dim()))
        batch_mean = x.mean(dim=axes)
        batch_std = torch.sqrt(x.var(dim=axes, unbiased=False) + self.eps)
        warm = int(self.num_batches_tracked) < self.warmup_steps
        r_max = 1.0 if warm else self.r_max
        d_max = 0.0 if warm else self.d_max
        with torch.no_grad():
            r = (batch_std / self.running_std).clamp(1.0 / r_max, r_max)
            d = ((batch_mean - self.running_mean) / self.running_std).clamp(-d_max, d_max)
            self.running_mean.add_(self.momentum * (batch_mean - self.running_mean))
            self.running_std.add_(self.momentum * (batch_std - self.running_std))
            self.num_batches_tracked.add_(1)
        normalised = (x - batch_mean.view(shape)) / batch_std.view(shape)
        normalised = normalised * r.view(shape) + d.view(shape)
        return normalised * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, r_max={self.r_max}, "
                f"d_max={self.d_max}, warmup_steps={self.warmup_steps}")
