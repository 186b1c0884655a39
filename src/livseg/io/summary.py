"""A JSON-ready description of a Volume: grid, intensities, labels (what ``livseg info`` shows)."""

from __future__ import annotations

import math

import numpy as np

from livseg.io.content import MAX_LABELS, integer_histogram, non_finite_counts, value_counts
from livseg.volume import Volume

PERCENTILES = (1, 5, 50, 95, 99)
_DICOM_KEYS = ("series_uid", "series_description", "modality", "slices", "slice_step_mm",
               "rescale", "files_skipped")


def _number(value: float) -> float | int:
    """Plain Python number for JSON: whole numbers as int."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _histogram_stats(low: int, counts: np.ndarray) -> dict:
    """Mean, std and linear-interpolated percentiles (numpy's default method) from a histogram."""
    values = np.arange(low, low + counts.size, dtype=np.float64)
    total = int(counts.sum())
    mean = float((values * counts).sum() / total)
    variance = float((((values - mean) ** 2) * counts).sum() / total)
    cumulative = np.cumsum(counts)
    percentiles = {}
    for q in PERCENTILES:
        position = (total - 1) * q / 100.0
        below, above = math.floor(position), math.ceil(position)
        v_below = low + int(np.searchsorted(cumulative, below, side="right"))
        v_above = low + int(np.searchsorted(cumulative, above, side="right"))
        percentiles[f"p{q}"] = _number(v_below + (position - below) * (v_above - v_below))
    return {"mean": mean, "std": math.sqrt(variance), "percentiles": percentiles}


def intensity_stats(array: np.ndarray) -> dict:
    """min, max, mean, std and percentiles 1, 5, 50, 95, 99 of all voxels.

    Percentiles use numpy's default (linear) definition; integer data is summarised from
    an exact histogram, which needs no sorted copy of the volume.
    """
    stats: dict = {"min": _number(array.min()), "max": _number(array.max())}
    histogram = integer_histogram(array)
    if histogram is not None:
        stats.update(_histogram_stats(*histogram))
    else:
        values = np.percentile(array, PERCENTILES)
        stats["mean"] = float(np.mean(array, dtype=np.float64))
        stats["std"] = float(np.std(array, dtype=np.float64))
        stats["percentiles"] = {f"p{q}": _number(v) for q, v in zip(PERCENTILES, values)}
    return stats


def label_table(volume: Volume) -> list[dict] | None:
    """[{value, voxels, volume_ml}] for each label present, or None when not a label map.

    ``volume_ml`` is None when the spacing is unknown.
    """
    array = volume.array
    if array.dtype.kind not in "iub" or (array.size and int(array.min()) < 0):
        return None
    counts = value_counts(array, limit=MAX_LABELS)
    if counts is None:
        return None
    voxel_ml = volume.geometry.voxel_volume_mm3 / 1000.0 if volume.spacing_known else None
    return [{"value": int(value), "voxels": count,
             "volume_ml": None if voxel_ml is None else count * voxel_ml}
            for value, count in counts.items()]


def finite_values(array: np.ndarray) -> np.ndarray:
    """``array`` itself, or its finite values (1D) when it holds NaN or infinite voxels."""
    if array.dtype.kind != "f":
        return array
    finite = np.isfinite(array)
    return array if finite.all() else array[finite]


def summarize(volume: Volume, *, label: bool | None = None) -> dict:
    """Describe ``volume`` as a JSON-ready dict.

    Args:
        volume: any volume.
        label: True to describe it as a label map, False as an image, None to decide:
            integer data >= 0 with at most 256 distinct values is a label map.

    Returns:
        dict with source, format, size (x, y, z voxels), spacing_mm (None when unknown),
        origin_mm, direction (9 numbers, row-major) and orientation (None when the file
        records no orientation), dtype, intensity {min, max, mean, std, percentiles} of the
        finite voxels, non_finite {nan, inf} counts, is_label, labels, and the DICOM facts
        where there are some.
    """
    geometry = volume.geometry
    meta = volume.meta
    known_spacing = volume.spacing_known
    known_orientation = bool(meta.get("orientation_known", True))
    table = label_table(volume) if label is not False else None
    if label and table is None:
        table = []
    summary: dict = {
        "source": volume.source,
        "format": meta.get("format_name", meta.get("format", "unknown")),
        "size": list(geometry.size),
        "shape_zyx": list(geometry.shape_zyx),
        "spacing_mm": list(geometry.spacing_mm) if known_spacing else None,
        "spacing_known": known_spacing,
        "origin_mm": list(geometry.origin_mm) if known_orientation else None,
        "direction": list(geometry.direction) if known_orientation else None,
        "orientation": geometry.orientation if known_orientation else None,
        "orientation_known": known_orientation,
        "oblique": geometry.is_oblique if known_orientation else None,
        "extent_mm": list(geometry.extent_mm) if known_spacing else None,
        "dtype": str(volume.array.dtype),
        "voxels": int(volume.array.size),
        "intensity": intensity_stats(finite) if (finite := finite_values(volume.array)).size else None,
        "non_finite": dict(zip(("nan", "inf"), non_finite_counts(volume.array))),
        "is_label": table is not None,
        "labels": table,
    }
    if meta.get("geometry_note"):
        summary["geometry_note"] = meta["geometry_note"]
    if meta.get("format") == "dicom":
        summary["dicom"] = {key: meta.get(key) for key in _DICOM_KEYS}
    if meta.get("rescale") and "dicom" not in summary:
        summary["rescale"] = meta["rescale"]
    summary["warnings"] = list(meta.get("warnings", []))
    return summary
