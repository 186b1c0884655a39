"""``postprocess``: every clean-up step on a label Volume, in one documented order."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from livseg.errors import ConfigError
from livseg.postprocessing.components import keep_liver_components
from livseg.postprocessing.holes import fill_holes_2d, fill_holes_3d
from livseg.postprocessing.labels import CONNECTIVITIES, check_labels
from livseg.postprocessing.tumours import remove_small_tumours, remove_tumours_outside_liver
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostprocessConfig:
    """Which clean-up steps run, and their parameters.

    Attributes:
        keep_largest_liver: keep only the largest connected component of the liver structure
            (labels 1 and 2 together), plus those passing ``min_liver_fraction`` or
            ``min_liver_volume_ml``.
        min_liver_fraction: also keep components at least this fraction (0, 1] of the
            largest; None: off.
        min_liver_volume_ml: also keep components of at least this many mL; None: off.
        connectivity: 6, 18 or 26; used for liver components, tumour components and
            "tumour touches liver". 26 keeps liver parts joined by an edge or a corner together.
        tumour_in_liver: remove tumour components that touch no liver voxel.
        min_tumour_volume_mm3: tumour components below this volume (mm^3) become liver;
            0 turns the step off. The default 10 mm^3 is about 10 voxels of a usual
            0.7 x 0.7 x 2 mm CT: it removes specks of a few voxels and stays far below the
            smallest lesion worth reporting (5 mm across, about 65 mm^3).
        fill_holes_3d: fill cavities enclosed in 3D with liver.
        fill_holes_2d: fill holes within each axial slice with liver (includes the 3D ones;
            also closes vessels that cross the liver within a slice).
        empty_below_ml: when the liver kept after step 1 is smaller than this (mL), the scan
            is taken to show no liver and the mask is emptied (None: off). A whole adult liver
            is 1-2 L; a scan that shows only the dome still shows far more than a few tens of mL,
            while a network's false positives on a liverless scan are small scattered blobs.
            Short scans lower the bar: it is at most 1 mL per mm of the scan's head-feet
            extent (a 3-slice, 3 mm scan through the liver holds only tens of mL of it).
    """

    keep_largest_liver: bool = True
    min_liver_fraction: float | None = None
    min_liver_volume_ml: float | None = None
    connectivity: int = 26
    tumour_in_liver: bool = True
    min_tumour_volume_mm3: float = 10.0
    fill_holes_3d: bool = True
    fill_holes_2d: bool = True
    empty_below_ml: float | None = None

    def __post_init__(self) -> None:
        if self.connectivity not in CONNECTIVITIES:
            raise ConfigError("postprocess.connectivity", expected=f"one of {CONNECTIVITIES}",
                              found=repr(self.connectivity))
        if self.min_liver_fraction is not None and not 0.0 < self.min_liver_fraction <= 1.0:
            raise ConfigError("postprocess.min_liver_fraction", expected="a fraction in (0, 1] or None",
                              found=repr(self.min_liver_fraction))
        if self.min_liver_volume_ml is not None and not self.min_liver_volume_ml >= 0.0:
            raise ConfigError("postprocess.min_liver_volume_ml", expected="a volume >= 0 mL or None",
                              found=repr(self.min_liver_volume_ml))
        if self.empty_below_ml is not None and not self.empty_below_ml >= 0.0:
            raise ConfigError("postprocess.empty_below_ml", expected="a volume >= 0 mL or None",
                              found=repr(self.empty_below_ml))
        if not self.min_tumour_volume_mm3 >= 0.0:
            raise ConfigError("postprocess.min_tumour_volume_mm3", expected="a volume >= 0 mm^3",
                              found=repr(self.min_tumour_volume_mm3))


def axial_axis(geometry: Geometry) -> int:
    """The array axis (0 = z, 1 = y, 2 = x) whose index axis runs closest to head-feet (LPS z).

    For the usual axial CT this is 0; for a volume stored sagittally or coronally it is not,
    and per-slice hole filling must then slice along the right axis.
    """
    index_axis = int(np.argmax(np.abs(geometry.direction_matrix[2, :])))  # i, j or k
    return 2 - index_axis


#: Largest ``empty_below_ml`` threshold per mm of a scan's head-feet extent (mL/mm).
EMPTY_ML_PER_MM = 1.0


def axial_extent_mm(geometry: Geometry) -> float:
    """Head-feet extent of the volume in mm: voxels along the axial axis times their spacing."""
    index_axis = 2 - axial_axis(geometry)  # back to (x, y, z) index order
    return float(geometry.size[index_axis] * geometry.spacing_mm[index_axis])


def postprocess(labels: Volume, config: PostprocessConfig = PostprocessConfig()) -> Volume:
    """Clean a 0/1/2 label Volume; returns a new Volume on the same grid.

    Order, each step optional through ``config``:

    1. keep the largest liver component (labels 1 and 2 together): drops far-away false
       positives, their tumour voxels with them; then empty the mask when what is left is
       below ``empty_below_ml`` (no liver in view);
    2. remove tumour components that touch no liver voxel;
    3. relabel tumour components below ``min_tumour_volume_mm3`` as liver;
    4. fill 3D cavities and 5. holes within each axial slice with liver (tumour voxels are
       never overwritten); when both are on, the per-slice pass alone gives the same result.

    Component selection comes first so that holes are judged on the liver that is kept.
    The input Volume and its array are not changed.
    """
    array = labels.array
    check_labels(array, subject=labels.source)
    spacing = labels.geometry.spacing_mm
    out = np.array(array, copy=True)
    if config.keep_largest_liver:
        out = keep_liver_components(out, spacing, connectivity=config.connectivity,
                                    min_fraction=config.min_liver_fraction,
                                    min_volume_ml=config.min_liver_volume_ml)
    if config.empty_below_ml is not None:
        liver_ml = np.count_nonzero(out) * float(np.prod(spacing)) / 1000.0
        threshold = min(config.empty_below_ml, EMPTY_ML_PER_MM * axial_extent_mm(labels.geometry))
        if liver_ml < threshold:
            logger.info("%s: %.1f mL of liver is below the %.1f mL of empty_below_ml: no liver in view",
                        labels.source, liver_ml, threshold)
            out[...] = 0
    if config.tumour_in_liver:
        out = remove_tumours_outside_liver(out, connectivity=config.connectivity)
    if config.min_tumour_volume_mm3 > 0.0:
        out = remove_small_tumours(out, spacing, min_volume_mm3=config.min_tumour_volume_mm3,
                                   connectivity=config.connectivity)
    # Every 3D hole is a hole of each slice it crosses (see holes.py), so with per-slice
    # filling on, the 3D pass would change nothing: skip it.
    if config.fill_holes_3d and not config.fill_holes_2d:
        out = fill_holes_3d(out)
    if config.fill_holes_2d:
        out = fill_holes_2d(out, axis=axial_axis(labels.geometry))
    changed = int(np.count_nonzero(out != array))
    logger.info("post-processing changed %d voxels of %s", changed, labels.source)
    return labels.with_array(out)
