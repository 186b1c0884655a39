"""Synthetic CT phantoms: determinism, HU per tissue, labels, physical placement, flips, files."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy import ndimage

from livseg.datasets.case import Case
from livseg.phantoms.generator import (
    Phantom,
    generate_phantom,
    phantom_seed,
    render_phantom,
    write_phantoms,
)
from livseg.phantoms.fields import Grid, SmoothField
from livseg.phantoms.intensity import IN_PLANE_SIGMA_MM, partial_volume_blur
from livseg.phantoms.tissues import (
    BONE_TISSUES,
    LIVER_HU_RANGE,
    Tissue,
    tumour_core_id,
)
from livseg.errors import ConfigError, LivsegError
from livseg.io import read_volume

# Seeds whose draws the tests rely on (each test asserts the property it needs, so a change
# of the random streams makes the test fail loudly rather than pass vacuously).
SEED_ARTERIAL, SEED_NON_CONTRAST, SEED_PORTAL = 0, 1, 7
SEED_ALL_FLIPPED = 0


@lru_cache(maxsize=None)
def phantom(seed: int, **kwargs) -> Phantom:
    return render_phantom(seed, **kwargs)


def eroded(mask: np.ndarray) -> np.ndarray:
    """The mask minus its border voxels (26-neighbourhood), away from partial volume."""
    return ndimage.binary_erosion(mask, structure=np.ones((3, 3, 3), bool))


def lps_order(array: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Undo storage flips: reorder (z, y, x) so that index axes point to +x, +y, +z (L, P, S)."""
    for axis in range(3):
        if direction[axis, axis] < 0:
            array = np.flip(array, axis=2 - axis)
    return array


# --- determinism ---------------------------------------------------------------------------
def test_same_seed_gives_the_same_bytes():
    first_ct, first_labels = generate_phantom(5, size_xyz=(64, 64, 32))
    second_ct, second_labels = generate_phantom(5, size_xyz=(64, 64, 32))
    assert first_ct.array.tobytes() == second_ct.array.tobytes()
    assert first_labels.array.tobytes() == second_labels.array.tobytes()
    assert first_ct.geometry == second_ct.geometry
    assert first_ct.meta["phantom"] == second_ct.meta["phantom"]


def test_different_seeds_give_different_phantoms():
    a, _ = generate_phantom(5, size_xyz=(64, 64, 32), spacing_mm=(1.5, 1.5, 3.0), flip_axes=False)
    b, _ = generate_phantom(6, size_xyz=(64, 64, 32), spacing_mm=(1.5, 1.5, 3.0), flip_axes=False)
    assert a.geometry.size == b.geometry.size
    assert np.mean(a.array != b.array) > 0.5
    assert a.meta["phantom"]["body_centre_lps_mm"] != b.meta["phantom"]["body_centre_lps_mm"]


def test_types_grid_and_drawn_spacing():
    ct, labels = generate_phantom(SEED_PORTAL)
    assert ct.array.dtype == np.int16 and labels.array.dtype == np.uint8
    assert ct.geometry == labels.geometry
    assert ct.geometry.size == (128, 128, 64)
    sx, sy, sz = ct.geometry.spacing_mm
    assert sx == sy and 0.6 <= sx <= 0.9 and 1.0 <= sz <= 5.0


