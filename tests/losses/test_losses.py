"""Losses against hand-computed values and independent oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from livseg.errors import ConfigError, UnknownNameError
from livseg.losses import CompoundLoss, LossInputError, build_loss

# Probabilities of class 1 on 4 voxels (class 0 gets the rest), target 1 1 0 0:
P_FG = [0.9, 0.4, 0.2, 0.1]
TARGET = [1, 1, 0, 0]
TP = 0.9 + 0.4             # 1.3
FP = 0.2 + 0.1             # 0.3
FN = (1 - 0.9) + (1 - 0.4)  # 0.7


def _tiny() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose softmax is exactly P_FG: log-probabilities; shape (1, 2, 1, 1, 4)."""
    p = torch.tensor(P_FG, dtype=torch.float64)
    logits = torch.log(torch.stack([1 - p, p])).float().view(1, 2, 1, 1, 4)
    return logits, torch.tensor(TARGET).view(1, 1, 1, 4)


def _one_hot_logits(labels: torch.Tensor, classes: int, scale: float = 30.0) -> torch.Tensor:
    return scale * F.one_hot(labels, classes).movedim(-1, 1).float()


def _random(seed: int, shape=(2, 3, 4, 5, 6)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g)
    target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    return logits, target


# -- cross-entropy ------------------------------------------------------------------------------
def _ce_oracle(logits: np.ndarray, target: np.ndarray, weight=None, ignore=None) -> float:
    """Weighted mean negative log-likelihood computed with numpy, voxel by voxel."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    num = den = 0.0
    for index in np.ndindex(target.shape):
        label = int(target[index])
        if ignore is not None and label == ignore:
            continue
        w = 1.0 if weight is None else weight[label]
        num += -w * logp[(index[0], label, *index[1:])]
        den += w
    return num / den


def test_ce_matches_numpy_and_torch_with_weights_and_ignore_index():
    logits, target = _random(0)
    target[0, 0] = 7  # an "unlabelled" marker
    weight = [0.2, 1.0, 3.0]
    loss = build_loss("ce", weight=weight, ignore_index=7)(logits, target)
    assert float(loss) == pytest.approx(_ce_oracle(logits.numpy(), target.numpy(), weight, ignore=7), rel=1e-5)
    assert torch.allclose(loss, F.cross_entropy(logits, target, weight=torch.tensor(weight), ignore_index=7))
    plain = build_loss("ce")(*_random(1))
    assert float(plain) == pytest.approx(_ce_oracle(*(t.numpy() for t in _random(1))), rel=1e-5)


def test_ce_of_the_tiny_case_by_hand():
    expected = -(math.log(0.9) + math.log(0.4) + math.log(0.8) + math.log(0.9)) / 4
    assert float(build_loss("ce")(*_tiny())) == pytest.approx(expected, rel=1e-6)


# -- overlap losses -----------------------------------------------------------------------------
def test_dice_jaccard_tversky_explog_by_hand():
    logits, target = _tiny()
    dice = 2 * TP / (2 * TP + FP + FN)        # 2.6 / 3.6
    jaccard = TP / (TP + FP + FN)             # 1.3 / 2.3
    tversky = TP / (TP + 0.3 * FP + 0.7 * FN)
    assert float(build_loss("dice", smooth=0.0)(logits, target)) == pytest.approx(1 - dice, abs=1e-6)
    assert float(build_loss("jaccard", smooth=0.0)(logits, target)) == pytest.approx(1 - jaccard, abs=1e-6)
    assert float(build_loss("tversky", alpha=0.3, beta=0.7, smooth=0.0)(logits, target)) == pytest.approx(
        1 - tversky, abs=1e-6)
    explog = (-math.log(dice) + 1e-6) ** 0.3 - 1e-6 ** 0.3  # (-ln dice)^0.3, shifted to be 0 at dice = 1
    assert float(build_loss("explog_dice", gamma=0.3, smooth=0.0)(logits, target)) == pytest.approx(explog, abs=1e-5)
    # the background counts too when asked: tp0 = 0.8 + 0.9, fp0 = 0.1 + 0.6, fn0 = 0.2 + 0.1
    dice0 = 2 * 1.7 / (2 * 1.7 + 0.7 + 0.3)
    both = build_loss("dice", smooth=0.0, include_background=True)(logits, target)
    assert float(both) == pytest.approx(1 - (dice + dice0) / 2, abs=1e-6)


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky", "explog_dice"])
def test_perfect_prediction_costs_nothing_and_disjoint_costs_everything(name):
    target = torch.zeros(2, 4, 4, 4, dtype=torch.long)
    target[:, 1:3, 1:3, 1:3] = 1
    target[:, 0, 0, :2] = 2
    perfect = build_loss(name)(_one_hot_logits(target, 3), target)
    assert float(perfect) == pytest.approx(0.0, abs=1e-4 if name == "explog_dice" else 1e-5)
    disjoint = (target + 1) % 3  # every voxel predicted as another class
    worst = build_loss(name)(_one_hot_logits(disjoint, 3), target)
    assert float(worst) > 0.99 if name != "explog_dice" else float(worst) > 2.0


def test_tversky_with_equal_weights_is_dice():
    logits, target = _random(2)
    dice = build_loss("dice", smooth=0.0)(logits, target)
    tversky = build_loss("tversky", alpha=0.5, beta=0.5, smooth=0.0)(logits, target)
    assert torch.allclose(dice, tversky, atol=1e-6)


def test_batch_dice_pools_the_counts_of_all_samples():
    logits, target = _random(3, shape=(2, 2, 3, 3, 3))
    p = torch.softmax(logits, 1)[:, 1]
    g = (target == 1).float()
    tp, fp, fn = (p * g).sum(), (p * (1 - g)).sum(), ((1 - p) * g).sum()
    expected = 1 - 2 * tp / (2 * tp + fp + fn)
    assert torch.allclose(build_loss("dice", smooth=0.0, batch=True)(logits, target), expected, atol=1e-6)


def test_ignored_voxels_do_not_count_in_overlap_losses():
    logits, target = _tiny()
    marked = target.clone()
    marked[..., 3] = 9  # hide the fourth voxel (p_fg 0.1, background)
    dice = 2 * TP / (2 * TP + 0.2 + FN)
    assert float(build_loss("dice", smooth=0.0, ignore_index=9)(logits, marked)) == pytest.approx(1 - dice, abs=1e-6)


# -- focal --------------------------------------------------------------------------------------
def test_focal_with_gamma_zero_is_cross_entropy():
    logits, target = _random(4)
    assert torch.allclose(build_loss("focal", gamma=0.0)(logits, target), F.cross_entropy(logits, target), atol=1e-6)


def test_focal_by_hand():
    logits, target = _tiny()
    p_true = [0.9, 0.4, 0.8, 0.9]
    expected = sum(-(1 - p) ** 2 * math.log(p) for p in p_true) / 4
    assert float(build_loss("focal", gamma=2.0)(logits, target)) == pytest.approx(expected, rel=1e-5)
    alpha = 0.25  # foreground voxels weighted 0.25, background 0.75
    weights = [0.25, 0.25, 0.75, 0.75]
    expected_alpha = sum(-w * (1 - p) ** 2 * math.log(p) for w, p in zip(weights, p_true)) / 4
    assert float(build_loss("focal", gamma=2.0, alpha=alpha)(logits, target)) == pytest.approx(expected_alpha, rel=1e-5)


# -- sums, gradients, errors ---------------------------------------------------------------------
def test_sums_weight_their_terms_and_expose_them():
    logits, target = _random(5)
    dice = build_loss("dice")(logits, target)
    ce = build_loss("ce", weight=[1, 2, 3])(logits, target)
    loss = build_loss("0.5*dice+ce", ce={"weight": [1, 2, 3]})
    total = loss(logits, target)
    assert torch.allclose(total, 0.5 * dice + ce)
    assert set(loss.last_terms) == {"dice", "ce", "total"}
    assert torch.allclose(loss.last_terms["ce"], ce) and torch.allclose(loss.last_terms["total"], total)
    by_list = build_loss("dice+ce", weights=[0.5, 1.0], ce={"weight": [1, 2, 3]})(logits, target)
    assert torch.allclose(by_list, total)
    explicit = CompoundLoss([(0.5, build_loss("dice")), (1.0, build_loss("ce", weight=[1, 2, 3]))])(logits, target)
    assert torch.allclose(explicit, total)


@pytest.mark.parametrize("name", ["ce", "dice", "explog_dice", "jaccard", "tversky", "focal", "dice+ce"])
def test_gradients_are_finite_even_for_perfect_predictions(name):
    target = torch.zeros(1, 4, 4, 4, dtype=torch.long)
    target[:, :2] = 1
    for logits in (torch.randn(1, 2, 4, 4, 4), _one_hot_logits(target, 2)):
        logits = logits.clone().requires_grad_(True)
        build_loss(name)(logits, target).backward()
        assert torch.isfinite(logits.grad).all()


def test_bad_inputs_and_names_raise_livseg_errors():
    logits, target = _random(6)
    with pytest.raises(LossInputError, match="crop the target"):
        build_loss("dice")(logits, target[:, 1:])
    with pytest.raises(LossInputError, match="int64"):
        build_loss("ce")(logits, target.float())
    with pytest.raises(LossInputError, match=r"labels in 0..2.*found labels from 0 to 5"):
        build_loss("dice")(logits, target.clamp(max=2) + (target == 2) * 3)
    with pytest.raises(UnknownNameError, match="dice"):
        build_loss("dcie")
    with pytest.raises(ConfigError, match="foo"):
        build_loss("dice", foo=1)
    with pytest.raises(ConfigError, match="bar"):
        build_loss("dice+ce", bar=2)
    assert torch.allclose(build_loss("dice")(logits, target[:, None]), build_loss("dice")(logits, target))
