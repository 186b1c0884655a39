"""Hounsfield-unit window and intensity normalisation."""

from __future__ import annotations

from typing import Literal

import numpy as np

from livseg.errors import ConfigError, InvalidImageError
from livseg.volume import Volume

Normalisation = Literal["unit", "symmetric", "zscore"]


def clip_and_normalise(
    volume: Volume,
    hu_window: tuple[float, float],
    normalisation: Normalisation = "unit",
) -> Volume:
    """Clip a CT to ``hu_window`` and rescale it; a new float32 Volume on the same grid.

    Args:
        volume: CT in Hounsfield units, array (z, y, x).
        hu_window: (low, high) in HU, low < high.
        normalisation: "unit" maps [low, high] linearly to [0, 1]; "symmetric" to [-1, 1];
            "zscore" subtracts the clipped volume's mean and divides by its standard deviation
            (a constant volume maps to zeros).

    Returns:
        Volume with float32 array (z, y, x), same geometry and source, kind "any"
        (normalised intensities, not HU).
    """
    source = np.asarray(volume.array)
    out = np.empty(source.shape, dtype=np.float32)
    window_into(out, source, hu_window, normalisation, subject=volume.source)
    return volume.with_array(out, kind="any")  # no longer HU


def window_into(out: np.ndarray, source: np.ndarray, hu_window: tuple[float, float],
                normalisation: Normalisation = "unit", *, subject: str | None = None) -> None:
    """:func:`clip_and_normalise`'s arithmetic, written into a float32 array given by the caller
    (e.g. the pixel buffer of a SimpleITK image, which saves a copy of the volume).

    Args:
        out: float32 array of ``source``'s shape (any strides); overwritten.
        source: CT in HU, any numeric dtype; (z, y, x) or any shape.
        hu_window, normalisation: as for :func:`clip_and_normalise`.
        subject: the file named in errors.
    """
    low, high = float(hu_window[0]), float(hu_window[1])
    if not low < high:
        raise ConfigError("hu_window", expected="(low, high) with low < high in HU",
                          found=f"({low:g}, {high:g})")
    if normalisation not in ("unit", "symmetric", "zscore"):
        raise ConfigError("normalisation", expected="'unit', 'symmetric' or 'zscore'",
                          found=repr(normalisation))
    out[...] = source  # float32, then worked on in place (the same float32 operations as on a copy)
    if source.dtype.kind not in "iub" and not np.all(np.isfinite(out)):  # integers are always finite
        raise InvalidImageError(subject, expected="finite CT values (HU)",
                                found="NaN or infinite voxels", fix="check the file's conversion")
    np.clip(out, low, high, out=out)
    if normalisation == "unit":
        np.divide(np.subtract(out, low, out=out), high - low, out=out)
    elif normalisation == "symmetric":
        np.subtract(out, low, out=out)
        np.divide(out, high - low, out=out)
        np.multiply(out, 2.0, out=out)
        np.subtract(out, 1.0, out=out)
    else:  # zscore: the statistics of the clipped volume
        std = float(out.std())
        mean = float(out.mean())
        if std > 0:
            np.divide(np.subtract(out, mean, out=out), std, out=out)
        else:
            out.fill(0.0)
