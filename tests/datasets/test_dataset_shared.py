"""The shared real-data folder: where it is found, and its known cases read correctly."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from livseg.datasets import load_dataset, read_case_image, read_case_label, shared_cases, shared_data_root
from livseg.datasets import shared as shared_module
from livseg.datasets.shared import SHARED_CASE_IDS
from livseg.errors import InputNotFoundError


def test_root_order_explicit_env_cwd(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    explicit.mkdir()
    env.mkdir()
    monkeypatch.setattr(shared_module, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVSEG_SHARED_DATA", str(env))
    assert shared_data_root(explicit) == explicit
    assert shared_data_root() == env
    monkeypatch.setenv("LIVSEG_SHARED_DATA", str(tmp_path / "gone"))  # falls through to ../shared/data
    assert shared_data_root() is None
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert shared_data_root() == tmp_path / "shared" / "data"  # ../shared/data of the current dir
    with pytest.raises(InputNotFoundError, match="--data-root"):
        shared_data_root(tmp_path / "nope")


def test_root_relative_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVSEG_SHARED_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkout" / "shared" / "data").mkdir(parents=True)
    monkeypatch.setattr(shared_module, "_REPO_ROOT", tmp_path / "checkout" / "livseg")
    assert shared_data_root() == tmp_path / "checkout" / "shared" / "data"


def test_cases_listed_only_when_present(tmp_path):
    assert shared_cases(tmp_path) == []
    everything = shared_cases(tmp_path, include_missing=True)
    assert [c.case_id for c in everything] == list(SHARED_CASE_IDS)
    assert everything[0].image == tmp_path / "chaos-ct-1" / "image.nii.gz"


@pytest.mark.needs_shared_data
def test_all_known_cases_are_present(shared_data):
    assert [c.case_id for c in shared_cases(shared_data)] == list(SHARED_CASE_IDS)
    assert load_dataset(shared_data).layout == "shared"


@pytest.mark.needs_shared_data
def test_chaos_dicom_and_nifti_agree(shared_data):
    cases = {c.case_id: c for c in shared_cases(shared_data)}
    from_dicom = read_case_image(cases["chaos-ct-1-dicom"])
    from_nifti = read_case_image(cases["chaos-ct-1"])
    assert from_dicom.geometry.same_grid(from_nifti.geometry)
    np.testing.assert_array_equal(from_dicom.array, from_nifti.array)
    label = read_case_label(cases["chaos-ct-1-dicom"], image=from_dicom)
    oracle = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "chaos-ct-1" / "label.nii.gz")))
    np.testing.assert_array_equal(label.array, oracle)
    assert int(label.array.sum()) == int((oracle == 1).sum()) > 0


@pytest.mark.needs_shared_data
def test_totalsegmentator_liver_is_5(shared_data):
    case = {c.case_id: c for c in shared_cases(shared_data)}["totalseg-example"]
    label = read_case_label(case)
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(case.label)))
    np.testing.assert_array_equal(label.array, (seg == 5).astype(np.uint8))
    assert set(np.unique(seg)) - {0, 5}  # other structures exist and were mapped to 0


@pytest.mark.needs_shared_data
def test_totalsegmentator_map_stored_las_lands_on_the_dicom_grid(shared_data):
    case = {c.case_id: c for c in shared_cases(shared_data)}["totalseg-example-dicom"]
    image = read_case_image(case)
    label = read_case_label(case, image=image)
    assert label.meta["reoriented_from"] == "LAS" and label.geometry == image.geometry
    # Oracle: ITK nearest-neighbour resampling in physical space onto the series read by ITK.
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(case.image)))
    series = reader.Execute()
    resampled = sitk.Resample(sitk.ReadImage(str(case.label)), series, sitk.Transform(),
                              sitk.sitkNearestNeighbor, 0)
    np.testing.assert_array_equal(label.array, (sitk.GetArrayFromImage(resampled) == 5).astype(np.uint8))


@pytest.mark.needs_shared_data
def test_dcmqi_three_slices(shared_data):
    case = {c.case_id: c for c in shared_cases(shared_data)}["dcmqi-ct-3slice"]
    image = read_case_image(case)
    label = read_case_label(case, image=image)
    assert image.geometry.size == (512, 512, 3) and int(image.array.min()) == -3024
    oracle = sitk.GetArrayFromImage(sitk.ReadImage(str(case.label)))
    np.testing.assert_array_equal(label.array, oracle)
