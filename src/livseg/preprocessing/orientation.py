"""Reorienting a Volume's storage so its index axes point a chosen way (e.g. LPS), exactly.

Only the array's axis order and direction change (transposes and flips, no interpolation):
every voxel keeps its value and its physical position. SimpleITK's ``DICOMOrientImageFilter``
does the work; the record holds the original grid so the inverse lands on it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import SimpleITK as sitk

from livseg.errors import ConfigError, GeometryMismatchError
from livseg.io.sitk_bridge import sitk_from_volume, volume_from_sitk
from livseg.volume import Geometry, Volume

_PAIRS = ({"L", "R"}, {"P", "A"}, {"S", "I"})


def check_orientation_code(code: str) -> str:
    """Upper-case ``code`` after checking it names each of L/R, P/A, S/I exactly once."""
    text = str(code).upper()
    axes = sorted(index for letter in text for index, pair in enumerate(_PAIRS) if letter in pair)
    if len(text) != 3 or axes != [0, 1, 2]:
        raise ConfigError("preprocessing.orientation", expected="a code with one letter of each pair "
                          "L/R, P/A, S/I, e.g. LPS or RAS", found=repr(code))
    return text


@dataclass(frozen=True)
class ReorientRecord:
    """The grid before and after reorienting."""

    original: Geometry
    reoriented: Geometry

    @property
    def is_identity(self) -> bool:
        return self.original.same_grid(self.reoriented)


def reorient(volume: Volume, code: str = "LPS") -> tuple[Volume, ReorientRecord]:
    """Permute/flip the storage of ``volume`` so index axes i, j, k point as ``code`` says.

    Returns:
        (reoriented Volume, record); the input itself when it already has that orientation.
    """
    code = check_orientation_code(code)
    if volume.geometry.orientation == code:
        return volume, ReorientRecord(volume.geometry, volume.geometry)
    image = sitk.DICOMOrient(sitk_from_volume(volume), code)
    out = volume_from_sitk(image, source=volume.source)
    out = volume.on_grid(out.array.astype(volume.array.dtype, copy=False), out.geometry)
    return out, ReorientRecord(original=volume.geometry, reoriented=out.geometry)


def apply_reorient(volume: Volume, record: ReorientRecord) -> Volume:
    """Reorient another volume on ``record.original`` (a label) the same way."""
    volume.geometry.require_same_grid(record.original, subject=volume.source)
    if record.is_identity:
        return volume
    out, _ = reorient(volume, record.reoriented.orientation)
    return volume.on_grid(out.array, record.reoriented)


def invert_reorient(volume: Volume, record: ReorientRecord) -> Volume:
    """Map ``volume`` (on ``record.reoriented``) back onto ``record.original`` exactly."""
    if not volume.geometry.same_grid(record.reoriented):
        raise GeometryMismatchError(volume.source, expected=f"the reoriented grid {record.reoriented.describe()}",
                                    found=volume.geometry.describe(),
                                    fix="invert with the record made when this volume's grid was produced")
    if record.is_identity:
        return volume.on_grid(volume.array, record.original)
    back = sitk.DICOMOrient(sitk_from_volume(volume), record.original.orientation)
    out = volume_from_sitk(back, source=volume.source)
    out.geometry.require_same_grid(record.original, subject=volume.source)
    return volume.on_grid(out.array.astype(volume.array.dtype, copy=False), record.original)
