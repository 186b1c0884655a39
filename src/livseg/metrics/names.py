"""The names metrics are reported under, as plain constants (no NumPy or SciPy import), so that
command-line choices and table layouts can list them cheaply."""

from __future__ import annotations

#: Structures and the labels they cover: liver = labels 1 and 2 (LiTS), tumour = label 2.
STRUCTURES: dict[str, tuple[int, ...]] = {"liver": (1, 2), "tumour": (2,)}

#: Per-structure measures, in table order (all floats, or None where undefined).
STRUCTURE_MEASURES: tuple[str, ...] = (
    "dice", "jaccard", "voe_pct", "rvd_pct", "fpr", "fnr",
    "assd_mm", "rmssd_mm", "mssd_mm", "hd95_mm", "hd95_directed_max_mm", "surface_dice",
    "sliver07_score", "sliver07_voe", "sliver07_rvd", "sliver07_assd", "sliver07_rmssd", "sliver07_mssd",
    "reference_volume_ml", "prediction_volume_ml",
)

#: Surface-Dice tolerance, mm.
DEFAULT_TOLERANCE_MM = 1.0
