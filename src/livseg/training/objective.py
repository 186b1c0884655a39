"""The training objective: ``livseg.losses`` on the main output plus weighted branch losses.

``total = L(main) + sum_d eta_d(epoch) * L(branch_d)`` (the 3D DSN paper's eq. 3 without the
L2 term, which the optimiser's weight decay supplies), computed by
``livseg.losses.DeepSupervisionLoss`` with the configured schedule. This module only names the
terms for the CSV log and keeps the base loss at hand for validation.
"""

from __future__ import annotations

import torch

from livseg.config import LossConfig


class Objective:
    """Callable ``(SegmentationOutput, target (N, D, H, W) long) -> (total, terms)``.

    ``terms`` holds floats: ``train_loss`` (the total), ``train_loss_main``, the main output's
    components (``train_main_<name>``, e.g. ``train_main_dice`` for "dice+ce") and
    ``train_loss_branch<d>`` (unweighted, d = 1 shallowest).
    """

    def __init__(self, config: LossConfig, num_branches: int, device: torch.device | str = "cpu") -> None:
        from livseg.losses.compound import build_loss
        from livseg.losses.deep_supervision import DeepSupervisionLoss

        self.base = build_loss(config.name, **config.options).to(device)
        self.num_branches = num_branches
        schedule = "none" if num_branches == 0 else config.deep_supervision
        self.ignores_branches = schedule == "none" and num_branches > 0
        self.supervision = DeepSupervisionLoss(self.base, schedule, **config.schedule_options).to(device)

    def set_epoch(self, epoch: int) -> None:
        """Move the branch weights to their value for ``epoch`` (0-based)."""
        self.supervision.set_epoch(epoch)

    def branch_weights(self) -> list[float]:
        """The current eta_d, shallowest branch first (empty without branches)."""
        if self.num_branches == 0 or self.ignores_branches:
            return []
        return [float(w) for w in self.supervision.branch_weights(self.num_branches)]

    def main_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The base loss of one logits tensor (N, C, D, H, W) against target (N, D, H, W)."""
        return self.base(logits.float(), target.to(logits.device))

    def __call__(self, output, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        from livseg.models.output import SegmentationOutput

        output = SegmentationOutput(output.main.float(), tuple(b.float() for b in output.branches))
        total = self.supervision(output, target)
        terms: dict[str, float] = {"train_loss": float(total.detach())}
        for key, value in self.supervision.last_terms.items():
            if key == "main":
                terms["train_loss_main"] = float(value)
            elif key.startswith("main/") and key != "main/total":
                terms[f"train_main_{key[5:]}"] = float(value)
            elif key.startswith("branch"):
                terms[f"train_loss_{key}"] = float(value)
        return total, terms
