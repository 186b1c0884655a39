"""Reading case images and labels: grids, reorientation, unknown spacing, CHAOS PNGs, IRCADb masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dataset_builders import ct_and_label, write_dicom_series, write_png, write_volume_file

from livseg.datasets import Case, load_dataset, read_case_image, read_case_label
from livseg.errors import DatasetError, GeometryMismatchError, InvalidImageError

SPACING = (0.8, 0.7, 2.5)
ORIGIN = (-10.0, 20.0, -30.0)


def _case(tmp_path, label_array=None, **label_geometry):
    ct, lab = ct_and_label()
    image = write_volume_file(tmp_path / "img.nii.gz", ct, spacing=SPACING, origin=ORIGIN)
    geometry = dict(spacing=SPACING, origin=ORIGIN)
    geometry.update(label_geometry)
    label = write_volume_file(tmp_path / "seg.nii.gz", lab if label_array is None else label_array, **geometry)
    return Case("c", image, label), ct, lab


def test_label_on_the_same_grid_is_returned_as_uint8(tmp_path):
    case, ct, lab = _case(tmp_path)
    image = read_case_image(case)
    label = read_case_label(case, image=image)
    assert label.array.dtype == np.uint8
    np.testing.assert_array_equal(label.array, lab)
    assert label.geometry == image.geometry
    np.testing.assert_array_equal(image.array, ct)


def test_label_on_another_grid_names_both_files(tmp_path):
    case, _, _ = _case(tmp_path, origin=(-10.0, 21.0, -30.0))
    with pytest.raises(GeometryMismatchError) as caught:
        read_case_label(case)
    message = str(caught.value)
    assert "seg.nii.gz" in message and "img.nii.gz" in message and "origin" in message


def test_label_stored_in_another_axis_order_is_reordered_exactly(tmp_path):
    _, lab = ct_and_label()
    ny = lab.shape[1]
    # Same voxels, rows stored bottom-up: direction y = -1, origin at the last row.
    flipped_origin = (ORIGIN[0], ORIGIN[1] + (ny - 1) * SPACING[1], ORIGIN[2])
    case, _, lab = _case(tmp_path, label_array=lab[:, ::-1, :], origin=flipped_origin,
                         direction=(1, 0, 0, 0, -1, 0, 0, 0, 1))
    label = read_case_label(case)
    np.testing.assert_array_equal(label.array, lab)
    assert label.meta.get("reoriented_from") == "LAS"


def test_label_with_x_and_y_swapped_is_reordered_exactly(tmp_path):
    _, lab = ct_and_label()
    swapped = np.ascontiguousarray(lab.transpose(0, 2, 1))  # (z, x, y): index axis 0 runs along y
    case, _, lab = _case(tmp_path, label_array=swapped, spacing=(SPACING[1], SPACING[0], SPACING[2]),
                         direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))
    np.testing.assert_array_equal(read_case_label(case).array, lab)


def test_flipped_label_one_voxel_off_is_still_a_mismatch(tmp_path):
    _, lab = ct_and_label()
    ny = lab.shape[1]
    wrong_origin = (ORIGIN[0], ORIGIN[1] + ny * SPACING[1], ORIGIN[2])
    case, _, _ = _case(tmp_path, label_array=lab[:, ::-1, :], origin=wrong_origin,
                       direction=(1, 0, 0, 0, -1, 0, 0, 0, 1))
    with pytest.raises(GeometryMismatchError, match="seg.nii.gz"):
        read_case_label(case)


def test_unexpected_label_values_are_named(tmp_path):
    _, lab = ct_and_label()
    bad = lab.copy()
    bad[0, 0, 0] = 9
    case, _, _ = _case(tmp_path, label_array=bad)
    with pytest.raises(InvalidImageError) as caught:
        read_case_label(case)
    assert "values 9" in str(caught.value) and "seg.nii.gz" in str(caught.value)


def test_case_without_label(tmp_path):
    ct, _ = ct_and_label()
    case = Case("x", write_volume_file(tmp_path / "i.nii.gz", ct), None)
    with pytest.raises(DatasetError, match="no.*label|none for this case"):
        read_case_label(case)


def test_sidecar_marks_spacing_unknown_and_spacing_can_be_given(tmp_path, caplog):
    case, ct, lab = _case(tmp_path, spacing=(1.0, 1.0, 1.0))
    write_volume_file(tmp_path / "img.nii.gz", ct, spacing=(1.0, 1.0, 1.0), origin=ORIGIN)
    for name in ("img", "seg"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"spacing_known": False}))
    image = read_case_image(case)
    assert image.spacing_known is False
    assert "spacing unknown" in caplog.text
    given = read_case_image(case, spacing_mm=(0.9, 0.9, 2.0))
    assert given.spacing_mm == (0.9, 0.9, 2.0) and given.spacing_known is True
    label = read_case_label(case, image=given)  # an unknown-spacing label pairs voxel by voxel
    assert label.geometry == given.geometry
    np.testing.assert_array_equal(label.array, lab)


def test_known_spacing_cannot_be_overridden(tmp_path):
    case, _, _ = _case(tmp_path)
    with pytest.raises(InvalidImageError, match="match the file"):
        read_case_image(case, spacing_mm=(1.0, 1.0, 1.0))


# --- CHAOS: DICOM slices + PNG masks ---------------------------------------------------------

def _chaos_tree(root, n_slices=4):
    ct, _ = ct_and_label(shape_zyx=(n_slices, 6, 5), seed=3)
    lab = np.zeros(ct.shape, dtype=np.uint8)
    for z in range(1, n_slices):  # slice z: an L-shape of z rows; slice 0 has no liver
        lab[z, 1:1 + z, 1] = 1
        lab[z, 1, 1:4] = 1
    patient = root / "Train_Sets" / "CT" / "1"
    # As in CHAOS, file-name order runs opposite to z: i0000 is the top (highest z) slice.
    write_dicom_series(patient / "DICOM_anon", ct, spacing=SPACING, origin=ORIGIN,
                       name=lambda k: f"i{n_slices - 1 - k:04d},0000b.dcm")
    for m in range(n_slices):  # PNG m belongs to DICOM file m in name order, i.e. z = n-1-m
        write_png(patient / "Ground" / f"liver_GT_{m:03d}.png", lab[n_slices - 1 - m] * 255)
    return patient, ct, lab


def test_chaos_masks_follow_file_name_order_onto_the_ct_grid(tmp_path):
    patient, ct, lab = _chaos_tree(tmp_path)
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "chaos" and [c.case_id for c in dataset.cases] == ["CT-1"]
    case = dataset.cases[0]
    image = read_case_image(case)
    np.testing.assert_array_equal(image.array, ct)
    label = read_case_label(case, image=image)
    np.testing.assert_array_equal(label.array, lab)
    assert label.array.sum() > 0 and label.geometry == image.geometry


def test_chaos_png_count_mismatch(tmp_path):
    patient, _, _ = _chaos_tree(tmp_path)
    (patient / "Ground" / "liver_GT_003.png").unlink()
    case = load_dataset(tmp_path).cases[0]
    with pytest.raises(DatasetError, match="one PNG mask per DICOM file"):
        read_case_label(case)


def test_chaos_png_of_the_wrong_size(tmp_path):
    patient, _, _ = _chaos_tree(tmp_path)
    write_png(patient / "Ground" / "liver_GT_001.png", np.zeros((5, 6), dtype=np.uint8))
    case = load_dataset(tmp_path / "Train_Sets" / "CT").cases[0]
    with pytest.raises(GeometryMismatchError, match="6 rows x 5 columns"):
        read_case_label(case)


# --- 3D-IRCADb: DICOM image + DICOM masks ----------------------------------------------------

def test_ircadb_liver_and_tumour_masks_merge(tmp_path):
    ct, _ = ct_and_label(shape_zyx=(3, 6, 5), seed=4)
    liver = np.zeros(ct.shape, dtype=np.int16)
    liver[:, 1:5, 1:4] = 255
    tumour1 = np.zeros_like(liver)
    tumour1[1, 2, 2] = 255
    tumour2 = np.zeros_like(liver)
    tumour2[2, 3, 1:3] = 255
    patient = tmp_path / "3Dircadb1.7"
    no_suffix = lambda k: f"image_{k}"  # noqa: E731  (IRCADb files have no extension)
    write_dicom_series(patient / "PATIENT_DICOM", ct, series_uid="1.2.3.1", name=no_suffix)
    for uid, folder, mask in (("1.2.3.2", "liver", liver), ("1.2.3.3", "livertumor01", tumour1),
                              ("1.2.3.4", "livertumor02", tumour2)):
        write_dicom_series(patient / "MASKS_DICOM" / folder, mask, series_uid=uid, name=no_suffix)
    write_dicom_series(patient / "MASKS_DICOM" / "portalvein", liver, series_uid="1.2.3.5", name=no_suffix)
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "ircadb" and [c.case_id for c in dataset.cases] == ["3Dircadb1.7"]
    label = read_case_label(dataset.cases[0])
    expected = np.zeros(ct.shape, dtype=np.uint8)
    expected[liver == 255] = 1
    expected[(tumour1 == 255) | (tumour2 == 255)] = 2
    np.testing.assert_array_equal(label.array, expected)
    assert int((label.array == 2).sum()) == 3


def test_ircadb_zipped_folders_are_reported(tmp_path):
    patient = tmp_path / "3Dircadb1.2"
    patient.mkdir()
    (patient / "PATIENT_DICOM.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    dataset_problems = None
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)
    dataset_problems = str(caught.value)
    assert "unzip PATIENT_DICOM.zip" in dataset_problems
