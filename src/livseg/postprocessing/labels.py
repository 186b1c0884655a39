"""Shared helpers for post-processing 0/1/2 label arrays: validation, connectivity, cropping.

Label convention (the project's): 0 background, 1 liver, 2 liver tumour. The *liver
structure* is labels 1 and 2 together, so a tumour at the liver's edge belongs to its liver.

Arrays are (z, y, x); spacings are (x, y, z) in mm, as everywhere in livseg.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from livseg.errors import ConfigError, InvalidImageError
from livseg.volume import spacing_triple

BACKGROUND = 0
LIVER = 1
TUMOUR = 2

CONNECTIVITIES = (6, 18, 26)


def connectivity_structure(connectivity: int) -> np.ndarray:
    """The 3x3x3 neighbourhood for 6 (faces), 18 (faces + edges) or 26 (all) connectivity."""
    rank = {6: 1, 18: 2, 26: 3}.get(connectivity)
    if rank is None:
        raise ConfigError("connectivity", expected=f"one of {CONNECTIVITIES}", found=repr(connectivity),
                          fix="use 6 (faces), 18 (faces + edges) or 26 (faces + edges + corners)")
    return ndimage.generate_binary_structure(3, rank)


def check_labels(labels: np.ndarray, *, subject: str = "label array") -> None:
    """Raise InvalidImageError unless ``labels`` is a 3D integer/bool array of 0, 1, 2 only."""
    if labels.ndim != 3:
        raise InvalidImageError(subject, expected="a 3D label array (z, y, x)",
                                found=f"{labels.ndim}D array of shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise InvalidImageError(subject, expected="an integer label array (0 background, 1 liver, 2 tumour)",
                                found=f"dtype {labels.dtype}", fix="round or cast the labels first")
    if labels.size and (labels.min() < BACKGROUND or labels.max() > TUMOUR):
        values = np.unique(labels)
        shown = ", ".join(str(v) for v in values[:8]) + (", ..." if values.size > 8 else "")
        raise InvalidImageError(subject, expected="labels 0 (background), 1 (liver), 2 (tumour) only",
                                found=f"values {shown}", fix="map the data set's label values first")


def check_spacing(spacing_mm: Sequence[float]) -> tuple[float, float, float]:
    """Spacing as a float triple (x, y, z) in mm; raises InvalidImageError when not positive
    (``livseg.volume.spacing_triple``, the check every Geometry passes)."""
    return spacing_triple(spacing_mm, subject="spacing_mm", fix="take the spacing from the volume's geometry")


def bounding_box(mask: np.ndarray, *, margin: int = 1) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding every True voxel of ``mask``, grown by ``margin``
    voxels and clipped to the array; None when ``mask`` is empty.

    Working inside this box is exact for connected components and, with ``margin >= 1``, for
    hole filling too: every background voxel outside the box is connected to the array's
    border through background, so "connected to the box border" and "connected to the
    array border" are the same thing.
    """
    if not mask.any():
        return None
    box = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=others))
        box.append(slice(max(int(present[0]) - margin, 0), min(int(present[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)


def component_volumes_mm3(
    components: np.ndarray, count: int, mask: np.ndarray, voxel_volume_mm3: float
) -> np.ndarray:
    """Volume in mm^3 of components 0..count of a labelled array (entry 0, background, is 0).

    ``mask`` is the foreground that was labelled; counting only its voxels is several times
    faster than counting the whole array on a mostly empty CT.
    """
    return np.bincount(components[mask], minlength=count + 1).astype(np.float64) * voxel_volume_mm3
