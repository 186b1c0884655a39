"""Each post-processing step on small hand-built label arrays, with hand-counted results."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from livseg.errors import ConfigError, InvalidImageError, LivsegError
from livseg.postprocessing import (
    fill_holes_2d,
    fill_holes_3d,
    keep_liver_components,
    remove_small_tumours,
    remove_tumours_outside_liver,
)

ISO_MM = (1.0, 1.0, 1.0)


def _empty(shape=(9, 12, 14)) -> np.ndarray:
    return np.zeros(shape, dtype=np.uint8)


# --- largest liver component ---------------------------------------------------------------

def _two_blobs() -> np.ndarray:
    labels = _empty()
    labels[1:4, 1:4, 1:4] = 1          # 27 voxels
    labels[6:8, 8:10, 10:12] = 1       # 8 voxels
    labels[6, 8, 10] = 2               # a tumour inside the small blob
    return labels


def test_largest_component_kept_and_the_other_removed_with_its_tumour():
    labels = _two_blobs()
    out = keep_liver_components(labels, ISO_MM)
    expected = labels.copy()
    expected[6:8, 8:10, 10:12] = 0
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == labels.dtype


def test_tumour_at_the_liver_edge_counts_with_its_liver():
    labels = _empty()
    labels[1:3, 1:3, 1:3] = 1           # 8 liver voxels
    labels[1:3, 1:3, 3:10] = 2          # 28 tumour voxels beside the liver, touching it
    labels[6:9, 8:11, 10:13] = 1        # 27 liver voxels: largest by liver alone, not by structure
    out = keep_liver_components(labels, ISO_MM)
    assert (out[1:3, 1:3, 1:10] == labels[1:3, 1:3, 1:10]).all()
    assert not out[6:9, 8:11, 10:13].any()


def test_other_components_kept_by_fraction_or_by_volume():
    labels = _two_blobs()  # 27 and 8 voxels: the small one is 8/27 = 0.296 of the largest
    assert keep_liver_components(labels, ISO_MM, min_fraction=0.29)[6:8, 8:10, 10:12].all()
    assert not keep_liver_components(labels, ISO_MM, min_fraction=0.30)[6:8, 8:10, 10:12].any()
    # 2 mm voxels: 8 voxels x 8 mm^3 = 64 mm^3 = 0.064 mL
    spacing = (2.0, 2.0, 2.0)
    assert keep_liver_components(labels, spacing, min_volume_ml=0.064)[6:8, 8:10, 10:12].all()
    assert not keep_liver_components(labels, spacing, min_volume_ml=0.065)[6:8, 8:10, 10:12].any()


@pytest.mark.parametrize(("touch", "joined_at"), [("corner", 26), ("edge", 18), ("face", 6)])
def test_connectivity_decides_what_is_one_component(touch, joined_at):
    labels = _empty()
    labels[2:5, 2:5, 2:5] = 1                       # 27 voxels
    if touch == "corner":
        labels[5, 5, 5] = 1                         # shares one corner with (4, 4, 4)
    elif touch == "edge":
        labels[5, 5, 4] = 1                         # shares one edge
    else:
        labels[5, 4, 4] = 1                         # shares one face
    single = (5, 5, 5) if touch == "corner" else (5, 5, 4) if touch == "edge" else (5, 4, 4)
    for connectivity in (6, 18, 26):
        out = keep_liver_components(labels, ISO_MM, connectivity=connectivity)
        assert out[single] == (1 if connectivity >= joined_at else 0), (touch, connectivity)
        assert out[2:5, 2:5, 2:5].all()


def test_empty_and_single_component_inputs_come_back_equal():
    empty = _empty()
    np.testing.assert_array_equal(keep_liver_components(empty, ISO_MM), empty)
    one = _empty()
    one[2:4, 2:4, 2:4] = 1
    np.testing.assert_array_equal(keep_liver_components(one, ISO_MM), one)


# --- holes ----------------------------------------------------------------------------------

def _square_ring(labels: np.ndarray, z: int, value: int = 1) -> None:
    """A 5x5 square outline in slice z around a 3x3 hole at y 4..6, x 4..6."""
    labels[z, 3:8, 3:8] = value
    labels[z, 4:7, 4:7] = 0


def test_ring_filled_in_2d_with_liver_label():
    labels = _empty()
    _square_ring(labels, 4)
    out = fill_holes_2d(labels)
    assert (out[4, 4:7, 4:7] == 1).all()
    assert int((out != labels).sum()) == 9


def test_open_tube_filled_per_slice_but_not_in_3d():
    labels = _empty()
    for z in range(2, 7):               # a tube along z, open at both ends
        _square_ring(labels, z)
    np.testing.assert_array_equal(fill_holes_3d(labels), labels)
    out = fill_holes_2d(labels)
    assert (out[2:7, 4:7, 4:7] == 1).all()
    assert int((out != labels).sum()) == 5 * 9


def test_closed_cavity_filled_in_3d():
    labels = _empty()
    labels[2:7, 3:8, 3:8] = 1
    labels[3:6, 4:7, 4:7] = 0           # 27-voxel cavity, closed on all sides
    out = fill_holes_3d(labels)
    assert (out[3:6, 4:7, 4:7] == 1).all()
    assert int((out != labels).sum()) == 27


def test_hole_filling_never_overwrites_tumour_and_fills_with_liver():
    ring = _empty()
    _square_ring(ring, 4)
    ring[4, 3, 3:8] = 2                 # one side of the ring is tumour
    out = fill_holes_2d(ring)
    assert (out[4, 3, 3:8] == 2).all()
    assert (out[4, 4:7, 4:7] == 1).all()
    box = _empty()
    box[2:7, 3:8, 3:8] = 2              # a tumour shell ...
    box[2:7, 3:8, 3] = 1                # ... with one liver wall
    box[3:6, 4:7, 4:7] = 0
    out = fill_holes_3d(box)
    assert (out[3:6, 4:7, 4:7] == 1).all()
    assert int((out != box).sum()) == 27


def test_background_touching_the_border_only_diagonally_is_a_hole():
    labels = _empty((1, 5, 5))
    labels[0] = [[0, 1, 1, 1, 1],
                 [1, 0, 1, 1, 1],
                 [1, 1, 1, 1, 1],
                 [1, 1, 1, 1, 1],
                 [1, 1, 1, 1, 1]]
    out = fill_holes_2d(labels)
    assert out[0, 1, 1] == 1            # reaches the border voxel (0, 0) only through a corner
    assert out[0, 0, 0] == 0            # on the border: never a hole


def test_2d_filling_matches_a_slice_by_slice_loop_along_every_axis():
    rng = np.random.default_rng(7)
    labels = (rng.random((10, 11, 12)) < 0.6).astype(np.uint8)
    labels[rng.random(labels.shape) < 0.1] = 2
    for axis in range(3):
        expected = labels.copy()
        for index in range(labels.shape[axis]):
            plane = np.take(labels, index, axis=axis)
            holes = ndimage.binary_fill_holes(plane > 0) & (plane == 0)
            np.moveaxis(expected, axis, 0)[index][holes] = 1
        np.testing.assert_array_equal(fill_holes_2d(labels, axis=axis), expected)


def test_every_3d_hole_is_filled_by_the_2d_pass_too():
    rng = np.random.default_rng(11)
    labels = (rng.random((16, 16, 16)) < 0.75).astype(np.uint8)
    filled_3d = fill_holes_3d(labels) != labels
    filled_2d = fill_holes_2d(labels) != labels
    assert filled_3d.any()              # the random scene has some 3D cavity: the check bites
    assert not (filled_3d & ~filled_2d).any()


# --- tumours --------------------------------------------------------------------------------

def _liver_with_tumours() -> np.ndarray:
    labels = _empty()
    labels[1:8, 1:7, 1:7] = 1                   # liver block
    labels[3:5, 3:5, 3:5] = 2                   # tumour inside
    labels[3:5, 3:5, 7:9] = 2                   # tumour just outside, face to face with the liver
    labels[3:5, 9:11, 10:13] = 2                # tumour far away: no liver voxel nearby
    return labels


def test_tumour_outside_liver_removed_and_those_touching_it_kept():
    labels = _liver_with_tumours()
    out = remove_tumours_outside_liver(labels)
    expected = labels.copy()
    expected[3:5, 9:11, 10:13] = 0
    np.testing.assert_array_equal(out, expected)


def test_tumour_touching_the_liver_only_at_a_corner_depends_on_connectivity():
    labels = _empty()
    labels[1:4, 1:4, 1:4] = 1
    labels[4, 4, 4] = 2                           # corner contact with (3, 3, 3)
    assert remove_tumours_outside_liver(labels, connectivity=26)[4, 4, 4] == 2
    assert remove_tumours_outside_liver(labels, connectivity=18)[4, 4, 4] == 0
    assert remove_tumours_outside_liver(labels, connectivity=6)[4, 4, 4] == 0


def test_anisotropic_spacing_decides_the_minimum_tumour_size():
    labels = _empty()
    labels[1:6, 1:6, 1:6] = 1
    labels[2, 2:4, 2:4] = 2                       # 4 voxels
    # spacing (x, y, z) = 1 x 1 x 3 mm: 4 x 3 mm^3 = 12 mm^3
    kept = remove_small_tumours(labels, (1.0, 1.0, 3.0), min_volume_mm3=10.0)
    np.testing.assert_array_equal(kept, labels)
    removed = remove_small_tumours(labels, (1.0, 1.0, 3.0), min_volume_mm3=15.0)
    assert (removed[2, 2:4, 2:4] == 1).all()      # relabelled liver, not background
    assert int((removed != labels).sum()) == 4
    # the same 4 voxels at 1 x 1 x 2 mm are 8 mm^3: below 10
    assert (remove_small_tumours(labels, (1.0, 1.0, 2.0), min_volume_mm3=10.0)[2, 2:4, 2:4] == 1).all()
    # exactly at the threshold: kept
    np.testing.assert_array_equal(remove_small_tumours(labels, (1.0, 1.0, 3.0), min_volume_mm3=12.0), labels)


# --- purity and bad input -------------------------------------------------------------------

@pytest.mark.parametrize("step", [
    lambda a: keep_liver_components(a, (0.8, 0.8, 2.5)),
    lambda a: fill_holes_2d(a),
    lambda a: fill_holes_3d(a),
    lambda a: remove_tumours_outside_liver(a),
    lambda a: remove_small_tumours(a, (0.8, 0.8, 2.5), min_volume_mm3=50.0),
])
def test_inputs_are_not_mutated(step):
    labels = _liver_with_tumours()
    labels[6:8, 9:11, 1:3] = 1                    # a second liver component
    labels[5, 2:5, 2:5] = 0                       # holes
    _square_ring(labels, 0)
    before = labels.copy()
    out = step(labels)
    np.testing.assert_array_equal(labels, before)
    assert out is not labels and not np.shares_memory(out, labels)
    assert not np.array_equal(out, before)         # the step did something: the check bites


@pytest.mark.parametrize(("array", "found"), [
    (np.full((2, 3, 4), 3, dtype=np.uint8), "values 3"),
    (np.zeros((2, 3, 4), dtype=np.float32), "dtype float32"),
    (np.zeros((3, 4), dtype=np.uint8), "2D array"),
])
def test_bad_labels_raise_one_line_errors(array, found):
    for step in (lambda a: keep_liver_components(a, ISO_MM), fill_holes_2d, fill_holes_3d,
                 remove_tumours_outside_liver,
                 lambda a: remove_small_tumours(a, ISO_MM, min_volume_mm3=1.0)):
        with pytest.raises(InvalidImageError) as caught:
            step(array)
        assert found in str(caught.value) and "\n" not in str(caught.value)


def test_bad_parameters_raise_livseg_errors():
    labels = _two_blobs()
    with pytest.raises(ConfigError, match="one of"):
        keep_liver_components(labels, ISO_MM, connectivity=8)
    with pytest.raises(ConfigError):
        keep_liver_components(labels, ISO_MM, min_fraction=1.5)
    with pytest.raises(ConfigError):
        remove_small_tumours(labels, ISO_MM, min_volume_mm3=-1.0)
    with pytest.raises(LivsegError, match="positive voxel sizes"):
        keep_liver_components(labels, (1.0, 0.0, 1.0))
