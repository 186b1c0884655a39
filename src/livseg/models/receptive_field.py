"""Receptive field of a network's main output, measured from the gradient of one output voxel.

The receptive field here is the convolutional one: how many input voxels along each axis can
change one output voxel through the network's convolutions, pooling and resampling. Global
operations (instance/batch statistics, channel attention's global average) make every output
depend on the whole input in principle; they are left out, as is usual when quoting
receptive fields.

Method (exact, for any network built from livseg's module types): a copy of the network is
made linear and positive, so that no path through it can cancel another: every convolution
becomes a one-channel convolution of the same geometry (kernel, stride, dilation, padding)
with a positive box kernel and no bias, normalisation layers, global pools, dropout and
activations become identities (the probe's values are all positive), max pooling becomes
average pooling of the same window. Fed a positive input, the gradient of one output voxel is
then non-zero exactly on the input voxels that reach it. With kernels summing to 1 the
smallest such gradient shrinks by about a third per layer, far above float32's smallest number
for networks of fewer than ~70 layers. The copy runs on an
input that is long along one axis and short along the others (one run per axis), at
``size_multiple`` consecutive output positions (as a batch), because strided networks see
slightly different windows at different phases; the largest extent is reported. The input is
doubled until the window no longer touches its ends. When every layer treats its axes alike,
one axis is measured for all three (two, D and H, for 2D layers applied slice by slice).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from livseg.models.batch_renorm import BatchRenorm

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm2d, nn.InstanceNorm3d,
          nn.GroupNorm, nn.LayerNorm, BatchRenorm)
_GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
# identities on the probe's positive values (PReLU also needs its channel count, which the probe drops)
_POSITIVE_IDENTITIES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU)


class _SupportConv(nn.Module):
    """Stand-in for a convolution with the same geometry acting on one channel.

    Spatial reach does not depend on channel counts, so the probe averages the input channels
    and convolves one channel with a positive kernel of the original size, stride, dilation and
    padding. Every tensor of the probe has one channel, which makes it far cheaper than the
    real network.
    """

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        kwargs = dict(kernel_size=conv.kernel_size, stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, bias=False, padding_mode=conv.padding_mode)
        if isinstance(conv, (nn.ConvTranspose2d, nn.ConvTranspose3d)):
            kwargs["output_padding"] = conv.output_padding
        self.conv = type(conv)(1, 1, **kwargs)
        taps = math.prod(conv.kernel_size)
        if isinstance(conv, (nn.ConvTranspose2d, nn.ConvTranspose3d)):
            taps = max(1.0, taps / math.prod(conv.stride))
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / taps)
        conv_like = isinstance(conv, (nn.Conv2d, nn.Conv3d)) and isinstance(conv.padding, tuple)
        # a box kernel with zero padding is an average pool (several times faster on one channel)
        self.as_pool = conv_like and all(d == 1 for d in conv.dilation) and conv.padding_mode == "zeros" and all(
            2 * p <= k for p, k in zip(conv.padding, conv.kernel_size))
        self.pool_args = (conv.kernel_size, conv.stride, conv.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean(dim=1, keepdim=True)
        if self.as_pool and all(n >= k for n, k in zip(x.shape[2:], self.pool_args[0])):
            pool = F.avg_pool3d if x.dim() == 5 else F.avg_pool2d
            return pool(x, *self.pool_args, count_include_pad=True)
        return self.conv(x)


def _substitute(module: nn.Module) -> nn.Module | None:
    if isinstance(module, _NORMS + _GLOBAL_POOLS + _POSITIVE_IDENTITIES) or \
            isinstance(module, nn.modules.dropout._DropoutNd):
        return nn.Identity()
    if isinstance(module, nn.MaxPool3d):
        return nn.AvgPool3d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode)
    if isinstance(module, nn.MaxPool2d):
        return nn.AvgPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode)
    if isinstance(module, _CONVS):
        return _SupportConv(module)
    return None


def positive_linear_copy(model: nn.Module) -> nn.Module:
    """A float32 eval-mode copy of ``model`` in which no two paths can cancel (see module doc)."""
    probe = copy.deepcopy(model).to(dtype=torch.float32, memory_format=torch.contiguous_format).eval()
    for name, module in list(probe.named_modules()):
        replacement = _substitute(module)
        if replacement is None or not name:
            continue
        parent = probe.get_submodule(name.rpartition(".")[0]) if "." in name else probe
        setattr(parent, name.rpartition(".")[2], replacement)
    if hasattr(probe, "channels_last"):
        probe.channels_last = False
    probe.requires_grad_(False)  # only the input's gradient is needed
    return probe


def _extent_along(probe: nn.Module, axis: int, in_channels: int, short: int, length: int,
                  phases: int) -> int | None:
    """Largest support length along ``axis`` over ``phases`` output positions; None if clipped.

    The phases run as a batch (samples are independent once normalisation is gone), so one
    backward pass gives every phase's gradient.
    """
    shape = [short] * 3
    shape[axis] = length
    x = torch.ones((phases, in_channels, *shape), requires_grad=True)
    main = probe(x).main
    centre = [s // 2 for s in main.shape[2:]]
    picked = []
    for phase in range(phases):
        index = list(centre)
        index[axis] += phase - phases // 2
        picked.append(main[(phase, 0, *index)])
    (grad,) = torch.autograd.grad(torch.stack(picked).sum(), x)
    other = tuple(d for d in range(1, 5) if d != 2 + axis)
    reach = grad.abs().amax(dim=other) > 0                             # (phases, length)
    best = 0
    for row in reach:
        support = torch.nonzero(row).flatten()
        if support.numel() == 0:  # e.g. a thresholding network: no gradient reaches the input
            raise ValueError("the output has no gradient with respect to the input; "
                             "the receptive field cannot be measured")
        first, last = int(support.min()), int(support.max())
        if first == 0 or last == length - 1:
            return None
        best = max(best, last - first + 1)
    return best


def _uniform_layers(model: nn.Module) -> bool:
    """True when every convolution, pooling and resampling layer treats its axes alike."""
    for module in model.modules():
        values: list[object] = []
        if isinstance(module, _CONVS):
            values = [module.kernel_size, module.stride, module.padding, module.dilation]
        elif isinstance(module, (nn.MaxPool3d, nn.AvgPool3d)):
            values = [module.kernel_size, module.stride, module.padding]
        elif isinstance(module, nn.Upsample):
            values = [module.scale_factor]
        for value in values:
            if isinstance(value, (tuple, list)) and len(set(value)) > 1:
                return False
            if isinstance(value, str):  # e.g. padding="same": cannot tell cheaply
                return False
    return True


def receptive_field(model: nn.Module, *, input_channels: int | None = None, max_length: int = 2048) -> tuple[int, ...]:
    """Receptive field of ``model``'s main output in voxels, one entry per spatial axis (D, H, W).

    Args:
        model: a livseg network (forward returns a SegmentationOutput; ``size_multiple`` and
            ``in_channels`` attributes are used when present). Networks whose output is smaller
            than their input (valid convolutions) are not supported: measure the "same" variant,
            whose layers and receptive field are the same.
        input_channels: channels of the probe input (default ``model.in_channels``; 1 for a
            2.5D network called on volumes).
        max_length: give up (raise ValueError) beyond this many voxels along an axis.
    """
    multiple = int(getattr(model, "size_multiple", 1))
    channels = input_channels if input_channels is not None else int(getattr(model, "in_channels", 1))
    probe = positive_linear_copy(model)
    # short axes at least as long as the largest kernel, so that box kernels run as average pools
    largest = max([max(m.kernel_size) for m in model.modules() if isinstance(m, _CONVS)] + [1])
    short = -(-largest // multiple) * multiple
    uniform = _uniform_layers(model)
    layer_dims = int(getattr(model, "spatial_dims", 3))
    # uniform 3D layers: one axis tells all; uniform 2D layers (2.5D): H tells W
    measured = 3 if not uniform else (1 if layer_dims == 3 else 2)
    result: list[int] = []
    for axis in range(measured):
        length = max(64, 4 * multiple)
        while True:
            with torch.enable_grad():
                extent = _extent_along(probe, axis, channels, short, length, multiple)
            if extent is not None:
                result.append(extent)
                break
            length *= 2
            if length > max_length:
                raise ValueError(f"receptive field along axis {axis} exceeds {max_length} voxels")
    result += [result[-1]] * (3 - len(result))
    return tuple(result)
