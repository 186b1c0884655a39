"""Layers shared by the networks: layer factories, option checks, weight initialisation.

The seed architectures (3D DSN, the blog's 3D U-Net with valid convolutions and batch
renormalisation, the LiTS-2017 ResUNet, DS-SFFNet) are not in MONAI or torchvision, so they are
assembled here from ``torch.nn`` layers (the base class with the input contract is in
:mod:`livseg.models.base`). Every layer that the receptive-field tool must see
(activations, pooling, normalisation) is a module, never a functional call.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterable, Sequence

from torch import nn

from livseg.errors import ConfigError, UnknownNameError
from livseg.models.batch_renorm import BatchRenorm

NORMS = ("none", "batch", "batchrenorm", "instance", "group")
INITS = ("default", "normal", "kaiming")


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


def branch_heads(widths: Sequence[int], num_classes: int, count: int) -> nn.ModuleList:
    """Deep-supervision heads of an encoder/decoder network, one per coarse level.

    Head ``k`` (``k = 0 .. count - 1``) reads the ``widths[k + 1]``-channel features at
    ``1 / 2**(k + 1)`` resolution: a 1x1x1 convolution to ``num_classes`` logits, then
    trilinear upsampling by ``2**(k + 1)`` to full resolution, so (N, widths[k + 1], d, h, w)
    becomes (N, num_classes, 2**(k + 1) d, 2**(k + 1) h, 2**(k + 1) w). Ordered finest first.
    """
    return nn.ModuleList(
        nn.Sequential(nn.Conv3d(widths[level], num_classes, 1),
                      nn.Upsample(scale_factor=2 ** level, mode="trilinear", align_corners=False))
        for level in range(1, 1 + count))
