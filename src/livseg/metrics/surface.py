"""Surface distances, computed once per pair; every surface measure is derived from them.

Definitions follow the SLiver07 evaluation (Heimann et al. 2009, IEEE TMI 28(8):1251-1265, and
the challenge's evaluation page, http://mbi.dkfz-heidelberg.de/grand-challenge2007/sites/eval.htm):

* **Border voxels**: foreground voxels with at least one background voxel among their 26
  neighbours. **Outside the grid counts as background**, so a mask touching the volume's edge
  has a closed surface there (as MedPy's ``binary_erosion`` with its default border value 0).
* For every border voxel of each mask, the Euclidean distance in mm (anisotropic spacing) to
  the nearest border voxel of the other mask. Both directions are kept; the pooled set (all
  reference-border and all prediction-border distances together) gives:

  - ASSD  (SLiver07 "AvgD")  = mean of the pooled distances, mm;
  - RMSSD (SLiver07 "RMSD")  = sqrt(mean of the squared pooled distances), mm;
  - MSSD  (SLiver07 "MaxD", Hausdorff distance) = max of the pooled distances, mm;
  - HD95  = 95th percentile of the pooled distances (numpy's linear interpolation), mm.
    This is MedPy's ``hd95`` definition; DeepMind's ``surface-distance`` instead takes the max
    of the two directed 95th percentiles, available here as ``hd95_directed_max_mm``. We keep
    the pooled one as the headline because ASSD, RMSSD and MSSD are pooled statistics too, so
    all four summarise the same distribution.
  - surface Dice at tolerance t = (number of border voxels of either mask within t mm of the
    other surface) / (total number of border voxels of both). A voxel-count version:
    ``surface-distance`` weights by surfel areas instead, so the two agree only approximately.

Speed: both masks are cropped to their joint bounding box (padded by one background voxel, so
the border rule and the outside-is-background rule are unchanged) before anything else. The
nearest distances are exact either way; cropping changes no value (a test checks it).
The distance itself uses scipy's exact Euclidean distance transform with ``sampling=``
(``method="edt"``, default), or a k-d tree over border-voxel positions in mm
(``method="kdtree"``, also exact, faster for large smooth masks whose bounding box is big).

Empty masks: both empty -> all distances 0, surface Dice 1; exactly one empty -> the distance
measures are undefined (None) and surface Dice is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from livseg.errors import ConfigError
from livseg.metrics.masks import MaskLike, mask_pair

_METHODS = ("edt", "kdtree")


def border_voxels(mask: np.ndarray) -> np.ndarray:
    """Border voxels of a boolean mask (z, y, x): foreground with a background 26-neighbour.

    Outside the array counts as background. Returns a new bool array; ``mask`` is not modified.
    """
    mask = np.asarray(mask, dtype=bool)
    # A 3x3x3 minimum filter is the 26-neighbourhood erosion; scipy runs it as three separable
    # 1D passes, about 2.5x faster than binary_erosion with a full cube (same result).
    eroded = ndimage.minimum_filter(mask.view(np.uint8), size=3, mode="constant", cval=0)
    return mask & (eroded == 0)


def joint_bounding_box(*masks: np.ndarray) -> tuple[slice, ...] | None:
    """Smallest slices (z, y, x) holding every foreground voxel of ``masks``; None if all empty."""
    union_any = [np.zeros(n, dtype=bool) for n in masks[0].shape]
    for mask in masks:
        for axis in range(mask.ndim):
            other = tuple(a for a in range(mask.ndim) if a != axis)
            union_any[axis] |= mask.any(axis=other)
    if not union_any[0].any():
        return None
    slices = []
    for present in union_any:
        index = np.flatnonzero(present)
        slices.append(slice(int(index[0]), int(index[-1]) + 1))
    return tuple(slices)


@dataclass(frozen=True)
class SurfaceDistances:
    """Border-to-border distances of one pair, in mm.

    Attributes:
        reference_to_prediction_mm: for each reference border voxel (float64, shape (n_ref,)),
            the distance to the nearest prediction border voxel.
        prediction_to_reference_mm: for each prediction border voxel (shape (n_pred,)).
        empty: "none", "both", "reference" or "prediction" (which masks were empty).
    """

    reference_to_prediction_mm: np.ndarray
    prediction_to_reference_mm: np.ndarray
    empty: str

    @property
    def defined(self) -> bool:
        """False when exactly one mask is empty (distances to nothing)."""
        return self.empty in ("none", "both")

    @property
    def pooled_mm(self) -> np.ndarray:
        return np.concatenate([self.reference_to_prediction_mm, self.prediction_to_reference_mm])

    def _pooled_stat(self, function) -> float | None:
        if not self.defined:
            return None
        if self.empty == "both":
            return 0.0
        return float(function(self.pooled_mm))

    @property
    def assd_mm(self) -> float | None:
        """Average symmetric surface distance (SLiver07 AvgD), mm."""
        return self._pooled_stat(np.mean)

    @property
    def rmssd_mm(self) -> float | None:
        """Root-mean-square symmetric surface distance (SLiver07 RMSD), mm."""
        return self._pooled_stat(lambda d: np.sqrt(np.mean(np.square(d))))

    @property
    def mssd_mm(self) -> float | None:
        """Maximum symmetric surface distance (SLiver07 MaxD; the Hausdorff distance), mm."""
        return self._pooled_stat(np.max)

    @property
    def hd95_mm(self) -> float | None:
        """95th percentile of the pooled distances (MedPy's definition), mm."""
        return self._pooled_stat(lambda d: np.percentile(d, 95))

    @property
    def hd95_directed_max_mm(self) -> float | None:
        """Max of the two directed 95th percentiles (surface-distance's definition), mm."""
        if not self.defined:
            return None
        if self.empty == "both":
            return 0.0
        return float(max(np.percentile(self.reference_to_prediction_mm, 95),
                         np.percentile(self.prediction_to_reference_mm, 95)))

    def surface_dice(self, tolerance_mm: float) -> float:
        """Share of both masks' border voxels lying within ``tolerance_mm`` of the other surface."""
        if tolerance_mm < 0:
            raise ConfigError("tolerance_mm", expected="a tolerance >= 0 mm", found=f"{tolerance_mm}")
        if self.empty == "both":
            return 1.0
        if not self.defined:
            return 0.0
        pooled = self.pooled_mm
        return float(np.count_nonzero(pooled <= tolerance_mm) / pooled.size)


def _directed_edt(source_border: np.ndarray, target_border: np.ndarray,
                  spacing_zyx: Sequence[float]) -> np.ndarray:
    """Distance (mm) from each source border voxel to the nearest target border voxel (EDT)."""
    distance = ndimage.distance_transform_edt(~target_border, sampling=spacing_zyx)
    return distance[source_border]


def _directed_kdtree(source_border: np.ndarray, target_border: np.ndarray,
                     spacing_zyx: Sequence[float]) -> np.ndarray:
    """Same as :func:`_directed_edt` with a k-d tree over voxel centres in mm (also exact)."""
    from scipy.spatial import cKDTree

    scale = np.asarray(spacing_zyx, dtype=float)
    tree = cKDTree(np.argwhere(target_border) * scale)
    distance, _ = tree.query(np.argwhere(source_border) * scale)
    return np.asarray(distance, dtype=float)


def surface_distances(reference: MaskLike, prediction: MaskLike, *,
                      spacing_mm: Sequence[float] | None = None,
                      method: str = "edt", crop: bool = True) -> SurfaceDistances:
    """Border-to-border distances of a binary pair, both directions, in mm.

    Args:
        reference, prediction: Volumes on one grid, or bool/0-1 arrays (z, y, x).
        spacing_mm: (x, y, z) voxel size in mm; mandatory for arrays.
        method: "edt" (scipy's exact Euclidean distance transform) or "kdtree" (exact too).
        crop: crop to the joint bounding box first (values are identical; only speed differs).

    Returns:
        SurfaceDistances; derive ASSD, RMSSD, MSSD, HD95, surface Dice from it.
    """
    if method not in _METHODS:
        raise ConfigError("method", expected=f"one of {_METHODS}", found=repr(method))
    pair = mask_pair(reference, prediction, spacing_mm=spacing_mm)
    ref, pred = pair.reference, pair.prediction
    ref_any, pred_any = bool(ref.any()), bool(pred.any())
    none = np.zeros(0, dtype=float)
    if not ref_any or not pred_any:
        empty = "both" if not (ref_any or pred_any) else ("reference" if not ref_any else "prediction")
        return SurfaceDistances(none, none, empty=empty)
    if crop:
        box = joint_bounding_box(ref, pred)
        # One background voxel of padding keeps "outside the grid is background" exact.
        ref = np.pad(ref[box], 1)
        pred = np.pad(pred[box], 1)
    ref_border, pred_border = border_voxels(ref), border_voxels(pred)
    directed = _directed_edt if method == "edt" else _directed_kdtree
    spacing = pair.spacing_zyx_mm
    return SurfaceDistances(
        reference_to_prediction_mm=directed(ref_border, pred_border, spacing),
        prediction_to_reference_mm=directed(pred_border, ref_border, spacing),
        empty="none",
    )
