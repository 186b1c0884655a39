"""3D U-Net after the blog recipe: normalisation of choice, dropout, optional valid convolutions.

Encoder/decoder with ``len(widths)`` levels (default 16-32-64-128, about 1.4 M parameters),
two 3x3x3 convolutions + normalisation + LeakyReLU per level, 2x2x2 max pooling, 2x2x2
transposed convolutions, skip connections by concatenation, dropout after the bottleneck.
MONAI's U-Nets pad "same" only and have no batch renormalisation, hence this network.

Deep supervision: a 1x1x1 head on every decoder level except the finest (which gives ``main``)
and the bottleneck: with 4 levels, branches at 1/2 and 1/4 resolution, in that order (finest
first), each trilinearly upsampled to the output's size.

Size contract:
  * ``padding="same"`` (default): any input size; the input is padded internally (edge
    replication) to a multiple of 2**(levels-1) (at least twice that) and outputs are cropped
    back, so every output is (N, C, D, H, W) at the input's size.
  * ``padding="valid"``: unpadded convolutions as in Cicek et al. and the blog's context-padded
    patches. The output is smaller than the input by ``2 * context`` voxels per axis (context
    = 44 for 4 levels: a 148x148x140 input gives a 60x60x52 output) and is centred on the
    input. Only some sizes work (every size before a pooling must be even):
    ``output_size(n)`` says what comes out (raising for invalid sizes) and
    ``input_size_for(m)`` what must go in for an m-voxel output. Branches have the main
    output's size. The caller crops the target to ``output_size`` around the centre.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from livseg.errors import ConfigError
from livseg.models.base import NetworkInputError, SegmentationNetwork
from livseg.models.blocks import ConvNormAct, branch_heads, check_options
from livseg.models.output import SegmentationOutput
from livseg.models.padding import center_crop, crop_spatial, pad_spatial
from livseg.models.registry import register_model


def _leaky(channels: int) -> nn.Module:
    return nn.LeakyReLU(0.01, inplace=True)


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str, valid: bool) -> None:
        super().__init__(ConvNormAct(cin, cout, norm=norm, act=_leaky, valid=valid),
                         ConvNormAct(cout, cout, norm=norm, act=_leaky, valid=valid))


class UNet3d(SegmentationNetwork):
    """3D U-Net with optional deep supervision and valid-convolution mode.

    Args:
        in_channels: image channels C_in.
        num_classes: output classes C.
        widths: feature maps per level, shallow to deep (>= 2 levels).
        norm: "instance" (default), "batchrenorm", "batch", "group" or "none".
        dropout: Dropout3d probability after the bottleneck (0 disables).
        padding: "same" or "valid" (see the module docstring for the size contract).
        deep_supervision: add the decoder heads (``levels - 2`` branches).
        init, init_std, channels_last: see :class:`SegmentationNetwork`.

    Forward: (N, C_in, D, H, W) -> SegmentationOutput with main and branches (N, C, D', H', W'),
    D' = D for "same", ``output_size(D)`` for "valid".
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, widths: Sequence[int] = (16, 32, 64, 128),
                 norm: str = "instance", dropout: float = 0.1, padding: str = "same",
                 deep_supervision: bool = True, init: str = "default", init_std: float = 0.01,
                 channels_last: bool = False) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2:
            raise ConfigError("unet3d option 'widths'", expected="at least 2 levels", found=str(widths))
        if padding not in ("same", "valid"):
            raise ConfigError("unet3d option 'padding'", expected="'same' or 'valid'", found=repr(padding))
        self.in_channels, self.num_classes = in_channels, num_classes
        self.valid = padding == "valid"
        self.levels = len(widths)
        self.size_multiple = 2 ** (self.levels - 1)
        self.min_size = 2 * self.size_multiple  # instance norm needs > 1 voxel at the bottom
        self.num_branches = self.levels - 2 if deep_supervision else 0
        self.encoders = nn.ModuleList()
        cin = in_channels
        for width in widths:
            self.encoders.append(_DoubleConv(cin, width, norm, self.valid))
            cin = width
        self.pool = nn.MaxPool3d(2, 2)
        self.dropout = nn.Dropout3d(dropout) if dropout > 0 else nn.Identity()
        self.ups = nn.ModuleList(nn.ConvTranspose3d(widths[l + 1], widths[l], 2, stride=2)
                                 for l in range(self.levels - 1))
        self.decoders = nn.ModuleList(_DoubleConv(2 * widths[l], widths[l], norm, self.valid)
                                      for l in range(self.levels - 1))
        self.head = nn.Conv3d(widths[0], num_classes, 1)
        self.branch_heads = branch_heads(widths, num_classes, self.num_branches)
        self.finish(init=init, init_std=init_std, channels_last=channels_last)

    # -- size contract of the valid mode -------------------------------------------------
    @property
    def context(self) -> int:
        """Voxels lost on each side of every axis (0 for "same"; 44 for 4 valid levels)."""
        if not self.valid:
            return 0
        smallest = self._smallest_valid_output()
        return (self.input_size_for(smallest) - smallest) // 2

    def _smallest_valid_output(self) -> int:
        output = 1
        while True:
            try:
                self.input_size_for(output)
                return output
            except ConfigError:
                output += 1

    def output_size(self, size: int) -> int:
        """Output voxels along an axis of ``size`` input voxels; raises if the size cannot work."""
        if not self.valid:
            return size
        s = size
        for _ in range(self.levels - 1):
            s -= 4
            if s < 2 or s % 2:
                raise NetworkInputError(
                    "unet3d (padding='valid')", expected="an input size whose feature maps stay even before "
                    "every pooling", found=f"{size} voxels",
                    fix=f"use {self.nearest_input_size(size)} (or see input_size_for)")
            s //= 2
        s -= 4
        for _ in range(self.levels - 1):
            s = 2 * s - 4
        if s < 1:
            raise NetworkInputError("unet3d (padding='valid')", expected="an input large enough for an output",
                                    found=f"{size} voxels", fix=f"use {self.nearest_input_size(size)}")
        return s

    def input_size_for(self, output: int) -> int:
        """Input voxels needed for ``output`` output voxels (valid mode); raises if impossible."""
        if not self.valid:
            return output
        s = output
        for _ in range(self.levels - 1):
            if (s + 4) % 2:
                raise ConfigError("unet3d (padding='valid')", expected=f"an output size of the form "
                                  f"{2 ** (self.levels - 1)}k - {4 * (2 ** (self.levels - 1) - 1)}",
                                  found=f"{output} voxels")
            s = (s + 4) // 2
        s += 4
        for _ in range(self.levels - 1):
            s = 2 * s + 4
        return s

    def nearest_input_size(self, size: int) -> int:
        """The smallest valid input size >= ``size`` (valid mode; ``size`` itself for "same")."""
        if not self.valid:
            return size
        smallest, step = self._smallest_valid_output(), 2 ** (self.levels - 1)
        needed = size - 2 * self.context - smallest
        steps = max(0, -(-needed // step))
        return self.input_size_for(smallest + steps * step)

    def output_shape(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Output (D, H, W) for an input (D, H, W)."""
        return tuple(self.output_size(int(n)) for n in spatial)

    # -- forward ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        self.check_input(x)
        x = self.enter(x)
        crop: tuple[slice, ...] | None = None
        out_shape = self.output_shape(x.shape[2:])
        if not self.valid:
            x, crop = pad_spatial(x, self.size_multiple, self.min_size)
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level:
                x = self.pool(x)
            x = encoder(x)
            skips.append(x)
        x = self.dropout(skips.pop())
        decoded: list[torch.Tensor] = []
        for level in reversed(range(self.levels - 1)):
            up = self.ups[level](x)
            skip = skips[level]
            if self.valid:
                skip = center_crop(skip, tuple(up.shape[2:]))
            x = self.decoders[level](torch.cat([up, skip], dim=1))
            decoded.append(x)
        decoded.reverse()  # decoded[l] is at 1/2**l resolution
        main = self.head(decoded[0])
        branches = [head(decoded[l + 1]) for l, head in enumerate(self.branch_heads)]
        if crop is None:  # valid mode: heads of coarse levels cover more than the output
            branches = [center_crop(b, out_shape) for b in branches]
        else:
            main = crop_spatial(main, crop)
            branches = [crop_spatial(b, crop) for b in branches]
        return self.leave(SegmentationOutput(main, tuple(branches)))


@register_model("unet3d", description="3D U-Net (blog recipe: instance norm or batch renorm, dropout, "
                "optional valid convolutions), heads at decoder levels")
def build_unet3d(in_channels: int = 1, num_classes: int = 2, **options: object) -> UNet3d:
    check_options("unet3d", UNet3d, options)
    return UNet3d(in_channels, num_classes, **options)  # type: ignore[arg-type]
