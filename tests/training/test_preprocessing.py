"""Preprocessing: HU window, resampling with exact inversion, body crop and uncrop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from livseg.config import PreprocessingConfig
from livseg.errors import GeometryMismatchError, LivsegError
from livseg.preprocessing import (
    body_crop,
    clip_and_normalise,
    crop,
    invert_resampling,
    label_crop,
    prepare_case,
    resample_to_spacing,
    uncrop,
)
from livseg.preprocessing.resampling import target_geometry
from livseg.volume import Geometry, Volume

# An oblique, anisotropic grid with a non-trivial origin: rotation of 20 degrees about z.
_C, _S = np.cos(np.radians(20)), np.sin(np.radians(20))
OBLIQUE = (_C, -_S, 0.0, _S, _C, 0.0, 0.0, 0.0, 1.0)


def _grid(size=(40, 30, 12), spacing=(0.8, 0.9, 2.5), direction=OBLIQUE) -> Geometry:
    return Geometry(size=size, spacing_mm=spacing, origin_mm=(-12.5, 30.25, 101.0), direction=direction)


def _physical_x(geometry: Geometry) -> np.ndarray:
    """LPS x (mm) of every voxel centre, array (z, y, x): an independent oracle."""
    k, j, i = np.meshgrid(*[np.arange(n) for n in geometry.shape_zyx], indexing="ij")
    index = np.stack([i, j, k], axis=-1).astype(float)
    return geometry.index_to_physical(index)[..., 0]


def test_clip_and_normalise_values_by_hand():
    geometry = Geometry(size=(4, 1, 1), spacing_mm=(1.0, 1.0, 1.0))
    ct = Volume(np.array([[[-1000, -200, 0, 300]]], dtype=np.int16), geometry)
    unit = clip_and_normalise(ct, (-200.0, 200.0), "unit")
    np.testing.assert_allclose(unit.array.ravel(), [0.0, 0.0, 0.5, 1.0])
    symmetric = clip_and_normalise(ct, (-200.0, 200.0), "symmetric")
    np.testing.assert_allclose(symmetric.array.ravel(), [-1.0, -1.0, 0.0, 1.0])
    zscore = clip_and_normalise(ct, (-200.0, 200.0), "zscore")
    clipped = np.array([-200.0, -200.0, 0.0, 200.0])
    np.testing.assert_allclose(zscore.array.ravel(), (clipped - clipped.mean()) / clipped.std(), rtol=1e-6)
    assert unit.array.dtype == np.float32 and unit.geometry == geometry
    assert ct.array.dtype == np.int16 and ct.array[0, 0, 0] == -1000  # input untouched


def test_clip_rejects_nan():
    geometry = Geometry(size=(2, 1, 1), spacing_mm=(1.0, 1.0, 1.0))
    with pytest.raises(LivsegError, match="NaN"):
        clip_and_normalise(Volume(np.array([[[np.nan, 0.0]]]), geometry), (-200.0, 200.0))


def test_target_geometry_keeps_the_physical_box_by_hand():
    geometry = Geometry(size=(10, 10, 4), spacing_mm=(1.0, 1.0, 3.0), origin_mm=(0.0, 0.0, 0.0))
    target = target_geometry(geometry, (2.0, 2.0, 1.5))
    assert target.size == (5, 5, 8)
    # First voxel corner stays at -0.5 mm (x, y) and -1.5 mm (z): centres move by half the change.
    np.testing.assert_allclose(target.origin_mm, (0.5, 0.5, -0.75))


def test_linear_resampling_reproduces_a_linear_ramp():
    geometry = _grid()
    ct = Volume(_physical_x(geometry).astype(np.float32), geometry)
    resampled, record = resample_to_spacing(ct, (1.5, 1.5, 1.5))  # kind "any": linear
    assert record.original == geometry and record.resampled == resampled.geometry
    expected = _physical_x(resampled.geometry)
    # Linear interpolation is exact for a linear function wherever all 8 neighbours exist,
    # i.e. where the output voxel centre falls inside the input's hull of voxel centres.
    k, j, i = np.meshgrid(*[np.arange(n) for n in resampled.geometry.shape_zyx], indexing="ij")
    centres = resampled.geometry.index_to_physical(np.stack([i, j, k], axis=-1).astype(float))
    index = geometry.physical_to_index(centres)
    interior = np.all((index >= 0) & (index <= np.asarray(geometry.size) - 1), axis=-1)
    assert interior.sum() > 0.5 * interior.size
    np.testing.assert_allclose(resampled.array[interior], expected[interior], atol=1e-3)


def test_invert_resampling_lands_exactly_on_the_original_grid():
    geometry = _grid()
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in geometry.shape_zyx], indexing="ij")
    blob = ((xx - 20) * 0.8) ** 2 + ((yy - 15) * 0.9) ** 2 + ((zz - 6) * 2.5) ** 2 < 9.0 ** 2
    label = Volume(blob.astype(np.uint8), geometry, source="blob", kind="label")  # nearest
    resampled, record = resample_to_spacing(label, (1.2, 1.2, 1.2))
    assert set(np.unique(resampled.array)) == {0, 1}
    back = invert_resampling(resampled, record)
    assert back.geometry == geometry  # exactly, not merely within tolerance
    assert back.array.dtype == np.uint8
    dice = 2 * np.sum(back.array & blob) / (back.array.sum() + blob.sum())
    assert dice > 0.95
    with pytest.raises(GeometryMismatchError):
        invert_resampling(label, record)


def test_resampling_to_the_same_spacing_is_the_identity():
    geometry = _grid()
    ct = Volume(np.random.default_rng(0).normal(size=geometry.shape_zyx).astype(np.float32), geometry)
    same, record = resample_to_spacing(ct, geometry.spacing_mm)
    assert record.is_identity and same.array is ct.array


def _body_phantom() -> Volume:
    geometry = Geometry(size=(30, 20, 10), spacing_mm=(1.0, 1.0, 2.0), origin_mm=(5.0, -3.0, 40.0))
    array = np.full(geometry.shape_zyx, -1000, dtype=np.int16)
    array[2:8, 4:15, 5:25] = 40        # the body: z 2..7, y 4..14, x 5..24
    array[1:3, 17:19, 26:29] = 500     # a small separate bright object (a table edge)
    return Volume(array, geometry, source="body")


def test_body_crop_takes_the_largest_component_and_uncrop_restores_it():
    ct = _body_phantom()
    record = body_crop(ct, threshold_hu=-500.0)
    assert record.start_zyx == (2, 4, 5) and record.stop_zyx == (8, 15, 25)
    cropped = crop(ct, record)
    assert cropped.shape == (6, 11, 20) and np.all(cropped.array == 40)
    # The cropped grid's first voxel sits where the original's voxel (x5, y4, z2) sits.
    np.testing.assert_allclose(cropped.geometry.origin_mm, (5.0 + 5, -3.0 + 4, 40.0 + 2 * 2.0))
    back = uncrop(cropped, record, fill=-1000)
    assert back.geometry == ct.geometry
    expected = ct.array.copy()
    expected[1:3, 17:19, 26:29] = -1000  # outside the box: the fill value
    np.testing.assert_array_equal(back.array, expected)


def test_crop_then_uncrop_is_the_identity_when_outside_is_fill():
    ct = _body_phantom()
    ct = ct.with_array(np.where(ct.array == 500, -1000, ct.array).astype(np.int16))
    record = body_crop(ct)
    np.testing.assert_array_equal(uncrop(crop(ct, record), record, fill=-1000).array, ct.array)


def test_label_crop_margin_in_mm():
    ct = _body_phantom()
    label = ct.with_array((ct.array == 40).astype(np.uint8))
    record = label_crop(label, margin_mm=3.0)
    # margin 3 mm = 3 voxels in x and y (1 mm), ceil(3 / 2) = 2 slices in z; clipped to the grid.
    assert record.start_zyx == (0, 1, 2) and record.stop_zyx == (10, 18, 28)
    with pytest.raises(LivsegError, match="empty label"):
        label_crop(label.with_array(np.zeros_like(label.array)))


def test_prepare_case_and_invert_back_onto_the_input_grid():
    ct = _body_phantom()
    label = ct.with_array(np.zeros(ct.shape, dtype=np.uint8))
    label.array[3:7, 6:12, 8:20] = 1
    config = PreprocessingConfig(hu_window=(-200.0, 200.0), spacing_mm=(1.25, 1.25, 1.0), crop="body")
    prepared = prepare_case(ct, label, config)
    assert prepared.image.geometry == prepared.label.geometry
    assert prepared.image.geometry.spacing_mm == (1.25, 1.25, 1.0)
    assert prepared.record.crop.stop_zyx == (8, 15, 25)
    assert prepared.image.array.dtype == np.float32 and prepared.label.array.dtype == np.uint8
    np.testing.assert_allclose(prepared.image.array, 0.6, atol=1e-6)  # 40 HU in [-200, 200]
    back = prepared.record.invert(prepared.label)  # kind "label": nearest
    assert back.geometry == ct.geometry
    # Nearest neighbour at a 1.25 ratio can move the surface by one voxel, never more.
    truth = label.array == 1
    got = back.array == 1
    assert np.all(got[ndimage.binary_erosion(truth)])
    assert not np.any(got & ~ndimage.binary_dilation(truth))


@pytest.mark.needs_shared_data
def test_real_ct_resample_and_invert_keeps_the_grid(shared_data):
    from livseg.io import read_volume

    ct = read_volume(shared_data / "chaos-ct-1" / "image.nii.gz")
    label = read_volume(shared_data / "chaos-ct-1" / "label.nii.gz")
    config = PreprocessingConfig(spacing_mm=(2.0, 2.0, 2.0), crop="body")
    prepared = prepare_case(ct, label.with_array(label.array.astype(np.uint8)), config)
    assert all(a <= b for a, b in zip(prepared.record.crop.cropped.size, ct.geometry.size))
    back = prepared.record.invert(prepared.label)  # kind "label": nearest
    assert back.geometry == ct.geometry
    truth = label.array > 0
    dice = 2 * np.sum((back.array > 0) & truth) / (np.sum(back.array > 0) + truth.sum())
    assert dice > 0.95


def test_reorient_keeps_every_voxel_in_place_and_inverts_exactly():
    from livseg.preprocessing import invert_reorient, reorient

    # Stored "RAI": x towards the right, y anterior, z inferior (all three axes reversed).
    geometry = Geometry(size=(6, 5, 4), spacing_mm=(0.7, 0.8, 2.5), origin_mm=(10.0, 20.0, 30.0),
                        direction=(-1, 0, 0, 0, -1, 0, 0, 0, -1))
    values = np.arange(np.prod(geometry.shape_zyx), dtype=np.int16).reshape(geometry.shape_zyx)
    volume = Volume(values, geometry)
    turned, record = reorient(volume, "LPS")
    assert turned.geometry.orientation == "LPS"
    np.testing.assert_allclose(turned.geometry.direction_matrix, np.eye(3))
    # Oracle: every voxel's physical centre maps to a voxel of the same value.
    for k, j, i in [(0, 0, 0), (3, 4, 5), (1, 2, 3), (2, 0, 4)]:
        point = geometry.index_to_physical(np.array([i, j, k], dtype=float))
        i2, j2, k2 = np.rint(turned.geometry.physical_to_index(point)).astype(int)
        assert turned.array[k2, j2, i2] == values[k, j, i]
    back = invert_reorient(turned, record)
    assert back.geometry == geometry
    np.testing.assert_array_equal(back.array, values)


def test_prepare_case_on_a_flipped_grid_inverts_onto_it():
    geometry = Geometry(size=(30, 20, 10), spacing_mm=(1.0, 1.0, 2.0), origin_mm=(5.0, -3.0, 40.0),
                        direction=(-1, 0, 0, 0, 1, 0, 0, 0, -1))
    ct = Volume(_body_phantom().array, geometry, source="flipped")
    label = ct.with_array((ct.array == 40).astype(np.uint8))
    prepared = prepare_case(ct, label, PreprocessingConfig(orientation="LPS", spacing_mm=None, crop="body"))
    assert prepared.image.geometry.orientation == "LPS"
    back = prepared.record.invert(prepared.label)  # kind "label": nearest
    assert back.geometry == geometry
    np.testing.assert_array_equal(back.array, label.array)
