"""The kind of a Volume chooses its interpolation (TorchIO's rule: label maps always nearest
neighbour), and every grid-changing step keeps the kind and the spacing knowledge."""

from __future__ import annotations

import numpy as np
import pytest

from livseg.config import PreprocessingConfig
from livseg.preprocessing import clip_and_normalise, crop, prepare_case, reorient, uncrop
from livseg.preprocessing.cropping import CropRecord
from livseg.preprocessing.resampling import resample_onto, resample_to_spacing, target_geometry
from livseg.volume import Geometry, Volume


def _grid() -> Geometry:
    return Geometry(size=(12, 10, 6), spacing_mm=(1.0, 1.0, 2.0), origin_mm=(3.0, -2.0, 10.0))


def test_labels_are_resampled_by_nearest_neighbour_and_anything_else_linearly():
    geometry = _grid()
    values = np.zeros(geometry.shape_zyx, np.uint8)
    values[:, :, 6:] = 2                        # a step along x: 0 | 2
    target = target_geometry(geometry, (0.5, 0.5, 2.0))
    labels = resample_onto(Volume(values, geometry, kind="label"), target)
    assert labels.kind == "label" and labels.array.dtype == np.uint8
    assert set(np.unique(labels.array)) == {0, 2}  # never a 1 between them
    assert labels.geometry == target               # exactly the requested grid
    ramp = resample_onto(Volume(values, geometry), target)   # kind "any"
    assert ramp.kind == "any" and ramp.array.dtype == np.float32
    assert np.any((ramp.array > 0.1) & (ramp.array < 1.9))   # interpolated across the step
    same, record = resample_to_spacing(Volume(values, geometry, kind="label"), geometry.spacing_mm)
    assert record.is_identity and same.array is values


def test_outside_the_source_extent_nearest_by_default_or_a_fill_value():
    geometry = _grid()
    ones = Volume(np.ones(geometry.shape_zyx, np.uint8), geometry, kind="label", source="ones")
    shifted = Geometry(geometry.size, geometry.spacing_mm, (geometry.origin_mm[0] + 6.0, *geometry.origin_mm[1:]))
    nearest = resample_onto(ones, shifted)
    assert nearest.array.min() == 1                          # extrapolated from the border
    filled = resample_onto(ones, shifted, outside=0, source="ones (moved)")
    assert filled.source == "ones (moved)"
    np.testing.assert_array_equal(filled.array[:, :, :6], 1)  # x 9..14 mm inside the source
    np.testing.assert_array_equal(filled.array[:, :, 6:], 0)  # beyond its last voxel centre


def test_grid_steps_keep_the_kind_and_unknown_spacing():
    geometry = _grid()
    ct = Volume(np.full(geometry.shape_zyx, -50, np.int16), geometry, kind="ct", spacing_known=False)
    box = CropRecord(original=geometry, start_zyx=(1, 2, 3), stop_zyx=(5, 8, 9))
    for out in (crop(ct, box), uncrop(crop(ct, box), box), reorient(ct, "RAS")[0]):
        assert (out.kind, out.spacing_known) == ("ct", False)
    normalised = clip_and_normalise(ct, (-100.0, 100.0), "unit")
    assert normalised.kind == "any" and normalised.spacing_known is False  # no longer HU


def test_prepare_case_makes_the_label_a_label_so_the_inverse_is_nearest():
    geometry = Geometry(size=(20, 16, 8), spacing_mm=(0.7, 0.7, 2.5))
    array = np.full(geometry.shape_zyx, -1000, np.int16)
    array[1:7, 3:13, 4:16] = 60
    ct = Volume(array, geometry, kind="ct")
    label = ct.with_array((array > 0).astype(np.uint8) * 2, kind="any")   # plain array, not marked
    prepared = prepare_case(ct, label, PreprocessingConfig(spacing_mm=(1.0, 1.0, 1.0), crop="body"))
    assert prepared.label is not None and prepared.label.kind == "label"
    assert set(np.unique(prepared.label.array)) <= {0, 2}
    back = prepared.record.invert(prepared.label)
    assert back.geometry == geometry and back.kind == "label"
    assert set(np.unique(back.array)) <= {0, 2}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q"]))
