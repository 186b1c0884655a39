"""Network-specific facts: U-Net valid mode sizes, ResUNet stages, SFFNet 2.5D stacking."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from livseg.errors import ConfigError
from livseg.models import NetworkInputError, build_model


def test_valid_unet_sizes_match_the_blog_and_cicek():
    net = build_model("unet3d", padding="valid", widths=(4, 8, 16, 32))
    # 132 -> 44 (Cicek et al.); the blog's 60x60x52 output patches need 44 voxels of context per side
    assert net.context == 44
    assert net.output_shape((132, 148, 140)) == (44, 60, 52)
    assert (net.input_size_for(60), net.input_size_for(52), net.input_size_for(44)) == (148, 140, 132)
    assert net.nearest_input_size(93) == 100 and net.nearest_input_size(92) == 92
    with pytest.raises(NetworkInputError, match="found 93 voxels.*use 100"):
        net.output_size(93)
    with pytest.raises(ConfigError, match="8k - 28"):
        net.input_size_for(50)


def test_valid_unet_forward_gives_the_announced_size_for_main_and_branches():
    net = build_model("unet3d", padding="valid", widths=(4, 8, 8, 8)).eval()
    x = torch.randn(1, 1, 100, 92, 108)
    with torch.no_grad():
        out = net(x)
    assert tuple(out.main.shape[2:]) == net.output_shape(x.shape[2:]) == (12, 4, 20)
    assert [tuple(b.shape[2:]) for b in out.branches] == [(12, 4, 20)] * 2
    with pytest.raises(NetworkInputError):
        net(torch.randn(1, 1, 93, 92, 92))


def test_unet_norm_choices_build_the_named_layers():
    from livseg.models.batch_renorm import BatchRenorm

    for norm, layer in (("instance", nn.InstanceNorm3d), ("batch", nn.BatchNorm3d), ("batchrenorm", BatchRenorm),
                        ("group", nn.GroupNorm)):
        net = build_model("unet3d", norm=norm, widths=(4, 8))
        assert sum(isinstance(m, layer) for m in net.modules()) == 6  # 2 per encoder level + 2 in the decoder


def test_resunet_stages_channels_dilations_and_prelu():
    net = build_model("resunet3d")
    dilations = [[conv[0].dilation[0] for conv in stage.body] for stage in net.encoders]
    assert dilations == [[1, 1], [1, 1, 1], [1, 2, 4], [3, 4, 5]]
    widths = [stage.body[-1][0].out_channels for stage in net.encoders]
    assert widths == [16, 32, 64, 128]
    activations = {type(m) for m in net.modules() if isinstance(m, (nn.ReLU, nn.PReLU, nn.LeakyReLU))}
    assert activations == {nn.PReLU}
    assert net.num_branches == 3  # + main = the 4 supervised heads


def test_resunet_stage_is_residual():
    net = build_model("resunet3d", widths=(4, 8, 8, 8)).eval()
    stage = net.encoders[2]
    with torch.no_grad():
        for conv in stage.body:
            conv[0].weight.zero_()
            conv[0].bias.zero_()
        x = torch.randn(1, 8, 6, 6, 6)
        assert torch.equal(stage(x), x)  # convolutions silenced: the stage passes its input


def test_sffnet_volume_mode_equals_hand_built_slice_stacks():
    torch.manual_seed(3)
    net = build_model("sffnet", in_channels=3, mode="2.5d", widths=(4, 8, 8, 8)).eval()
    volume = torch.randn(2, 1, 5, 20, 18)
    with torch.no_grad():
        out = net(volume)
        for z in (0, 2, 4):  # the ends repeat the edge slice
            neighbours = [min(max(z + dz, 0), 4) for dz in (-1, 0, 1)]
            stack = volume[:, 0, neighbours]                                 # (N, 3, H, W)
            single = net(stack)
            assert single.main.shape == (2, 2, 20, 18)
            assert torch.allclose(out.main[:, :, z], single.main, atol=1e-5)
            assert all(torch.allclose(b[:, :, z], s, atol=1e-5) for b, s in zip(out.branches, single.branches))


def test_sffnet_residual_attention_never_blocks_the_trunk():
    from livseg.models.sffnet import _ResidualAttentionBlock

    block = _ResidualAttentionBlock(4, 4, "none", 3).eval()
    x = torch.randn(1, 4, 8, 8, 8)
    with torch.no_grad():
        trunk = block.act(block.trunk(x) + block.shortcut(x))
        out = block(x)
    ratio = out[trunk > 1e-3] / trunk[trunk > 1e-3]
    assert float(ratio.min()) >= 1.0 and float(ratio.max()) <= 2.0  # (1 + sigmoid) * trunk


@pytest.mark.parametrize(("levels", "smallest"), [(2, 18), (3, 44), (4, 92)])
def test_valid_size_helpers_are_inverse_of_each_other(levels, smallest):
    """Smallest inputs by hand: the bottom needs >= 3 (2 levels) or 4 voxels after its convs
    so that the output is >= 1 voxel; then going up: input = 2 * (size + 4) per pooling, + 4."""
    net = build_model("unet3d", padding="valid", widths=(2,) * levels)
    valid = []
    for size in range(8, 200):
        nearest = net.nearest_input_size(size)
        assert nearest >= size and net.input_size_for(net.output_size(nearest)) == nearest
        try:
            out = net.output_size(size)
        except NetworkInputError:
            assert nearest > size
            continue
        valid.append(size)
        assert nearest == size and net.input_size_for(out) == size
        assert size - out == 2 * net.context
    assert valid == list(range(smallest, 200, 2 ** (levels - 1)))
