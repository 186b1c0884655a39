"""3D ResUNet with deep supervision, after the MICCAI-LITS2017 liver network.

A V-Net-like encoder/decoder with 3x3x3 kernels and four resolution levels (16-32-64-128
channels at 1, 1/2, 1/4, 1/8): each stage is a stack of convolutions + PReLU whose input is
added back (residual stage; in the decoder the upsampled tensor is added back), stages are
joined by 2x2x2 stride-2 convolutions (down) and transposed convolutions (up), and the two
deepest encoder stages use hybrid dilated convolutions (dilations 1-2-4 and 3-4-5) to recover
the receptive field lost by dropping V-Net's fifth level. Dropout follows the residual stages from level 2 on.

Deep supervision: four supervised heads (1x1x1 convolution, trilinear upsampling to full
size): ``main`` from the full-resolution decoder stage and three branches from the decoder at
1/2 and 1/4 and the bottom stage at 1/8 resolution, in that order (finest first). The
recipe weights the branches with alpha = 0.33, decayed x0.8 every 40 epochs (schedule
"resunet2017" in ``livseg.losses``).

The decoder is narrower than the 2017 code's (which widened its deepest decoder stage to 256
channels, 9.5 M parameters): here every decoder stage has its level's width (about 2.5 M
parameters), which keeps a 64^3 training step affordable on a CPU (bench/RESULTS.md).

Size contract: any input size; padded internally (edge replication) to a multiple of 8 and
cropped back, so main and branches are (N, C, D, H, W) at the input's size.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from livseg.errors import ConfigError
from livseg.models.base import SegmentationNetwork
from livseg.models.blocks import ConvNormAct, branch_heads, check_options
from livseg.models.output import SegmentationOutput
from livseg.models.padding import crop_spatial, pad_spatial
from livseg.models.registry import register_model

ENCODER_DILATIONS = ((1, 1), (1, 1, 1), (1, 2, 4), (3, 4, 5))  # convolutions per encoder stage
DECODER_DEPTHS = (2, 3, 3)  # convolutions of the decoder stages at 1, 1/2, 1/4


def _prelu(channels: int) -> nn.Module:
    return nn.PReLU(channels)


class _ResidualStage(nn.Module):
    """Convolutions (+ PReLU) whose result is added to a residual.

    The residual is the stage's input (projected by a 1x1x1 convolution when the widths
    differ), or, in the decoder, the upsampled tensor passed as ``residual``.
    """

    def __init__(self, cin: int, cout: int, dilations: Sequence[int], norm: str, *,
                 project: bool = True) -> None:
        super().__init__()
        layers = []
        for i, dilation in enumerate(dilations):
            layers.append(ConvNormAct(cin if i == 0 else cout, cout, dilation=dilation, norm=norm, act=_prelu))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Identity() if cin == cout or not project else nn.Conv3d(cin, cout, 1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x) + (self.shortcut(x) if residual is None else residual)


class ResUNet3d(SegmentationNetwork):
    """3D ResUNet with 4 supervised heads.

    Args:
        in_channels: image channels C_in.
        num_classes: output classes C.
        widths: channels of the four levels (default 16, 32, 64, 128).
        norm: normalisation after each convolution ("none" as in the 2017 network, or
            "instance", "batch", "batchrenorm", "group").
        dropout: dropout probability after the residual stages of levels 2-4 and the decoder.
        deep_supervision: build the three branch heads (else ``branches == ()``).
        init, init_std, channels_last: see :class:`SegmentationNetwork`.

    Forward: (N, C_in, D, H, W) -> SegmentationOutput(main (N, C, D, H, W),
    branches (from 1/2, 1/4, 1/8 resolution, each (N, C, D, H, W))).
    """

    size_multiple = 8

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, widths: Sequence[int] = (16, 32, 64, 128),
                 norm: str = "none", dropout: float = 0.2, deep_supervision: bool = True,
                 init: str = "default", init_std: float = 0.01, channels_last: bool = False) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 4:
            raise ConfigError("resunet3d option 'widths'", expected="4 widths (levels 1, 1/2, 1/4, 1/8)",
                              found=str(widths))
        self.in_channels, self.num_classes = in_channels, num_classes
        self.num_branches = 3 if deep_supervision else 0
        self.encoders = nn.ModuleList()
        for level, dilations in enumerate(ENCODER_DILATIONS):
            cin = in_channels if level == 0 else widths[level]
            self.encoders.append(_ResidualStage(cin, widths[level], dilations, norm))
        self.downs = nn.ModuleList(nn.Sequential(nn.Conv3d(widths[l], widths[l + 1], 2, stride=2),
                                                 nn.PReLU(widths[l + 1])) for l in range(3))
        self.ups = nn.ModuleList(nn.Sequential(nn.ConvTranspose3d(widths[l + 1], widths[l], 2, stride=2),
                                               nn.PReLU(widths[l])) for l in range(3))
        self.decoders = nn.ModuleList(_ResidualStage(2 * widths[l], widths[l], (1,) * DECODER_DEPTHS[l], norm,
                                                     project=False) for l in range(3))
        self.dropout = nn.Dropout3d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv3d(widths[0], num_classes, 1)
        self.branch_heads = branch_heads(widths, num_classes, self.num_branches)
        self.finish(init=init, init_std=init_std, channels_last=channels_last)

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        self.check_input(x)
        x, crop = pad_spatial(self.enter(x), self.size_multiple, self.min_size)
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level:
                x = self.downs[level - 1](x)
            x = encoder(x)
            if level:
                x = self.dropout(x)
            skips.append(x)
        levels = [skips.pop()]  # levels[k]: decoder output at 1/2**(3-k)
        for level in reversed(range(3)):
            up = self.ups[level](x)
            x = self.decoders[level](torch.cat([up, skips[level]], dim=1), residual=up)
            if level:
                x = self.dropout(x)
            levels.append(x)
        levels.reverse()  # levels[l] is at 1/2**l resolution
        main = crop_spatial(self.head(levels[0]), crop)
        branches = tuple(crop_spatial(head(levels[l + 1]), crop) for l, head in enumerate(self.branch_heads))
        return self.leave(SegmentationOutput(main, branches))


@register_model("resunet3d", description="3D ResUNet (MICCAI-LITS2017): residual stages, dilated deep stages, "
                "PReLU, 4 supervised heads")
def build_resunet3d(in_channels: int = 1, num_classes: int = 2, **options: object) -> ResUNet3d:
    check_options("resunet3d", ResUNet3d, options)
    return ResUNet3d(in_channels, num_classes, **options)  # type: ignore[arg-type]
