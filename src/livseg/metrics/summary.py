"""Summaries over cases: mean, std, median per structure and measure, with honest counts.

Every statistic states how many cases contributed (``n``) and how many had the measure
undefined (``n_undefined``, e.g. a distance when one mask was empty); undefined values are left
out, never averaged as NaN. ``std`` is the sample standard deviation (ddof = 1), None for
fewer than two values. Each structure also reports how many cases fell under each branch of the
empty-mask policy and the LiTS global Dice; lesion detection is pooled over cases (sum of
matches / sum of lesions); the tumour-burden error gets LiTS' RMSE and maximum.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from livseg.metrics.case import STRUCTURE_MEASURES, CaseMetrics
from livseg.metrics.lits import LesionDetection
from livseg.metrics.overlap import dice_global
from livseg.metrics.structures import STRUCTURES

EMPTY_KINDS = ("none", "both", "reference", "prediction")


def describe(values: Iterable[float | None]) -> dict:
    """{"mean", "std", "median", "min", "max", "n", "n_undefined"} of the defined values."""
    values = list(values)
    defined = np.asarray([v for v in values if v is not None], dtype=float)
    n = int(defined.size)
    stats: dict = {"n": n, "n_undefined": len(values) - n}
    if n == 0:
        stats.update(mean=None, std=None, median=None, min=None, max=None)
        return stats
    stats.update(mean=float(defined.mean()), std=float(defined.std(ddof=1)) if n > 1 else None,
                 median=float(np.median(defined)), min=float(defined.min()), max=float(defined.max()))
    return stats


def summarize(cases: Sequence[CaseMetrics]) -> dict:
    """Summary of several evaluated cases (see the module docstring)."""
    summary: dict = {"n_cases": len(cases), "structures": {}}
    for name in STRUCTURES:
        per_case = [case.structures[name] for case in cases]
        empty_counts = {kind: sum(1 for m in per_case if m.empty == kind) for kind in EMPTY_KINDS}
        summary["structures"][name] = {
            "n_empty": empty_counts,
            "dice_global": dice_global(m.counts for m in per_case),
            "measures": {measure: describe(m.value(measure) for m in per_case)
                         for measure in STRUCTURE_MEASURES},
        }
    pooled = sum((case.lesions for case in cases), LesionDetection(0, 0, 0, 0))
    summary["lesions"] = pooled.as_dict()
    errors = [case.tumour_burden_error for case in cases]
    burden = describe(errors)
    defined = np.asarray([e for e in errors if e is not None], dtype=float)
    burden["rmse"] = float(np.sqrt(np.mean(defined ** 2))) if defined.size else None
    summary["tumour_burden_error"] = burden
    return summary
