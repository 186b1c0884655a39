"""Segmentation metrics in millimetres on the volumes' real grids: SLiver07 and LiTS measures.

Each metric is a pure function of two masks or label maps on the same grid: two Volumes, or two
arrays (z, y, x) plus ``spacing_mm`` in (x, y, z) order (mandatory: nothing is measured in
voxels by default). Overlap comes from one confusion count, surface measures from one set of
border-to-border distances.

Typical use::

    from livseg.metrics import evaluate_case
    result = evaluate_case(reference_labels, predicted_labels, case_id="liver-001")
    result.structures["liver"].dice, result.structures["liver"].assd_mm
    liver_only = evaluate_case(reference_labels, predicted_labels, structures=("liver",))
    "tumour" in liver_only.structures        # False: not assessed, never a score

Modules: ``overlap`` (Dice, Jaccard, VOE, RVD, FPR, FNR, global Dice), ``surface`` (ASSD,
RMSSD, MSSD, HD95, surface Dice), ``sliver07`` (0-100 scores), ``lits`` (lesion detection,
tumour burden), ``case`` (all of it for one case, and the empty-mask policy), ``summary``
(mean/std/median over cases), ``structures`` (liver = labels 1+2, tumour = 2).
"""

from __future__ import annotations

from livseg.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "livseg.metrics.names": ("DEFAULT_TOLERANCE_MM", "STRUCTURES", "STRUCTURE_MEASURES"),
    "livseg.metrics.case": ("CaseMetrics", "StructureMetrics", "check_structures", "evaluate_case", "evaluate_structure"),
    "livseg.metrics.lits": ("LesionDetection", "detect_lesions", "tumour_burden", "tumour_burden_error"),
    "livseg.metrics.masks": ("MaskPair", "mask_pair"),
    "livseg.metrics.overlap": ("ConfusionCounts", "OverlapScores", "confusion_counts", "dice_global", "overlap_from_counts", "overlap_scores"),
    "livseg.metrics.sliver07": ("HUMAN_REFERENCE", "Sliver07Scores", "sliver07_scores"),
    "livseg.metrics.structures": ("check_label_map", "structure_mask"),
    "livseg.metrics.summary": ("describe", "summarize"),
    "livseg.metrics.surface": ("SurfaceDistances", "border_voxels", "surface_distances"),
})


__all__ = [
    "CaseMetrics", "ConfusionCounts", "HUMAN_REFERENCE", "LesionDetection", "MaskPair", "OverlapScores",
    "STRUCTURES", "STRUCTURE_MEASURES", "Sliver07Scores", "StructureMetrics", "SurfaceDistances",
    "border_voxels", "check_label_map", "check_structures", "confusion_counts", "describe", "detect_lesions", "dice_global",
    "evaluate_case", "evaluate_structure", "mask_pair", "overlap_from_counts", "overlap_scores",
    "sliver07_scores", "structure_mask", "summarize", "surface_distances", "tumour_burden",
    "tumour_burden_error",
]
