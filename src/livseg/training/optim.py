"""Optimisers and learning-rate schedules from the config.

The 3D DSN paper's recipe: SGD with momentum 0.9, lr 0.1 divided by 10 every 50 epochs, L2
weight decay (its N(0, 0.01) initialisation is the network option ``init: normal``). Modern
defaults: AdamW, or SGD with Nesterov momentum, with the poly schedule
``lr * (1 - epoch / epochs) ** 0.9``.
"""

from __future__ import annotations

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

