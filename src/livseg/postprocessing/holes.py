"""Fill holes in the liver structure, per axial slice (2D) or in the whole volume (3D).

What a hole is: a background voxel that cannot reach the border of the array (3D) or of its
own slice (2D) through background voxels, stepping between face neighbours only (6
neighbours in 3D, 4 within a slice: the usual partner of a foreground counted with full
connectivity). A background region that touches the border only diagonally is therefore a
hole. Holes are filled with the liver label 1; liver and tumour voxels are never changed.

Every 3D hole is also a hole in each slice it crosses (a path to the slice's border would be
a path to the volume's border), so the 2D filling includes the 3D one; the 3D filling alone is
the conservative choice, leaving open any channel (a vessel) that leaves the liver in 3D.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from livseg.errors import ConfigError
from livseg.postprocessing.labels import BACKGROUND, LIVER, bounding_box, check_labels


def fill_holes_3d(labels: np.ndarray) -> np.ndarray:
    """Fill background cavities enclosed by the liver structure in 3D with label 1.

    Args:
        labels: (z, y, x) integer array of 0 background, 1 liver, 2 tumour.

    Returns:
        A new array of the input's dtype; the input is not changed.
    """
    check_labels(labels)
    return _fill(labels, ndimage.generate_binary_structure(3, 1))


def fill_holes_2d(labels: np.ndarray, *, axis: int = 0) -> np.ndarray:
    """Fill holes of the liver structure within each slice across ``axis`` with label 1.

    Args:
        labels: (z, y, x) integer array of 0 background, 1 liver, 2 tumour.
        axis: the array axis the slices are stacked along: 0 for axial slices of a volume
            whose k index axis runs head-feet (``postprocess`` derives it from the geometry).

    Returns:
        A new array of the input's dtype; the input is not changed.
    """
    check_labels(labels)
    if axis not in (0, 1, 2):
        raise ConfigError("axis", expected="0, 1 or 2", found=repr(axis))
    # Face connectivity inside the slice and none across slices: the background then spreads
    # from each slice's own border only, so one scipy call fills every slice independently.
    structure = np.zeros((3, 3, 3), dtype=bool)
    in_plane = [slice(None)] * 3
    in_plane[axis] = 1  # type: ignore[call-overload]
    structure[tuple(in_plane)] = ndimage.generate_binary_structure(2, 1)
    return _fill(labels, structure)


def _fill(labels: np.ndarray, structure: np.ndarray) -> np.ndarray:
    result = labels.copy()
    box = bounding_box(labels != BACKGROUND, margin=1)
    if box is None:
        return result
    region = result[box]
    structure_mask = region != BACKGROUND
    filled = ndimage.binary_fill_holes(structure_mask, structure=structure)
    region[filled & ~structure_mask] = LIVER
    return result