# --- building blocks -------------------------------------------------------------------------
def test_smooth_field_on_a_grid_equals_the_sum_of_its_bumps():
    field = SmoothField(np.random.default_rng(0), (-50, -40, -30), (60, 50, 20), node_spacing_mm=20.0, amplitude=5.0)
    grid = Grid(xs=np.linspace(-50, 60, 23, dtype=np.float32), ys=np.linspace(-40, 50, 17, dtype=np.float32),
                zs=np.linspace(-30, 20, 11, dtype=np.float32))
    box = grid.box((-100.0,) * 3, (100.0,) * 3)
    z, y, x = (axis.ravel() for axis in np.meshgrid(grid.zs, grid.ys, grid.xs, indexing="ij"))
    nodes_x, nodes_y, nodes_z = np.meshgrid(*field.nodes, indexing="ij")
    brute = np.zeros(len(x))
    for (i, j, k), value in np.ndenumerate(field.coefficients.transpose(2, 1, 0)):  # (x, y, z) nodes
        d2 = (x - nodes_x[i, j, k]) ** 2 + (y - nodes_y[i, j, k]) ** 2 + (z - nodes_z[i, j, k]) ** 2
        brute += value * np.exp(-0.5 * d2 / field.spacing_mm ** 2)
    assert np.allclose(field.on_box(box).ravel(), brute, atol=1e-4)
    assert np.allclose(field.at(x, y, z), brute, atol=1e-9)
    assert 2.0 < brute.std() < 10.0  # about the requested amplitude


# --- intensities -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed, phase", [(SEED_NON_CONTRAST, "non-contrast"), (SEED_ARTERIAL, "arterial"),
                                         (SEED_PORTAL, "portal-venous")])
def test_hu_per_tissue(seed, phase):
    p = phantom(seed)
    assert p.info["phase"] == phase
    ct, tissue = p.ct.array.astype(float), p.tissues.array
    low, high = LIVER_HU_RANGE[phase]
    liver = np.median(ct[eroded(tissue == Tissue.LIVER)])
    assert low - 3 <= liver <= high + 3
    assert abs(liver - p.info["liver_hu"]) < 4
    assert np.median(ct[eroded(np.isin(tissue, BONE_TISSUES))]) > 300
    assert np.median(ct[eroded(tissue == Tissue.LUNG)]) < -700
    air = ndimage.binary_erosion(tissue == Tissue.AIR, iterations=3)
    assert abs(np.mean(ct[air]) + 1000) < 10
    assert -130 < np.median(ct[eroded(tissue == Tissue.VISCERAL_FAT)]) < -70
    assert 30 < np.median(ct[eroded(tissue == Tissue.MUSCLE)]) < 75
    # The hard case: spleen and heart muscle look like liver.
    for organ in (Tissue.SPLEEN, Tissue.MYOCARDIUM):
        assert abs(np.median(ct[eroded(tissue == organ)]) - liver) < 25
    cortex = np.median(ct[tissue == Tissue.KIDNEY_CORTEX])
    assert cortex > liver + 30 if phase != "non-contrast" else cortex < liver
    gas = eroded(tissue == Tissue.GAS)
    assert gas.sum() > 20 and np.median(ct[gas]) < -900


