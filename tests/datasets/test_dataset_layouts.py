"""Recognising the on-disk layouts and listing their cases (tiny trees in real formats)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dataset_builders import ct_and_label, write_dicom_series, write_volume_file

from livseg.datasets import load_dataset, parse_label_map, read_case_image, read_case_label
from livseg.datasets.dataset import detect_layouts
from livseg.errors import DatasetError, InputNotFoundError, UnknownNameError


def _pair(image: Path, label: Path | None, seed: int = 0, label_values=None):
    ct, lab = ct_and_label(seed=seed)
    write_volume_file(image, ct)
    if label is not None:
        write_volume_file(label, lab if label_values is None else label_values(lab))
    return ct, lab


def test_lits_in_batch_subfolders_with_both_suffixes(tmp_path):
    ct0, lab0 = _pair(tmp_path / "Training Batch 1" / "volume-0.nii", tmp_path / "Training Batch 1" / "segmentation-0.nii")
    ct10, _ = _pair(tmp_path / "volume_pt2" / "volume-10.nii.gz", tmp_path / "segmentations" / "segmentation-10.nii.gz", 1)
    _pair(tmp_path / "test" / "test-volume-3.nii", None, 2)
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "lits" and dataset.problems == []
    assert [c.case_id for c in dataset.cases] == ["test-volume-3", "volume-0", "volume-10"]
    case0 = dataset.case("volume-0")
    np.testing.assert_array_equal(read_case_image(case0).array, ct0)
    np.testing.assert_array_equal(read_case_label(case0).array, lab0)
    np.testing.assert_array_equal(read_case_image(dataset.case("volume-10")).array, ct10)
    assert dataset.case("test-volume-3").label is None


def test_lits_orphan_segmentation_is_a_problem(tmp_path):
    _pair(tmp_path / "volume-1.nii", tmp_path / "segmentation-1.nii")
    write_volume_file(tmp_path / "segmentation-2.nii", ct_and_label()[1])
    dataset = load_dataset(tmp_path, "lits")
    assert [c.case_id for c in dataset.cases] == ["volume-1"]
    assert len(dataset.problems) == 1 and dataset.problems[0].startswith("segmentation-2:")


def test_msd_dataset_json_lists_training_and_test(tmp_path):
    task = tmp_path / "Task03_Liver"
    ct, lab = _pair(task / "imagesTr" / "liver_0.nii.gz", task / "labelsTr" / "liver_0.nii.gz")
    _pair(task / "imagesTs" / "liver_132.nii.gz", None, 1)
    (task / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork
    (task / "dataset.json").write_text(json.dumps({
        "name": "Liver", "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "training": [{"image": "./imagesTr/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}],
        "test": ["./imagesTs/liver_132.nii.gz"]}))
    dataset = load_dataset(tmp_path)  # the parent of the task folder is recognised too
    assert dataset.layout == "msd"
    assert [(c.case_id, c.label is not None) for c in dataset.cases] == [("liver_0", True), ("liver_132", False)]
    assert dataset.cases[0].label_map == {0: 0, 1: 1, 2: 2}
    np.testing.assert_array_equal(read_case_label(dataset.cases[0]).array, lab)


def test_nnunet_v2_pairs_channel_suffix_and_maps_by_name(tmp_path):
    # values: 0 background, 3 liver, 4 tumour (written that way on purpose)
    _, lab = _pair(tmp_path / "imagesTr" / "liv_001_0000.nii.gz", tmp_path / "labelsTr" / "liv_001.nii.gz",
                   label_values=lambda a: np.choose(a, [0, 3, 4]).astype(np.uint8))
    (tmp_path / "dataset.json").write_text(json.dumps(
        {"labels": {"background": 0, "liver": 3, "liver tumor": 4}, "file_ending": ".nii.gz"}))
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "msd" and [c.case_id for c in dataset.cases] == ["liv_001"]
    np.testing.assert_array_equal(read_case_label(dataset.cases[0]).array, lab)


def test_sliver07_metaimage_pairs(tmp_path):
    ct, lab = ct_and_label()
    write_volume_file(tmp_path / "liver-orig001.mhd", ct)
    write_volume_file(tmp_path / "liver-seg001.mhd", (lab > 0).astype(np.uint8))
    write_volume_file(tmp_path / "test" / "liver-orig021.mhd", ct)
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "sliver07"
    assert [(c.case_id, c.label is not None) for c in dataset.cases] == [("liver-orig001", True), ("liver-orig021", False)]
    np.testing.assert_array_equal(read_case_label(dataset.cases[0]).array, (lab > 0).astype(np.uint8))


def test_pairs_folder_as_the_phantom_writer_lays_it_out(tmp_path):
    ct, lab = _pair(tmp_path / "images" / "phantom-000.nii.gz", tmp_path / "labels" / "phantom-000.nii.gz")
    _pair(tmp_path / "images" / "phantom-001.nii.gz", tmp_path / "labels" / "phantom-001.nii.gz", 1)
    _pair(tmp_path / "images" / "scan_0000.mha", tmp_path / "labels" / "scan.mha", 2)
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "pairs" and dataset.problems == []
    assert [c.case_id for c in dataset.cases] == ["phantom-000", "phantom-001", "scan"]
    np.testing.assert_array_equal(read_case_label(dataset.case("phantom-000")).array, lab)


def test_pairs_label_without_image_is_a_problem(tmp_path):
    _pair(tmp_path / "images" / "a.nrrd", tmp_path / "labels" / "a.nrrd")
    write_volume_file(tmp_path / "labels" / "b.nrrd", ct_and_label()[1])
    dataset = load_dataset(tmp_path)
    assert dataset.problems and dataset.problems[0].startswith("b:")


def test_csv_paths_relative_to_the_csv(tmp_path):
    ct, lab = _pair(tmp_path / "data" / "img1.nii.gz", tmp_path / "data" / "seg1.nii.gz")
    _pair(tmp_path / "data" / "img2.nii.gz", None, 1)
    listing = tmp_path / "lists" / "train.csv"
    listing.parent.mkdir()
    listing.write_text("image,label,case_id\n../data/img1.nii.gz,../data/seg1.nii.gz,first\n"
                       "../data/img2.nii.gz,,\n../data/missing.nii.gz,,gone\n")
    dataset = load_dataset(listing)
    assert dataset.layout == "csv"
    assert [(c.case_id, c.label is not None) for c in dataset.cases] == [("first", True), ("img2", False)]
    assert dataset.case("first").image == (tmp_path / "data" / "img1.nii.gz").resolve()
    assert any(p.startswith("gone:") and "does not exist" in p for p in dataset.problems)
    np.testing.assert_array_equal(read_case_label(dataset.case("first")).array, lab)


def test_csv_without_label_column_is_rejected(tmp_path):
    listing = tmp_path / "cases.csv"
    listing.write_text("path\nx.nii.gz\n")
    with pytest.raises(DatasetError, match="columns image,label"):
        load_dataset(listing)


def test_unrecognised_folder_lists_every_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path)
    message = str(caught.value)
    for name in ("msd", "chaos", "ircadb", "sliver07", "lits", "pairs", "shared", "csv"):
        assert f"{name} = " in message
    assert str(tmp_path) in message


def test_two_layouts_in_one_folder_is_ambiguous(tmp_path):
    _pair(tmp_path / "volume-1.nii", tmp_path / "segmentation-1.nii")
    _pair(tmp_path / "images" / "a.nii.gz", tmp_path / "labels" / "a.nii.gz")
    assert detect_layouts(tmp_path) == ["lits", "pairs"]
    with pytest.raises(DatasetError, match="--layout"):
        load_dataset(tmp_path)
    assert [c.case_id for c in load_dataset(tmp_path, "pairs").cases] == ["a"]


def test_unknown_layout_and_missing_root(tmp_path):
    with pytest.raises(UnknownNameError, match="lits"):
        load_dataset(tmp_path, "kits")
    with pytest.raises(InputNotFoundError):
        load_dataset(tmp_path / "absent")


def test_label_map_option_replaces_the_case_maps(tmp_path):
    _pair(tmp_path / "images" / "t.nii.gz", tmp_path / "labels" / "t.nii.gz",
          label_values=lambda a: np.where(a > 0, 5, 7).astype(np.uint8))
    dataset = load_dataset(tmp_path, label_map=parse_label_map("5:1,*:0"))
    out = read_case_label(dataset.cases[0]).array
    _, lab = ct_and_label()
    np.testing.assert_array_equal(out, (lab > 0).astype(np.uint8))


def test_pairs_with_a_dicom_series_folder_as_image(tmp_path):
    ct, lab = ct_and_label()
    write_dicom_series(tmp_path / "images" / "patient7", ct, spacing=(0.8, 0.7, 2.5), origin=(-10.0, 20.0, -30.0))
    write_volume_file(tmp_path / "labels" / "patient7.nrrd", lab, spacing=(0.8, 0.7, 2.5), origin=(-10.0, 20.0, -30.0))
    dataset = load_dataset(tmp_path)
    assert dataset.layout == "pairs" and [c.case_id for c in dataset.cases] == ["patient7"]
    image = read_case_image(dataset.cases[0])
    np.testing.assert_array_equal(image.array, ct)
    np.testing.assert_array_equal(read_case_label(dataset.cases[0], image=image).array, lab)


def test_chaos_patient_folders_below_ct_or_one_patient(tmp_path):
    from livseg.datasets.layouts import chaos

    for patient in ("10", "2"):
        (tmp_path / "Train_Sets" / "CT" / patient / "DICOM_anon").mkdir(parents=True)
    (tmp_path / "Train_Sets" / "CT" / "2" / "Ground").mkdir()
    (tmp_path / "Train_Sets" / "CT" / "2" / "Ground" / "liver_000.png").write_bytes(b"")
    (tmp_path / "Train_Sets" / "CT" / "10" / "Ground").mkdir()
    assert chaos.detect(tmp_path) and not chaos.detect(tmp_path / "missing")
    cases, problems = chaos.find_cases(tmp_path)
    assert [c.case_id for c in cases] == ["CT-2", "CT-10"]  # natural order
    assert cases[0].label == tmp_path / "Train_Sets" / "CT" / "2" / "Ground" and cases[1].label is None
    assert cases[0].label_kind == "chaos_png" and cases[0].label_map == {0: 0, 1: 1, 255: 1}
    assert len(problems) == 1 and problems[0].startswith("CT-10:") and "no PNG masks" in problems[0]
    one, _ = chaos.find_cases(tmp_path / "Train_Sets" / "CT" / "2")
    assert [c.case_id for c in one] == ["CT-2"]


def test_ircadb_patient_folders_masks_and_zipped_archives(tmp_path):
    from livseg.datasets.layouts import ircadb

    first = tmp_path / "3Dircadb1.1"
    for folder in ("PATIENT_DICOM", "MASKS_DICOM/liver", "MASKS_DICOM/livertumor10", "MASKS_DICOM/livertumor2"):
        (first / folder).mkdir(parents=True)
    (tmp_path / "3Dircadb1.2" / "PATIENT_DICOM").mkdir(parents=True)
    (tmp_path / "3Dircadb1.2" / "MASKS_DICOM.zip").write_bytes(b"")
    (tmp_path / "3Dircadb1.3").mkdir()
    (tmp_path / "3Dircadb1.3" / "PATIENT_DICOM.zip").write_bytes(b"")
    (tmp_path / "other" / "PATIENT_DICOM").mkdir(parents=True)  # not named like a patient folder
    assert ircadb.detect(tmp_path)
    cases, problems = ircadb.find_cases(tmp_path)
    assert [c.case_id for c in cases] == ["3Dircadb1.1", "3Dircadb1.2"]
    assert cases[0].label == first / "MASKS_DICOM" / "liver" and cases[1].label is None
    assert cases[0].extra["tumour_masks"] == (first / "MASKS_DICOM" / "livertumor2",
                                              first / "MASKS_DICOM" / "livertumor10")
    assert problems == ["3Dircadb1.2: no MASKS_DICOM/liver folder (unzip MASKS_DICOM.zip there first)",
                        "3Dircadb1.3: no PATIENT_DICOM folder (unzip PATIENT_DICOM.zip there first)"]
    one, _ = ircadb.find_cases(tmp_path / "other")  # a root holding PATIENT_DICOM is one patient
    assert [c.case_id for c in one] == ["other"]
