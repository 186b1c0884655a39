"""Pieces shared by the networks: the base class with the input contract, layer factories, init.

The seed architectures (3D DSN, the blog's 3D U-Net with valid convolutions and batch
renormalisation, the LiTS-2017 ResUNet, DS-SFFNet) are not in MONAI or torchvision, so they are
assembled here from ``torch.nn`` layers. Every layer that the receptive-field tool must see
(activations, pooling, normalisation) is a module, never a functional call.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterable

import torch
from torch import nn

from livseg.errors import ConfigError, LivsegError, UnknownNameError
from livseg.models.batch_renorm import BatchRenorm
from livseg.models.output import SegmentationOutput

NORMS = ("none", "batch", "batchrenorm", "instance", "group")
INITS = ("default", "normal", "kaiming")


class NetworkInputError(LivsegError):
    """A tensor given to a network does not have the shape the network needs."""


def check_options(name: str, network: type, options: dict[str, Any], exclude: Iterable[str] = ()) -> None:
    """Raise ConfigError naming the valid options when ``options`` has keys ``network`` does not take."""
    skip = {"self", "in_channels", "num_classes", *exclude}
    allowed = [p for p in inspect.signature(network.__init__).parameters if p not in skip]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"network '{name}'", expected=f"options among {allowed}",
                          found=f"unknown option(s) {unknown}",
                          fix="see `livseg models list` and the network's docstring")


def conv_cls(ndim: int) -> type[nn.Module]:
    return {2: nn.Conv2d, 3: nn.Conv3d}[ndim]


def conv_transpose_cls(ndim: int) -> type[nn.Module]:
    return {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[ndim]


def max_pool(ndim: int, kernel: int = 2) -> nn.Module:
    return {2: nn.MaxPool2d, 3: nn.MaxPool3d}[ndim](kernel, kernel)


def make_norm(kind: str | None, channels: int, ndim: int = 3) -> nn.Module:
    """A normalisation layer: "none", "batch", "batchrenorm", "instance" (affine) or "group"."""
    kind = (kind or "none").lower()
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[ndim](channels)
    if kind == "batchrenorm":
        return BatchRenorm(channels)
    if kind == "instance":
        return {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[ndim](channels, affine=True)
    if kind == "group":
        groups = math.gcd(channels, 8)
        return nn.GroupNorm(groups, channels)
    raise UnknownNameError(kind, expected=f"a normalisation in {list(NORMS)}", found="an unknown name",
                           fix="set the network option 'norm'")


def initialise_weights(module: nn.Module, scheme: str = "default", std: float = 0.01) -> nn.Module:
    """Re-initialise convolution weights in place and return ``module``.

    Args:
        scheme: "default" (leave PyTorch's initialisation), "normal" (weights ~ N(0, std), biases
            0: the 3D DSN paper's choice) or "kaiming" (He normal for ReLU, biases 0).
        std: standard deviation of the "normal" scheme.
    """
    if scheme not in INITS:
        raise UnknownNameError(scheme, expected=f"an initialisation in {list(INITS)}", found="an unknown name",
                               fix="set the network option 'init'")
    if scheme == "default":
        return module
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            if scheme == "normal":
                nn.init.normal_(layer.weight, mean=0.0, std=std)
            else:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class ConvNormAct(nn.Sequential):
    """Convolution -> normalisation -> activation, "same" (padding = dilation * (k - 1) / 2) or valid."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel: int | tuple[int, ...] = 3,
                 dilation: int = 1, norm: str | None = "none", act: Callable[[int], nn.Module] | None = None,
                 ndim: int = 3, valid: bool = False) -> None:
        kernels = (kernel,) * ndim if isinstance(kernel, int) else tuple(kernel)
        padding = tuple(0 if valid else dilation * (k - 1) // 2 for k in kernels)
        has_norm = (norm or "none") != "none"
        layers: list[nn.Module] = [
            conv_cls(ndim)(in_channels, out_channels, kernels, padding=padding, dilation=dilation, bias=not has_norm),
            make_norm(norm, out_channels, ndim),
        ]
        layers.append(act(out_channels) if act is not None else nn.ReLU(inplace=True))
        super().__init__(*layers)


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
