"""The training engine: configs in, run folders (checkpoints, logs, curves) out.

Public API::

    train(config, out_dir, *, resume=None, progress=False, ...) -> TrainResult
    overfit_one(case_source, config, out_dir, *, target_dice=0.95, ...) -> OverfitResult
    load_checkpoint(path) -> dict

Command line: ``livseg train CONFIG.yaml [--set key=value ...] [--resume RUN] [--out RUN]``.
"""

from __future__ import annotations

from livseg.training.checkpoint import load_checkpoint
from livseg.training.engine import TrainResult, config_of_checkpoint, train
from livseg.training.overfit import OverfitResult, default_overfit_config, overfit_one

__all__ = [
    "OverfitResult",
    "TrainResult",
    "config_of_checkpoint",
    "default_overfit_config",
    "load_checkpoint",
    "overfit_one",
    "train",
]
