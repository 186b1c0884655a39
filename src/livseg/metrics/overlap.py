"""Overlap measures, all derived from one confusion count per pair.

Counts first, scores derived (as segmentation_models.pytorch does): a pair is reduced once to
``ConfusionCounts(tp, fp, fn, tn)``; Dice, Jaccard, VOE, RVD, FPR and FNR are arithmetic on
those four integers, and counts of several cases add up (for LiTS' global Dice).

Definitions (R = reference voxels, P = predicted voxels, |.| = voxel count):

* Dice    = 2 |R ∩ P| / (|R| + |P|) = 2 TP / (2 TP + FP + FN)
* Jaccard = |R ∩ P| / |R ∪ P| = TP / (TP + FP + FN)
* VOE %   = 100 (1 - Jaccard)                      (SLiver07 "volumetric overlap error")
* RVD %   = 100 (|P| - |R|) / |R|, signed           (SLiver07 "VD"; > 0 = over-segmentation)
* FPR     = FP / (FP + TN)                          (TN depends on the field of view)
* FNR     = FN / (FN + TP)

Empty masks (the policy, also in :mod:`livseg.metrics.case`):

* both empty: Dice 1, Jaccard 1, VOE 0, RVD 0, FNR 0 (nothing to find, nothing found);
* reference empty, prediction not: Dice 0, Jaccard 0, VOE 100, RVD and FNR undefined (None);
* prediction empty, reference not: Dice 0, Jaccard 0, VOE 100, RVD -100, FNR 1.

Undefined values are ``None`` (JSON null), never NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from livseg.metrics.masks import MaskLike, mask_pair


@dataclass(frozen=True)
class ConfusionCounts:
    """Voxel counts of one (reference, prediction) pair, and the voxel volume they stand for.

    Attributes:
        tp: voxels in both; fp: predicted only; fn: reference only; tn: in neither.
        voxel_volume_mm3: volume of one voxel (mm^3); used for the volumes in ml.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    voxel_volume_mm3: float

    @property
    def reference_voxels(self) -> int:
        return self.tp + self.fn

    @property
    def prediction_voxels(self) -> int:
        return self.tp + self.fp

    @property
    def reference_volume_ml(self) -> float:
        return self.reference_voxels * self.voxel_volume_mm3 / 1000.0

    @property
    def prediction_volume_ml(self) -> float:
        return self.prediction_voxels * self.voxel_volume_mm3 / 1000.0

    @property
    def empty(self) -> str:
        """Which masks are empty: "none", "both", "reference" or "prediction"."""
        ref_empty, pred_empty = self.reference_voxels == 0, self.prediction_voxels == 0
        if ref_empty and pred_empty:
            return "both"
        if ref_empty:
            return "reference"
        if pred_empty:
            return "prediction"
        return "none"

    def scores(self) -> "OverlapScores":
        """The overlap measures derived from these counts (see the module docstring)."""
        return overlap_from_counts(self)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OverlapScores:
    """Overlap measures of one pair; ``None`` where undefined (see the empty-mask policy)."""

    dice: float
    jaccard: float
    voe_pct: float
    rvd_pct: float | None
    fpr: float | None
    fnr: float | None
    reference_volume_ml: float
    prediction_volume_ml: float
    empty: str

    def as_dict(self) -> dict:
        return asdict(self)


def confusion_counts(reference: MaskLike, prediction: MaskLike, *,
                     spacing_mm: Sequence[float] | None = None) -> ConfusionCounts:
    """Count TP, FP, FN, TN of a binary pair (Volumes, or arrays (z, y, x) + spacing_mm (x, y, z))."""
    pair = mask_pair(reference, prediction, spacing_mm=spacing_mm)
    return counts_of(pair.reference, pair.prediction, voxel_volume_mm3=pair.voxel_volume_mm3)


def counts_of(reference: np.ndarray, prediction: np.ndarray, *, voxel_volume_mm3: float) -> ConfusionCounts:
    """ConfusionCounts of two already-checked bool arrays of one shape."""
    tp = int(np.count_nonzero(reference & prediction))
    n_ref = int(np.count_nonzero(reference))
    n_pred = int(np.count_nonzero(prediction))
    fp, fn = n_pred - tp, n_ref - tp
    tn = int(reference.size) - tp - fp - fn
    return ConfusionCounts(tp=tp, fp=fp, fn=fn, tn=tn, voxel_volume_mm3=voxel_volume_mm3)


def overlap_from_counts(counts: ConfusionCounts) -> OverlapScores:
    """Dice, Jaccard, VOE %, RVD %, FPR, FNR from one confusion count."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    n_ref, n_pred = counts.reference_voxels, counts.prediction_voxels
    empty = counts.empty
    if empty == "both":
        dice = jaccard = 1.0
    else:
        dice = 2.0 * tp / (n_ref + n_pred)
        jaccard = tp / (tp + fp + fn)
    rvd = None if n_ref == 0 else 100.0 * (n_pred - n_ref) / n_ref
    if empty == "both":
        rvd = 0.0
    fpr = None if fp + tn == 0 else fp / (fp + tn)
    fnr = (0.0 if empty == "both" else None) if n_ref == 0 else fn / n_ref
    return OverlapScores(dice=dice, jaccard=jaccard, voe_pct=100.0 * (1.0 - jaccard), rvd_pct=rvd,
                         fpr=fpr, fnr=fnr, reference_volume_ml=counts.reference_volume_ml,
                         prediction_volume_ml=counts.prediction_volume_ml, empty=empty)


def overlap_scores(reference: MaskLike, prediction: MaskLike, *,
                   spacing_mm: Sequence[float] | None = None) -> OverlapScores:
    """Overlap measures of a binary pair (Volumes, or arrays (z, y, x) + spacing_mm (x, y, z))."""
    return overlap_from_counts(confusion_counts(reference, prediction, spacing_mm=spacing_mm))


def dice_global(counts: Iterable[ConfusionCounts]) -> float | None:
    """LiTS "Dice global": 2 sum(TP) / sum(|R| + |P|) over all cases' voxels.

    Returns None when every case has both masks empty (0/0), 1.0 never by convention.
    """
    tp = denominator = 0
    for item in counts:
        tp += item.tp
        denominator += item.reference_voxels + item.prediction_voxels
    return None if denominator == 0 else 2.0 * tp / denominator
