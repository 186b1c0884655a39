"""An automatic quality flag: does this liver mask need a human look? No reference needed.

The pipeline already computes what betrays a bad mask; :class:`QualitySignals` keeps six
measurements of one prediction, each 0 for a perfect-looking case and growing as it looks worse:

* ``branch_disagreement``: 1 - soft Dice between the liver probability of the network's main
  output and the mean of its deep-supervision branches, summed over every sliding window. The
  outputs see the same window through different depths; they agree on anatomy the network
  knows and drift apart on what it never saw (noise, another body part, another contrast).
* ``crf_changed``: voxels whose label the dense CRF changed, over the liver's voxels. A CRF
  that rewrites much of the mask corrects a network that was unsure of its boundary.
* ``uncertain``: voxels with liver probability between 0.25 and 0.75, over voxels above 0.5,
  on the network's grid (the probability mass near 0.5 at the boundary: about one boundary
  layer for a confident mask, far more for a hesitant one).
* ``removed``: foreground voxels that post-processing removed (components other than the
  liver's), over the foreground before it.
* ``volume_deviation``: how far the liver volume lies from real livers', in standard
  deviations of log volume: the reference is 18 real livers (the 16 expert masks of
  3D-IRCADb-01 in ``../shared/data/ircadb-masks``, the CHAOS expert mask and the
  TotalSegmentator example), geometric mean 1,520 mL, log-volume SD 0.19 (:data:`REFERENCE_LIVER_ML`).
* ``fov_cut``: the liver's area on the first or last slice of the scan (head-feet), over its
  largest slice: near 0 when the scan holds the whole liver, near 1 when the field of view
  cuts through it (volume, and often the mask, are then incomplete).

:func:`assess` turns them into a score and a flag by one documented rule:

* the **score** ranks masks by how likely they are wrong: the largest of the four mask
  signals (branch disagreement, CRF change, uncertainty, removed) each divided by its limit
  (:data:`MASK_LIMITS`); :data:`MAX_SCORE` when no liver was found;
* two **plausibility checks** say whether the liver in the mask can be the patient's whole
  liver: volume deviation and field-of-view cut beyond their limits (:data:`PLAUSIBILITY_LIMITS`).
  A mask can be right voxel for voxel and still fail them (a scan that stops at the liver's
  dome; a header with the wrong spacing, whose mL are then wrong): they flag the case without
  raising its score;
* the **flag** is ``"review"`` when the score is >= 1, a plausibility check fails, or no liver
  was found; else ``"ok"``. ``reasons`` names what fired.

The limits were fixed before measuring, above what well-segmented cases showed. bench/qc.py
reports, on real cases, cases made to fail and phantoms, the rank correlation of the score with
the true Dice, how many of the worst cases get flagged and how many good ones are flagged
needlessly, and the correlation of each signal (bench/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Liver volumes (mL) of 18 real livers: 3D-IRCADb-01 patients 2-6, 8-16, 18, 19 (expert
#: masks), the CHAOS CT case (expert) and the TotalSegmentator example (model-made), counted
#: from their label files on their own grids.
REFERENCE_LIVER_ML: tuple[float, ...] = (
    1612.5, 1159.7, 1247.6, 2078.7, 1789.1, 1619.0, 1929.0, 1622.3, 1404.0, 1543.7, 1486.2,
    1355.0, 1359.6, 2118.1, 1680.8, 1153.3, 1417.5, 1125.7)

_LOG_VOLUMES = np.log(np.asarray(REFERENCE_LIVER_ML))
#: Mean and standard deviation of the reference livers' log volume (ln mL).
LOG_VOLUME_MEAN = float(_LOG_VOLUMES.mean())
LOG_VOLUME_SD = float(_LOG_VOLUMES.std(ddof=1))

#: The mask signals' limits: the score is the largest signal / limit.
MASK_LIMITS: dict[str, float] = {
    "branch_disagreement": 0.25,
    "crf_changed": 0.15,
    "uncertain": 0.40,
    "removed": 0.20,
}
#: The plausibility checks' limits: at or beyond them the case is flagged, its score unchanged.
PLAUSIBILITY_LIMITS: dict[str, float] = {
    "volume_deviation": 3.0,   # SDs of log volume: outside about 870 - 2,700 mL
    "fov_cut": 0.30,
}
#: Every limit.
LIMITS: dict[str, float] = {**MASK_LIMITS, **PLAUSIBILITY_LIMITS}


#: The largest score (an empty mask's: its volume deviation is infinite).
MAX_SCORE = 1000.0


@dataclass
class QualitySignals:
    """The measurements of one prediction (module docstring); None: not measured (a network
    without branches, the CRF off)."""

    branch_disagreement: float | None
    crf_changed: float | None
    uncertain: float
    removed: float
    volume_deviation: float
    fov_cut: float
    liver_ml: float


def volume_deviation(liver_ml: float) -> float:
    """|ln(liver_ml) - mean| / SD over the reference livers (inf for an empty mask)."""
    if liver_ml <= 0:
        return math.inf
    return abs(math.log(liver_ml) - LOG_VOLUME_MEAN) / LOG_VOLUME_SD


def uncertain_fraction(liver_probability: np.ndarray) -> float:
    """Voxels with 0.25 < p < 0.75 over voxels with p > 0.5 (``liver_probability`` any float
    array; 0 when nothing is above 0.5)."""
    above = int(np.count_nonzero(liver_probability > 0.5))
    if above == 0:
        return 0.0
    unsure = int(np.count_nonzero((liver_probability > 0.25) & (liver_probability < 0.75)))
    return unsure / above


def fov_cut_fraction(liver: np.ndarray, axial_axis: int) -> float:
    """The liver's area on the first or last slice along ``axial_axis`` over its largest
    slice's area (0 for an empty mask).

    Args:
        liver: bool (z, y, x) liver mask.
        axial_axis: the array axis that runs head-feet.
    """
    other = tuple(axis for axis in range(3) if axis != axial_axis)
    areas = np.count_nonzero(liver, axis=other)
    largest = int(areas.max()) if areas.size else 0
    if largest == 0:
        return 0.0
    return max(int(areas[0]), int(areas[-1])) / largest


def changed_fraction(before: np.ndarray, after: np.ndarray, liver_voxels: int) -> float:
    """Voxels whose label differs between ``before`` and ``after``, over ``liver_voxels``."""
    return int(np.count_nonzero(before != after)) / max(1, liver_voxels)


def removed_fraction(before: np.ndarray, after: np.ndarray) -> float:
    """Foreground voxels of ``before`` that are background in ``after``, over ``before``'s foreground."""
    foreground = before != 0
    total = int(np.count_nonzero(foreground))
    if total == 0:
        return 0.0
    return int(np.count_nonzero(foreground & (after == 0))) / total


def assess(signals: QualitySignals) -> dict[str, Any]:
    """The quality check of one prediction.

    Returns:
        {"qc": "ok" | "review", "score": float (the largest mask signal / limit; >= 1 means
        review; capped at :data:`MAX_SCORE`, which an empty mask gets),
        "reasons": [names of signals at or beyond their limits, or "no liver found"],
        "signals": {name: value}} (JSON-ready: an infinite value is written as None).
    """
    values = asdict(signals)
    ratios = {name: values[name] / limit for name, limit in LIMITS.items() if values[name] is not None}
    reasons = [name for name, ratio in ratios.items() if ratio >= 1.0]
    mask_ratios = [ratio for name, ratio in ratios.items() if name in MASK_LIMITS]
    score = max(mask_ratios) if mask_ratios else 0.0
    if signals.liver_ml <= 0:
        reasons, score = ["no liver found"], MAX_SCORE
    score = min(MAX_SCORE, score)
    finite = {name: (None if value is not None and not math.isfinite(value) else value)
              for name, value in values.items()}
    return {"qc": "review" if reasons else "ok", "score": round(score, 4),
            "reasons": reasons, "signals": {k: (None if v is None else round(float(v), 5)) for k, v in finite.items()}}
