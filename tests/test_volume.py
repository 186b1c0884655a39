"""Volume and Geometry against SimpleITK as the oracle (orientation codes, index <-> physical)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk

from livseg.errors import GeometryMismatchError, InvalidImageError, LivsegError
from livseg.volume import Geometry, Volume


def rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rodrigues rotation matrix about ``axis``."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * k @ k


def signed_permutations() -> list[np.ndarray]:
    """All 48 axis-aligned direction matrices (permutations x sign flips)."""
    matrices = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            for col, (row, sign) in enumerate(zip(perm, signs)):
                m[row, col] = sign
            matrices.append(m)
    return matrices


def oblique_directions(count: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(count):
        base = signed_permutations()[rng.integers(48)]
        out.append(rotation(rng.normal(size=3), rng.uniform(0.05, 0.7)) @ base)
    # A hand-made case where two columns share their largest component (x): a per-column
    # argmax would give an invalid code such as "LLP".
    u = np.array([0.62, 0.55, 0.55])
    u /= np.linalg.norm(u)
    v = np.array([0.78, -0.44, -0.44])
    v -= u * (u @ v)
    v /= np.linalg.norm(v)
    out.append(np.stack([u, v, np.cross(u, v)], axis=1))
    return out


def sitk_image(geometry: Geometry) -> sitk.Image:
    image = sitk.Image([int(s) for s in geometry.size], sitk.sitkUInt8)
    image.SetSpacing(geometry.spacing_mm)
    image.SetOrigin(geometry.origin_mm)
    image.SetDirection(geometry.direction)
    return image


def test_identity_direction_is_lps_and_matches_itk():
    geometry = Geometry(size=(4, 5, 6), spacing_mm=(0.7, 0.8, 3.1))
    assert geometry.orientation == "LPS"
    assert sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(geometry.direction) == "LPS"


@pytest.mark.parametrize("matrix", signed_permutations(), ids=lambda m: "".join(map(str, m.ravel().astype(int))))
def test_orientation_of_flips_and_permutations_matches_itk(matrix):
    geometry = Geometry(size=(2, 3, 4), spacing_mm=(1, 2, 3), direction=tuple(matrix.ravel()))
    expected = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(tuple(matrix.ravel()))
    assert geometry.orientation == expected
    assert not geometry.is_oblique


def test_orientation_of_oblique_grids_matches_itk():
    for matrix in oblique_directions():
        geometry = Geometry(size=(2, 3, 4), spacing_mm=(1, 1, 1), direction=tuple(matrix.ravel()))
        expected = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(tuple(matrix.ravel()))
        assert geometry.orientation == expected, matrix
        assert sorted(geometry.orientation.replace("R", "L").replace("A", "P").replace("I", "S")) == ["L", "P", "S"]
        assert geometry.is_oblique


def test_ras_nifti_style_direction_reads_ras():
    geometry = Geometry(size=(2, 2, 2), spacing_mm=(1, 1, 1), direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1))
    assert geometry.orientation == "RAS"


@pytest.mark.parametrize("matrix", [np.eye(3), signed_permutations()[13], *oblique_directions(5)])
def test_index_to_physical_matches_itk(matrix):
    geometry = Geometry(size=(7, 9, 11), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(-120.5, 33.25, 1536.5),
                        direction=tuple(matrix.ravel()))
    image = sitk_image(geometry)
    rng = np.random.default_rng(3)
    indices = rng.uniform(-2, 12, size=(20, 3))
    ours = geometry.index_to_physical(indices)
    theirs = np.array([image.TransformContinuousIndexToPhysicalPoint(tuple(idx)) for idx in indices])
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    back = geometry.physical_to_index(ours)
    np.testing.assert_allclose(back, indices, atol=1e-9)
    itk_back = np.array([image.TransformPhysicalPointToContinuousIndex(tuple(p)) for p in theirs])
    np.testing.assert_allclose(back, itk_back, atol=1e-9)


def test_affine_lps_by_hand_and_ras_flip():
    geometry = Geometry(size=(3, 4, 5), spacing_mm=(0.5, 2.0, 3.0), origin_mm=(10.0, -20.0, 30.0),
                        direction=(0, 1, 0, -1, 0, 0, 0, 0, 1))
    expected_lps = np.array([[0, 2.0, 0, 10.0], [-0.5, 0, 0, -20.0], [0, 0, 3.0, 30.0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(geometry.affine_lps, expected_lps)
    expected_ras = expected_lps.copy()
    expected_ras[:2] *= -1
    np.testing.assert_array_equal(geometry.affine_ras, expected_ras)
    # index (1, 2, 3) by hand: origin + 1*0.5*(0,-1,0) + 2*2*(1,0,0) + 3*3*(0,0,1)
    np.testing.assert_allclose(geometry.index_to_physical([1, 2, 3]), [14.0, -20.5, 39.0])


@pytest.mark.parametrize("space", ["LPS", "RAS"])
def test_affine_round_trip(space):
    for matrix in [np.eye(3), *signed_permutations()[::7], *oblique_directions(6)]:
        geometry = Geometry(size=(5, 6, 7), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(1.5, -2.25, 100.0),
                            direction=tuple(matrix.ravel()))
        affine = geometry.affine_lps if space == "LPS" else geometry.affine_ras
        again = Geometry.from_affine(affine, geometry.size, space=space)
        assert again.same_grid(geometry)
        np.testing.assert_allclose(again.spacing_mm, geometry.spacing_mm, atol=1e-12)
        np.testing.assert_allclose(again.direction, geometry.direction, atol=1e-12)


def test_from_affine_rejects_shear_and_bad_space():
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    with pytest.raises(InvalidImageError, match="orthonormal"):
        Geometry.from_affine(sheared, (2, 2, 2))
    with pytest.raises(InvalidImageError, match="space"):
        Geometry.from_affine(np.eye(4), (2, 2, 2), space="RAI")


def test_differences_name_each_mismatch():
    a = Geometry(size=(4, 5, 6), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(0, 0, 0))
    assert a.differences(a) == [] and a.same_grid(a)
    within = Geometry(size=(4, 5, 6), spacing_mm=(0.7 + 5e-5, 0.8, 3.1), origin_mm=(5e-4, 0, 0))
    assert a.same_grid(within)
    b = Geometry(size=(4, 5, 7), spacing_mm=(0.7, 0.8, 3.0), origin_mm=(0, 0, 1.0),
                 direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1))
    diffs = a.differences(b)
    assert len(diffs) == 4
    assert diffs[0].startswith("size") and "spacing" in diffs[1] and "origin" in diffs[2]
    assert diffs[3] == "direction LPS vs RAS"
    with pytest.raises(GeometryMismatchError, match="mask.nii.gz: expected the same voxel grid"):
        a.require_same_grid(b, subject="mask.nii.gz")


def test_invalid_geometry_values():
    with pytest.raises(InvalidImageError, match="positive"):
        Geometry(size=(2, 2, 2), spacing_mm=(1, 0, 1))
    with pytest.raises(InvalidImageError, match="at least one voxel"):
        Geometry(size=(2, 0, 2), spacing_mm=(1, 1, 1))
    with pytest.raises(InvalidImageError, match="3 values"):
        Geometry(size=(2, 2), spacing_mm=(1, 1, 1))
    with pytest.raises(InvalidImageError, match="orthonormal"):
        Geometry(size=(2, 2, 2), spacing_mm=(1, 1, 1), direction=(2, 0, 0, 0, 1, 0, 0, 0, 1))


def test_volume_shape_checks_and_views():
    geometry = Geometry(size=(4, 3, 2), spacing_mm=(0.5, 1.0, 2.0))
    assert geometry.shape_zyx == (2, 3, 4)
    assert geometry.voxel_volume_mm3 == 1.0
    assert geometry.extent_mm == (2.0, 3.0, 4.0)
    volume = Volume(np.zeros((2, 3, 4), np.int16), geometry, source="ct.nii.gz")
    assert volume.shape == (2, 3, 4) and volume.spacing_mm == (0.5, 1.0, 2.0)
    with pytest.raises(InvalidImageError, match=r"ct.nii.gz: expected array shape \(z, y, x\) \(2, 3, 4\)"):
        Volume(np.zeros((4, 3, 2)), geometry, source="ct.nii.gz")
    with pytest.raises(InvalidImageError, match="3D array"):
        Volume(np.zeros((3, 4)), geometry)
    other = volume.with_array(np.ones((2, 3, 4), np.uint8))
    assert other.geometry == geometry and other.source == "ct.nii.gz"
    assert volume.array.sum() == 0  # the original is untouched
    shifted = Volume(np.zeros((2, 3, 4)), Geometry(size=(4, 3, 2), spacing_mm=(0.5, 1, 2), origin_mm=(0, 0, 5)),
                     source="mask.nrrd")
    with pytest.raises(GeometryMismatchError, match="mask.nrrd vs ct.nii.gz") as info:
        volume.require_same_grid(shifted)
    # Each difference lists the two grids in the order the files are named: mask first.
    assert "origin 0x0x5 vs 0x0x0 mm" in str(info.value)


def test_kind_and_spacing_known_are_typed_fields():
    geometry = Geometry(size=(4, 3, 2), spacing_mm=(0.5, 0.5, 2.0))
    plain = Volume(np.zeros(geometry.shape_zyx, np.float32), geometry)
    assert plain.kind == "any" and plain.spacing_known is True and plain.meta == {}
    labels = Volume(np.zeros(geometry.shape_zyx, np.uint8), geometry, kind="label", spacing_known=False)
    # with_array keeps what the data is unless told otherwise; on_grid keeps it on another grid
    assert labels.with_array(labels.array + 1).kind == "label"
    assert labels.with_array(labels.array.astype(np.float32), kind="any").kind == "any"
    assert labels.with_array(labels.array).spacing_known is False
    cropped = labels.on_grid(labels.array[:1], Geometry((4, 3, 1), geometry.spacing_mm))
    assert (cropped.kind, cropped.spacing_known) == ("label", False)
    with pytest.raises(LivsegError, match="kind"):
        Volume(plain.array, geometry, kind="mask")  # type: ignore[arg-type]
    with pytest.raises(InvalidImageError, match="spacing_known"):
        Volume(plain.array, geometry, spacing_known="no")  # type: ignore[arg-type]


def test_repr_shows_grid_dtype_and_kind_never_the_voxels():
    geometry = Geometry(size=(40, 30, 20), spacing_mm=(0.8, 0.8, 2.5), direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1))
    volume = Volume(np.full(geometry.shape_zyx, 7, np.int16), geometry, source="ct.nii.gz", kind="ct")
    text = repr(volume)
    assert text == "Volume('ct.nii.gz', ct, int16, 40x30x20 voxels, 0.8x0.8x2.5 mm, RAS)"
    assert "7" not in text and "array" not in text
    unknown = Volume(volume.array, geometry, source="crop.mrc", spacing_known=False)
    assert "unknown spacing" in repr(unknown) and "0.8x0.8" not in repr(unknown)


def test_one_spacing_check_for_geometries_and_bare_spacings():
    from livseg.volume import spacing_triple

    assert spacing_triple([1, 2, 3.5]) == (1.0, 2.0, 3.5)
    for bad in ((1.0, 0.0, 1.0), (1.0, -2.0, 1.0), (1.0, float("nan"), 1.0), (1.0, 1.0), "abc", None):
        with pytest.raises(InvalidImageError, match="three positive voxel sizes"):
            spacing_triple(bad, subject="spacing_mm")  # type: ignore[arg-type]
    with pytest.raises(InvalidImageError, match="three positive voxel sizes"):
        Geometry(size=(2, 2, 2), spacing_mm=(1, float("inf"), 1))


def test_kind_and_spacing_known_never_hide_in_meta():
    geometry = Geometry(size=(2, 2, 2), spacing_mm=(1, 1, 1))
    for stale in ({"kind": "label"}, {"spacing_known": False}):
        with pytest.raises(InvalidImageError, match="Volume fields"):
            Volume(np.zeros((2, 2, 2), np.uint8), geometry, meta=stale)
