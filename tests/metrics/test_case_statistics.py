"""Per-case statistics (TotalSegmentator's --statistics, plus RECIST-like lesion diameters),
checked against values worked out by hand on small anisotropic and flipped grids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livseg.errors import GeometryMismatchError
from livseg.metrics.statistics import case_statistics
from livseg.volume import Geometry, Volume


def _case(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)):
    grid = Geometry(size=(40, 30, 10), spacing_mm=(0.5, 0.8, 3.0), origin_mm=(0.0, 0.0, 0.0), direction=direction)
    labels = np.zeros(grid.shape_zyx, np.uint8)
    labels[2:8, 5:25, 5:35] = 1                  # liver: 6 x 20 x 30 voxels
    labels[4:6, 10:14, 10:30] = 2                # a lesion: 20 voxels (10 mm) by 4 (3.2 mm), 2 slices
    labels[3, 20, 32] = 2                        # a one-voxel lesion
    ct = np.full(grid.shape_zyx, -100, np.int16)
    ct[labels == 1] = 60
    ct[labels == 2] = 20
    return Volume(labels, grid, kind="label"), Volume(ct, grid, kind="ct")


@pytest.mark.parametrize("direction", [(1, 0, 0, 0, 1, 0, 0, 0, 1), (-1, 0, 0, 0, 1, 0, 0, 0, -1)])
def test_volumes_hu_and_lesion_diameters_by_hand(direction):
    labels, ct = _case(direction)
    facts = case_statistics(labels, ct)
    voxel_ml = 0.5 * 0.8 * 3.0 / 1000
    assert facts["liver_volume_ml"] == pytest.approx(6 * 20 * 30 * voxel_ml)
    liver_hu = np.where(labels.array[labels.array > 0] == 2, 20.0, 60.0)
    assert facts["liver_hu"]["mean"] == pytest.approx(liver_hu.mean())
    assert facts["liver_hu"]["median"] == 60.0
    assert facts["tumour_count"] == 2
    big, small = facts["lesions"]
    assert big["volume_ml"] == pytest.approx(2 * 4 * 20 * voxel_ml) and small["volume_ml"] == pytest.approx(voxel_ml)
    assert big["longest_axial_diameter_mm"] == pytest.approx(math.hypot(10.0, 3.2))   # edge to edge, corner to corner
    assert small["longest_axial_diameter_mm"] == pytest.approx(math.hypot(0.5, 0.8))
    assert facts["tumour_burden_pct"] == pytest.approx(100 * (161 * voxel_ml) / facts["liver_volume_ml"])


def test_tumour_not_assessed_is_none_not_zero_and_grids_must_agree():
    labels, ct = _case()
    facts = case_statistics(labels, ct, structures=("liver",))
    assert facts["tumour_count"] is None and facts["lesions"] is None and facts["tumour_burden_pct"] is None
    empty = case_statistics(labels.with_array(np.zeros_like(labels.array)), ct)
    assert empty["liver_volume_ml"] == 0 and empty["liver_hu"] is None and empty["tumour_count"] == 0
    other = Volume(ct.array, Geometry(size=(40, 30, 10), spacing_mm=(0.5, 0.8, 2.0)), kind="ct")
    with pytest.raises(GeometryMismatchError):
        case_statistics(labels, other)
