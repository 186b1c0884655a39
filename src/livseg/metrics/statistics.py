"""What a mask says about one scan, as TotalSegmentator's ``--statistics`` reports it: liver
volume, the liver's HU, and per lesion its volume and longest axial diameter.

Lesions are the 6-connected components of label 2 (as LiTS counts them). A lesion's longest
axial diameter is the largest edge-to-edge distance across any of its axial cross-sections
(the RECIST measure): the cross-section's voxels as squares, the longest distance between
corners of their convex hull, in mm on the scan's own grid (so anisotropic and oblique grids are
measured right). "Axial" is the array axis closest to head-feet.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist

from livseg.postprocessing.pipeline import axial_axis
from livseg.volume import Volume

_SIX = ndimage.generate_binary_structure(3, 1)


def case_statistics(labels: Volume, ct: Volume, *, structures: Sequence[str] = ("liver", "tumour")) -> dict[str, Any]:
    """Statistics of a 0/1/2 label map on its CT's grid.

    Args:
        labels: uint8 labels (z, y, x) on exactly ``ct``'s grid.
        ct: the CT in HU.
        structures: what was assessed; without "tumour" the tumour fields are None (not 0).

    Returns:
        {"liver_volume_ml", "liver_hu": {"mean", "median", "std"} (None without liver),
        "tumour_count", "tumour_volume_ml", "tumour_burden_pct" (tumour / liver volume, %),
        "lesions": [{"volume_ml", "longest_axial_diameter_mm", "centre_lps_mm"}, largest first]}.
    """
    ct.require_same_grid(labels)
    geometry = labels.geometry
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    liver = labels.array > 0
    liver_voxels = int(np.count_nonzero(liver))
    hu = ct.array[liver].astype(np.float64) if liver_voxels else None
    out: dict[str, Any] = {
        "liver_volume_ml": liver_voxels * voxel_ml,
        "liver_hu": None if hu is None else {"mean": float(hu.mean()), "median": float(np.median(hu)),
                                             "std": float(hu.std())},
        "tumour_count": None, "tumour_volume_ml": None, "tumour_burden_pct": None, "lesions": None,
    }
    if "tumour" not in structures:
        return out
    tumour = labels.array == 2
    components, count = ndimage.label(tumour, structure=_SIX)
    lesions = []
    axis = axial_axis(geometry)
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        mask = components[box] == index
        offset = np.array([s.start for s in box])
        centre_zyx = np.argwhere(mask).mean(axis=0) + offset
        lesions.append({"volume_ml": int(np.count_nonzero(mask)) * voxel_ml,
                        "longest_axial_diameter_mm": _longest_axial_diameter(mask, offset, axis, geometry),
                        "centre_lps_mm": [float(v) for v in geometry.index_to_physical(centre_zyx[::-1][None])[0]]})
    lesions.sort(key=lambda lesion: -lesion["volume_ml"])
    tumour_ml = int(np.count_nonzero(tumour)) * voxel_ml
    out.update(tumour_count=int(count), tumour_volume_ml=tumour_ml, lesions=lesions,
               tumour_burden_pct=100.0 * tumour_ml / out["liver_volume_ml"] if liver_voxels else None)
    return out


def _longest_axial_diameter(mask: np.ndarray, offset: np.ndarray, axis: int, geometry) -> float:
    """Largest edge-to-edge distance (mm) within one axial cross-section of ``mask`` (z, y, x)."""
    best = 0.0
    plane_axes = [a for a in range(3) if a != axis]
    corners = np.array([(du, dv) for du in (-0.5, 0.5) for dv in (-0.5, 0.5)])
    for k in range(mask.shape[axis]):
        section = np.take(mask, k, axis=axis)
        points = np.argwhere(section)  # (n, 2) indices along plane_axes
        if points.size == 0:
            continue
        square = (points[:, None, :] + corners[None]).reshape(-1, 2)
        hull = square[ConvexHull(square).vertices] if len(points) > 1 else square
        zyx = np.empty((len(hull), 3))
        zyx[:, axis] = k + offset[axis]
        zyx[:, plane_axes[0]] = hull[:, 0] + offset[plane_axes[0]]
        zyx[:, plane_axes[1]] = hull[:, 1] + offset[plane_axes[1]]
        physical = geometry.index_to_physical(zyx[:, ::-1])  # (i, j, k) = (x, y, z) index order
        best = max(best, float(pdist(physical).max()))
    return best
