"""Deep-supervision weights, the weighted sum, and the L2 term of eq. 3."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from livseg.errors import ConfigError, UnknownNameError
from livseg.losses import (BranchWeightSchedule, DeepSupervisionLoss, build_loss, build_schedule, l2_penalty,
                           weight_decay_param_groups)
from livseg.models import SegmentationOutput, build_model


def test_dsn2016_schedule_by_hand():
    schedule = build_schedule("dsn2016")
    assert schedule.weights(0, 2) == pytest.approx((0.3, 0.4))
    assert schedule.weights(9, 2) == pytest.approx((0.3, 0.4))
    assert schedule.weights(10, 2) == pytest.approx((0.285, 0.38))              # -5 %
    assert schedule.weights(25, 2) == pytest.approx((0.3 * 0.9025, 0.4 * 0.9025))  # two decays: 0.27075, 0.361


def test_resunet2017_and_constant_schedules_by_hand():
    schedule = build_schedule("resunet2017")
    assert schedule.weights(0, 3) == pytest.approx((0.33, 0.33, 0.33))
    assert schedule.weights(39, 3) == pytest.approx((0.33,) * 3)
    assert schedule.weights(40, 3) == pytest.approx((0.264,) * 3)
    assert schedule.weights(100, 3) == pytest.approx((0.33 * 0.64,) * 3)
    assert build_schedule("constant").weights(500, 2) == (1.0, 1.0)
    assert build_schedule("constant", initial=0.5).weights(3, 1) == (0.5,)
    assert build_schedule("dsn2016", every=5).weights(5, 2) == pytest.approx((0.285, 0.38))


def test_schedule_errors_name_the_fix():
    with pytest.raises(ConfigError, match="2 branches.*3 branches.*resunet2017"):
        build_schedule("dsn2016").weights(0, 3)
    with pytest.raises(UnknownNameError, match="dsn2016"):
        build_schedule("dsn2017")
    with pytest.raises(ConfigError, match="decay"):
        build_schedule("dsn2016", decay=0.9)
    assert build_schedule("dsn2016").weights(0, 0) == ()  # a network without branches


def _output(seed: int) -> tuple[SegmentationOutput, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    main, b1, b2 = (torch.randn(2, 3, 4, 4, 4, generator=g) for _ in range(3))
    target = torch.randint(0, 3, (2, 4, 4, 4), generator=g)
    return SegmentationOutput(main, (b1, b2)), target


def test_weighted_sum_by_hand_and_after_decay():
    output, target = _output(0)
    ce = [F.cross_entropy(t, target) for t in (output.main, *output.branches)]
    loss = DeepSupervisionLoss(build_loss("ce"), "dsn2016")
    assert torch.allclose(loss(output, target), ce[0] + 0.3 * ce[1] + 0.4 * ce[2])
    terms = loss.last_terms
    assert torch.allclose(terms["main"], ce[0]) and torch.allclose(terms["branch2"], ce[2])
    assert float(terms["eta1"]) == pytest.approx(0.3) and torch.allclose(terms["main/ce"], ce[0])
    loss.set_epoch(10)
    assert torch.allclose(loss(output, target), ce[0] + 0.285 * ce[1] + 0.38 * ce[2])
    assert float(loss.last_terms["total"]) == pytest.approx(float(ce[0] + 0.285 * ce[1] + 0.38 * ce[2]), rel=1e-6)


def test_compound_base_and_plain_tensor_and_zero_weights():
    output, target = _output(1)
    base = build_loss("dice+ce")
    expected_main = base(output.main, target)
    loss = DeepSupervisionLoss(base, BranchWeightSchedule("test", (0.0, 2.0)))
    b2 = build_loss("dice+ce")(output.branches[1], target)
    assert torch.allclose(loss(output, target), expected_main + 2.0 * b2)
    assert "branch1" not in loss.last_terms and "main/dice" in loss.last_terms  # weight 0: not evaluated
    assert torch.allclose(loss(output.main, target), expected_main)  # a bare tensor is a main output


def test_gradients_reach_every_branch_of_a_real_network():
    torch.manual_seed(0)
    model = build_model("dsn3d")
    output = model(torch.randn(1, 1, 12, 12, 12))
    target = torch.randint(0, 2, (1, 12, 12, 12))
    DeepSupervisionLoss(build_loss("dice+ce"), "dsn2016")(output, target).backward()
    for name in ("branch1.1.weight", "branch2.2.weight", "conv6.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_l2_penalty_is_lambda_times_squared_kernels_without_biases():
    model = nn.Sequential(nn.Conv3d(1, 2, 3), nn.InstanceNorm3d(2, affine=True), nn.PReLU(2), nn.Conv3d(2, 1, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(2.0)
    kernels = 2 * 27 + 2 * 1  # weights of the two convolutions: 56 values of 2.0
    penalty = l2_penalty(model, 0.01)
    assert float(penalty.detach()) == pytest.approx(0.01 * kernels * 4.0)
    penalty.backward()
    assert torch.allclose(model[0].weight.grad, torch.full_like(model[0].weight, 2 * 0.01 * 2.0))
    assert model[0].bias.grad is None and model[1].weight.grad is None and model[2].weight.grad is None


def test_sgd_weight_decay_groups_equal_the_explicit_penalty():
    torch.manual_seed(0)
    a = build_model("cnn3d", widths=(2, 2, 2, 2, 2))
    b = build_model("cnn3d", widths=(2, 2, 2, 2, 2))
    b.load_state_dict(a.state_dict())
    x, target = torch.randn(1, 1, 8, 8, 8), torch.randint(0, 2, (1, 8, 8, 8))
    lam, lr = 0.05, 0.1
    opt_a = torch.optim.SGD(a.parameters(), lr=lr)
    (F.cross_entropy(a(x).main, target) + l2_penalty(a, lam)).backward()
    opt_a.step()
    opt_b = torch.optim.SGD(weight_decay_param_groups(b, 2 * lam), lr=lr)
    F.cross_entropy(b(x).main, target).backward()
    opt_b.step()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6), name
    groups = weight_decay_param_groups(b, 0.1)
    assert all(p.dim() > 1 for p in groups[0]["params"]) and all(p.dim() == 1 for p in groups[1]["params"])
