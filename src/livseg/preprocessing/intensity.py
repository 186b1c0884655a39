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
    low, high = float(hu_window[0]), float(hu_window[1])
    if not low < high:
        raise ConfigError("hu_window", expected="(low, high) with low < high in HU",
                          found=f"({low:g}, {high:g})")
    source = np.asarray(volume.array)
    data = source.astype(np.float32)  # a copy, worked on in place below (same arithmetic, no temporaries)
    if source.dtype.kind not in "iub" and not np.all(np.isfinite(data)):  # integers are always finite
        raise InvalidImageError(volume.source, expected="finite CT values (HU)",
                                found="NaN or infinite voxels", fix="check the file's conversion")
    clipped = np.clip(data, low, high, out=data)
    if normalisation == "unit":
        out = np.divide(np.subtract(clipped, low, out=clipped), high - low, out=clipped)
    elif normalisation == "symmetric":
        out = (clipped - low) / (high - low) * 2.0 - 1.0
    elif normalisation == "zscore":
        std = float(clipped.std())
        out = (clipped - float(clipped.mean())) / std if std > 0 else np.zeros_like(clipped)
    else:
        raise ConfigError("normalisation", expected="'unit', 'symmetric' or 'zscore'",
                          found=repr(normalisation))
    return volume.with_array(out.astype(np.float32, copy=False), kind="any")  # no longer HU
