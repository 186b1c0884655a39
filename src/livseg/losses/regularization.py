"""The L2 term of eq. 3 (Dou et al. 2016): lambda * sum of squared weights, biases excluded.

"Weights" are parameters with more than one dimension: convolution and linear kernels.
Biases, normalisation scales and shifts and PReLU slopes are not penalised.

Two equivalent ways to apply it with plain SGD:
  * add ``l2_penalty(model, lam)`` to the loss;
  * or give the optimiser ``weight_decay_param_groups(model, 2 * lam)``: SGD's weight decay
    adds ``weight_decay * w`` to each gradient, and the gradient of ``lam * w**2`` is
    ``2 * lam * w``. (Adam's coupled decay behaves the same way on the gradient; AdamW's
    decoupled decay is a different regulariser.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def penalised_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters eq. 3 penalises: kernels (ndim > 1), not biases or scales."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() > 1]


def l2_penalty(model: nn.Module, lam: float) -> torch.Tensor:
    """``lam * sum ||W||^2`` over :func:`penalised_parameters` (a scalar tensor with gradient)."""
    params = penalised_parameters(model)
    if not params:
        return torch.zeros(())
    return lam * torch.stack([p.pow(2).sum() for p in params]).sum()


def weight_decay_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Optimiser parameter groups: ``weight_decay`` on kernels, none on biases and scales."""
    decayed = {id(p) for p in penalised_parameters(model)}
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) in decayed], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
    ]
