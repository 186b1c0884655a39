"""Keep the liver's largest connected component (and optionally other large ones)."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy import ndimage

from livseg.errors import ConfigError
from livseg.postprocessing.labels import (
    BACKGROUND,
    bounding_box,
    check_labels,
    check_spacing,
    component_volumes_mm3,
    connectivity_structure,
)

logger = logging.getLogger(__name__)


def keep_liver_components(
    labels: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    connectivity: int = 26,
    min_fraction: float | None = None,
    min_volume_ml: float | None = None,
) -> np.ndarray:
    """Keep the largest connected component of the liver structure; remove the rest.

    The liver structure is labels 1 and 2 together, so a tumour that sits at the liver's
    edge stays with its liver and a tumour in a removed component goes with it. Besides the
    largest component, a component is also kept when its volume is at least ``min_fraction``
    of the largest one's or at least ``min_volume_ml`` millilitres (either rule suffices;
    both None: only the largest is kept). Ties for largest keep every tied component.

    Args:
        labels: (z, y, x) integer array of 0 background, 1 liver, 2 tumour.
        spacing_mm: voxel size (x, y, z) in mm (used for ``min_volume_ml``).
        connectivity: 6, 18 or 26 neighbours in 3D.
        min_fraction: in (0, 1]: also keep components at least this fraction of the largest.
        min_volume_ml: >= 0: also keep components of at least this volume (1 mL = 1000 mm^3).

    Returns:
        A new (z, y, x) array of the input's dtype; removed voxels are 0. The input is not
        changed.
    """
    check_labels(labels)
    spacing = check_spacing(spacing_mm)
    if min_fraction is not None and not 0.0 < min_fraction <= 1.0:
        raise ConfigError("min_fraction", expected="a fraction in (0, 1]", found=repr(min_fraction))
    if min_volume_ml is not None and not min_volume_ml >= 0.0:
        raise ConfigError("min_volume_ml", expected="a volume >= 0 mL", found=repr(min_volume_ml))
    structure = connectivity_structure(connectivity)
    result = labels.copy()
    box = bounding_box(labels != BACKGROUND, margin=0)
    if box is None:
        return result
    region = result[box]
    foreground = region != BACKGROUND
    components, count = ndimage.label(foreground, structure=structure)
    if count <= 1:
        return result
    volumes_mm3 = component_volumes_mm3(components, count, foreground, float(np.prod(spacing)))
    largest = volumes_mm3.max()
    keep = volumes_mm3 == largest
    if min_fraction is not None:
        keep |= volumes_mm3 >= min_fraction * largest
    if min_volume_ml is not None:
        keep |= volumes_mm3 >= min_volume_ml * 1000.0
    keep[0] = False
    removed = foreground & ~keep[components]
    region[removed] = BACKGROUND
    logger.debug("liver components: kept %d of %d (largest %.1f mL), removed %d voxels",
                 int(keep.sum()), count, largest / 1000.0, int(removed.sum()))
    return result
