"""Receptive fields measured by the gradient probe against counts made by hand."""

from __future__ import annotations

import torch
from torch import nn

from livseg.models import SegmentationOutput, build_model, receptive_field


class _Stack(nn.Module):
    """A plain layer stack returning a SegmentationOutput, for checking the probe itself."""

    in_channels = 1

    def __init__(self, *layers: nn.Module, size_multiple: int = 1) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.size_multiple = size_multiple

    def forward(self, x: torch.Tensor) -> SegmentationOutput:
        return SegmentationOutput(self.layers(x))


def test_single_anisotropic_convolution():
    net = _Stack(nn.Conv3d(1, 2, (3, 5, 7), padding=(1, 2, 3)))
    assert receptive_field(net) == (3, 5, 7)


def test_dilated_convolutions_with_norm_and_activation():
    net = _Stack(nn.Conv3d(1, 4, 3, padding=2, dilation=2), nn.InstanceNorm3d(4), nn.PReLU(4),
                 nn.Conv3d(4, 1, 3, padding=3, dilation=3))
    # 1 + 2*2 = 5, then + 2*3 = 11 (instance norm's global statistics are not counted)
    assert receptive_field(net) == (11, 11, 11)


def test_pooling_then_upsampling_by_hand():
    net = _Stack(nn.Conv3d(1, 2, 3, padding=1), nn.MaxPool3d(2, 2), nn.Conv3d(2, 2, 3, padding=1),
                 nn.Upsample(scale_factor=2, mode="nearest"), size_multiple=2)
    # backwards from one output voxel: nearest upsampling -> 1 coarse voxel; conv k3 -> 3;
    # pooling -> 6 fine voxels; conv k3 -> 8
    assert receptive_field(net) == (8, 8, 8)


def test_cnn3d_by_hand():
    """Count backwards from one output voxel along H (D in brackets).

    conv6 1x1x1: 1 voxel. deconv2 (k3, s2, pad 1, output pad 1): output 2i reads input i,
    output 2i+1 reads i and i+1: <= 2 half-resolution voxels. deconv1: two neighbours, one even
    (1 input) and one odd (2 inputs), together 2 quarter-resolution voxels. conv5 and conv4
    (k5 [k3]): 2 + 4 + 4 = 10 [2 + 2 + 2 = 6]. pool2: 20 [12]. conv3 and conv2 (k7 [k5]):
    20 + 6 + 6 = 32 [12 + 4 + 4 = 20]. pool1: 64 [40]. conv1 (k9 [k7]): 72 [46].
    """
    assert receptive_field(build_model("cnn3d")) == (46, 72, 72)
    assert receptive_field(build_model("dsn3d")) == (46, 72, 72)  # branches do not change the main output


def test_unet3d_by_hand():
    """Four levels, two 3x3x3 convolutions per level, 2x2x2 pooling and up-convolutions.

    Backwards from one output voxel: decoder level 0 convs: 5 voxels, which fall into 3
    level-1 voxels (an up-convolution output reads exactly one input). Level 1 convs: 3 + 4 = 7
    -> 4 level-2 voxels. Level 2 convs: 4 + 4 = 8 -> 8 neighbours span at most 5 level-3
    voxels. Bottleneck convs: 5 + 4 = 9. Encoder: pool -> 18, convs -> 22, pool -> 44,
    convs -> 48, pool -> 96, convs -> 100.
    """
    assert receptive_field(build_model("unet3d")) == (100, 100, 100)


def test_two_and_a_half_d_network_sees_exactly_its_slices_along_d():
    rf = receptive_field(build_model("sffnet", in_channels=5, mode="2.5d", widths=(4, 8, 8, 8)), input_channels=1)
    assert rf[0] == 5
    assert rf[1] == rf[2] > 5


def test_probe_leaves_the_model_untouched():
    model = build_model("cnn3d")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    receptive_field(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training
