"""Volumes whose file records no voxel spacing (MRC, NRRD without spacing, NIfTI pixdim 0).

Such a Volume carries a placeholder spacing of 1.0 that means "index units", and
``meta["spacing_known"] = False``. Anything that needs millimetres (resampling, CRF sigmas,
surface distances, volumes in mL) calls :func:`require_known_spacing` first; the user
supplies the real spacing with ``read_volume(path, spacing_mm=(x, y, z))``.
"""

from __future__ import annotations

import math
from typing import Sequence

from livseg.errors import InvalidImageError
from livseg.volume import SPACING_TOL_MM, Geometry, Volume


def spacing_known(volume: Volume) -> bool:
    """False when the spacing is a placeholder (the file did not record it)."""
    return bool(volume.meta.get("spacing_known", True))


def require_known_spacing(volume: Volume, *, what: str, fix: str | None = None) -> None:
    """Raise InvalidImageError when ``volume``'s spacing is unknown.

    Args:
        volume: the volume about to be used in mm.
        what: what needs millimetres, for the message (e.g. "resampling to 1 mm").
        fix: what the user should do, when the caller knows better than the generic advice.
    """
    if spacing_known(volume):
        return
    note = volume.meta.get("geometry_note")
    raise InvalidImageError(
        volume.source,
        expected=f"a known voxel spacing in mm for {what}",
        found="none recorded in the file" + (f" ({note})" if note else ""),
        fix=fix or "give it: read_volume(path, spacing_mm=(x, y, z)) or --spacing-mm X Y Z",
    )


def _valid_spacing(source: str, spacing_mm: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(v) for v in spacing_mm)
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise InvalidImageError(source, expected="spacing_mm as 3 positive numbers (x, y, z) in mm",
                                found=f"{tuple(spacing_mm)}")
    return values  # type: ignore[return-value]


def with_spacing(volume: Volume, spacing_mm: Sequence[float]) -> Volume:
    """The volume with the caller's spacing (x, y, z) in mm.

    For a file without spacing the given spacing is used; for a file that records one, the
    two must agree (a different value is an error, never a silent override).
    """
    spacing = _valid_spacing(volume.source, spacing_mm)
    geometry = volume.geometry
    if spacing_known(volume):
        if any(abs(a - b) > SPACING_TOL_MM for a, b in zip(spacing, geometry.spacing_mm)):
            raise InvalidImageError(
                volume.source, expected=f"spacing_mm {spacing} to match the file",
                found=f"the file records {geometry.spacing_mm} mm",
                fix="leave spacing_mm out for files that record their spacing")
        return volume
    meta = dict(volume.meta, spacing_known=True, spacing_source="given by the caller")
    new_geometry = Geometry(size=geometry.size, spacing_mm=spacing, origin_mm=geometry.origin_mm,
                            direction=geometry.direction)
    return Volume(array=volume.array, geometry=new_geometry, source=volume.source, meta=meta)
