"""Summaries over cases: mean, std, median per structure and measure, with honest counts.

Every statistic states how many cases contributed (``n``) and how many had the measure
undefined (``n_undefined``, e.g. a distance when one mask was empty); undefined values are left
out, never averaged as NaN. ``std`` is the sample standard deviation (ddof = 1), None for
fewer than two values. Each structure also reports how many cases fell under each branch of the
empty-mask policy and the LiTS global Dice; lesion detection is pooled over cases (sum of
matches / sum of lesions); the tumour-burden error gets LiTS' RMSE and maximum.

A structure that a case did not assess (a prediction made without a tumour model) is left out
of that structure's statistics and counted as ``n_not_assessed``, never scored.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from livseg.metrics.case import STRUCTURE_MEASURES, CaseMetrics
from livseg.metrics.lits import LesionDetection
from livseg.metrics.overlap import dice_global
from livseg.metrics.structures import STRUCTURES

EMPTY_KINDS = ("none", "both", "reference", "prediction")
#: What a summary says of a structure that no case assessed (no tumour model ran for any).
NOT_ASSESSED_NOTE = "not assessed in any case (no prediction segmented it)"


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
    """Summary of several evaluated cases (see the module docstring).

    Each structure counts only the cases that assessed it: its block has ``assessed`` (True
    when at least one case did), ``n_assessed`` and ``n_not_assessed``; when no case assessed
    it, ``note`` says so, every statistic is None with n 0 and ``dice_global`` is None. The
    lesions and the tumour-burden error pool the cases that assessed the tumour; when none did,
    they are ``{"assessed": False, "n_not_assessed": N, "note": ...}``.
    """
    summary: dict = {"n_cases": len(cases), "structures": {}}
    for name in STRUCTURES:
        per_case = [case.structures[name] for case in cases if name in case.structures]
        empty_counts = {kind: sum(1 for m in per_case if m.empty == kind) for kind in EMPTY_KINDS}
        block: dict = {
            "assessed": bool(per_case),
            "n_assessed": len(per_case),
            "n_not_assessed": len(cases) - len(per_case),
            "n_empty": empty_counts,
            "dice_global": dice_global(m.counts for m in per_case) if per_case else None,
            "measures": {measure: describe(m.value(measure) for m in per_case)
                         for measure in STRUCTURE_MEASURES},
        }
        if not per_case:
            block["note"] = NOT_ASSESSED_NOTE
        summary["structures"][name] = block
    tumour_cases = [case for case in cases if case.tumour_assessed and case.lesions is not None]
    not_assessed = len(cases) - len(tumour_cases)
    if not tumour_cases:
        missing = {"assessed": False, "n_not_assessed": not_assessed, "note": NOT_ASSESSED_NOTE}
        summary["lesions"] = dict(missing)
        summary["tumour_burden_error"] = dict(missing)
        return summary
    pooled = sum((case.lesions for case in tumour_cases), LesionDetection(0, 0, 0, 0))  # type: ignore[misc]
    summary["lesions"] = {**pooled.as_dict(), "n_not_assessed": not_assessed}
    errors = [case.tumour_burden_error for case in tumour_cases]
    burden = describe(errors)
    defined = np.asarray([e for e in errors if e is not None], dtype=float)
    burden["rmse"] = float(np.sqrt(np.mean(defined ** 2))) if defined.size else None
    burden["n_not_assessed"] = not_assessed
    summary["tumour_burden_error"] = burden
    return summary
