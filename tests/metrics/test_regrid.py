"""Labels onto a reference grid (what ``livseg evaluate`` and ``livseg report`` share): on Volumes,
no file reading; exact re-ordering where possible, nearest neighbour only when allowed."""

from __future__ import annotations

import numpy as np
import pytest

from livseg.datasets import parse_label_map
from livseg.errors import GeometryMismatchError, InvalidImageError
from livseg.metrics.regrid import as_labels, onto_reference
from livseg.preprocessing import reorient
from livseg.volume import Geometry, Volume


def _reference() -> Volume:
    geometry = Geometry(size=(10, 8, 6), spacing_mm=(1.0, 1.0, 2.0), origin_mm=(0.0, 0.0, 0.0))
    array = np.zeros(geometry.shape_zyx, np.uint8)
    array[1:5, 2:6, 3:8] = 1
    array[2:4, 3:5, 4:6] = 2
    return Volume(array, geometry, source="gt.nii.gz", kind="label")


def test_as_labels_checks_or_maps_values():
    reference = _reference()
    assert as_labels(reference) is reference
    with pytest.raises(InvalidImageError, match="structure_mask|0 \\(background\\)|values"):
        as_labels(reference.with_array(reference.array * 3))
    mapped = as_labels(reference.with_array(reference.array * 3), parse_label_map("3:1,6:2"))
    np.testing.assert_array_equal(mapped.array, reference.array)
    assert mapped.kind == "label" and mapped.geometry == reference.geometry


def test_same_grid_and_reordered_grid_are_exact():
    reference = _reference()
    assert onto_reference(reference, reference, resample=False) is reference
    turned, _ = reorient(reference, "RAI")          # same voxels, another axis order
    assert not turned.geometry.same_grid(reference.geometry)
    back = onto_reference(turned, reference)
    np.testing.assert_array_equal(back.array, reference.array)
    assert back.geometry.same_grid(reference.geometry) and "resampled_onto" not in back.meta


def test_another_grid_is_an_error_unless_resampling_is_allowed():
    reference = _reference()
    g = reference.geometry
    coarse_grid = Geometry((5, 4, 6), (2.0, 2.0, 2.0), (0.5, 0.5, 0.0))
    coarse = Volume(reference.array[:, ::2, ::2].copy(), coarse_grid, source="pred.nii.gz", kind="label")
    with pytest.raises(GeometryMismatchError, match="--resample-pred"):
        onto_reference(coarse, reference, resample=False, fix="pass --resample-pred")
    out = onto_reference(coarse, reference)
    assert out.geometry == g and out.kind == "label" and out.array.dtype == np.uint8
    assert out.meta["resampled_onto"] == "gt.nii.gz" and "resampled onto" in out.source
    assert set(np.unique(out.array)) <= {0, 1, 2}
    # each reference voxel takes the label of the coarse voxel nearest to its centre
    k, j, i = np.nonzero(np.ones(g.shape_zyx, bool))
    centres = g.index_to_physical(np.stack([i, j, k], axis=-1).astype(float))
    idx = np.rint(coarse_grid.physical_to_index(centres) - 1e-9).astype(int)
    expected = coarse.array[idx[:, 2], np.clip(idx[:, 1], 0, 3), np.clip(idx[:, 0], 0, 4)]
    inside = np.all((idx >= 0) & (idx < np.asarray(coarse_grid.size)), axis=-1)
    np.testing.assert_array_equal(out.array[k[inside], j[inside], i[inside]], expected[inside])


def test_outside_the_prediction_is_background():
    reference = _reference()
    g = reference.geometry
    ones = Volume(np.ones((6, 8, 5), np.uint8), Geometry((5, 8, 6), g.spacing_mm, g.origin_mm),
                  source="half.nii.gz", kind="label")
    out = onto_reference(ones, reference)
    np.testing.assert_array_equal(out.array[:, :, :5], 1)
    np.testing.assert_array_equal(out.array[:, :, 5:], 0)
