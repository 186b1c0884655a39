"""The 3D deeply supervised network of Dou et al. (MICCAI 2016) and its plain-CNN baseline.

Layers, in the paper's counting (11 layers; kernels in (D, H, W) order, widths as published
as far as the sources at hand allow, about 0.43 M parameters with 2 classes)::

     1 conv1   7x9x9  -> 8     (the paper's 9x9x7 in (x, y, z))
     2 pool1   max 2x2x2, stride 2                                  1/2 resolution
     3 conv2   5x7x7  -> 16    ---- branch 1: deconv 3x3x3 s2 -> 1x1x1 classifier
     4 conv3   5x7x7  -> 32
     5 pool2   max 2x2x2, stride 2                                  1/4 resolution
     6 conv4   3x5x5  -> 32    ---- branch 2: 2 x deconv 3x3x3 s2 -> 1x1x1 classifier
     7 conv5   3x5x5  -> 32
     8 deconv1 3x3x3, stride 2 -> 32                                1/2 resolution
     9 deconv2 3x3x3, stride 2 -> 32                                full resolution
    10 conv6   1x1x1  -> classes
    11 softmax (applied by the loss / the predictor, not here: outputs are logits)

The deep-supervision branches sit after layers 3 and 6, i.e. after the first convolution that
follows each pooling stage, and each is brought back to full resolution by its own
deconvolution(s). All convolutions are "same" (zero padding), followed by ReLU.

Transposed convolutions with kernel 3 and stride 2 need care to double a size exactly:
``ConvTranspose3d(k=3, stride=2, padding=1, output_padding=1)`` gives ``2 * n`` (not
``2 * n - 1``), and output voxel ``2i`` is centred on input voxel ``i``.

Size contract: any input size; inputs are padded internally (edge replication) to a multiple
of 4 and every output is cropped back, so main and branches are (N, C, D, H, W) at the input's
size in train and in eval mode. ``channels_last=True`` (the default) runs in the
``channels_last_3d`` memory format, which is much faster on a CPU for these large kernels and
few channels (timings: ``bench/RESULTS.md``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from livseg.errors import ConfigError
from livseg.models.base import SegmentationNetwork
from livseg.models.blocks import check_options
from livseg.models.output import SegmentationOutput
from livseg.models.padding import crop_spatial, pad_spatial
from livseg.models.registry import register_model

KERNELS = ((7, 9, 9), (5, 7, 7), (5, 7, 7), (3, 5, 5), (3, 5, 5))
WIDTHS = (8, 16, 32, 32, 32)


def _conv(cin: int, cout: int, kernel: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, padding=tuple(k // 2 for k in kernel)), nn.ReLU(inplace=True))


def bilinear_upsampling_(deconv: nn.ConvTranspose3d) -> nn.ConvTranspose3d:
    """Set a k=3, stride-2 ``deconv`` to trilinear upsampling of each channel onto itself, bias 0.

    Every channel c maps to channel c only, with the separable kernel [1/2, 1, 1/2] along each
    axis: with ``padding=1, output_padding=1`` output voxel ``2i`` is input ``i`` and ``2i + 1`` is
    the mean of inputs ``i`` and ``i + 1`` (FCN's classic choice, Long et al. 2015). The
    layer then starts as an exact 2x upsampler instead of shrinking the signal, whatever
    the depth of the network before it. Returns ``deconv``.
    """
    cin, cout = deconv.weight.shape[:2]
    if deconv.kernel_size != (3, 3, 3) or deconv.stride != (2, 2, 2) or cin != cout:
        raise ConfigError("dsn3d option 'upsample_init'", expected="square 3x3x3 stride-2 deconvolutions",
                          found=f"{cin}->{cout} kernel {deconv.kernel_size} stride {deconv.stride}")
    taps = torch.tensor([0.5, 1.0, 0.5])
    kernel = taps[:, None, None] * taps[None, :, None] * taps[None, None, :]
    with torch.no_grad():
        deconv.weight.zero_()
        for c in range(cin):
            deconv.weight[c, c] = kernel
        if deconv.bias is not None:
            deconv.bias.zero_()
    return deconv


def _deconv(cin: int, cout: int) -> nn.Sequential:
    """3x3x3 transposed convolution that doubles every size exactly, then ReLU."""
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, 3, stride=2, padding=1, output_padding=1),
                         nn.ReLU(inplace=True))


class DeeplySupervisedNet3d(SegmentationNetwork):
    """3D DSN (``deep_supervision=True``) or the paper's 3D CNN baseline (False).

    Args:
        in_channels: image channels C_in.
        num_classes: output classes C.
        deep_supervision: build the two branches (``branches`` has 2 entries) or none.
        widths: feature maps of conv1..conv5 (conv6 maps to the classes).
        dropout: dropout probability before conv6 (0 = none, as in the paper).
        init: "default", "normal" (N(0, init_std), the paper's) or "kaiming".
        init_std: standard deviation of the "normal" init.
        upsample_init: "bilinear" (every deconvolution starts as trilinear 2x upsampling of
            each channel, see :func:`bilinear_upsampling_`) or "same" (the deconvolutions
            follow ``init`` like the convolutions).
        channels_last: run in the channels_last_3d memory format (default: on; faster training
            steps on a CPU).

    Forward: (N, C_in, D, H, W) float -> SegmentationOutput(main (N, C, D, H, W) logits,
    branches: (after conv2, after conv4), each (N, C, D, H, W)).
    """

    size_multiple = 4

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, deep_supervision: bool = True,
                 widths: Sequence[int] = WIDTHS, dropout: float = 0.0, init: str = "default",
                 init_std: float = 0.01, upsample_init: str = "same", channels_last: bool = True) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ConfigError("dsn3d option 'widths'", expected="5 widths (conv1..conv5)", found=str(list(widths)))
        w1, w2, w3, w4, w5 = (int(w) for w in widths)
        self.in_channels, self.num_classes = in_channels, num_classes
        self.num_branches = 2 if deep_supervision else 0
        self.conv1 = _conv(in_channels, w1, KERNELS[0])
        self.pool1 = nn.MaxPool3d(2, 2)
        self.conv2 = _conv(w1, w2, KERNELS[1])
        self.conv3 = _conv(w2, w3, KERNELS[2])
        self.pool2 = nn.MaxPool3d(2, 2)
        self.conv4 = _conv(w3, w4, KERNELS[3])
        self.conv5 = _conv(w4, w5, KERNELS[4])
        self.deconv1 = _deconv(w5, w5)
        self.deconv2 = _deconv(w5, w5)
        self.dropout = nn.Dropout3d(dropout) if dropout > 0 else nn.Identity()
        self.conv6 = nn.Conv3d(w5, num_classes, 1)
        if deep_supervision:
            self.branch1 = nn.Sequential(_deconv(w2, w2), nn.Conv3d(w2, num_classes, 1))
            self.branch2 = nn.Sequential(_deconv(w4, w4), _deconv(w4, w4), nn.Conv3d(w4, num_classes, 1))
        if upsample_init not in ("same", "bilinear"):
            raise ConfigError("dsn3d option 'upsample_init'", expected="'same' or 'bilinear'", found=repr(upsample_init))
        self.finish(init=init, init_std=init_std, channels_last=channels_last)
        if upsample_init == "bilinear":  # in place: keeps the memory format finish() chose
            for layer in self.modules():
                if isinstance(layer, nn.ConvTranspose3d):
                    bilinear_upsampling_(layer)

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        self.check_input(x)
        x, crop = pad_spatial(self.enter(x), self.size_multiple, self.min_size)
        c2 = self.conv2(self.pool1(self.conv1(x)))
        c4 = self.conv4(self.pool2(self.conv3(c2)))
        main = self.conv6(self.dropout(self.deconv2(self.deconv1(self.conv5(c4)))))
        branches: tuple[torch.Tensor, ...] = ()
        if self.num_branches:
            branches = (crop_spatial(self.branch1(c2), crop), crop_spatial(self.branch2(c4), crop))
        return self.leave(SegmentationOutput(crop_spatial(main, crop), branches))


@register_model("dsn3d", description="3D deeply supervised network (Dou et al. 2016): 6 conv, 2 pool, "
                "2 deconv, branches after layers 3 and 6")
def build_dsn3d(in_channels: int = 1, num_classes: int = 2, **options: object) -> DeeplySupervisedNet3d:
    check_options("dsn3d", DeeplySupervisedNet3d, options)
    return DeeplySupervisedNet3d(in_channels, num_classes, **options)  # type: ignore[arg-type]


@register_model("cnn3d", description="the 3D DSN without deep supervision (the paper's 3D CNN baseline)")
def build_cnn3d(in_channels: int = 1, num_classes: int = 2, **options: object) -> DeeplySupervisedNet3d:
    check_options("cnn3d", DeeplySupervisedNet3d, options, exclude=["deep_supervision"])
    return DeeplySupervisedNet3d(in_channels, num_classes, deep_supervision=False, **options)  # type: ignore[arg-type]
