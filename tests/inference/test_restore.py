"""From the prepared grid back to the working grid: region of interest and probabilities."""

from __future__ import annotations

import numpy as np

from livseg.inference.restore import foreground_roi, probabilities_on
from livseg.preprocessing import CropRecord
from livseg.preprocessing.resampling import target_geometry
from livseg.volume import Geometry


def _grids():
    working = Geometry(size=(20, 16, 12), spacing_mm=(1.0, 1.0, 2.0))
    crop = CropRecord(original=working, start_zyx=(2, 3, 4), stop_zyx=(10, 15, 18))
    prepared = target_geometry(crop.cropped, (2.0, 2.0, 2.0))
    return working, crop, prepared


def test_roi_of_one_prepared_voxel_by_hand():
    working, crop, prepared = _grids()
    # Crop origin (4, 3, 4) mm; prepared grid: corner (3.5, 2.5, 3.0), origin (4.5, 3.5, 4.0), 2 mm voxels.
    assert prepared.size == (7, 6, 8) and np.allclose(prepared.origin_mm, (4.5, 3.5, 4.0))
    mask = np.zeros(prepared.shape_zyx, bool)
    mask[3, 2, 4] = True  # spans x 11.5..13.5, y 6.5..8.5, z 9..11 mm
    # Working voxels overlapping it: x 12-13, y 7-8, z slice 5 (8..12 mm covers 9..11 only at k = 5);
    # margin 0 is raised to one prepared voxel (2 mm): 2, 2, 1 voxels along x, y, z.
    roi = foreground_roi(mask, prepared, crop, margin_mm=0.0)
    assert (roi.start_zyx, roi.stop_zyx) == ((4, 5, 10), (7, 11, 16))
    wide = foreground_roi(mask, prepared, crop, margin_mm=100.0)
    assert (wide.start_zyx, wide.stop_zyx) == (crop.start_zyx, crop.stop_zyx)  # clipped to the crop
    assert foreground_roi(np.zeros_like(mask), prepared, crop, margin_mm=5.0) is None


def test_probabilities_are_interpolated_onto_the_box_and_sum_to_one():
    working, crop, prepared = _grids()
    # A foreground probability linear in x (mm): linear interpolation must reproduce it exactly
    # wherever the working voxel centre lies between prepared centres.
    x_mm = prepared.origin_mm[0] + 2.0 * np.arange(prepared.size[0])
    p1 = np.broadcast_to(0.05 * x_mm, prepared.shape_zyx)
    probabilities = np.stack([1 - p1, p1]).astype(np.float16)
    box = CropRecord(original=working, start_zyx=(3, 5, 6), stop_zyx=(8, 12, 14))
    out = probabilities_on(box, probabilities, prepared)
    assert out.shape == (2, 5, 7, 8) and out.dtype == np.float32
    centres_x = box.cropped.origin_mm[0] + np.arange(8)
    np.testing.assert_allclose(out[1], np.broadcast_to(0.05 * centres_x, (5, 7, 8)), atol=2e-3)  # float16 input
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-6)


def test_three_classes_are_renormalised():
    working, crop, prepared = _grids()
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.1, 1.0, (3, *prepared.shape_zyx))
    probabilities = (raw / raw.sum(axis=0)).astype(np.float16)
    out = probabilities_on(crop, probabilities, prepared)
    assert out.shape == (3, *crop.cropped.shape_zyx)
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-5)
    assert out.min() >= 0

