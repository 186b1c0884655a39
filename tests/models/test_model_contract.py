"""The contract every registered network keeps (DESIGN.md: one output type, full-size branches).

Parametrised over the built-in networks of the registry, so a new network is checked as soon as
it registers; it must also add its documented branch count to DOCUMENTED_BRANCHES. Networks that
tests or user code register (e.g. tests/inference's "test-threshold") are not part of it.
"""

from __future__ import annotations

import pytest
import torch

from livseg.errors import ConfigError, UnknownNameError
from livseg.losses import DeepSupervisionLoss, build_loss
from livseg.models import NetworkInputError, SegmentationOutput, build_model, builtin_model_names

DOCUMENTED_BRANCHES = {"dsn3d": 2, "cnn3d": 0, "unet3d": 2, "resunet3d": 3, "sffnet": 3}

# (registry name, builder options, in_channels of the builder); input volumes have 1 channel
VARIANTS = [(name, {}, 1) for name in builtin_model_names()] + [("sffnet", {"mode": "2.5d"}, 3)]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in opts.items())}" if opts else name for name, opts, _ in VARIANTS]
NUM_CLASSES = 3


def _build(name: str, options: dict, in_channels: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, in_channels=in_channels, num_classes=NUM_CLASSES, **options)


def _check_output(out: object, shape: tuple[int, ...], branches: int) -> None:
    assert isinstance(out, SegmentationOutput)
    assert tuple(out.main.shape) == shape
    assert isinstance(out.branches, tuple) and len(out.branches) == branches
    for branch in out.branches:
        assert tuple(branch.shape) == shape


def test_every_registered_network_documents_its_branches():
    assert sorted(DOCUMENTED_BRANCHES) == builtin_model_names()


@pytest.mark.parametrize(("name", "options", "in_channels"), VARIANTS, ids=IDS)
def test_train_step_at_64_cubed_gives_full_size_outputs_and_finite_gradients(name, options, in_channels, capsys):
    model = _build(name, options, in_channels).train()
    assert model.num_branches == DOCUMENTED_BRANCHES[name]
    x = torch.randn(1, 1, 64, 64, 64)
    target = torch.randint(0, NUM_CLASSES, (1, 64, 64, 64))
    out = model(x)
    _check_output(out, (1, NUM_CLASSES, 64, 64, 64), DOCUMENTED_BRANCHES[name])
    loss = DeepSupervisionLoss(build_loss("dice+ce"), "constant")(out, target)
    loss.backward()
    assert torch.isfinite(loss)
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{pname} gets no gradient"
        assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
    assert capsys.readouterr().out == ""  # library code prints nothing


@pytest.mark.parametrize(("name", "options", "in_channels"), VARIANTS, ids=IDS)
def test_odd_sizes_in_train_and_eval_mode_and_eval_is_deterministic(name, options, in_channels):
    model = _build(name, options, in_channels)
    x = torch.randn(2, 1, 37, 41, 29)
    shape = (2, NUM_CLASSES, 37, 41, 29)
    _check_output(model.train()(x), shape, DOCUMENTED_BRANCHES[name])
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    _check_output(first, shape, DOCUMENTED_BRANCHES[name])
    assert torch.equal(first.main, second.main)
    assert all(torch.equal(a, b) for a, b in zip(first.branches, second.branches))
    assert x.shape == (2, 1, 37, 41, 29)  # the input is not modified in place


@pytest.mark.parametrize(("name", "options", "in_channels"), VARIANTS, ids=IDS)
def test_sample_outputs_do_not_depend_on_the_rest_of_the_batch_in_eval_mode(name, options, in_channels):
    model = _build(name, options, in_channels).eval()
    x = torch.randn(2, 1, 24, 20, 16)
    with torch.no_grad():
        both = model(x).main
        alone = model(x[1:]).main
    assert torch.allclose(both[1:], alone, atol=1e-5)


@pytest.mark.parametrize("name", ["dsn3d", "unet3d", "resunet3d", "sffnet"])
def test_deep_supervision_can_be_switched_off(name):
    model = build_model(name, deep_supervision=False)
    assert model.num_branches == 0
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 1, 16, 16, 16)).branches == ()


def test_wrong_input_shapes_raise_a_livseg_error_naming_the_fix():
    model = build_model("dsn3d")
    with pytest.raises(NetworkInputError, match=r"expected a tensor \(N, 1, D, H, W\).*found shape \(1, 2, 8, 8, 8\)"):
        model(torch.zeros(1, 2, 8, 8, 8))
    with pytest.raises(NetworkInputError, match="add batch and channel axes"):
        model(torch.zeros(8, 8, 8))
    stacks = build_model("sffnet", in_channels=5, mode="2.5d")
    with pytest.raises(NetworkInputError, match=r"\(N, 5, H, W\)"):
        stacks(torch.zeros(1, 3, 16, 16))


def test_unknown_names_and_options_are_config_errors_listing_the_choices():
    with pytest.raises(UnknownNameError, match="dsn3d"):
        build_model("dsn4d")
    with pytest.raises(ConfigError, match=r"widths.*unknown option\(s\) \['width'\]"):
        build_model("unet3d", width=8)
    with pytest.raises(ConfigError, match="odd number of slices"):
        build_model("sffnet", in_channels=4, mode="2.5d")
    with pytest.raises(UnknownNameError, match="normalisation.*option 'norm'"):
        build_model("unet3d", norm="layer")
