"""Every measure of one case: per structure (liver, tumour), lesion detection, tumour burden.

Empty-mask policy (per structure; the ``empty`` field says which case applies and summaries
count each kind):

=============  ==========================  =======================  =========================
``empty``      overlap                     distances                SLiver07 scores
=============  ==========================  =======================  =========================
"none"         as defined                  as defined               as defined
"both"         Dice 1, VOE 0, RVD 0        all 0, surface Dice 1    100 each
"reference"    Dice 0, VOE 100, RVD None   None, surface Dice 0     0 each
"prediction"   Dice 0, VOE 100, RVD -100   None, surface Dice 0     0 each
=============  ==========================  =======================  =========================

``None`` means undefined; it is JSON null, an empty CSV cell, and is left out of (and counted
next to) every mean, so no average ever hides a NaN.

*Not assessed* is another thing: a prediction made without a tumour model says nothing about
tumours, so scoring its (empty) tumour label would report a failure (Dice 0, "0 of 79 lesions
detected") that is only an absence. ``evaluate_case(..., structures=("liver",))`` leaves such
a structure out of ``CaseMetrics.structures``; its lesions and tumour burden are None, and
``as_dict`` writes ``{"assessed": false}`` in their place, never a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from livseg.errors import ConfigError
from livseg.metrics.lits import LesionDetection, detect_lesions, tumour_burden
from livseg.metrics.masks import MaskLike, mask_pair
from livseg.metrics.names import DEFAULT_TOLERANCE_MM, STRUCTURE_MEASURES
from livseg.metrics.overlap import ConfusionCounts, counts_of, overlap_from_counts
from livseg.metrics.sliver07 import Sliver07Scores, sliver07_scores
from livseg.metrics.structures import STRUCTURES, check_label_map, structure_mask
from livseg.metrics.surface import surface_distances
from livseg.volume import Volume



@dataclass(frozen=True)
class StructureMetrics:
    """All measures of one structure in one case (see the module docstring for None)."""

    structure: str
    counts: ConfusionCounts
    dice: float
    jaccard: float
    voe_pct: float
    rvd_pct: float | None
    fpr: float | None
    fnr: float | None
    assd_mm: float | None
    rmssd_mm: float | None
    mssd_mm: float | None
    hd95_mm: float | None
    hd95_directed_max_mm: float | None
    surface_dice: float
    surface_dice_tolerance_mm: float
    sliver07: Sliver07Scores
    reference_volume_ml: float
    prediction_volume_ml: float

    @property
    def empty(self) -> str:
        return self.counts.empty

    @property
    def sliver07_score(self) -> float:
        return self.sliver07.score

    def value(self, measure: str) -> float | None:
        """One measure by its table name (``STRUCTURE_MEASURES``)."""
        if measure.startswith("sliver07_") and measure != "sliver07_score":
            return getattr(self.sliver07, measure[len("sliver07_"):])
        return getattr(self, measure)

    def as_dict(self) -> dict:
        """Flat dict: every measure, ``empty``, the tolerance and the voxel counts."""
        out: dict = {"empty": self.empty}
        out.update({name: self.value(name) for name in STRUCTURE_MEASURES})
        out["surface_dice_tolerance_mm"] = self.surface_dice_tolerance_mm
        out.update({"tp": self.counts.tp, "fp": self.counts.fp, "fn": self.counts.fn})
        return out


def evaluate_structure(reference: MaskLike, prediction: MaskLike, *, structure: str = "mask",
                       spacing_mm: Sequence[float] | None = None,
                       tolerance_mm: float = DEFAULT_TOLERANCE_MM, method: str = "edt") -> StructureMetrics:
    """Overlap, surface and SLiver07 measures of one binary pair.

    Args:
        reference, prediction: binary masks (Volumes, or arrays (z, y, x) + spacing_mm (x, y, z)).
        structure: name recorded in the result ("liver", "tumour", ...).
        tolerance_mm: surface-Dice tolerance, mm.
        method: surface-distance method, "edt" or "kdtree" (identical values).
    """
    pair = mask_pair(reference, prediction, spacing_mm=spacing_mm)
    ref, pred = pair.reference, pair.prediction
    counts = counts_of(ref, pred, voxel_volume_mm3=pair.voxel_volume_mm3)
    overlap = overlap_from_counts(counts)
    distances = surface_distances(ref, pred, spacing_mm=pair.spacing_mm, method=method)
    assd, rmssd, mssd = distances.assd_mm, distances.rmssd_mm, distances.mssd_mm
    return StructureMetrics(
        structure=structure, counts=counts,
        dice=overlap.dice, jaccard=overlap.jaccard, voe_pct=overlap.voe_pct, rvd_pct=overlap.rvd_pct,
        fpr=overlap.fpr, fnr=overlap.fnr,
        assd_mm=assd, rmssd_mm=rmssd, mssd_mm=mssd, hd95_mm=distances.hd95_mm,
        hd95_directed_max_mm=distances.hd95_directed_max_mm,
        surface_dice=distances.surface_dice(tolerance_mm), surface_dice_tolerance_mm=float(tolerance_mm),
        sliver07=_sliver07(overlap.empty, overlap.voe_pct, overlap.rvd_pct, assd, rmssd, mssd),
        reference_volume_ml=overlap.reference_volume_ml, prediction_volume_ml=overlap.prediction_volume_ml,
    )


def _sliver07(empty: str, voe, rvd, assd, rmssd, mssd) -> Sliver07Scores:
    if empty in ("reference", "prediction"):
        # One mask empty: the segmentation failed outright; every measure scores 0.
        return Sliver07Scores(0.0, 0.0, 0.0, 0.0, 0.0)
    return sliver07_scores(voe_pct=voe, rvd_pct=rvd, assd_mm=assd, rmssd_mm=rmssd, mssd_mm=mssd)


NOT_ASSESSED: dict = {"assessed": False}


@dataclass(frozen=True)
class CaseMetrics:
    """Every measure of one case.

    Attributes:
        case_id: the case's identifier.
        structures: assessed structure ("liver", "tumour") -> StructureMetrics; a structure
            the prediction did not assess (no tumour model ran) is absent.
        lesions: lesion-wise tumour detection (LiTS, IoU > 0.5); None when the tumour was not
            assessed.
        reference_tumour_burden, prediction_tumour_burden: tumour / liver volume (None: no
            liver, or the tumour was not assessed).
    """

    case_id: str
    structures: dict[str, StructureMetrics]
    lesions: LesionDetection | None
    reference_tumour_burden: float | None
    prediction_tumour_burden: float | None

    @property
    def assessed(self) -> tuple[str, ...]:
        """The structures evaluated, in ``STRUCTURES`` order."""
        return tuple(name for name in STRUCTURES if name in self.structures)

    @property
    def tumour_assessed(self) -> bool:
        return "tumour" in self.structures

    @property
    def tumour_burden_error(self) -> float | None:
        """|prediction burden - reference burden|; None when either has no liver or no tumour was assessed."""
        if self.reference_tumour_burden is None or self.prediction_tumour_burden is None:
            return None
        return abs(self.prediction_tumour_burden - self.reference_tumour_burden)

    def as_dict(self) -> dict:
        """{"case_id", "liver", "tumour", "lesions", "tumour_burden"}; ``{"assessed": false}`` for what was not assessed."""
        out: dict = {"case_id": self.case_id}
        for name in STRUCTURES:
            metrics = self.structures.get(name)
            out[name] = dict(NOT_ASSESSED) if metrics is None else {"assessed": True, **metrics.as_dict()}
        if not self.tumour_assessed or self.lesions is None:
            out["lesions"] = dict(NOT_ASSESSED)
            out["tumour_burden"] = dict(NOT_ASSESSED)
            return out
        out["lesions"] = self.lesions.as_dict()
        out["tumour_burden"] = {"reference": self.reference_tumour_burden,
                                "prediction": self.prediction_tumour_burden,
                                "error": self.tumour_burden_error}
        return out


def check_structures(structures: Sequence[str]) -> tuple[str, ...]:
    """``structures`` as a tuple in ``STRUCTURES`` order, after checking the names.

    Raises:
        ConfigError: an unknown name, or none at all.
    """
    names = [str(name).strip() for name in structures]
    unknown = [name for name in names if name not in STRUCTURES]
    if unknown or not names:
        raise ConfigError("structures", expected=f"one or more of {', '.join(STRUCTURES)}",
                          found=", ".join(unknown) if unknown else "none",
                          fix="e.g. --structures liver, or --structures liver,tumour")
    return tuple(name for name in STRUCTURES if name in names)


def evaluate_case(reference: Volume | np.ndarray, prediction: Volume | np.ndarray, *,
                  case_id: str = "case", spacing_mm: Sequence[float] | None = None,
                  tolerance_mm: float = DEFAULT_TOLERANCE_MM, connectivity: int = 6,
                  method: str = "edt", structures: Sequence[str] = tuple(STRUCTURES)) -> CaseMetrics:
    """Evaluate a predicted 0/1/2 label map against the reference label map.

    Args:
        reference, prediction: label maps (0 background, 1 liver, 2 tumour) as Volumes on one
            grid, or arrays (z, y, x) with ``spacing_mm`` (x, y, z) in mm.
        case_id: recorded in the result.
        tolerance_mm: surface-Dice tolerance, mm.
        connectivity: lesion connectivity for detection (6 as LiTS).
        structures: the structures the prediction assessed (default both); e.g. ("liver",)
            for a prediction made without a tumour model: the tumour is then not scored at
            all (absent from ``structures``, lesions and burden None), never scored as missed.

    Raises:
        ConfigError: an unknown structure name. InvalidImageError: a map with other labels.
    """
    assessed = check_structures(structures)
    check_label_map(reference, subject=_name(reference, "reference"))
    check_label_map(prediction, subject=_name(prediction, "prediction"))
    results = {}
    for name in assessed:
        ref_mask = _as_mask_input(reference, name)
        pred_mask = _as_mask_input(prediction, name)
        results[name] = evaluate_structure(ref_mask, pred_mask, structure=name, spacing_mm=spacing_mm,
                                           tolerance_mm=tolerance_mm, method=method)
    if "tumour" not in assessed:
        return CaseMetrics(case_id=case_id, structures=results, lesions=None,
                           reference_tumour_burden=None, prediction_tumour_burden=None)
    lesions = detect_lesions(_as_mask_input(reference, "tumour"), _as_mask_input(prediction, "tumour"),
                             spacing_mm=spacing_mm, connectivity=connectivity)
    return CaseMetrics(case_id=case_id, structures=results, lesions=lesions,
                       reference_tumour_burden=tumour_burden(reference),
                       prediction_tumour_burden=tumour_burden(prediction))


def _name(labels: Volume | np.ndarray, fallback: str) -> str:
    return labels.source if isinstance(labels, Volume) else f"{fallback} label array"


def _as_mask_input(labels: Volume | np.ndarray, structure: str) -> Volume | np.ndarray:
    mask = structure_mask(labels, structure)
    return labels.with_array(mask) if isinstance(labels, Volume) else mask
