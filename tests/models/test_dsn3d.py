"""The 3D DSN of Dou et al. 2016 and its CNN baseline: layers, sizes, deconvolution alignment, init."""

from __future__ import annotations

import torch
from torch import nn

from livseg.models import build_model, count_parameters
from livseg.models.dsn3d import _deconv, bilinear_upsampling_


def test_layer_stack_is_the_papers():
    model = build_model("dsn3d")
    convs = [model.conv1[0], model.conv2[0], model.conv3[0], model.conv4[0], model.conv5[0], model.conv6]
    # (D, H, W): the paper's 9x9x7 first layer written z-first
    assert [c.kernel_size for c in convs] == [(7, 9, 9), (5, 7, 7), (5, 7, 7), (3, 5, 5), (3, 5, 5), (1, 1, 1)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 32, 32, 2]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool3d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(2, 2), (2, 2)]
    main_deconvs = [model.deconv1[0], model.deconv2[0]]
    assert all(d.kernel_size == (3, 3, 3) and d.stride == (2, 2, 2) for d in main_deconvs)
    assert model.num_branches == 2 and len(model.branch1) == 2 and len(model.branch2) == 3  # 1 and 2 deconvs


def test_parameter_count_by_hand():
    def conv(cin: int, cout: int, taps: int) -> int:
        return cout * cin * taps + cout

    main = (conv(1, 8, 7 * 9 * 9) + conv(8, 16, 5 * 7 * 7) + conv(16, 32, 5 * 7 * 7) + conv(32, 32, 3 * 5 * 5)
            + conv(32, 32, 3 * 5 * 5) + 2 * conv(32, 32, 27) + conv(32, 2, 1))
    branch1 = conv(16, 16, 27) + conv(16, 2, 1)
    branch2 = 2 * conv(32, 32, 27) + conv(32, 2, 1)
    assert main == 370_482
    assert count_parameters(build_model("cnn3d")) == main
    assert count_parameters(build_model("dsn3d")) == main + branch1 + branch2 == 432_870


def test_cnn3d_is_the_dsn_main_path_without_branches():
    dsn, cnn = build_model("dsn3d"), build_model("cnn3d")
    cnn_keys = set(cnn.state_dict())
    assert cnn_keys < set(dsn.state_dict())
    assert {k.split(".")[0] for k in set(dsn.state_dict()) - cnn_keys} == {"branch1", "branch2"}
    cnn.load_state_dict({k: v for k, v in dsn.state_dict().items() if k in cnn_keys})
    x = torch.randn(1, 1, 20, 24, 28)
    with torch.no_grad():
        assert torch.allclose(cnn.eval()(x).main, dsn.eval()(x).main, atol=1e-6)


def test_stride_two_deconvolution_doubles_sizes_and_centres_output_2i_on_input_i():
    layer = _deconv(1, 1)
    deconv = layer[0]
    a, b, c = 0.5, 2.0, 3.0
    with torch.no_grad():
        deconv.weight.zero_()
        deconv.weight[0, 0, :, 1, 1] = torch.tensor([a, b, c])  # taps along D only
        deconv.bias.zero_()
    x = torch.rand(1, 1, 5, 3, 4) + 0.1
    y = layer(x)
    assert y.shape == (1, 1, 10, 6, 8)
    xs, ys = x[0, 0, :, 1, 2], y[0, 0, :, 2, 4]  # input (h, w) = (1, 2) lands on (2, 4)
    # out[2i] = b * x[i]; out[2i+1] = c * x[i] + a * x[i+1] (x beyond the end is 0)
    expected = torch.zeros(10)
    expected[0::2] = b * xs
    expected[1::2] = c * xs + a * torch.cat([xs[1:], torch.zeros(1)])
    assert torch.allclose(ys, expected, atol=1e-6)
    assert torch.count_nonzero(y[0, 0, :, 3, :]) == 0  # odd rows in H get nothing from an H-centred tap


