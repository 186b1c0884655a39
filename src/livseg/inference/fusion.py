"""Branch fusion (Dou et al. 2016, eq. 4): the CRF's unary is a weighted average of probabilities.

``p = sum_d tau_d * softmax(logits_d)`` over the main output (d = 0) and the deep-supervision
branches (d = 1, 2, ...), with ``sum_d tau_d = 1``. Because the fusion and the sliding
window's Gaussian blending are both weighted sums, fusing inside each window and blending the
fused map gives the same result as blending each output and fusing afterwards.
"""

from __future__ import annotations

from typing import Sequence

import torch

from livseg.errors import ConfigError
from livseg.inference.settings import check_fusion_weights


def resolve_fusion_weights(weights: Sequence[float] | None, num_branches: int) -> tuple[float, ...]:
    """tau_d for the main output and ``num_branches`` branches, normalised to sum 1.

    None means the main output alone: (1, 0, ..., 0).

    Raises:
        ConfigError: the number of weights differs from ``1 + num_branches``.
    """
    if weights is None:
        return (1.0,) + (0.0,) * num_branches
    values = check_fusion_weights(weights)
    if len(values) != 1 + num_branches:
        raise ConfigError("inference.fusion_weights",
                          expected=f"{1 + num_branches} weights (main output, then {num_branches} branches)",
                          found=f"{len(values)}: {list(weights)}",
                          fix="give one tau_d per network output, or leave fusion_weights out for the main output alone")
    return values


def fuse_probabilities(probabilities: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Eq. 4: ``sum_d weights[d] * probabilities[d]``.

    Args:
        probabilities: per output d, class probabilities of one shape, e.g. (N, C, D, H, W);
            outputs whose weight is 0 may be None.
        weights: tau_d, same length, summing to 1.

    Returns:
        A new float32 tensor of that shape (the inputs are not changed).
    """
    if len(probabilities) != len(weights):
        raise ConfigError("fusion", expected=f"{len(weights)} outputs for {len(weights)} weights",
                          found=f"{len(probabilities)} outputs")
    fused: torch.Tensor | None = None
    for prob, weight in zip(probabilities, weights):
        if weight == 0:
            continue
        term = prob.float() * float(weight)
        fused = term if fused is None else fused.add_(term)
    if fused is None:
        raise ConfigError("fusion", expected="at least one weight > 0", found=repr(list(weights)))
    return fused