def test_partial_volume_blur_scales_with_slice_thickness():
    # Along z the blur is a fixed fraction of a slice, so in mm it grows with the thickness.
    step = np.zeros((40, 8, 8), np.float32)
    step[20:] = 1000.0
    thin = partial_volume_blur(step, (0.7, 0.7, 1.0))[:, 4, 4]
    thick = partial_volume_blur(step, (0.7, 0.7, 4.0))[:, 4, 4]
    assert 50 < thin[19] < 500 < thin[20] < 950  # the slices next to the edge are mixed
    assert thin[17] < 1 and thin[22] > 999  # and only those
    assert np.allclose(thin, thick)  # same in slices, hence 4x wider in mm
    # In-plane it is a fixed width in mm: the 10-90 % rise of a Gaussian edge is 2.563 sigma.
    expected_mm = 2.563 * IN_PLANE_SIGMA_MM
    for pixel_mm in (0.05, 0.2):
        edge = np.zeros((4, 4, int(40 / pixel_mm)), np.float32)
        edge[..., edge.shape[-1] // 2:] = 1000.0
        profile = partial_volume_blur(edge, (pixel_mm, pixel_mm, 2.0))[2, 2]
        rise_mm = (np.argmax(profile > 900) - np.argmax(profile > 100)) * pixel_mm
        assert abs(rise_mm - expected_mm) <= pixel_mm + 1e-6


def test_noise_level_matches_the_draw():
    # Outside the body the object is flat (-1000 HU, clipped at -1024): compare the spread of
    # voxels between -1000 + 1 sigma and the clip with what a Gaussian of the drawn sigma gives.
    p = phantom(SEED_NON_CONTRAST)
    sigma = p.info["noise_sigma_hu"]
    air = p.ct.array[ndimage.binary_erosion(p.tissues.array == Tissue.AIR, iterations=3)].astype(float)
    upper = air[air > -1000]  # the upper half of the noise is never clipped
    measured = np.sqrt(np.mean((upper + 1000) ** 2))  # half-normal RMS equals sigma
    assert abs(measured - sigma) < 0.1 * sigma


@pytest.mark.parametrize("seed", [SEED_NON_CONTRAST, SEED_ARTERIAL, SEED_PORTAL])
def test_contrast_vessels_are_brighter_than_liver(seed):
    p = phantom(seed)
    hu = p.info["tissue_hu"]
    for vessel in ("portal_vein", "hepatic_vein"):
        if p.info["phase"] == "non-contrast":
            assert hu[vessel] < hu["liver"]
        else:
            assert hu[vessel] > hu["liver"]


def test_tumour_contrast_sign_matches_its_kind():
    checked = set()
    for seed in (SEED_NON_CONTRAST, SEED_ARTERIAL, SEED_PORTAL, 4):
        p = phantom(seed, n_tumours=6)
        ct, tissue = p.ct.array.astype(float), p.tissues.array
        liver = np.median(ct[eroded(tissue == Tissue.LIVER)])
        for index, tumour in enumerate(p.info["tumours"]):
            core = eroded(tissue == tumour_core_id(index))
            if core.sum() < 10:
                continue
            difference = ct[core].mean() - liver
            if tumour["kind"] == "hyper":
                assert difference > 10, (seed, index, tumour)
            else:
                assert difference < -10, (seed, index, tumour)
            checked.add(tumour["kind"])
    assert checked == {"hypo", "hyper", "rim"}


# --- labels ----------------------------------------------------------------------------------
def test_labels_come_from_tissues():
    p = phantom(SEED_PORTAL)
    labels, tissue = p.labels.array, p.tissues.array
    assert set(np.unique(labels)) <= {0, 1, 2}
    liver_tissues = np.isin(tissue, [Tissue.LIVER, Tissue.PORTAL_VEIN, Tissue.HEPATIC_VEIN])
    assert np.array_equal(labels == 1, liver_tissues)
    assert np.array_equal(labels == 2, tissue >= tumour_core_id(0))


@pytest.mark.parametrize("seed", [SEED_ARTERIAL, 6])
def test_tumours_lie_inside_the_tumour_free_liver(seed):
    with_tumours = phantom(seed, n_tumours=6).labels.array
    without = phantom(seed, n_tumours=0).labels.array
    assert (with_tumours == 2).sum() > 100
    assert not (without == 2).any()
    # Tumours replace liver, nothing else: the organ is exactly the tumour-free liver.
    assert np.array_equal(with_tumours > 0, without == 1)


def test_some_tumours_touch_the_liver_edge():
    p = phantom(6, n_tumours=6)
    labels = p.labels.array
    edge_tumours = [i for i, t in enumerate(p.info["tumours"]) if t["at_edge"] and t["voxels"] > 0]
    assert edge_tumours
    touching = 0
    for index in edge_tumours:
        tumour = np.isin(p.tissues.array, [tumour_core_id(index), tumour_core_id(index) + 1])
        touching += bool((labels[ndimage.binary_dilation(tumour)] == 0).any())
    assert touching >= 1


def test_no_liver_means_no_liver_labels():
    no_liver = render_phantom(SEED_PORTAL, liver=False)
    labels = no_liver.labels
    assert labels.array.dtype == np.uint8 and not labels.array.any()
    assert no_liver.info["tumours"] == []
    # Everything but the liver (and what lives in it) is the same patient.
    without = no_liver.tissues.array
    with_liver = phantom(SEED_PORTAL).tissues.array
    assert not np.isin(without, [Tissue.LIVER, Tissue.PORTAL_VEIN, Tissue.HEPATIC_VEIN, Tissue.GALLBLADDER]).any()
    elsewhere = ~np.isin(with_liver, [Tissue.LIVER, Tissue.PORTAL_VEIN, Tissue.HEPATIC_VEIN, Tissue.GALLBLADDER])
    elsewhere &= with_liver < tumour_core_id(0)
    assert np.array_equal(without[elsewhere], with_liver[elsewhere])
    with pytest.raises(ConfigError):
        generate_phantom(SEED_PORTAL, liver=False, n_tumours=2)


@pytest.mark.parametrize("seed, tumours", [(0, None), (1, None), (7, None), (4, 6), (6, 6)])
def test_liver_volume_is_adult_sized_once_scaled(seed, tumours):
    p = phantom(seed, n_tumours=tumours) if tumours else phantom(seed)
    millilitres = (p.labels.array > 0).sum() * p.labels.geometry.voxel_volume_mm3 / 1000.0
    scale = p.info["anatomy_scale"]
    assert 0.15 < scale < 0.5  # a 128 x 128 grid at 0.6-0.9 mm holds a scaled-down patient
    assert 1000 < millilitres / scale ** 3 < 2400


def test_anatomy_is_independent_of_the_sampling_grid():
    # Same field of view (96 x 96 x 192 mm) sampled two ways: the same patient, in mL.
    fine = generate_phantom(11, size_xyz=(128, 128, 64), spacing_mm=(0.75, 0.75, 3.0), n_tumours=0)[1]
    coarse = generate_phantom(11, size_xyz=(64, 64, 192), spacing_mm=(1.5, 1.5, 1.0), n_tumours=0)[1]
    volumes = [(v.array == 1).sum() * v.geometry.voxel_volume_mm3 for v in (fine, coarse)]
    assert abs(volumes[0] - volumes[1]) / volumes[0] < 0.05
    centres = [v.geometry.index_to_physical(np.argwhere(v.array == 1)[:, ::-1].mean(axis=0)) for v in (fine, coarse)]
    assert np.linalg.norm(centres[0] - centres[1]) < 1.0  # mm


# --- physical placement and storage flips ---------------------------------------------------
def physical_centroid(volume, mask: np.ndarray) -> np.ndarray:
    return volume.geometry.index_to_physical(np.argwhere(mask)[:, ::-1].mean(axis=0))


@pytest.mark.parametrize("seed, flip_axes", [(SEED_ALL_FLIPPED, True), (SEED_ALL_FLIPPED, False),
                                             (SEED_NON_CONTRAST, True), (SEED_PORTAL, True)])
def test_liver_is_on_the_patients_right(seed, flip_axes):
    p = phantom(seed) if flip_axes else phantom(seed, flip_axes=False)
    ct, labels = p.ct, p.labels
    liver = physical_centroid(labels, labels.array > 0)
    body = physical_centroid(ct, ct.array > -500)
    lungs = physical_centroid(ct, p.tissues.array == Tissue.LUNG)
    assert liver[0] < body[0] - 10  # LPS: smaller x is the patient's right
    assert liver[2] < lungs[2]  # +z is superior: the lungs lie above the liver


def test_flipped_storage_holds_the_same_physical_content():
    flipped = phantom(SEED_ALL_FLIPPED)
    plain = phantom(SEED_ALL_FLIPPED, flip_axes=False)
    assert flipped.info["flipped_axes"] == "xyz"
    assert np.allclose(np.diag(flipped.ct.geometry.direction_matrix), -1)
    assert plain.ct.geometry.orientation == "LPS"
    for a, b in ((flipped.ct, plain.ct), (flipped.labels, plain.labels)):
        assert np.array_equal(lps_order(a.array, a.geometry.direction_matrix), b.array)
    # The same voxel is at the same physical place in both storages.
    size = np.asarray(plain.ct.geometry.size)
    for index in ([0, 0, 0], [5, 17, 3], list(size - 1)):
        point = flipped.ct.geometry.index_to_physical(np.asarray(index, float))
        other = np.rint(plain.ct.geometry.physical_to_index(point)).astype(int)
        assert np.allclose(plain.ct.geometry.index_to_physical(other), point, atol=1e-6)
        assert flipped.ct.array[index[2], index[1], index[0]] == plain.ct.array[other[2], other[1], other[0]]


def test_flips_do_not_change_the_draw():
    flipped, plain = phantom(SEED_ALL_FLIPPED), phantom(SEED_ALL_FLIPPED, flip_axes=False)
    strip = ("flipped_axes", "orientation")
    assert {k: v for k, v in flipped.info.items() if k not in strip} == \
        {k: v for k, v in plain.info.items() if k not in strip}


# --- files ------------------------------------------------------------------------------------
def test_write_phantoms_writes_readable_pairs(tmp_path):
    cases = write_phantoms(tmp_path / "out", n=2, seed=3, size_xyz=(48, 40, 24))
    assert [c.case_id for c in cases] == ["phantom-000", "phantom-001"]
    for index, case in enumerate(cases):
        assert isinstance(case, Case) and case.layout == "pairs"
        assert case.image == tmp_path / "out" / "images" / f"phantom-{index:03d}.nii.gz"
        assert case.label == tmp_path / "out" / "labels" / f"phantom-{index:03d}.nii.gz"
        ct, labels = generate_phantom(phantom_seed(3, index), size_xyz=(48, 40, 24))
        read_ct, read_labels = read_volume(case.image), read_volume(case.label)
        assert read_ct.geometry.same_grid(ct.geometry) and read_labels.geometry.same_grid(ct.geometry)
        assert np.array_equal(read_ct.array, ct.array) and read_ct.array.dtype == np.int16
        assert np.array_equal(read_labels.array, labels.array)
        assert case.extra["seed"] == phantom_seed(3, index)
    assert phantom_seed(3, 0) != phantom_seed(3, 1) != phantom_seed(4, 1)
    leftovers = [p.name for p in (tmp_path / "out").rglob("*") if p.is_file() and "partial" in p.name]
    assert leftovers == []


def test_write_phantoms_other_format(tmp_path):
    (case,) = write_phantoms(tmp_path, n=1, seed=0, size_xyz=(32, 32, 16), fmt=".mha")
    assert case.image.name == "phantom-000.mha"
    ct, _ = generate_phantom(phantom_seed(0, 0), size_xyz=(32, 32, 16))
    assert np.array_equal(read_volume(case.image).array, ct.array)


@pytest.mark.parametrize("call", [
    lambda: generate_phantom(-1),
    lambda: generate_phantom(1.5),  # type: ignore[arg-type]
    lambda: generate_phantom(1, size_xyz=(8, 64, 64)),
    lambda: generate_phantom(1, size_xyz=(64, 64)),  # type: ignore[arg-type]
    lambda: generate_phantom(1, spacing_mm=(1.0, 0.0, 1.0)),
    lambda: generate_phantom(1, n_tumours=13),
    lambda: write_phantoms("unused", n=1, seed=1, fmt="png"),  # type: ignore[arg-type]
    lambda: write_phantoms("unused", n=-1, seed=1),  # type: ignore[arg-type]
])
def test_bad_requests_raise_one_line_errors(call):
    with pytest.raises(LivsegError) as caught:
        call()
    assert "\n" not in str(caught.value) and "expected" in str(caught.value)