def test_normal_init_is_n_0_001_with_zero_biases():
    torch.manual_seed(1)
    model = build_model("dsn3d", init="normal", init_std=0.01)
    weights = torch.cat([m.weight.detach().flatten() for m in model.modules()
                         if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d))])
    assert weights.numel() > 400_000
    assert abs(float(weights.mean())) < 1e-4
    assert abs(float(weights.std()) - 0.01) < 2e-4
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in model.modules() if isinstance(m, nn.Conv3d))


def test_channels_last_changes_speed_not_results():
    torch.manual_seed(2)
    plain = build_model("dsn3d", channels_last=False).eval()
    fast = build_model("dsn3d", channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    assert fast.conv2[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    x = torch.randn(1, 1, 17, 22, 19)
    with torch.no_grad():
        a, b = plain(x), fast(x)
    assert b.main.is_contiguous()
    assert torch.allclose(a.main, b.main, atol=1e-5)
    assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a.branches, b.branches))


def test_bilinear_upsampling_init_interpolates_each_channel_onto_itself():
    deconv = nn.ConvTranspose3d(3, 3, 3, stride=2, padding=1, output_padding=1)
    bilinear_upsampling_(deconv)
    x = torch.rand(1, 3, 4, 5, 6)
    with torch.no_grad():
        y = deconv(x)
    assert y.shape == (1, 3, 8, 10, 12)
    # even outputs are the inputs; odd outputs (inside) the mean of the two neighbours, per axis
    assert torch.allclose(y[:, :, ::2, ::2, ::2], x, atol=1e-6)
    assert torch.allclose(y[:, :, 1:-1:2, ::2, ::2], (x[:, :, :-1] + x[:, :, 1:]) / 2, atol=1e-6)
    assert torch.allclose(y[:, :, ::2, 1:-1:2, 1:-1:2],
                          (x[:, :, :, :-1, :-1] + x[:, :, :, 1:, :-1] + x[:, :, :, :-1, 1:] + x[:, :, :, 1:, 1:]) / 4,
                          atol=1e-6)
    # channels do not mix
    x2 = x.clone()
    x2[:, 1] = 0
    with torch.no_grad():
        assert torch.equal(deconv(x2)[:, 0], y[:, 0]) and float(deconv(x2)[:, 1].abs().max()) == 0.0


def test_kaiming_with_bilinear_upsampling_keeps_the_signal_and_the_parameter_count():
    torch.manual_seed(0)
    model = build_model("dsn3d", init="kaiming", upsample_init="bilinear")
    assert count_parameters(model) == 432_870
    assert count_parameters(build_model("cnn3d", init="kaiming", upsample_init="bilinear")) == 370_482
    deconvs = [m for m in model.modules() if isinstance(m, nn.ConvTranspose3d)]
    assert len(deconvs) == 5 and all(float(d.bias.detach().abs().max()) == 0.0 for d in deconvs)
    # a constant map stays constant through a bilinear deconvolution (away from the far border)
    with torch.no_grad():
        y = model.deconv1(torch.ones(1, 32, 3, 3, 3))
    assert torch.allclose(y[:, :, :-1, :-1, :-1], torch.ones(1, 32, 5, 5, 5))
    # the main output's spread is not shrunk towards a constant (PyTorch's default init shrinks it ~1/3 per layer)
    x = torch.rand(1, 1, 16, 32, 32)
    with torch.no_grad():
        spread = {name: float(build_model("cnn3d", **opts)(x).main.std(dim=(2, 3, 4)).mean())
                  for name, opts in {"default": {}, "fixed": {"init": "kaiming", "upsample_init": "bilinear"}}.items()}
    assert spread["fixed"] > 5 * spread["default"]


def test_upsample_init_rejects_unknown_names():
    import pytest

    from livseg.errors import ConfigError

    with pytest.raises(ConfigError):
        build_model("dsn3d", upsample_init="nearest")
