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
