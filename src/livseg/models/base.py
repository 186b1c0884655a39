"""The base class of every livseg network: the input contract, padding attributes, memory
format and weight initialisation, and the error a wrongly shaped input raises."""

from __future__ import annotations

import torch
from torch import nn

from livseg.errors import LivsegError
from livseg.models.blocks import initialise_weights
from livseg.models.output import SegmentationOutput


class NetworkInputError(LivsegError):
    """A tensor given to a network does not have the shape the network needs."""


class SegmentationNetwork(nn.Module):
    """Base of every livseg network: input checks, padding contract, memory format, init.

    Subclasses set ``in_channels``, ``num_classes``, ``num_branches`` (deep-supervision outputs),
    ``size_multiple`` and ``min_size`` (spatial sizes are padded internally to a multiple of
    the former, at least the latter),
    ``spatial_dims`` (3, or 2 for a network whose layers are 2D) and implement ``forward``
    returning a :class:`SegmentationOutput`.
    """

    in_channels: int
    num_classes: int
    num_branches: int = 0
    size_multiple: int = 1
    min_size: int = 1
    spatial_dims: int = 3
    channels_last: bool = False

    def finish(self, *, init: str = "default", init_std: float = 0.01, channels_last: bool = False) -> None:
        """Apply the weight initialisation and the memory format; call at the end of __init__."""
        initialise_weights(self, init, init_std)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last_3d if self.spatial_dims == 3 else torch.channels_last)

    def check_input(self, x: torch.Tensor, channels: int | None = None) -> None:
        """Raise NetworkInputError unless ``x`` is (N, C_in, D, H, W) with the expected C_in."""
        want = self.in_channels if channels is None else channels
        if x.dim() != 5 or x.shape[1] != want:
            raise NetworkInputError(
                type(self).__name__, expected=f"a tensor (N, {want}, D, H, W)",
                found=f"shape {tuple(x.shape)}",
                fix="add batch and channel axes (x[None, None]) or build the network with the right in_channels")

    def enter(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the network's memory format (channels-last when asked for)."""
        if not self.channels_last:
            return x
        return x.contiguous(memory_format=torch.channels_last_3d if x.dim() == 5 else torch.channels_last)

    @staticmethod
    def leave(output: SegmentationOutput) -> SegmentationOutput:
        """Return outputs in the standard contiguous layout (cheap: C = num_classes)."""
        return SegmentationOutput(output.main.contiguous(), tuple(b.contiguous() for b in output.branches))

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
                f"branches={self.num_branches}, size_multiple={self.size_multiple}")
