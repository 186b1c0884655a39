"""Finding and reading a case's CT, reference and prediction for the overlays (real files)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from livseg.errors import DatasetError, InvalidImageError
from livseg.io import write_volume
from livseg.reporting.case_inputs import CaseLocator, InputOptions, file_for_case
from livseg.volume import Geometry, Volume

GEOMETRY = Geometry(size=(14, 12, 6), spacing_mm=(0.8, 0.8, 2.5), origin_mm=(-20.0, 5.0, 40.0))


def _labels() -> np.ndarray:
    array = np.zeros(GEOMETRY.shape_zyx, dtype=np.uint8)
    array[1:5, 2:9, 3:11] = 1
    array[2:4, 4:6, 5:7] = 2
    return array


@pytest.fixture
def files(tmp_path):
    ct = (np.arange(np.prod(GEOMETRY.shape_zyx)).reshape(GEOMETRY.shape_zyx) % 300 - 100).astype(np.int16)
    write_volume(Volume(ct, GEOMETRY), tmp_path / "images" / "c1.nii.gz")
    write_volume(Volume(_labels(), GEOMETRY), tmp_path / "labels" / "c1.nii.gz")
    return tmp_path


def _flipped_x(volume: Volume) -> Volume:
    g = volume.geometry
    origin = g.index_to_physical(np.array([g.size[0] - 1, 0, 0], dtype=float))
    geometry = Geometry(size=g.size, spacing_mm=g.spacing_mm, origin_mm=tuple(origin),
                        direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))
    return Volume(np.ascontiguousarray(volume.array[:, :, ::-1]), geometry)


def test_a_prediction_stored_in_another_axis_order_is_reordered_exactly(files):
    write_volume(_flipped_x(Volume(_labels(), GEOMETRY)), files / "pred" / "c1.nii.gz")
    locator = CaseLocator(InputOptions(images=files / "images", gt=files / "labels" / "c1.nii.gz",
                                       pred_dir=files / "pred"), case_count=1)
    volumes = locator.read({"case_id": "c1"}, files)
    prediction = volumes.labels["prediction"]
    assert prediction.geometry.same_grid(volumes.ct.geometry)
    np.testing.assert_array_equal(prediction.array, _labels())
    assert volumes.notes == []


def test_a_prediction_on_another_grid_is_resampled_and_said_so(files):
    # Half the in-plane spacing, same origin: voxel centres of the reference grid fall on
    # every other voxel of the prediction grid (index 2i), so nearest neighbour is exact.
    fine = Geometry(size=(28, 24, 6), spacing_mm=(0.4, 0.4, 2.5), origin_mm=GEOMETRY.origin_mm)
    upsampled = np.repeat(np.repeat(_labels(), 2, axis=1), 2, axis=2)
    write_volume(Volume(upsampled, fine), files / "pred" / "c1.nii.gz")
    locator = CaseLocator(InputOptions(images=files / "images", gt=files / "labels" / "c1.nii.gz",
                                       pred_dir=files / "pred"), case_count=1)
    volumes = locator.read({"case_id": "c1"}, files)
    np.testing.assert_array_equal(volumes.labels["prediction"].array, _labels())
    assert volumes.notes == ["c1.nii.gz resampled (nearest neighbour) onto the reference grid"]


def test_label_maps_and_their_absence(files):
    write_volume(Volume(np.where(_labels() > 0, 5, 0).astype(np.uint8), GEOMETRY), files / "pred" / "c1.nii.gz")
    options = InputOptions(images=files / "images", gt=files / "labels" / "c1.nii.gz", pred_dir=files / "pred")
    with pytest.raises(InvalidImageError, match="--label-map"):
        CaseLocator(options, case_count=1).read({"case_id": "c1"}, files)
    mapped = CaseLocator(replace(options, label_map="5:1"), case_count=1)
    np.testing.assert_array_equal(mapped.read({"case_id": "c1"}, files).labels["prediction"].array, _labels() > 0)


def test_single_files_need_a_single_case_and_folders_need_the_case(files):
    options = InputOptions(images=files / "images", gt=files / "labels" / "c1.nii.gz", pred_dir=files / "pred")
    with pytest.raises(DatasetError, match="the evaluation has 2 cases"):
        CaseLocator(options, case_count=2).read({"case_id": "c1"}, files)
    with pytest.raises(DatasetError, match="the CT of case c9"):
        CaseLocator(InputOptions(images=files / "images"), case_count=1).read({"case_id": "c9"}, files)


def test_file_for_case_finds_one_file_or_refuses_two(files):
    assert file_for_case(files / "images", "c1") == files / "images" / "c1.nii.gz"
    assert file_for_case(files / "images", "c2") is None
    write_volume(Volume(_labels(), GEOMETRY), files / "images" / "c1.mha")
    with pytest.raises(DatasetError, match="one file for case c1"):
        file_for_case(files / "images", "c1")
