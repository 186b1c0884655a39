"""Optimisers and learning-rate schedules from the config.

The 3D DSN paper's recipe: SGD with momentum 0.9, lr 0.1 divided by 10 every 50 epochs, L2
weight decay (its N(0, 0.01) initialisation is the network option ``init: normal``). Modern
defaults: AdamW, or SGD with Nesterov momentum, with the poly schedule
``lr * (1 - epoch / epochs) ** 0.9``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from livseg.config import OptimiserConfig, ScheduleConfig


def build_optimiser(parameters, config: OptimiserConfig) -> torch.optim.Optimizer:
    """The optimiser named in ``config`` over ``parameters``."""
    if config.name in ("sgd", "sgd_nesterov"):
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.name == "sgd_nesterov")
    if config.name == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, betas=tuple(config.betas),
                                weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, betas=tuple(config.betas),
                             weight_decay=config.weight_decay)


def lr_factor(config: ScheduleConfig, epoch: int, epochs: int) -> float:
    """Multiplier of the initial learning rate during ``epoch`` (0-based) of ``epochs``.

    * constant: 1.
    * step: ``step_gamma ** (epoch // step_epochs)`` (the paper: 0.1 every 50 epochs).
    * poly: ``(1 - epoch / epochs) ** poly_power``.
    Warm-up multiplies by ``(epoch + 1) / (warmup_epochs + 1)`` for the first epochs.
    """
    if config.name == "step":
        factor = config.step_gamma ** (epoch // config.step_epochs)
    elif config.name == "poly":
        factor = max(0.0, 1.0 - epoch / epochs) ** config.poly_power
    else:
        factor = 1.0
    if epoch < config.warmup_epochs:
        factor *= (epoch + 1) / (config.warmup_epochs + 1)
    return factor


def build_scheduler(optimiser: torch.optim.Optimizer, config: ScheduleConfig,
                    epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-epoch scheduler following :func:`lr_factor` (call ``step()`` after each epoch)."""
    return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda epoch: lr_factor(config, epoch, epochs))


@dataclass(frozen=True)
class ScheduleResume:
    """Where a resumed run's schedule continues from.

    Attributes:
        start_epoch: the first epoch (0-based) still to train.
        last_factor: the learning-rate factor its last trained epoch used (lr / initial lr).
        same_plan: the run goes on with the epoch count it was started with.
    """

    start_epoch: int
    last_factor: float
    same_plan: bool


def continued_factor(config: ScheduleConfig, epoch: int, epochs: int, resume: ScheduleResume) -> float:
    """The factor of ``epoch`` (>= ``resume.start_epoch``) of a resumed run.

    With the run's own epoch count the schedule is :func:`lr_factor` unchanged (a resume is
    invisible). When the epoch count changed (``--set training.epochs=N`` on resume), a poly
    schedule restarts its decay from the factor the last trained epoch used and reaches 0 at the
    new end, so the learning rate neither drops to the old schedule's end value nor jumps up
    (step and constant schedules do not depend on the epoch count and go on as they were).
    """
    if resume.same_plan or config.name != "poly":
        return lr_factor(config, epoch, epochs)
    last = resume.start_epoch - 1
    span = max(epochs - last, 1)
    return resume.last_factor * max(0.0, 1.0 - (epoch - last) / span) ** config.poly_power


def resumed_scheduler(optimiser: torch.optim.Optimizer, config: ScheduleConfig, epochs: int,
                      resume: ScheduleResume) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler positioned at ``resume.start_epoch``: the optimiser's learning rates are set
    for that epoch now (not left at the value the checkpoint's last ``step()`` computed for the
    old plan), and each ``step()`` follows :func:`continued_factor`."""
    for group in optimiser.param_groups:
        group.setdefault("initial_lr", group["lr"])
    return torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda epoch: continued_factor(config, epoch, epochs, resume), last_epoch=resume.start_epoch - 1)

