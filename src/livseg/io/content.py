"""Checks on what a volume holds, by kind: any image, a CT in HU, or a label map.

``kind="any"``   every volume: at least one voxel, real-valued, no NaN or infinite voxels.
``kind="ct"``    also: not constant, and intensities plausibly HU. Rejected: values all in
                 [0, 1] (normalised), 8-bit data (cannot hold -1000..+1000), all values >= 0
                 with a maximum above 3000 (raw stored values without rescale: in HU air is
                 about -1000), values beyond [-32768, 65535]. Whole-number data that fits is
                 returned as int16.
``kind="label"`` also: whole numbers >= 0, at most 256 distinct values. Returned as uint8
                 (uint16 when a label exceeds 255). An all-zero label map is valid (an empty
                 segmentation).
"""

from __future__ import annotations

import numpy as np

from livseg.errors import InvalidImageError
from livseg.volume import KINDS, Volume, require_kind

__all__ = ["KINDS", "MAX_LABELS", "check_content", "integer_histogram", "require_kind", "value_counts"]

MAX_LABELS = 256
RAW_VALUES_MIN_MAX = 3000.0  # HU CT data with min >= 0 never reaches this; raw data does


_HISTOGRAM_CHUNK = 1 << 22  # voxels per bincount call: bounds the int64 temporary to 32 MB
_HISTOGRAM_MAX_RANGE = 1 << 24


