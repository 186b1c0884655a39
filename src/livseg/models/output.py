"""The one output type every network returns, in train and in eval mode."""

from __future__ import annotations

from typing import NamedTuple

import torch


class SegmentationOutput(NamedTuple):
    """Logits of a segmentation network.

    Attributes:
        main: main-path logits, shape (N, C, D, H, W) (C classes; D, H, W = input's z, y, x).
        branches: deep-supervision branch logits, each (N, C, D, H, W) at full input resolution,
            ordered shallow to deep; an empty tuple for networks without deep supervision.
    """

    main: torch.Tensor
    branches: tuple[torch.Tensor, ...] = ()
