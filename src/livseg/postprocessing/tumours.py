"""Tumour clean-up: tumours must belong to a liver, and must not be specks.

Definitions (``connectivity`` is 6, 18 or 26 neighbours in 3D):

* A *tumour component* is a connected set of label-2 voxels.
* It *touches the liver* when at least one of its voxels has a liver (label 1) voxel among
  its neighbours. A tumour inside the liver, or at the liver's edge, touches it; a tumour
  component with no liver voxel next to it lies outside the liver and is removed (set to 0).
* Its *volume* is its voxel count times the voxel volume (product of the three spacings in
  mm), so anisotropic voxels count for what they are.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy import ndimage

from livseg.errors import ConfigError
from livseg.postprocessing.labels import (
    BACKGROUND,
    LIVER,
    TUMOUR,
    bounding_box,
    check_labels,
    check_spacing,
    component_volumes_mm3,
    connectivity_structure,
)

logger = logging.getLogger(__name__)


def remove_tumours_outside_liver(labels: np.ndarray, *, connectivity: int = 26) -> np.ndarray:
    """Set to background every tumour component that does not touch a liver voxel.

    Args:
        labels: (z, y, x) integer array of 0 background, 1 liver, 2 tumour.
        connectivity: neighbourhood for both the tumour components and "touching".

    Returns:
        A new array of the input's dtype; the input is not changed.
    """
    check_labels(labels)
    structure = connectivity_structure(connectivity)
    result = labels.copy()
    box = bounding_box(labels == TUMOUR, margin=1)
    if box is None:
        return result
    region = result[box]
    components, count = ndimage.label(region == TUMOUR, structure=structure)
    near_liver = ndimage.binary_dilation(region == LIVER, structure=structure)
    touching = np.zeros(count + 1, dtype=bool)
    touching[np.unique(components[near_liver])] = True
    touching[0] = True  # background stays as it is
    outside = ~touching[components]
    region[outside] = BACKGROUND
    if outside.any():
        logger.debug("removed %d of %d tumour components outside the liver (%d voxels)",
                     count - int(touching[1:].sum()), count, int(outside.sum()))
    return result


def remove_small_tumours(
    labels: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    min_volume_mm3: float,
    connectivity: int = 26,
) -> np.ndarray:
    """Relabel as liver (1) every tumour component smaller than ``min_volume_mm3``.

    The voxels stay in the liver structure (labels 1 and 2 together are unchanged), so no hole
    opens where a speck of tumour was; a tumour outside the liver is the job of
    ``remove_tumours_outside_liver``. A component exactly at the threshold is kept.

    Args:
        labels: (z, y, x) integer array of 0 background, 1 liver, 2 tumour.
        spacing_mm: voxel size (x, y, z) in mm.
        min_volume_mm3: components with volume below this (mm^3) are relabelled; 0 keeps all.
        connectivity: 6, 18 or 26 neighbours in 3D.

    Returns:
        A new array of the input's dtype; the input is not changed.
    """
    check_labels(labels)
    spacing = check_spacing(spacing_mm)
    if not min_volume_mm3 >= 0.0:
        raise ConfigError("min_volume_mm3", expected="a volume >= 0 mm^3", found=repr(min_volume_mm3))
    structure = connectivity_structure(connectivity)
    result = labels.copy()
    box = bounding_box(labels == TUMOUR, margin=0)
    if box is None or min_volume_mm3 == 0.0:
        return result
    region = result[box]
    tumour = region == TUMOUR
    components, count = ndimage.label(tumour, structure=structure)
    volumes_mm3 = component_volumes_mm3(components, count, tumour, float(np.prod(spacing)))
    small = volumes_mm3 < min_volume_mm3
    small[0] = False
    relabel = small[components]
    region[relabel] = LIVER
    if relabel.any():
        logger.debug("relabelled %d of %d tumour components below %g mm^3 as liver",
                     int(small.sum()), count, min_volume_mm3)
    return result
