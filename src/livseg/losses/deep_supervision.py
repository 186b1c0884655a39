"""Deep supervision: the main loss plus weighted branch losses, with the papers' weight schedules.

Eq. 2-3 of Dou et al. (2016): L = L_main + sum_d eta_d * L_d (+ lambda * ||W||^2, see
``regularization``). Written here rather than taken from MONAI because MONAI's
``DeepSupervisionLoss`` has fixed weight modes, not the papers' per-branch, epoch-decayed
weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
from torch import nn

from livseg.errors import ConfigError, UnknownNameError
from livseg.models.output import SegmentationOutput


@dataclass(frozen=True)
class BranchWeightSchedule:
    """Branch weights eta_d(epoch) = initial_d * factor ** (epoch // every).

    Attributes:
        name: schedule name.
        initial: one weight per branch (shallow to deep), or one weight for every branch.
        factor: multiplier applied every ``every`` epochs (1 = constant).
        every: epochs between decays (0 = never).
    """

    name: str
    initial: tuple[float, ...] | float
    factor: float = 1.0
    every: int = 0

    def weights(self, epoch: int, num_branches: int) -> tuple[float, ...]:
        """eta_1..eta_n at ``epoch`` (0-based) for a network with ``num_branches`` branches."""
        if epoch < 0:
            raise ConfigError(f"schedule '{self.name}'", expected="an epoch >= 0", found=str(epoch))
        decay = self.factor ** (epoch // self.every) if self.every > 0 else 1.0
        if isinstance(self.initial, (int, float)):
            return tuple(float(self.initial) * decay for _ in range(num_branches))
        if num_branches and len(self.initial) != num_branches:
            raise ConfigError(f"deep-supervision schedule '{self.name}'",
                              expected=f"{len(self.initial)} branches (its initial weights {list(self.initial)})",
                              found=f"a network with {num_branches} branches",
                              fix="use the 'resunet2017' or 'constant' schedule or give 'initial' per branch")
        return tuple(float(w) * decay for w in self.initial[:num_branches])


SCHEDULES: dict[str, BranchWeightSchedule] = {
    # Dou et al. 2016: eta 0.3 (branch after layer 3) and 0.4 (after layer 6), -5 % every 10 epochs
    "dsn2016": BranchWeightSchedule("dsn2016", (0.3, 0.4), factor=0.95, every=10),
    # MICCAI-LITS2017 ResUNet: alpha 0.33 for every branch, x0.8 every 40 epochs
    "resunet2017": BranchWeightSchedule("resunet2017", 0.33, factor=0.8, every=40),
    "constant": BranchWeightSchedule("constant", 1.0),
    "none": BranchWeightSchedule("none", 0.0),
}


def build_schedule(name: str, **overrides: Any) -> BranchWeightSchedule:
    """A schedule from ``SCHEDULES`` with fields replaced (``initial``, ``factor``, ``every``)."""
    if name not in SCHEDULES:
        raise UnknownNameError(name, expected=f"a deep-supervision schedule among {sorted(SCHEDULES)}",
                               found="an unknown name", fix="set loss.deep_supervision in the config")
    return _with_overrides(SCHEDULES[name], overrides)


def _with_overrides(schedule: BranchWeightSchedule, overrides: dict[str, Any]) -> BranchWeightSchedule:
    unknown = sorted(set(overrides) - {"initial", "factor", "every"})
    if unknown:
        raise ConfigError(f"schedule '{schedule.name}'", expected="options among ['initial', 'factor', 'every']",
                          found=f"unknown option(s) {unknown}", fix="set loss.schedule_options in the config")
    overrides = dict(overrides)
    if isinstance(overrides.get("initial"), Sequence):
        overrides["initial"] = tuple(float(w) for w in overrides["initial"])
    return replace(schedule, **overrides) if overrides else schedule


class DeepSupervisionLoss(nn.Module):
    """``base(main) + sum_d eta_d(epoch) * base(branch_d)`` over a SegmentationOutput.

    Args:
        base: a loss mapping (logits (N, C, *S), target (N, *S)) to a scalar; applied to the
            main output and to every branch (all at the target's size).
        schedule: a BranchWeightSchedule or a name in ``SCHEDULES`` (default "dsn2016").
        **overrides: schedule fields to replace (``initial``, ``factor``, ``every``).

    Call ``set_epoch(epoch)`` at the start of each epoch. After each call ``last_terms`` holds
    detached scalars: "main", "branch1".., "eta1".., the base loss's own components for the
    main output as "main/<name>", and "total". A branch whose weight is 0 is not evaluated.
    """

    def __init__(self, base: nn.Module, schedule: BranchWeightSchedule | str = "dsn2016", **overrides: Any) -> None:
        super().__init__()
        self.base = base
        self.schedule = build_schedule(schedule, **overrides) if isinstance(schedule, str) else \
            _with_overrides(schedule, overrides)
        self.epoch = 0
        self.last_terms: dict[str, torch.Tensor] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def branch_weights(self, num_branches: int) -> tuple[float, ...]:
        """The branch weights at the current epoch."""
        return self.schedule.weights(self.epoch, num_branches)

    def forward(self, output: SegmentationOutput | torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if isinstance(output, torch.Tensor):
            output = SegmentationOutput(output)
        main = self.base(output.main, target)
        terms: dict[str, torch.Tensor] = {"main": main.detach()}
        for key, value in getattr(self.base, "last_terms", {}).items():
            terms[f"main/{key}"] = value
        total = main
        for d, (eta, branch) in enumerate(zip(self.branch_weights(len(output.branches)), output.branches), start=1):
            terms[f"eta{d}"] = torch.tensor(eta)
            if eta == 0.0:
                continue
            value = self.base(branch, target)
            terms[f"branch{d}"] = value.detach()
            total = total + eta * value
        terms["total"] = total.detach()
        self.last_terms = terms
        return total
