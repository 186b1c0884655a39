"""Volumes whose file records no voxel spacing (MRC, NRRD without spacing, NIfTI pixdim 0).

Such a Volume carries a placeholder spacing of 1.0 that means "index units", and
``Volume.spacing_known`` is False. Anything that needs millimetres (resampling, CRF sigmas,
surface distances, volumes in mL) calls :func:`require_known_spacing` first; the user
supplies the real spacing with ``read_volume(path, spacing_mm=(x, y, z))``.
"""

from __future__ import annotations

from typing import Sequence

from livseg.errors import InvalidImageError
from livseg.volume import SPACING_TOL_MM, Geometry, Volume, spacing_triple


def require_known_spacing(volume: Volume, *, what: str, fix: str | None = None) -> None:
    """Raise InvalidImageError when ``volume``'s spacing is unknown.

    Args:
        volume: the volume about to be used in mm.
        what: what needs millimetres, for the message (e.g. "resampling to 1 mm").
        fix: what the user should do, when the caller knows better than the generic advice.
    """
    if volume.spacing_known:
        return
    note = volume.meta.get("geometry_note")
    raise InvalidImageError(
        volume.source,
        expected=f"a known voxel spacing in mm for {what}",
        found="none recorded in the file" + (f" ({note})" if note else ""),
        fix=fix or "give it: read_volume(path, spacing_mm=(x, y, z)) or --spacing-mm X Y Z",
    )


def with_spacing(volume: Volume, spacing_mm: Sequence[float]) -> Volume:
    """The volume with the caller's spacing (x, y, z) in mm.

    For a file without spacing the given spacing is used; for a file that records one, the
    two must agree (a different value is an error, never a silent override).
    """
    spacing = spacing_triple(spacing_mm, subject=volume.source)
    geometry = volume.geometry
    if volume.spacing_known:
        if any(abs(a - b) > SPACING_TOL_MM for a, b in zip(spacing, geometry.spacing_mm)):
            raise InvalidImageError(
                volume.source, expected=f"spacing_mm {spacing} to match the file",
                found=f"the file records {geometry.spacing_mm} mm",
                fix="leave spacing_mm out for files that record their spacing")
        return volume
    meta = dict(volume.meta, spacing_source="given by the caller")
    new_geometry = Geometry(size=geometry.size, spacing_mm=spacing, origin_mm=geometry.origin_mm,
                            direction=geometry.direction)
    return Volume(array=volume.array, geometry=new_geometry, source=volume.source, meta=meta,
                  kind=volume.kind, spacing_known=True)
