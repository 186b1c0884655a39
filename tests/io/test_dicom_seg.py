"""DICOM SEG out and back in, on real DICOM series, checked with livseg's reader and pydicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes
from pydicom.uid import SegmentationStorage

import livseg
from livseg.errors import (
    ConfigError,
    GeometryMismatchError,
    InputNotFoundError,
    InvalidImageError,
    UnreadableInputError,
)
from livseg.io import read_volume
from livseg.io.dicom_seg import read_dicom_seg, write_dicom_seg
from livseg.volume import Geometry, Volume

pytestmark = pytest.mark.needs_shared_data


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path


@pytest.fixture
def dcmqi(shared_data) -> Path:
    return _need(shared_data / "dcmqi-ct-3slice")


@pytest.fixture
def dcmqi_case(dcmqi):
    """(CT read from the DICOM series, 0/1/2 labels on its grid: dcmqi's liver + a tumour)."""
    ct = read_volume(dcmqi / "dicom")
    liver = read_volume(dcmqi / "liver_seg.nrrd")
    assert ct.geometry.same_grid(liver.geometry)
    labels = (liver.array > 0).astype(np.uint8)
    y, x = (int(np.median(c)) for c in np.nonzero(labels[1]))
    assert labels[0:2, y - 6:y + 6, x - 8:x + 8].all()     # well inside the liver on slices 0-1
    labels[0:2, y - 6:y + 6, x - 8:x + 8] = 2
    return ct, Volume(labels, ct.geometry, source="dcmqi labels")


def _source_headers(folder: Path) -> dict[str, pydicom.Dataset]:
    return {ds.SOPInstanceUID: ds for ds in
            (pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir()))}


def _check_frames_with_pydicom(seg_path: Path, labels: Volume, source_folder: Path) -> pydicom.Dataset:
    """Decode the SEG with pydicom alone and compare each frame with the labels' slice."""
    ds = pydicom.dcmread(seg_path)
    sources = _source_headers(source_folder)
    segment_value = {int(item.SegmentNumber): {"10200004": 1, "108369006": 2}[
        item.SegmentedPropertyTypeCodeSequence[0].CodeValue] for item in ds.SegmentSequence}
    frames = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence):
        source_uid = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = np.asarray(sources[source_uid].ImagePositionPatient, dtype=float)
        assert np.allclose(item.PlanePositionSequence[0].ImagePositionPatient, position, atol=1e-3)
        k = int(round(labels.geometry.physical_to_index(position)[2]))
        value = segment_value[int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)]
        np.testing.assert_array_equal(frame.astype(bool), labels.array[k] == value)
    return ds


