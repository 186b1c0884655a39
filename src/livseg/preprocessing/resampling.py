"""Resampling a Volume to a target spacing, recorded so it can be undone onto the original grid.

The resampled grid keeps the original's direction and covers the same physical box: its
outer voxel corner coincides with the original's, its size is ``round(extent / spacing)``.
SimpleITK does the interpolation (linear for CT and probabilities, nearest neighbour for
labels); voxel centres that fall just outside the original's centres take the nearest value
instead of a fill value, so borders never turn into 0 HU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from livseg.errors import ConfigError, GeometryMismatchError
from livseg.io.sitk_bridge import sitk_from_volume, volume_from_sitk
from livseg.volume import SPACING_TOL_MM, Geometry, Volume


@dataclass(frozen=True)
class ResampleRecord:
    """What a resampling did: the grid before and the grid after."""

    original: Geometry
    resampled: Geometry

    @property
    def is_identity(self) -> bool:
        return self.original.same_grid(self.resampled)


def target_geometry(geometry: Geometry, spacing_mm: Sequence[float]) -> Geometry:
    """The grid of spacing ``spacing_mm`` (x, y, z; mm) covering ``geometry``'s physical box."""
    spacing = np.asarray([float(s) for s in spacing_mm])
    if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ConfigError("spacing_mm", expected="three positive spacings (x, y, z) in mm",
                          found=repr(list(spacing_mm)))
    old_spacing = np.asarray(geometry.spacing_mm)
    if np.allclose(old_spacing, spacing, atol=SPACING_TOL_MM, rtol=0):
        return geometry
    size = np.maximum(1, np.round(np.asarray(geometry.size) * old_spacing / spacing)).astype(int)
    matrix = geometry.direction_matrix
    corner = np.asarray(geometry.origin_mm) - matrix @ (0.5 * old_spacing)
    origin = corner + matrix @ (0.5 * spacing)
    return Geometry(size=tuple(int(s) for s in size), spacing_mm=tuple(spacing),  # type: ignore[arg-type]
                    origin_mm=tuple(origin), direction=geometry.direction)  # type: ignore[arg-type]


def resample_onto(volume: Volume, geometry: Geometry, *, is_label: bool) -> Volume:
    """Resample ``volume`` onto ``geometry``.

    Args:
        volume: array (z, y, x); CT/probabilities (float) or labels (integers).
        geometry: the output grid.
        is_label: nearest-neighbour interpolation, dtype kept; else linear, float32.

    Returns:
        Volume on ``geometry``; the input unchanged (same object) when the grids match.
    """
    if volume.geometry.same_grid(geometry):
        return volume
    source = volume if is_label else volume.with_array(np.asarray(volume.array, dtype=np.float32))
    reference = sitk.Image(*[int(s) for s in geometry.size], sitk.sitkUInt8)
    reference.SetSpacing(geometry.spacing_mm)
    reference.SetOrigin(geometry.origin_mm)
    reference.SetDirection(geometry.direction)
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(reference)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear)
    resampler.SetUseNearestNeighborExtrapolator(True)
    resampler.SetOutputPixelType(sitk.sitkUnknown)
    image = resampler.Execute(sitk_from_volume(source))
    out = volume_from_sitk(image, source=volume.source, meta=dict(volume.meta))
    array = out.array.astype(volume.array.dtype, copy=False) if is_label else out.array
    # The grid is the requested one, bit for bit (SimpleITK may round the stored floats).
    return Volume(array=array, geometry=geometry, source=volume.source, meta=dict(volume.meta))


def resample_to_spacing(
    volume: Volume, spacing_mm: Sequence[float], *, is_label: bool
) -> tuple[Volume, ResampleRecord]:
    """Resample to ``spacing_mm`` (x, y, z; mm) and return the result with its record.

    Returns:
        (resampled Volume, ResampleRecord); the record's ``original`` is ``volume.geometry``.
    """
    geometry = target_geometry(volume.geometry, spacing_mm)
    resampled = resample_onto(volume, geometry, is_label=is_label)
    return resampled, ResampleRecord(original=volume.geometry, resampled=geometry)


def invert_resampling(volume: Volume, record: ResampleRecord, *, is_label: bool) -> Volume:
    """Map ``volume`` (on ``record.resampled``) back onto ``record.original`` exactly."""
    if not volume.geometry.same_grid(record.resampled):
        raise GeometryMismatchError(
            volume.source, expected=f"the resampled grid {record.resampled.describe()}",
            found=f"{volume.geometry.describe()}",
            fix="invert with the record made when this volume's grid was produced")
    return resample_onto(volume, record.original, is_label=is_label)
