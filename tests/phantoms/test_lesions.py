"""Lesion insertion into a real CT's liver (CHAOS case, cropped around the liver to stay fast)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from livseg.datasets.shared import shared_data_root

ROOT = shared_data_root()
pytestmark = pytest.mark.skipif(ROOT is None or not (ROOT / "chaos-ct-1").is_dir(),
                                reason="real CT data not found: set LIVSEG_SHARED_DATA or place "
                                       "../shared/data (with chaos-ct-1/) beside the repo")


@lru_cache(maxsize=None)
def chaos():
    """The CHAOS CT and its liver label, cropped to the liver's box plus 8 voxels."""
    from livseg.io import read_volume
    from livseg.volume import Geometry, Volume

    ct = read_volume(ROOT / "chaos-ct-1" / "image.nii.gz", kind="ct")
    labels = read_volume(ROOT / "chaos-ct-1" / "label.nii.gz", kind="label")
    where = np.argwhere(labels.array > 0)
    lo = np.maximum(where.min(axis=0) - 8, 0)
    hi = np.minimum(where.max(axis=0) + 9, labels.array.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    g = ct.geometry
    geometry = Geometry(size=tuple(int(hi[a] - lo[a]) for a in (2, 1, 0)), spacing_mm=g.spacing_mm,
                        origin_mm=tuple(g.index_to_physical(np.asarray(lo[::-1], float))), direction=g.direction)
    return (Volume(np.ascontiguousarray(ct.array[box]), geometry, kind="ct"),
            Volume(np.ascontiguousarray(labels.array[box]), geometry, kind="label"))


@lru_cache(maxsize=None)
def inserted(seed: int, **options):
    from livseg.phantoms.lesions import insert_lesions

    ct, labels = chaos()
    options.setdefault("templates", ())
    return insert_lesions(ct, labels, seed, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()})


def test_same_seed_same_bytes():
    from livseg.phantoms.lesions import insert_lesions

    ct, labels = chaos()
    first = inserted(1, shapes=("ellipsoid", "lobulated"))
    again = insert_lesions(ct, labels, 1, shapes=["ellipsoid", "lobulated"], templates=())
    assert first.ct.array.tobytes() == again.ct.array.tobytes()
    assert first.labels.array.tobytes() == again.labels.array.tobytes()
    assert first.lesions == again.lesions and 1 <= len(first.lesions) <= 4


def test_lesions_inside_the_liver_and_the_rest_unchanged():
    ct, labels = chaos()
    result = inserted(2, n=3, diameters_mm=(15.0, 25.0, 35.0), shapes=("ellipsoid", "lobulated", "ellipsoid"),
                      edge_share=0.5)
    lesion = result.labels.array == 2
    assert lesion.any() and not (lesion & (labels.array == 0)).any()
    assert np.array_equal(result.labels.array[~lesion], labels.array[~lesion])
    assert result.ct.geometry == ct.geometry and result.ct.array.dtype == ct.array.dtype
    # Beyond the lesions' blurred edge (3 sigma of the point spread plus a voxel) nothing moved.
    far = ndimage.distance_transform_edt(~lesion, sampling=ct.geometry.spacing_mm[::-1]) > 6.0
    assert np.array_equal(result.ct.array[far], ct.array[far])
    assert np.array_equal(result.ct.array[~result.changed], ct.array[~result.changed])


@pytest.mark.parametrize("shape", ["ellipsoid", "lobulated"])
def test_lesion_volume_matches_the_requested_diameter(shape):
    result = inserted(3, n=1, diameters_mm=(30.0,), shapes=(shape,), edge_share=0.0)
    volume_ml = (result.labels.array == 2).sum() * np.prod(result.ct.geometry.spacing_mm) / 1000
    expected = np.pi * 30.0 ** 3 / 6 / 1000
    assert abs(volume_ml / expected - 1) < 0.1, (volume_ml, expected)


def test_hypodense_lesion_is_darker_than_the_liver_around_it_with_matching_noise():
    from livseg.phantoms.lesions import _noise_sd

    ct, labels = chaos()
    result = inserted(4, n=1, diameters_mm=(40.0,), kinds=("hypo",), shapes=("ellipsoid",), edge_share=0.0)
    lesion = result.labels.array == 2
    core = ndimage.binary_erosion(lesion, np.ones((3, 3, 3), bool))
    ring = ndimage.binary_dilation(lesion, np.ones((3, 7, 7), bool), iterations=3) & ~ndimage.binary_dilation(
        lesion, np.ones((3, 7, 7), bool)) & (labels.array == 1)
    image = result.ct.array.astype(float)
    assert image[core].mean() < image[ring].mean() - 10
    assert result.lesions[0]["kind"] == "hypo" and result.lesions[0]["core_hu"] < result.lesions[0]["liver_hu"]
    lesion_noise = _noise_sd(result.ct.array, core)
    liver_noise = _noise_sd(ct.array, ring)
    assert 0.6 < lesion_noise / liver_noise < 1.6


def test_real_tumour_shapes_from_training_patients():
    masks = ROOT / "ircadb-masks"
    if not masks.is_dir():
        pytest.skip("3D-IRCADb masks not found in the shared data")
    from livseg.phantoms.lesions import tumour_templates

    templates = tumour_templates(masks, patients=("patient-08",))
    assert templates and all(t.source.startswith("patient-08") for t in templates)
    from livseg.phantoms.lesions import insert_lesions

    ct, labels = chaos()
    result = insert_lesions(ct, labels, 5, n=1, diameters_mm=[25.0], shapes=["mask"], templates=templates,
                            edge_share=0.0)
    assert result.lesions[0]["shape"] == "mask" and (result.labels.array == 2).sum() > 0
    with pytest.raises(Exception):
        tumour_templates(masks, patients=("patient-19",))  # held out: never a template


def test_cli_writes_lesion_copies(run_cli, tmp_path: Path):
    total = ROOT / "totalseg-example"
    code, out, _ = run_cli("data", "lesions", total / "ct.nii.gz", total / "seg_totalsegmentator_fast.nii.gz",
                           tmp_path, "--copies", "1", "--seed", "0", "--lesions", "1", "--label-map", "5:1,*:0")
    assert code == 0, out
    from livseg.io import read_volume

    label = read_volume(tmp_path / "labels" / "ct+lesions-0.nii.gz", kind="label")
    assert (label.array == 2).any() and (label.array == 1).any()
