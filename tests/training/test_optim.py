"""Optimisers and learning-rate schedules against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from livseg.config import OptimiserConfig, ScheduleConfig
from livseg.training.optim import build_optimiser, build_scheduler, lr_factor


def test_paper_step_schedule_divides_by_ten_every_50_epochs():
    config = ScheduleConfig(name="step", step_epochs=50, step_gamma=0.1)
    assert [lr_factor(config, e, 150) for e in (0, 49, 50, 99, 100, 149)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])


def test_poly_and_warmup_by_hand():
    config = ScheduleConfig(name="poly", poly_power=0.9)
    assert lr_factor(config, 0, 10) == 1.0
    assert lr_factor(config, 5, 10) == pytest.approx(0.5 ** 0.9)
    assert lr_factor(config, 9, 10) == pytest.approx(0.1 ** 0.9)
    warm = ScheduleConfig(name="constant", warmup_epochs=3)
    assert [lr_factor(warm, e, 10) for e in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1, 1])


def test_scheduler_follows_lr_factor_epoch_by_epoch():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimiser = build_optimiser([parameter], OptimiserConfig(name="sgd", lr=0.1, momentum=0.9))
    config = ScheduleConfig(name="step", step_epochs=2, step_gamma=0.1)
    scheduler = build_scheduler(optimiser, config, epochs=6)
    seen = []
    for _ in range(6):
        seen.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    assert seen == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_optimiser_choices():
    parameter = [torch.nn.Parameter(torch.zeros(1))]
    sgd = build_optimiser(parameter, OptimiserConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4))
    assert isinstance(sgd, torch.optim.SGD) and not sgd.defaults["nesterov"]
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 5e-4
    nesterov = build_optimiser(parameter, OptimiserConfig(name="sgd_nesterov", lr=0.01))
    assert nesterov.defaults["nesterov"]
    assert isinstance(build_optimiser(parameter, OptimiserConfig(name="adamw")), torch.optim.AdamW)
    assert isinstance(build_optimiser(parameter, OptimiserConfig(name="adam")), torch.optim.Adam)