def integer_histogram(array: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(lowest value, counts of lowest..highest) for integer/bool data of a moderate range.

    Returns None for other data or when max - min >= 2**24. Memory stays bounded: the data
    is counted in chunks (``np.bincount`` alone would copy everything to int64).
    """
    if array.dtype.kind not in "iub" or array.size == 0:
        return None
    flat = array.reshape(-1)
    low, high = int(flat.min()), int(flat.max())
    if high - low >= _HISTOGRAM_MAX_RANGE:
        return None
    counts = np.zeros(high - low + 1, dtype=np.int64)
    for start in range(0, flat.size, _HISTOGRAM_CHUNK):
        part = flat[start:start + _HISTOGRAM_CHUNK].astype(np.int64)
        if low:
            part -= low
        counts += np.bincount(part, minlength=counts.size)
    return low, counts


def value_counts(array: np.ndarray, limit: int | None = None) -> dict[float, int] | None:
    """Distinct values -> voxel counts, ascending; None when there are more than ``limit``."""
    if array.size == 0:
        return {}
    histogram = integer_histogram(array)
    if histogram is not None:
        low, counts = histogram
        present = np.flatnonzero(counts)
        if limit is not None and present.size > limit:
            return None
        return {int(v) + low: int(counts[v]) for v in present}
    values, counts = np.unique(array.reshape(-1), return_counts=True)
    if limit is not None and values.size > limit:
        return None
    integral = array.dtype.kind in "iub"
    return {(int(v) if integral else float(v)): int(c) for v, c in zip(values, counts)}


def _first_index_xyz(mask: np.ndarray) -> tuple[int, int, int]:
    k, j, i = np.unravel_index(int(np.argmax(mask)), mask.shape)
    return int(i), int(j), int(k)


def non_finite_counts(array: np.ndarray) -> tuple[int, int]:
    """(NaN voxels, infinite voxels) of ``array`` (0, 0 for integer data)."""
    if array.dtype.kind != "f":
        return 0, 0
    nan = int(np.count_nonzero(np.isnan(array)))
    return nan, int(np.count_nonzero(~np.isfinite(array))) - nan


def check_content(volume: Volume, kind: str = "any", *, allow_non_finite: bool = False) -> Volume:
    """Check ``volume`` for ``kind`` (module doc); returns it, or a converted copy.

    The result has ``kind`` as its :attr:`Volume.kind`.

    Raises:
        InvalidImageError: naming the file, what was expected and what was found.
    """
    require_kind(kind)
    array = volume.array
    source = volume.source
    if array.size == 0:
        raise InvalidImageError(source, expected="a non-empty volume", found=f"shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise InvalidImageError(source, expected="real-valued voxels", found=f"dtype {array.dtype}",
                                fix="convert it to a real-valued image")
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = ~finite
            nan = int(np.isnan(array).sum())
            inf = int(bad.sum()) - nan
            if allow_non_finite and kind == "any":  # inspection (livseg info): counted, not refused
                return volume
            raise InvalidImageError(
                source, expected="finite voxel values",
                found=f"{nan} NaN and {inf} infinite voxels (first at x,y,z index {_first_index_xyz(bad)})",
                fix="replace them (e.g. by the background value) before use")
    if kind == "ct":
        volume = _checked_ct(volume)
    elif kind == "label":
        volume = _checked_label(volume)
    return volume if volume.kind == kind else volume.with_array(volume.array, kind=kind)  # type: ignore[arg-type]


def _checked_ct(volume: Volume) -> Volume:
    array, source = volume.array, volume.source
    low, high = array.min(), array.max()
    low_f, high_f = float(low), float(high)
    fix_hu = "give the CT in Hounsfield units (HU = slope x stored value + intercept)"
    if low_f == high_f:
        raise InvalidImageError(source, expected="a CT with varying intensities",
                                found=f"every voxel = {low_f:g} (an empty or blank volume)")
    if array.dtype.kind == "b" or array.dtype.itemsize == 1:
        raise InvalidImageError(source, expected="a CT in HU (air about -1000, bone up to +1000 or more)",
                                found=f"8-bit values {low_f:g}..{high_f:g} (cannot hold HU)", fix=fix_hu)
    if low_f >= 0 and high_f <= 1:
        raise InvalidImageError(source, expected="a CT in HU (air about -1000, bone up to +1000 or more)",
                                found=f"values {low_f:g}..{high_f:g} (normalised intensities, not HU)",
                                fix=fix_hu)
    if low_f >= 0 and high_f > RAW_VALUES_MIN_MAX:
        raise InvalidImageError(
            source, expected="a CT in HU (air about -1000)",
            found=f"values {low_f:g}..{high_f:g}, none negative (raw stored values without rescale?)",
            fix=fix_hu)
    if low_f < -32768 or high_f > 65535:
        raise InvalidImageError(source, expected="a CT in HU (roughly -1024..+3071)",
                                found=f"values {low_f:g}..{high_f:g}", fix=fix_hu)
    if array.dtype != np.int16 and low_f >= -32768 and high_f <= 32767 and (
            array.dtype.kind in "iu" or np.array_equal(array, np.round(array))):
        return volume.with_array(array.astype(np.int16))
    return volume


def _checked_label(volume: Volume) -> Volume:
    array, source = volume.array, volume.source
    if array.dtype.kind == "f" and not np.array_equal(array, np.trunc(array)):
        bad = array != np.trunc(array)
        raise InvalidImageError(
            source, expected="a label map of whole numbers (0 background, 1 liver, 2 tumour)",
            found=f"fractional values such as {float(array[bad].flat[0]):g} (a probability map or a CT?)",
            fix="threshold it into labels, or read it as kind='any'")
    low = float(array.min())
    if low < 0:
        raise InvalidImageError(source, expected="a label map of values >= 0",
                                found=f"values down to {low:g} (a CT?)",
                                fix="pass the label file, or read it as kind='any'")
    counts = value_counts(array, limit=MAX_LABELS)
    if counts is None:
        raise InvalidImageError(
            source, expected=f"a label map with at most {MAX_LABELS} distinct values",
            found="more distinct values (an image rather than a label map?)",
            fix="pass the label file, or read it as kind='any'")
    high = max(counts)
    if high > np.iinfo(np.uint16).max:
        raise InvalidImageError(source, expected="label values up to 65535", found=f"{high:g}")
    target = np.uint8 if high <= 255 else np.uint16
    if array.dtype == target:
        return volume
    return volume.with_array(array.astype(target))


def require_label_values(labels: Volume, allowed: "list[int]", *, why: str = "", fix: str) -> None:
    """Refuse labels that are not integers or hold a non-zero value outside ``allowed`` (what a
    writer has a segment, ROI or name for).

    Args:
        labels: the label volume about to be written.
        allowed: the non-zero values the output describes.
        why: appended to the expectation, e.g. " (the structures assessed)".
        fix: what the caller should do about unknown values.

    Raises:
        InvalidImageError: naming the volume, the values expected and up to 8 found.
    """
    array = labels.array
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise InvalidImageError(labels.source, expected="integer labels (0 background, 1 liver, 2 tumour)",
                                found=f"dtype {array.dtype}", fix="write a label volume, not a CT or probabilities")
    stray = (array != 0) & ~np.isin(array, allowed)  # cheaper than np.unique on a whole volume
    if stray.any():
        raise InvalidImageError(labels.source, expected=f"label values 0 and {allowed}{why}",
                                found=f"values {[int(v) for v in np.unique(array[stray])[:8]]}", fix=fix)
