"""Surface distances: hand-computed anisotropic cases, spheres, and a brute-force oracle."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

from livseg.metrics import border_voxels, surface_distances


def voxels(shape, *indices) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for index in indices:
        mask[index] = True
    return mask


# --- brute force oracle ------------------------------------------------------------------------
def brute_border(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a background voxel among their 26 neighbours (outside = background)."""
    padded = np.pad(mask, 1)
    border = np.zeros_like(mask)
    for z, y, x in np.argwhere(mask):
        neighbourhood = padded[z:z + 3, y:y + 3, x:x + 3]
        border[z, y, x] = not neighbourhood.all()
    return border


def brute_distances(source: np.ndarray, target: np.ndarray, spacing_xyz) -> np.ndarray:
    """For each source border voxel (C order), the min Euclidean distance (mm) to a target border voxel."""
    scale = np.asarray(spacing_xyz[::-1], dtype=float)  # (z, y, x)
    a = np.argwhere(brute_border(source)) * scale
    b = np.argwhere(brute_border(target)) * scale
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)).min(axis=1)


def random_blob(rng: np.random.Generator, shape) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=1.2)
    return noise > 0.05


# --- hand-computed cases -----------------------------------------------------------------------
def test_two_single_voxels_2mm_apart():
    spacing = (2.0, 0.7, 3.0)  # x, y, z
    ref = voxels((3, 3, 4), (1, 1, 1))
    pred = voxels((3, 3, 4), (1, 1, 2))  # next voxel along x: 2 mm
    d = surface_distances(ref, pred, spacing_mm=spacing)
    assert d.reference_to_prediction_mm.tolist() == [2.0]
    assert d.prediction_to_reference_mm.tolist() == [2.0]
    assert (d.assd_mm, d.rmssd_mm, d.mssd_mm, d.hd95_mm) == (2.0, 2.0, 2.0, 2.0)
    assert d.surface_dice(1.99) == 0.0 and d.surface_dice(2.0) == 1.0


def test_single_voxel_shifted_along_the_3mm_axis():
    spacing = (0.5, 0.5, 3.0)
    ref = voxels((4, 3, 3), (1, 1, 1))
    pred = voxels((4, 3, 3), (2, 1, 1))  # one voxel along z (array axis 0) = 3 mm
    d = surface_distances(ref, pred, spacing_mm=spacing)
    assert d.mssd_mm == pytest.approx(3.0) and d.assd_mm == pytest.approx(3.0)


def test_diagonal_offset_uses_every_spacing():
    spacing = (1.0, 2.0, 3.0)
    ref = voxels((3, 3, 3), (0, 0, 0))
    pred = voxels((3, 3, 3), (1, 1, 1))
    assert surface_distances(ref, pred, spacing_mm=spacing).mssd_mm == pytest.approx(math.sqrt(1 + 4 + 9))


def test_pooled_statistics_by_hand():
    # ref: one voxel; pred: two voxels at 1 and 3 voxels along x (spacing 1 mm): ref->pred [1],
    # pred->ref [1, 3]; pooled [1, 1, 3].
    ref = voxels((1, 1, 6), (0, 0, 1))
    pred = voxels((1, 1, 6), (0, 0, 2), (0, 0, 4))
    d = surface_distances(ref, pred, spacing_mm=(1.0, 1.0, 1.0))
    assert d.assd_mm == pytest.approx(5 / 3)
    assert d.rmssd_mm == pytest.approx(math.sqrt(11 / 3))
    assert d.mssd_mm == 3.0
    assert d.hd95_mm == pytest.approx(np.percentile([1, 1, 3], 95))     # 2.8, pooled (MedPy)
    assert d.hd95_directed_max_mm == pytest.approx(max(1.0, np.percentile([1, 3], 95)))  # 2.9
    assert d.surface_dice(1.0) == pytest.approx(2 / 3)


def test_border_uses_26_neighbourhood_and_closed_volume_edge():
    mask = np.ones((7, 7, 7), dtype=bool)
    mask[3, 3, 3] = False                       # one interior hole
    border = border_voxels(mask)
    assert border[4, 4, 4]                      # the hole is only a diagonal (corner) neighbour
    assert border[0, 3, 3]                      # the volume's edge closes the surface
    assert not border[1, 1, 1]                  # interior voxel, all 26 neighbours foreground
    # outer shell 7^3 - 5^3 = 218, plus the 26 voxels around the hole
    assert int(border.sum()) == 218 + 26
    np.testing.assert_array_equal(border, brute_border(mask))


def test_border_does_not_modify_input():
    mask = random_blob(np.random.default_rng(3), (6, 7, 8))
    before = mask.copy()
    border_voxels(mask)
    surface_distances(mask, ~mask, spacing_mm=(1, 1, 1))
    np.testing.assert_array_equal(mask, before)


