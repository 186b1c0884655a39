"""DS-SFFNet-style network for the tumour stage: residual attention, feature fusion, side outputs.

Encoder: four resolution blocks (1, 1/2, 1/4, 1/8; default widths 16-32-64-128), each a
residual attention block: a residual trunk (two 3x3(x3) convolutions) modulated by a soft mask
branch (pool -> convolution -> upsample -> 1x1 convolution -> sigmoid) as
``(1 + mask) * trunk``, so attention can stress tumour-like structure without ever blocking
the trunk. Decoder: at each level a feature fusion block joins the upsampled deeper features
and the encoder's skip (concatenation -> 1x1 and 3x3 convolutions -> channel attention
(global average -> bottleneck 1x1 -> sigmoid)) and adds the upsampled features back.
Side outputs (deep supervision): a 1x1 head on every resolution block of the decoder below
full resolution (1/2, 1/4) and on the bottom block (1/8), each upsampled to full size; the
full-resolution decoder block gives ``main``. Three branches, finest first.

Two modes:
  * ``mode="3d"`` (default): 3D convolutions; input (N, C_in, D, H, W) -> outputs
    (N, C, D, H, W) at the input's size (padded internally to a multiple of 8, at least 16, and
    cropped back).
  * ``mode="2.5d"``: 2D convolutions over stacks of ``k = in_channels`` adjacent slices (k odd),
    as the original for LiTS tumours. Two ways to call it:
      - a volume (N, 1, D, H, W): the network forms, for every slice z, the stack of slices
        z - k//2 .. z + k//2 (edge slices repeated at the ends) and predicts slice z, so the
        outputs are (N, C, D, H, W) like every other livseg network;
      - stacks (N, k, H, W): outputs (N, C, H, W) for the centre slice of each stack.
    ``in_channels`` is therefore the number of slices per stack (CT has one image channel).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from livseg.errors import ConfigError
from livseg.models.base import NetworkInputError, SegmentationNetwork
from livseg.models.blocks import ConvNormAct, check_options, conv_cls, conv_transpose_cls, make_norm, max_pool
from livseg.models.output import SegmentationOutput
from livseg.models.padding import crop_spatial, pad_spatial
from livseg.models.registry import register_model

MODES = ("3d", "2.5d")


def _avg_pool(ndim: int) -> nn.Module:
    return {2: nn.AvgPool2d, 3: nn.AvgPool3d}[ndim](2, 2, ceil_mode=True)


def _global_pool(ndim: int) -> nn.Module:
    return {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[ndim](1)


def _upsample(ndim: int, factor: int) -> nn.Module:
    return nn.Upsample(scale_factor=factor, mode="trilinear" if ndim == 3 else "bilinear", align_corners=False)


class _ResidualAttentionBlock(nn.Module):
    """``(1 + mask(x)) * trunk(x)``; trunk residual, mask in (0, 1) from a coarser view."""

    def __init__(self, cin: int, cout: int, norm: str, ndim: int) -> None:
        super().__init__()
        conv = conv_cls(ndim)
        self.trunk = nn.Sequential(ConvNormAct(cin, cout, norm=norm, ndim=ndim),
                                   conv(cout, cout, 3, padding=1, bias=False), make_norm(norm, cout, ndim))
        self.shortcut = nn.Identity() if cin == cout else conv(cin, cout, 1)
        self.act = nn.ReLU(inplace=True)
        # no normalisation in the mask branch: at the bottom level it sees a single voxel
        self.mask = nn.Sequential(_avg_pool(ndim), ConvNormAct(cin, cout, norm="none", ndim=ndim),
                                  _upsample(ndim, 2))
        self.mask_out = nn.Sequential(conv(cout, cout, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trunk = self.act(self.trunk(x) + self.shortcut(x))
        mask = self.mask(x)
        # ceil-mode pooling then x2 upsampling can overshoot odd sizes by one voxel
        mask = mask[(slice(None), slice(None), *(slice(0, n) for n in trunk.shape[2:]))]
        return (1 + self.mask_out(mask)) * trunk


class _FeatureFusionBlock(nn.Module):
    """Fuse upsampled deep features with the skip; channel attention; add the upsampled back."""

    def __init__(self, deep: int, width: int, norm: str, ndim: int) -> None:
        super().__init__()
        conv = conv_cls(ndim)
        self.up = conv_transpose_cls(ndim)(deep, width, 2, stride=2)
        self.fuse = nn.Sequential(ConvNormAct(2 * width, width, kernel=1, norm=norm, ndim=ndim),
                                  ConvNormAct(width, width, norm=norm, ndim=ndim))
        hidden = max(width // 4, 4)
        self.channel_attention = nn.Sequential(_global_pool(ndim), conv(width, hidden, 1), nn.ReLU(inplace=True),
                                               conv(hidden, width, 1), nn.Sigmoid())

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(deep)
        fused = self.fuse(torch.cat([up, skip], dim=1))
        return fused * self.channel_attention(fused) + up


class SFFNet(SegmentationNetwork):
    """DS-SFFNet-style network with residual attention encoder, fusion decoder, 3 side outputs.

    Args:
        in_channels: image channels C_in (3D mode) or slices per stack k, odd (2.5D mode).
        num_classes: output classes C.
        widths: channels of the four resolution blocks.
        norm: "instance" (default), "batch", "batchrenorm", "group" or "none".
        mode: "3d" or "2.5d" (see the module docstring for the shape contract).
        dropout: dropout probability after the bottom block (0 disables).
        deep_supervision: build the side outputs (else ``branches == ()``).
        init, init_std, channels_last: see :class:`SegmentationNetwork`.
    """

    size_multiple = 8
    min_size = 16  # instance norm needs > 1 voxel at the bottom

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, widths: Sequence[int] = (16, 32, 64, 128),
                 norm: str = "instance", mode: str = "3d", dropout: float = 0.0, deep_supervision: bool = True,
                 init: str = "default", init_std: float = 0.01, channels_last: bool = False) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 4:
            raise ConfigError("sffnet option 'widths'", expected="4 widths", found=str(widths))
        if mode not in MODES:
            raise ConfigError("sffnet option 'mode'", expected=f"one of {list(MODES)}", found=repr(mode))
        if mode == "2.5d" and in_channels % 2 == 0:
            raise ConfigError("sffnet (mode '2.5d')", expected="an odd number of slices as in_channels",
                              found=str(in_channels), fix="use 3, 5 or 7 adjacent slices")
        self.mode = mode
        self.spatial_dims = ndim = 3 if mode == "3d" else 2
        self.in_channels, self.num_classes = in_channels, num_classes
        self.num_branches = 3 if deep_supervision else 0
        self.encoders = nn.ModuleList(
            _ResidualAttentionBlock(in_channels if l == 0 else widths[l - 1], widths[l], norm, ndim) for l in range(4))
        self.pool = max_pool(ndim)
        self.dropout = ({2: nn.Dropout2d, 3: nn.Dropout3d}[ndim](dropout) if dropout > 0 else nn.Identity())
        self.decoders = nn.ModuleList(_FeatureFusionBlock(widths[l + 1], widths[l], norm, ndim) for l in range(3))
        conv = conv_cls(ndim)
        self.head = conv(widths[0], num_classes, 1)
        self.branch_heads = nn.ModuleList(nn.Sequential(conv(widths[l], num_classes, 1), _upsample(ndim, 2 ** l))
                                          for l in range(1, 1 + self.num_branches))
        self.finish(init=init, init_std=init_std, channels_last=channels_last)

    def _core(self, x: torch.Tensor) -> SegmentationOutput:
        """Run on (N, C_in, *S) with S of the network's dimensionality; outputs at S."""
        x, crop = pad_spatial(self.enter(x), self.size_multiple, self.min_size)
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(self.pool(x) if level else x)
            skips.append(x)
        x = self.dropout(skips.pop())
        levels = [x]
        for level in reversed(range(3)):
            x = self.decoders[level](x, skips[level])
            levels.append(x)
        levels.reverse()  # levels[l] is at 1/2**l resolution
        main = crop_spatial(self.head(levels[0]), crop)
        branches = tuple(crop_spatial(head(levels[l + 1]), crop) for l, head in enumerate(self.branch_heads))
        return self.leave(SegmentationOutput(main, branches))

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        if self.mode == "3d":
            self.check_input(x)
            return self._core(x)
        if x.dim() == 4:
            if x.shape[1] != self.in_channels:
                raise NetworkInputError("sffnet (mode '2.5d')", expected=f"stacks (N, {self.in_channels}, H, W)",
                                        found=f"shape {tuple(x.shape)}")
            return self._core(x)
        self.check_input(x, channels=1)
        return self._volume_forward(x)

    def _volume_forward(self, x: torch.Tensor) -> SegmentationOutput:
        """(N, 1, D, H, W) -> stacks of k slices around every slice -> (N, C, D, H, W)."""
        n, _, depth, height, width = x.shape
        half = self.in_channels // 2
        padded = F.pad(x, (0, 0, 0, 0, half, half), mode="replicate") if half else x
        stacks = padded[:, 0].unfold(1, self.in_channels, 1)             # (N, D, H, W, k)
        stacks = stacks.permute(0, 1, 4, 2, 3).reshape(n * depth, self.in_channels, height, width)
        out = self._core(stacks)

        def to_volume(y: torch.Tensor) -> torch.Tensor:               # (N*D, C, H, W) -> (N, C, D, H, W)
            return y.reshape(n, depth, y.shape[1], height, width).permute(0, 2, 1, 3, 4).contiguous()

        return SegmentationOutput(to_volume(out.main), tuple(to_volume(b) for b in out.branches))


@register_model("sffnet", description="DS-SFFNet-style tumour network: residual-attention encoder, feature-fusion "
                "decoder, side outputs; 3D or 2.5D (mode='2.5d', in_channels = slices)")
def build_sffnet(in_channels: int = 1, num_classes: int = 2, **options: object) -> SFFNet:
    check_options("sffnet", SFFNet, options)
    return SFFNet(in_channels, num_classes, **options)  # type: ignore[arg-type]