def test_round_trip_on_the_3_slice_series(dcmqi, dcmqi_case, tmp_path):
    ct, labels = dcmqi_case
    out = write_dicom_seg(labels, ct, tmp_path / "out" / "seg.dcm")
    assert out == tmp_path / "out" / "seg.dcm"
    assert [p.name for p in out.parent.iterdir()] == ["seg.dcm"]   # no temporary file left

    for reference in (None, ct):
        back = read_dicom_seg(out, reference=reference)
        assert back.geometry.same_grid(ct.geometry), back.geometry.differences(ct.geometry)
        np.testing.assert_array_equal(back.array, labels.array)
        assert back.meta["segments"] == {1: 1, 2: 2}
        assert back.meta["referenced_series_uid"] == ct.meta["series_uid"]

    ds = _check_frames_with_pydicom(out, labels, dcmqi / "dicom")
    assert ds.Modality == "SEG" and ds.SOPClassUID == SegmentationStorage
    assert ds.SegmentationType == "BINARY"
    assert int(ds.NumberOfFrames) == 3 * 2                       # every slice, both segments
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.meta["series_uid"]
    referenced = {item.ReferencedSOPInstanceUID for item in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == set(_source_headers(dcmqi / "dicom"))
    liver, tumour = ds.SegmentSequence
    assert (liver.SegmentLabel, tumour.SegmentLabel) == ("Liver", "Liver tumour")
    assert liver.SegmentedPropertyTypeCodeSequence[0].CodeValue == codes.SCT.Liver.value == "10200004"
    assert liver.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    assert tumour.SegmentedPropertyTypeCodeSequence[0].CodeValue == codes.SCT.Neoplasm.value == "108369006"
    assert tumour.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert tumour.AnatomicRegionSequence[0].CodeValue == "10200004"
    for item in (liver, tumour):
        assert item.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT"
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        algorithm = item.SegmentationAlgorithmIdentificationSequence[0]
        assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("livseg", livseg.__version__)
    assert ds.StudyInstanceUID == pydicom.dcmread(next((dcmqi / "dicom").iterdir())).StudyInstanceUID


def test_read_volume_and_the_cli_read_a_seg_as_labels(dcmqi, dcmqi_case, tmp_path, run_cli):
    """A SEG file is a label volume to ``read_volume`` (its frames' own grid), so ``livseg info``
    and ``livseg evaluate`` take it as is; it is not a CT."""
    ct, labels = dcmqi_case
    seg = write_dicom_seg(labels, ct, tmp_path / "seg.dcm")
    back = read_volume(seg, kind="label")
    assert back.geometry.same_grid(ct.geometry), back.geometry.differences(ct.geometry)
    np.testing.assert_array_equal(back.array, labels.array)
    assert back.meta["format"] == "dicom-seg" and back.meta["modality"] == "SEG"
    with pytest.raises(InvalidImageError, match="Modality SEG"):
        read_volume(seg, kind="ct")
    with pytest.raises(UnreadableInputError, match="SEG object"):  # a series UID asks for an image series
        read_volume(seg, series_uid=ct.meta["series_uid"])
    code, out, err = run_cli("info", seg)
    assert code == 0, err
    assert "dicom-seg" in out and f"{ct.geometry.size[0]} x {ct.geometry.size[1]} x {ct.geometry.size[2]}" in out
    from livseg.io import write_volume

    mask = write_volume(Volume(labels.array, ct.geometry, source="labels"), tmp_path / "mask.nii.gz", kind="label")
    code, out, err = run_cli("evaluate", seg, mask)
    assert code == 0, err
    dice = next(line.split() for line in out.splitlines() if line.startswith("dice "))
    assert float(dice[1]) == 1.0


def test_round_trip_on_the_78_slice_chaos_series(shared_data, tmp_path):
    folder = _need(shared_data / "chaos-ct-1" / "dicom")
    ct = read_volume(folder)
    expert = read_volume(_need(shared_data / "chaos-ct-1" / "label.nii.gz"))
    labels = expert.array.astype(np.uint8)
    z, y, x = (int(np.median(c)) for c in np.nonzero(labels))
    assert labels[z - 2:z + 2, y - 5:y + 5, x - 5:x + 5].all()
    labels[z - 2:z + 2, y - 5:y + 5, x - 5:x + 5] = 2
    volume = Volume(labels, ct.geometry, source="chaos labels")

    out = write_dicom_seg(volume, ct, tmp_path / "chaos_seg.dcm")
    back = read_dicom_seg(out)
    assert back.geometry.same_grid(ct.geometry), back.geometry.differences(ct.geometry)
    np.testing.assert_array_equal(back.array, labels)
    ds = _check_frames_with_pydicom(out, volume, folder)
    assert ds.Modality == "SEG" and int(ds.NumberOfFrames) == 78 * 2
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.meta["series_uid"]


def test_real_dcmqi_seg_matches_its_nrrd(dcmqi):
    """dcmqi's liver.dcm and liver_seg.nrrd hold the same mask: same voxels on the same grid."""
    nrrd = read_volume(dcmqi / "liver_seg.nrrd")
    ct = read_volume(dcmqi / "dicom")
    expected = (nrrd.array > 0).astype(np.uint8)
    assert expected.sum() > 100_000
    for reference in (None, nrrd, ct):
        seg = read_dicom_seg(dcmqi / "liver.dcm", reference=reference)
        assert seg.geometry.same_grid(nrrd.geometry), seg.geometry.differences(nrrd.geometry)
        np.testing.assert_array_equal(seg.array, expected)
    assert seg.meta["segments"] == {1: 1}         # its "Liver" segment, coded SRT T-62000


def test_labels_on_another_grid_are_refused_naming_both(dcmqi, dcmqi_case, tmp_path):
    ct, labels = dcmqi_case
    g = ct.geometry
    shifted = Volume(labels.array, Geometry(g.size, g.spacing_mm, (g.origin_mm[0] + 5.0, *g.origin_mm[1:]),
                                            g.direction), source="shifted.nii.gz")
    cropped = Volume(labels.array[:2], Geometry((g.size[0], g.size[1], 2), g.spacing_mm, g.origin_mm, g.direction),
                     source="cropped.nii.gz")
    for bad, found in ((shifted, "origin"), (cropped, "size")):
        target = tmp_path / "refused.dcm"
        with pytest.raises(GeometryMismatchError) as caught:
            write_dicom_seg(bad, ct, target)
        message = str(caught.value)
        assert "\n" not in message and found in message
        assert str(dcmqi / "dicom") in message and bad.source in message
        assert not target.exists() and not list(tmp_path.iterdir())


def test_reading_onto_a_different_reference_grid_is_refused(dcmqi):
    nrrd = read_volume(dcmqi / "liver_seg.nrrd")
    g = nrrd.geometry
    coarse = Volume(np.zeros((3, 256, 256), np.uint8),
                    Geometry((256, 256, 3), (g.spacing_mm[0] * 2, g.spacing_mm[1] * 2, g.spacing_mm[2]),
                             g.origin_mm, g.direction), source="coarse.nii.gz")
    half_shift = Volume(nrrd.array, Geometry(g.size, g.spacing_mm, (*g.origin_mm[:2], g.origin_mm[2] + 0.5),
                                             g.direction), source="half.nii.gz")
    for reference, found in ((coarse, "pixel spacing"), (half_shift, "frame 1 at")):
        with pytest.raises(GeometryMismatchError) as caught:
            read_dicom_seg(dcmqi / "liver.dcm", reference=reference)
        message = str(caught.value)
        assert "\n" not in message and found in message
        assert "liver.dcm" in message and reference.source in message


def test_segments_map_by_label_text_when_codes_are_unknown(dcmqi, dcmqi_case, tmp_path):
    ct, labels = dcmqi_case
    out = write_dicom_seg(labels, ct, tmp_path / "seg.dcm")
    ds = pydicom.dcmread(out)
    tumour = ds.SegmentSequence[1]
    tumour.SegmentLabel = "Lesion"
    tumour.SegmentedPropertyTypeCodeSequence[0].CodeValue = codes.SCT.Mass.value
    tumour.SegmentedPropertyTypeCodeSequence[0].CodeMeaning = codes.SCT.Mass.meaning
    edited = tmp_path / "edited.dcm"
    ds.save_as(edited)

    by_text = read_dicom_seg(edited, segment_labels={1: "Liver", 2: "lesion"})
    np.testing.assert_array_equal(by_text.array, labels.array)
    skipped = read_dicom_seg(edited)                       # "Lesion" / Mass is not known
    np.testing.assert_array_equal(skipped.array, np.where(labels.array == 2, 0, labels.array))
    assert skipped.meta["ignored_segments"] == ["2 'Lesion' (Mass)"]


@pytest.mark.filterwarnings("ignore:The string .* is unlikely to represent the intended person name")
def test_overlapping_segments_and_omitted_empty_frames_from_another_writer(dcmqi, dcmqi_case, tmp_path):
    """A SEG made directly with highdicom: its Liver segment includes the tumour and its
    empty frames are left out; the tumour wins, and a reference restores the full grid."""
    ct, labels = dcmqi_case
    sources = sorted(_source_headers(dcmqi / "dicom").values(),
                     key=lambda ds: float(ds.ImagePositionPatient[2]))
    for ds in sources:
        if "SpecificCharacterSet" in ds and not ds.SpecificCharacterSet:
            del ds.SpecificCharacterSet
    assert [round(ct.geometry.physical_to_index(np.asarray(ds.ImagePositionPatient, float))[2])
            for ds in sources] == [0, 1, 2]
    expected = labels.array.copy()
    expected[2] = 0                                            # slice 2 empty: frames omitted
    masks = np.stack([expected > 0, expected == 2], axis=-1)   # liver includes the tumour
    algorithm = hd.AlgorithmIdentificationSequence(name="test", version="1",
                                                   family=codes.cid7162.ArtificialIntelligence)
    descriptions = [
        hd.seg.SegmentDescription(1, "Whole liver", codes.SCT.AnatomicalStructure, codes.SCT.Liver,
                                  "AUTOMATIC", algorithm),
        hd.seg.SegmentDescription(2, "Tumour", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm,
                                  "AUTOMATIC", algorithm),
    ]
    seg = hd.seg.Segmentation(sources, masks, "BINARY", descriptions, hd.UID(), 1, hd.UID(), 1,
                              "test", "test", "1", "1", omit_empty_frames=True)
    assert int(seg.NumberOfFrames) == 4
    file = tmp_path / "other.dcm"
    seg.save_as(file)
    full = read_dicom_seg(file, reference=ct)
    assert full.geometry.same_grid(ct.geometry)
    np.testing.assert_array_equal(full.array, expected)
    own = read_dicom_seg(file)                                 # the SEG alone spans slices 0-1
    assert own.geometry.size == (512, 512, 2)
    assert own.geometry.same_grid(Geometry((512, 512, 2), ct.geometry.spacing_mm, ct.geometry.origin_mm,
                                           ct.geometry.direction))
    np.testing.assert_array_equal(own.array, expected[:2])


@pytest.mark.parametrize(("change", "error", "found"), [
    ("value 3", InvalidImageError, "values [3]"),
    ("float", InvalidImageError, "dtype float32"),
    ("unknown label", ConfigError, "label values among"),
])
def test_bad_labels_or_segment_labels_raise(dcmqi, dcmqi_case, tmp_path, change, error, found):
    ct, labels = dcmqi_case
    segment_labels = {1: "Liver", 2: "Liver tumour"}
    array = labels.array.copy()
    if change == "value 3":
        array[0, 0, 0] = 3
    elif change == "float":
        array = array.astype(np.float32)
    else:
        segment_labels = {1: "Liver", 3: "Spleen"}
    with pytest.raises(error) as caught:
        write_dicom_seg(labels.with_array(array), ct, tmp_path / "x.dcm",
                        segment_labels=segment_labels)
    assert found in str(caught.value) and "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_reading_something_that_is_not_a_seg_is_refused(dcmqi, tmp_path):
    with pytest.raises(InputNotFoundError):
        read_dicom_seg(tmp_path / "missing.dcm")
    ct_slice = next((dcmqi / "dicom").iterdir())
    with pytest.raises(UnreadableInputError, match="Modality CT"):
        read_dicom_seg(ct_slice)
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM")
    with pytest.raises(UnreadableInputError, match="not readable as DICOM"):
        read_dicom_seg(text)


def test_the_seg_is_written_from_the_source_volume_without_reading_the_series_again(
        dcmqi, dcmqi_case, tmp_path, monkeypatch):
    """write_dicom_seg takes the CT Volume: its meta names the slice files (in k order), whose
    headers alone are read; the series is not scanned or decoded again."""
    ct, labels = dcmqi_case
    assert len(ct.meta["slice_files"]) == ct.geometry.size[2]
    import livseg.io.dicom as dicom

    def refuse(*args, **kwargs):
        raise AssertionError("the series was read again")

    monkeypatch.setattr(dicom, "read_dicom", refuse)
    monkeypatch.setattr(dicom, "scan_folder", refuse)
    out = write_dicom_seg(labels, ct, tmp_path / "seg.dcm")
    np.testing.assert_array_equal(read_dicom_seg(out, reference=ct).array, labels.array)


def test_a_source_that_is_not_a_dicom_series_is_refused(dcmqi, dcmqi_case, tmp_path):
    from livseg.errors import DicomSeriesError

    _, labels = dcmqi_case
    nrrd = read_volume(dcmqi / "liver_seg.nrrd")
    with pytest.raises(DicomSeriesError, match="DICOM series") as caught:
        write_dicom_seg(labels, nrrd, tmp_path / "x.dcm")
    assert "liver_seg.nrrd" in str(caught.value) and not list(tmp_path.iterdir())


def test_a_liver_only_seg_has_no_tumour_segment_and_reads_back(dcmqi, dcmqi_case, tmp_path):
    """A prediction made without a tumour model: one segment (Liver), no empty 'Liver tumour'."""
    from livseg.io.dicom_seg import assessed_structures

    ct, labels = dcmqi_case
    liver_only = Volume((labels.array > 0).astype(np.uint8), ct.geometry, source="liver-only labels")
    seg = write_dicom_seg(liver_only, ct, tmp_path / "liver.dcm", structures=("liver",))
    ds = pydicom.dcmread(seg)
    assert [item.SegmentLabel for item in ds.SegmentSequence] == ["Liver"]
    assert int(ds.NumberOfFrames) == ct.geometry.size[2]          # one frame per slice, one segment
    assert "tumour" not in ds.ContentDescription.lower()
    back = read_volume(seg, kind="label")
    np.testing.assert_array_equal(back.array, liver_only.array)
    assert assessed_structures(back) == ("liver",)
    both = read_volume(write_dicom_seg(liver_only, ct, tmp_path / "both.dcm"), kind="label")
    assert assessed_structures(both) == ("liver", "tumour")          # an empty tumour segment was written
    assert assessed_structures(ct) is None                           # not a SEG: it says nothing
    with pytest.raises(InvalidImageError, match=r"label values 0 and \[1\]"):   # a tumour voxel, not assessed
        write_dicom_seg(labels, ct, tmp_path / "bad.dcm", structures=("liver",))
    with pytest.raises(ConfigError, match="structures"):
        write_dicom_seg(liver_only, ct, tmp_path / "bad.dcm", structures=("lung",))
    assert not (tmp_path / "bad.dcm").exists()
