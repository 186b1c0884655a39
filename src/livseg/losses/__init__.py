"""Segmentation losses on logits (N, C, D, H, W) and integer targets (N, D, H, W).

``build_loss(name, **options)`` gives "ce", "dice", "explog_dice", "jaccard", "tversky",
"focal" or weighted sums ("dice+ce", "0.5*dice+ce"); ``DeepSupervisionLoss`` adds the
deep-supervision branches with the papers' weight schedules ("dsn2016", "resunet2017",
"constant", "none"); ``l2_penalty`` / ``weight_decay_param_groups`` give eq. 3's L2 term.
Every loss keeps its latest scalar components in ``last_terms`` for logging.
"""

from __future__ import annotations

from livseg.losses._inputs import LossInputError
from livseg.losses.compound import LOSSES, CompoundLoss, build_loss
from livseg.losses.cross_entropy import CrossEntropyLoss, FocalLoss
from livseg.losses.deep_supervision import SCHEDULES, BranchWeightSchedule, DeepSupervisionLoss, build_schedule
from livseg.losses.overlap import ExpLogDiceLoss, JaccardLoss, SoftDiceLoss, TverskyLoss
from livseg.losses.regularization import l2_penalty, penalised_parameters, weight_decay_param_groups

__all__ = [
    "LOSSES", "SCHEDULES", "BranchWeightSchedule", "CompoundLoss", "CrossEntropyLoss", "DeepSupervisionLoss",
    "ExpLogDiceLoss", "FocalLoss", "JaccardLoss", "LossInputError", "SoftDiceLoss", "TverskyLoss", "build_loss",
    "build_schedule", "l2_penalty", "penalised_parameters", "weight_decay_param_groups",
]
