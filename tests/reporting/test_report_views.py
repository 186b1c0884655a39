"""Orthogonal views: window, crop, display orientation and physical pixel sizes, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from livseg.errors import GeometryMismatchError
from livseg.reporting.views import ortho_views, soft_tissue_window
from livseg.volume import Geometry, Volume

SPACING = (0.7, 0.9, 2.5)
SIZE = (12, 10, 8)  # x, y, z
ORIGIN = (-40.0, 15.0, 300.0)


def test_soft_tissue_window_maps_w400_l40_to_unit_range():
    hu = np.array([-1000.0, -160.0, 40.0, 140.0, 240.0, 1000.0])
    np.testing.assert_allclose(soft_tissue_window(hu), [0.0, 0.0, 0.5, 0.75, 1.0, 1.0])
    assert hu[0] == -1000.0  # input untouched


def _scene() -> tuple[Volume, Volume]:
    """CT with three marker voxels and a liver box i 2..10, j 1..7, k 1..5 on an LPS grid."""
    geometry = Geometry(size=SIZE, spacing_mm=SPACING, origin_mm=ORIGIN)
    ct = np.full(geometry.shape_zyx, -100, dtype=np.int16)
    ct[3, 2, 9] = 500   # on the axial plane k = 3
    ct[5, 4, 3] = 300   # on the coronal plane j = 4
    ct[1, 6, 6] = 200   # on the sagittal plane i = 6
    labels = np.zeros(geometry.shape_zyx, dtype=np.uint8)
    labels[1:6, 1:8, 2:11] = 1
    labels[3, 4, 6] = 2
    return Volume(ct, geometry, source="ct"), Volume(labels, geometry, source="ref")


def _flipped(volume: Volume) -> Volume:
    """The same voxels in space, stored with the x and z index axes reversed (direction -1)."""
    g = volume.geometry
    origin = g.index_to_physical(np.array([g.size[0] - 1, 0, g.size[2] - 1], dtype=float))
    geometry = Geometry(size=g.size, spacing_mm=g.spacing_mm, origin_mm=tuple(origin),
                        direction=(-1, 0, 0, 0, 1, 0, 0, 0, -1))
    return Volume(np.ascontiguousarray(volume.array[::-1, :, ::-1]), geometry, source=volume.source)


def test_views_cross_at_the_liver_centre_in_display_order():
    ct, reference = _scene()
    result = ortho_views(ct, {"reference": reference}, margin_mm=0.0)
    axial, coronal, sagittal = result.views
    # Crop = liver box exactly; centre of mass (6, 4, 3) in (i, j, k) -> (4, 3, 2) in the crop.
    assert result.crop.start_zyx == (1, 1, 2) and result.crop.stop_zyx == (6, 8, 11)
    assert result.centre_of == "reference liver"
    np.testing.assert_allclose(result.centre_lps_mm, [ORIGIN[0] + 6 * 0.7, ORIGIN[1] + 4 * 0.9, ORIGIN[2] + 3 * 2.5])
    assert (axial.index, coronal.index, sagittal.index) == (2, 3, 4)
    # Axial: rows j (anterior at the top), columns i (patient right at the left).
    assert axial.ct.shape == (7, 9) and axial.pixel_mm == (0.9, 0.7) and axial.edges == ("A", "P", "R", "L")
    assert axial.ct[1, 7] == 500 and np.count_nonzero(axial.ct != -100) == 1
    assert axial.labels["reference"][3, 4] == 2
    # Coronal: rows k reversed (superior at the top), columns i.
    assert coronal.ct.shape == (5, 9) and coronal.pixel_mm == (2.5, 0.7) and coronal.edges == ("S", "I", "R", "L")
    assert coronal.ct[0, 1] == 300 and np.count_nonzero(coronal.ct != -100) == 1
    # Sagittal: rows k reversed, columns j (anterior at the left).
    assert sagittal.ct.shape == (5, 7) and sagittal.pixel_mm == (2.5, 0.9) and sagittal.edges == ("S", "I", "A", "P")
    assert sagittal.ct[4, 5] == 200 and np.count_nonzero(sagittal.ct != -100) == 1
    assert axial.size_mm == pytest.approx((9 * 0.7, 7 * 0.9))
    assert sagittal.size_mm == pytest.approx((7 * 0.9, 5 * 2.5))
    assert not result.oblique


def test_flipped_storage_gives_the_same_views():
    ct, reference = _scene()
    plain = ortho_views(ct, {"reference": reference}, margin_mm=0.0)
    flipped = ortho_views(_flipped(ct), {"reference": _flipped(reference)}, margin_mm=0.0)
    np.testing.assert_allclose(flipped.centre_lps_mm, plain.centre_lps_mm, atol=1e-9)
    for a, b in zip(plain.views, flipped.views):
        assert a.pixel_mm == b.pixel_mm and a.edges == b.edges
        np.testing.assert_array_equal(a.ct, b.ct)
        np.testing.assert_array_equal(a.labels["reference"], b.labels["reference"])


def test_margin_in_mm_becomes_voxels_per_axis_and_is_clipped():
    ct, reference = _scene()
    result = ortho_views(ct, {"reference": reference}, margin_mm=2.0)
    # ceil(2 / spacing): 3 voxels in x, 3 in y, 1 in z; clipped at the grid's border.
    assert result.crop.start_zyx == (0, 0, 0)
    assert result.crop.stop_zyx == (7, 10, 12)


def test_centre_falls_back_to_the_prediction_then_the_crop_centre():
    ct, reference = _scene()
    empty = reference.with_array(np.zeros_like(reference.array))
    from_prediction = ortho_views(ct, {"reference": empty, "prediction": reference}, margin_mm=0.0)
    assert from_prediction.centre_of == "prediction liver"
    nothing = ortho_views(ct, {"reference": empty}, margin_mm=0.0)
    assert nothing.centre_of == "crop centre"
    assert nothing.crop.start_zyx == (0, 0, 0) and nothing.crop.stop_zyx == ct.geometry.shape_zyx


def test_labels_on_another_grid_are_refused():
    ct, reference = _scene()
    moved = Geometry(size=SIZE, spacing_mm=SPACING, origin_mm=(ORIGIN[0] + 1.0, ORIGIN[1], ORIGIN[2]))
    with pytest.raises(GeometryMismatchError, match="origin"):
        ortho_views(ct, {"reference": Volume(reference.array, moved, source="moved")})
