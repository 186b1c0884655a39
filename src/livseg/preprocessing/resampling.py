"""Resampling a Volume to a target spacing, recorded so it can be undone onto the original grid.

The resampled grid keeps the original's direction and covers the same physical box: its
outer voxel corner coincides with the original's, its size is ``round(extent / spacing)``.
SimpleITK does the interpolation, chosen by the Volume's ``kind`` as TorchIO does (nearest
neighbour for labels, linear for CT, probabilities and everything else); voxel centres that
fall just outside the original's centres take the nearest value instead of a fill value, so
borders never turn into 0 HU (unless the caller asks for a fill value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from livseg.errors import GeometryMismatchError
from livseg.io.sitk_bridge import array_from_sitk, sitk_from_volume
from livseg.volume import SPACING_TOL_MM, Geometry, Volume, spacing_triple


@dataclass(frozen=True)
class ResampleRecord:
    """What a resampling did: the grid before and the grid after."""

    original: Geometry
    resampled: Geometry

    @property
    def is_identity(self) -> bool:
        return self.original.same_grid(self.resampled)


def target_geometry(geometry: Geometry, spacing_mm: Sequence[float]) -> Geometry:
    """The grid of spacing ``spacing_mm`` (x, y, z; mm) covering ``geometry``'s physical box.

    ``spacing_mm`` is checked by the Geometry it builds (three positive numbers).
    """
    spacing = np.asarray(spacing_triple(spacing_mm, subject="spacing_mm"))
    old_spacing = np.asarray(geometry.spacing_mm)
    if np.allclose(old_spacing, spacing, atol=SPACING_TOL_MM, rtol=0):
        return geometry
    size = np.maximum(1, np.round(np.asarray(geometry.size) * old_spacing / spacing)).astype(int)
    matrix = geometry.direction_matrix
    corner = np.asarray(geometry.origin_mm) - matrix @ (0.5 * old_spacing)
    origin = corner + matrix @ (0.5 * spacing)
    return Geometry(size=tuple(int(s) for s in size), spacing_mm=tuple(spacing),  # type: ignore[arg-type]
                    origin_mm=tuple(origin), direction=geometry.direction)  # type: ignore[arg-type]


def resample_onto(volume: Volume, geometry: Geometry, *, outside: float | None = None,
                  source: str | None = None) -> Volume:
    """Resample ``volume`` onto ``geometry`` (in physical LPS space), interpolated as its kind says.

    Args:
        volume: array (z, y, x). ``volume.kind == "label"``: nearest neighbour, dtype kept
            (label values are never interpolated); any other kind (CT, probabilities,
            intensities): linear, float32.
        geometry: the output grid.
        outside: the value of output voxels whose centres fall outside ``volume``'s voxel
            centres; None (default) takes the nearest voxel's value, so borders never turn
            into 0 HU; 0 gives background outside a label map's extent.
        source: the result's ``source`` (default: ``volume.source``).

    Returns:
        Volume on exactly ``geometry`` (same kind, spacing knowledge and meta); the input
        unchanged (same object) when the grids match.
    """
    if volume.geometry.same_grid(geometry):
        return volume
    nearest = volume.kind == "label"
    data = volume if nearest else volume.with_array(np.asarray(volume.array, dtype=np.float32))
    array = resample_image_onto(sitk_from_volume(data), geometry, nearest=nearest, outside=outside)
    if nearest:
        array = array.astype(volume.array.dtype, copy=False)
    # The grid is the requested one, bit for bit (SimpleITK may round the stored floats).
    return volume.on_grid(array, geometry, source=source)


def resample_image_onto(image: sitk.Image, geometry: Geometry, *, nearest: bool,
                        outside: float | None = None) -> np.ndarray:
    """Resample a SimpleITK image (its own geometry) onto ``geometry``: the core of
    :func:`resample_onto`, for callers that built the image themselves.

    Args:
        image: 3D scalar image; float32 for linear interpolation.
        geometry: the output grid.
        nearest: nearest neighbour (labels) instead of linear interpolation.
        outside: as for :func:`resample_onto` (None: nearest voxel's value).

    Returns:
        Array (z, y, x) of ``geometry``'s shape and the image's pixel type; it owns the
        resampler's output buffer (no copy).
    """
    resampler = sitk.ResampleImageFilter()
    # The output grid given directly (not as a reference image, which SimpleITK would
    # allocate and zero-fill just to read its geometry).
    resampler.SetSize([int(s) for s in geometry.size])
    resampler.SetOutputSpacing(geometry.spacing_mm)
    resampler.SetOutputOrigin(geometry.origin_mm)
    resampler.SetOutputDirection(geometry.direction)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear)
    if outside is None:
        resampler.SetUseNearestNeighborExtrapolator(True)
    else:
        resampler.SetDefaultPixelValue(float(outside))
    resampler.SetOutputPixelType(sitk.sitkUnknown)
    return array_from_sitk(resampler.Execute(image), copy=False)  # the output is private: no copy


def resample_to_spacing(volume: Volume, spacing_mm: Sequence[float]) -> tuple[Volume, ResampleRecord]:
    """Resample to ``spacing_mm`` (x, y, z; mm), interpolated as ``volume.kind`` says, and
    return the result with its record.

    Returns:
        (resampled Volume, ResampleRecord); the record's ``original`` is ``volume.geometry``.
    """
    geometry = target_geometry(volume.geometry, spacing_mm)
    resampled = resample_onto(volume, geometry)
    return resampled, ResampleRecord(original=volume.geometry, resampled=geometry)


def invert_resampling(volume: Volume, record: ResampleRecord) -> Volume:
    """Map ``volume`` (on ``record.resampled``) back onto ``record.original`` exactly
    (interpolated as ``volume.kind`` says)."""
    if not volume.geometry.same_grid(record.resampled):
        raise GeometryMismatchError(
            volume.source, expected=f"the resampled grid {record.resampled.describe()}",
            found=f"{volume.geometry.describe()}",
            fix="invert with the record made when this volume's grid was produced")
    return resample_onto(volume, record.original)
