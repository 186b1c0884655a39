"""``postprocess`` end to end: order of the steps, the config, geometry, real expert labels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from livseg.errors import ConfigError
from livseg.postprocessing import PostprocessConfig, axial_axis, postprocess
from livseg.volume import Geometry, Volume

SPACING_MM = (0.8, 0.8, 2.5)   # x, y, z: one voxel is 1.6 mm^3


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """(labels with every defect, the labels expected after the default post-processing)."""
    labels = np.zeros((12, 20, 20), dtype=np.uint8)
    labels[1:10, 2:12, 2:12] = 1                    # the liver: 900 voxels
    labels[3:6, 4:7, 4:7] = 2                       # a tumour inside: 27 voxels = 43.2 mm^3
    labels[4:6, 5:7, 12:14] = 2                     # a tumour at the edge, outside the liver's box
    expected = labels.copy()
    labels[2, 9, 9] = 2                             # a one-voxel speck of tumour: 1.6 mm^3
    expected[2, 9, 9] = 1
    labels[6:9, 8:11, 8:11] = 0                     # a 27-voxel 3D cavity
    labels[8, 3, 3] = 0                             # a one-voxel hole
    labels[1:10, 6, 9] = 0                          # a channel through every liver slice, open
                                                    # at both ends: closed slice by slice
    labels[9:12, 15:18, 15:18] = 1                  # a second, smaller "liver": removed
    labels[10, 16, 16] = 2
    labels[0:2, 16:19, 0:3] = 2                     # tumour far from any liver: removed
    return labels, expected


def test_default_postprocess_cleans_every_defect_in_its_order():
    labels, expected = _scene()
    volume = Volume(labels, Geometry(size=(20, 20, 12), spacing_mm=SPACING_MM), source="scene")
    out = postprocess(volume, PostprocessConfig())
    np.testing.assert_array_equal(out.array, expected)
    assert out.geometry == volume.geometry
    assert out.array.dtype == labels.dtype


def test_postprocess_does_not_change_its_input_volume():
    labels, _ = _scene()
    before = labels.copy()
    volume = Volume(labels, Geometry(size=(20, 20, 12), spacing_mm=SPACING_MM))
    out = postprocess(volume, PostprocessConfig())
    np.testing.assert_array_equal(volume.array, before)
    assert not np.shares_memory(out.array, volume.array)


def test_every_step_can_be_turned_off():
    labels, _ = _scene()
    volume = Volume(labels, Geometry(size=(20, 20, 12), spacing_mm=SPACING_MM))
    off = PostprocessConfig(keep_largest_liver=False, tumour_in_liver=False, min_tumour_volume_mm3=0.0,
                            fill_holes_2d=False, fill_holes_3d=False)
    np.testing.assert_array_equal(postprocess(volume, off).array, labels)
    only_3d = dataclasses.replace(off, fill_holes_3d=True)
    out = postprocess(volume, only_3d).array
    assert (out[6:9, 8:11, 8:11] > 0).all()        # the cavity is filled ...
    assert out[5, 6, 9] == 0                       # ... the open channel is not
    bigger_tumours = dataclasses.replace(off, min_tumour_volume_mm3=50.0)  # 27 voxels = 43.2 mm^3
    assert (postprocess(volume, bigger_tumours).array[3:6, 4:7, 4:7] == 1).all()


def test_per_slice_filling_follows_the_axial_direction_of_the_geometry():
    """The same physical tube, stored axially and sagittally, is closed in axial slices."""
    axial = np.zeros((6, 9, 9), dtype=np.uint8)    # (z, y, x); k runs feet -> head
    axial[:, 2:7, 2:7] = 1
    axial[:, 4, 4] = 0                             # a channel along the body axis
    axial_volume = Volume(axial, Geometry(size=(9, 9, 6), spacing_mm=(1.0, 1.0, 2.0)))
    assert axial_axis(axial_volume.geometry) == 0
    # Stored sagittally: index i runs head-wards (S), j posterior (P), k to the left (L).
    sagittal_direction = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)  # columns i, j, k
    sagittal = np.transpose(axial, (2, 1, 0)).copy()  # array (k=x_lps, j=y, i=z_lps)
    sagittal_volume = Volume(sagittal, Geometry(size=(6, 9, 9), spacing_mm=(2.0, 1.0, 1.0),
                                                direction=tuple(sagittal_direction.ravel())))
    assert axial_axis(sagittal_volume.geometry) == 2
    only_2d = PostprocessConfig(fill_holes_3d=False)
    axial_out = postprocess(axial_volume, only_2d).array
    sagittal_out = postprocess(sagittal_volume, only_2d).array
    assert (axial_out[:, 4, 4] == 1).all()
    np.testing.assert_array_equal(np.transpose(sagittal_out, (2, 1, 0)), axial_out)


@pytest.mark.parametrize("bad", [
    {"connectivity": 8},
    {"min_liver_fraction": 0.0},
    {"min_liver_volume_ml": -1.0},
    {"min_tumour_volume_mm3": -5.0},
    {"min_tumour_volume_mm3": float("nan")},
])
def test_config_refuses_bad_values(bad):
    with pytest.raises(ConfigError) as caught:
        PostprocessConfig(**bad)
    assert "postprocess." in str(caught.value) and "\n" not in str(caught.value)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PostprocessConfig().connectivity = 6  # type: ignore[misc]


@pytest.mark.needs_shared_data
def test_expert_liver_of_chaos_survives_and_is_restored_after_damage(shared_data):
    from livseg.io import read_volume

    path = shared_data / "chaos-ct-1" / "label.nii.gz"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    reference = read_volume(path)
    truth = reference.array.astype(np.uint8)
    # The defaults leave an expert liver mask exactly as it is (no holes, one component).
    np.testing.assert_array_equal(postprocess(reference.with_array(truth)).array, truth)

    damaged = truth.copy()
    z, y, x = (int(np.median(c)) for c in np.nonzero(truth))
    assert truth[z - 2:z + 3, y - 5:y + 6, x - 5:x + 6].all()  # a block well inside the liver
    damaged[z - 1:z + 2, y - 4:y + 5, x - 4:x + 5] = 0          # a cavity
    damaged[z, y, x] = 2                                         # a one-voxel tumour speck
    damaged[z, y + 5, x + 5] = 2                                 # a speck inside the liver
    assert not truth[:6, :21, :21].any()
    damaged[:5, :20, :20] = 1                                    # a false liver far away
    assert not truth[:4, 29:34, 29:34].any()
    damaged[1:3, 30:33, 30:33] = 2                               # a tumour outside any liver
    out = postprocess(reference.with_array(damaged)).array
    np.testing.assert_array_equal(out, truth)


def test_empty_below_ml_empties_a_small_liver_and_keeps_a_large_one():
    import numpy as np

    from livseg.postprocessing import PostprocessConfig, postprocess
    from livseg.volume import Geometry, Volume

    grid = Geometry(size=(40, 40, 20), spacing_mm=(2.0, 2.0, 2.5))  # 10 mm^3 per voxel
    small = np.zeros((20, 40, 40), dtype=np.uint8)
    small[5:10, 10:20, 10:20] = 1  # 500 voxels = 5 mL
    config = PostprocessConfig(empty_below_ml=6.0)
    assert not postprocess(Volume(small, grid), config).array.any()
    small[5:10, 10:20, 10:22] = 1  # 600 voxels = 6 mL: kept
    assert postprocess(Volume(small, grid), config).array.sum() == 600
    assert postprocess(Volume(small, grid), PostprocessConfig()).array.sum() == 600


def test_empty_below_ml_is_lower_for_short_scans():
    import numpy as np

    from livseg.postprocessing import PostprocessConfig, postprocess
    from livseg.volume import Geometry, Volume

    grid = Geometry(size=(40, 40, 3), spacing_mm=(2.0, 2.0, 1.0))  # a 3 mm scan: bar at 3 mL
    liver = np.zeros((3, 40, 40), dtype=np.uint8)
    liver[:, 5:35, 5:35] = 1  # 2700 voxels of 4 mm^3 = 10.8 mL
    kept = postprocess(Volume(liver, grid), PostprocessConfig(empty_below_ml=100.0))
    assert kept.array.sum() == 2700
    liver[:, 5:35, 5:35] = 0
    liver[:, 10:20, 10:20] = 1  # 1.2 mL: below 3 mL, emptied
    assert not postprocess(Volume(liver, grid), PostprocessConfig(empty_below_ml=100.0)).array.any()