# --- spheres -----------------------------------------------------------------------------------
def sphere(radius_mm: float, spacing_xyz, half_extent_mm: float = 14.0) -> np.ndarray:
    shape = [int(math.ceil(2 * half_extent_mm / s)) for s in spacing_xyz[::-1]]
    z, y, x = np.indices(shape, dtype=float)
    # centre off the voxel lattice so no symmetry hides an axis-order mistake
    z = (z - shape[0] / 2 + 0.37) * spacing_xyz[2]
    y = (y - shape[1] / 2 + 0.21) * spacing_xyz[1]
    x = (x - shape[2] / 2 + 0.13) * spacing_xyz[0]
    return x * x + y * y + z * z <= radius_mm ** 2


def test_concentric_spheres_assd_approaches_radius_difference():
    errors = []
    for spacing in [(0.4, 0.4, 1.0), (0.2, 0.2, 0.5)]:
        diagonal = math.sqrt(sum(s * s for s in spacing))
        d = surface_distances(sphere(10.0, spacing), sphere(12.0, spacing), spacing_mm=spacing)
        pooled = d.pooled_mm
        # Border voxel centres lie within one voxel diagonal inside their sphere's surface, so
        # every nearest distance is the 2 mm radius difference give or take that diagonal.
        assert pooled.min() >= 2.0 - diagonal and pooled.max() <= 2.0 + diagonal
        errors.append(abs(d.assd_mm - 2.0))
        assert errors[-1] < diagonal / 2
    assert errors[1] < errors[0]  # refining the grid brings ASSD closer to 2 mm


# --- oracle and invariances --------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    shape = (7, 9, 10)
    spacing = tuple(float(s) for s in rng.uniform(0.4, 3.0, size=3))
    ref, pred = random_blob(rng, shape), random_blob(rng, shape)
    if not ref.any() or not pred.any():
        pytest.skip("random mask came out empty")
    np.testing.assert_array_equal(border_voxels(ref), brute_border(ref))
    for method in ("edt", "kdtree"):
        d = surface_distances(ref, pred, spacing_mm=spacing, method=method)
        np.testing.assert_allclose(d.reference_to_prediction_mm, brute_distances(ref, pred, spacing), atol=1e-9)
        np.testing.assert_allclose(d.prediction_to_reference_mm, brute_distances(pred, ref, spacing), atol=1e-9)


@pytest.mark.parametrize("offset", [(0, 0, 0), (5, 9, 4)])
def test_cropping_changes_nothing(offset):
    rng = np.random.default_rng(11)
    big = np.zeros((20, 30, 25), dtype=bool)
    small = random_blob(rng, (8, 9, 10)), random_blob(rng, (8, 9, 10))
    ref, pred = big.copy(), big.copy()
    z, y, x = offset                             # (0, 0, 0): the masks touch the volume edge
    ref[z:z + 8, y:y + 9, x:x + 10] = small[0]
    pred[z:z + 8, y:y + 9, x:x + 10] = small[1]
    spacing = (0.7, 0.9, 2.5)
    cropped = surface_distances(ref, pred, spacing_mm=spacing, crop=True)
    full = surface_distances(ref, pred, spacing_mm=spacing, crop=False)
    np.testing.assert_array_equal(cropped.reference_to_prediction_mm, full.reference_to_prediction_mm)
    np.testing.assert_array_equal(cropped.prediction_to_reference_mm, full.prediction_to_reference_mm)


def test_empty_masks():
    empty, one = np.zeros((3, 3, 3), bool), voxels((3, 3, 3), (1, 1, 1))
    both = surface_distances(empty, empty, spacing_mm=(1, 1, 1))
    assert both.empty == "both" and both.assd_mm == 0.0 and both.mssd_mm == 0.0 and both.surface_dice(1) == 1.0
    for ref, pred, kind in [(empty, one, "reference"), (one, empty, "prediction")]:
        d = surface_distances(ref, pred, spacing_mm=(1, 1, 1))
        assert d.empty == kind
        assert d.assd_mm is None and d.rmssd_mm is None and d.mssd_mm is None and d.hd95_mm is None
        assert d.surface_dice(5.0) == 0.0


def test_all_26_neighbour_offsets_have_their_length():
    spacing = (0.7, 1.1, 2.3)
    for dz, dy, dx in itertools.product((-1, 0, 1), repeat=3):
        if (dz, dy, dx) == (0, 0, 0):
            continue
        ref = voxels((3, 3, 3), (1, 1, 1))
        pred = voxels((3, 3, 3), (1 + dz, 1 + dy, 1 + dx))
        expected = math.sqrt((dx * 0.7) ** 2 + (dy * 1.1) ** 2 + (dz * 2.3) ** 2)
        assert surface_distances(ref, pred, spacing_mm=spacing).mssd_mm == pytest.approx(expected)
