"""The body crop against a plain oracle: label the whole grid, keep the largest component,
take the box of its voxels (np.nonzero). The fast path labels only the box of the voxels above
the threshold and reads boxes from projections; the boxes must be identical."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from livseg.phantoms import generate_phantom
from livseg.preprocessing.cropping import body_crop, label_crop
from livseg.volume import Geometry, Volume


def oracle_box(array: np.ndarray, threshold: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    components, count = ndimage.label(array > threshold)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    coords = np.nonzero(components == int(np.argmax(sizes)))
    return tuple(int(c.min()) for c in coords), tuple(int(c.max()) + 1 for c in coords)


def _volume(array: np.ndarray) -> Volume:
    return Volume(array, Geometry(array.shape[::-1], (0.8, 0.8, 2.0)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_body_box_equals_the_oracle_on_random_blobs(seed):
    rng = np.random.default_rng(seed)
    array = np.full((30, 50, 60), -1000, dtype=np.int16)
    for _ in range(int(rng.integers(2, 7))):  # blobs of random size, some touching the edges
        z, y, x = (int(rng.integers(0, n)) for n in array.shape)
        dz, dy, dx = (int(rng.integers(1, 12)) for _ in range(3))
        array[max(0, z - dz):z + dz, max(0, y - dy):y + dy, max(0, x - dx):x + dx] = 40
    array[rng.random(array.shape) < 0.002] = 100  # isolated bright voxels
    box = body_crop(_volume(array), -500.0)
    assert (box.start_zyx, box.stop_zyx) == oracle_box(array, -500.0)


def test_body_box_equals_the_oracle_on_phantoms_and_ties():
    for seed in (1, 5):
        ct, _ = generate_phantom(seed, size_xyz=(96, 80, 40))
        box = body_crop(ct, -500.0)
        assert (box.start_zyx, box.stop_zyx) == oracle_box(ct.array, -500.0)
    tie = np.full((10, 20, 20), -1000, dtype=np.int16)
    tie[2:4, 2:4, 2:4] = 0      # two components of 8 voxels: the first in raster order wins
    tie[6:8, 15:17, 15:17] = 0
    box = body_crop(_volume(tie), -500.0)
    assert (box.start_zyx, box.stop_zyx) == ((2, 2, 2), (4, 4, 4)) == oracle_box(tie, -500.0)
    one = np.full((5, 6, 7), -1000, dtype=np.int16)
    one[1:3, 2:5, 3:4] = 50
    assert (body_crop(_volume(one)).start_zyx, body_crop(_volume(one)).stop_zyx) == ((1, 2, 3), (3, 5, 4))
    air = body_crop(_volume(np.full((4, 5, 6), -1000, dtype=np.int16)))
    assert air.is_identity


def test_label_box_with_margin():
    labels = np.zeros((10, 20, 30), dtype=np.uint8)
    labels[3:5, 6:9, 10:20] = 1
    box = label_crop(_volume(labels), margin_mm=2.0)  # 1 slice in z (2 mm), 3 voxels in plane (0.8 mm)
    assert (box.start_zyx, box.stop_zyx) == ((2, 3, 7), (6, 12, 23))


def _both_paths(mask: np.ndarray) -> tuple[tuple, tuple]:
    from livseg.preprocessing.cropping import _largest_component_box, _largest_component_box_scipy

    return _largest_component_box(mask), _largest_component_box_scipy(mask)


def test_itk_labelling_equals_scipy_on_odd_masks():
    """The ITK path and the SciPy path give the same box: one slice, one voxel, a body filling
    the grid, components that only touch diagonally (face connectivity: separate), a U whose
    arms join far from where they start, and equal largest components (the SciPy fallback)."""
    cases = {}
    one_slice = np.zeros((1, 30, 40), bool)
    one_slice[0, 5:20, 3:39] = True
    one_slice[0, 25:28, 1:4] = True
    cases["one slice"] = one_slice
    cases["one voxel"] = np.ones((1, 1, 1), bool)
    cases["full"] = np.ones((4, 6, 5), bool)
    diagonal = np.zeros((3, 6, 6), bool)
    diagonal[1, 1:3, 1:3] = True          # 4 voxels
    diagonal[1, 3:5, 3:5] = True          # 4 voxels, touching the first at an edge only
    diagonal[2, 3:6, 3:6] = True          # joins the second one by its faces: 13 voxels
    cases["diagonal"] = diagonal
    u = np.zeros((8, 10, 12), bool)
    u[0:8, 1, 1] = True                   # left arm
    u[0:8, 1, 10] = True                  # right arm
    u[7, 1, 1:11] = True                  # joined only in the last slice
    u[2:4, 5:8, 3:6] = True               # a solid block, smaller than the U (18 < 24 voxels)
    cases["u"] = u
    tie = np.zeros((6, 8, 8), bool)
    tie[0:2, 0:2, 0:2] = True
    tie[4:6, 6:8, 6:8] = True
    cases["tie"] = tie
    for name, mask in cases.items():
        fast, plain = _both_paths(mask)
        assert fast == plain, name
    assert _both_paths(cases["u"])[0] == ((0, 1, 1), (8, 2, 11))
    assert _both_paths(cases["tie"])[0] == ((0, 0, 0), (2, 2, 2))


def test_itk_labelling_equals_scipy_on_the_real_ct(shared_data):
    from livseg.io import read_volume

    ct = read_volume(shared_data / "chaos-ct-1" / "image.nii.gz", kind="ct")
    for threshold in (-500.0, -900.0, 100.0):  # the body, everything but air, bone and contrast
        box = body_crop(ct, threshold)
        assert (box.start_zyx, box.stop_zyx) == oracle_box(ct.array, threshold), threshold
    small = read_volume(shared_data / "totalseg-example" / "ct.nii.gz", kind="ct")  # RAS, 3 mm
    box = body_crop(small, -500.0)
    assert (box.start_zyx, box.stop_zyx) == oracle_box(small.array, -500.0)


def test_body_touching_every_border_and_anisotropic_spacing():
    array = np.full((7, 40, 50), -1000, dtype=np.int16)
    array[:, 3:40, 0:50] = 30        # touches z, the far y border and both x borders
    array[2, 0, 0] = 500             # a lone bright voxel outside it
    volume = Volume(array, Geometry(array.shape[::-1], (0.6, 0.9, 5.0)))
    box = body_crop(volume, -500.0)
    assert (box.start_zyx, box.stop_zyx) == ((0, 3, 0), (7, 40, 50)) == oracle_box(array, -500.0)
