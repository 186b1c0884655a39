"""Turn what a caller passes (two Volumes, or two arrays and a spacing) into a checked mask pair.

Every metric in this package accepts either

* two :class:`~livseg.volume.Volume` objects on the same grid (spacing taken from the grid), or
* two numpy arrays of the same shape (z, y, x) plus ``spacing_mm`` in **(x, y, z)** order, the
  project's geometry order (the order of ``Volume.spacing_mm`` and of ``sitk.Image.GetSpacing()``).

Spacing is mandatory: an array pair without ``spacing_mm`` is refused, never measured in voxels.
Masks are binary: boolean arrays, or integer/float arrays holding only 0 and 1. A label map
(0/1/2) is refused here with a pointer to :func:`livseg.metrics.structures.structure_mask`, so
that "which labels form the structure" is always an explicit choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from livseg.errors import GeometryMismatchError, InvalidImageError
from livseg.volume import SPACING_TOL_MM, Volume, spacing_triple

MaskLike = Union[Volume, np.ndarray]


@dataclass(frozen=True)
class MaskPair:
    """A reference and a predicted mask on one grid.

    Attributes:
        reference: bool array (z, y, x).
        prediction: bool array (z, y, x), same shape.
        spacing_mm: voxel size (x, y, z) in mm.
    """

    reference: np.ndarray
    prediction: np.ndarray
    spacing_mm: tuple[float, float, float]

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Voxel size in array axis order (z, y, x), mm: what scipy's ``sampling=`` expects."""
        x, y, z = self.spacing_mm
        return (z, y, x)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))


def as_binary_mask(array: np.ndarray, *, subject: str) -> np.ndarray:
    """A bool view/copy of ``array`` after checking it holds only 0 and 1 (or is bool).

    The input is never modified.
    """
    array = np.asarray(array)
    if array.ndim != 3:
        raise InvalidImageError(subject, expected="a 3D mask (z, y, x)",
                                found=f"{array.ndim}D array of shape {array.shape}")
    if array.dtype == np.bool_:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InvalidImageError(subject, expected="a boolean or numeric mask", found=f"dtype {array.dtype}")
    values = np.unique(array)
    if not np.isin(values, (0, 1)).all():
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (", ..." if values.size > 8 else "")
        raise InvalidImageError(
            subject, expected="a binary mask holding only 0 and 1", found=f"values {{{shown}}}",
            fix="select a structure first, e.g. livseg.metrics.structure_mask(labels, 'liver')")
    return array == 1


def mask_pair(reference: MaskLike, prediction: MaskLike, *,
              spacing_mm: Sequence[float] | None = None) -> MaskPair:
    """Check and normalise a (reference, prediction) pair.

    Args:
        reference: Volume or array (z, y, x), binary.
        prediction: Volume or array (z, y, x), binary, same grid as ``reference``.
        spacing_mm: (x, y, z) voxel size in mm; mandatory for arrays, optional for Volumes
            (where it must then agree with the Volumes' grid).

    Raises:
        GeometryMismatchError: the two inputs are not on the same grid.
        InvalidImageError: missing/invalid spacing, non-binary masks, not 3D.
    """
    if isinstance(reference, Volume) != isinstance(prediction, Volume):
        raise InvalidImageError("metrics input", expected="two Volumes or two arrays",
                                found="one Volume and one array",
                                fix="pass both as Volumes, or both as arrays with spacing_mm")
    if isinstance(reference, Volume) and isinstance(prediction, Volume):
        reference.require_same_grid(prediction, fix="resample the prediction onto the reference grid "
                                                    "(livseg evaluate --resample-pred)")
        grid_spacing = reference.spacing_mm
        if spacing_mm is not None:
            given = spacing_triple(spacing_mm, subject="spacing_mm")
            if not np.allclose(given, grid_spacing, atol=SPACING_TOL_MM, rtol=0):
                raise GeometryMismatchError("spacing_mm", expected=f"the Volumes' spacing {grid_spacing} mm",
                                            found=f"{given} mm", fix="omit spacing_mm for Volumes")
        ref_array, pred_array = reference.array, prediction.array
        ref_name, pred_name = reference.source, prediction.source
        spacing = grid_spacing
    else:
        if spacing_mm is None:
            raise InvalidImageError("metrics input", expected="spacing_mm (x, y, z) in mm for array inputs",
                                    found="no spacing",
                                    fix="pass spacing_mm=..., or pass Volumes that carry their grid")
        spacing = spacing_triple(spacing_mm, subject="spacing_mm")
        ref_array, pred_array = np.asarray(reference), np.asarray(prediction)
        ref_name, pred_name = "reference array", "prediction array"
    if ref_array.ndim != 3 or pred_array.ndim != 3:
        raise InvalidImageError("metrics input", expected="3D masks (z, y, x)",
                                found=f"shapes {ref_array.shape} and {pred_array.shape}")
    if ref_array.shape != pred_array.shape:
        raise GeometryMismatchError(f"{pred_name} vs {ref_name}", expected="the same array shape",
                                    found=f"{pred_array.shape} vs {ref_array.shape}")
    return MaskPair(reference=as_binary_mask(ref_array, subject=ref_name),
                    prediction=as_binary_mask(pred_array, subject=pred_name),
                    spacing_mm=spacing)
