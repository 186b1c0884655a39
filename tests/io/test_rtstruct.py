"""DICOM RTSTRUCT output on real DICOM series: the references checked with pydicom, the
contours read back and rasterised (Dice against the mask), anonymised series, refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RTStructureSetStorage

from livseg.errors import DicomSeriesError, GeometryMismatchError, InvalidImageError
from livseg.io import read_volume
from livseg.io.dicom_seg import write_dicom_seg
from livseg.io.rtstruct import rasterise_loops, read_rtstruct, slice_contours, write_rtstruct
from livseg.volume import Volume

pytestmark = pytest.mark.needs_shared_data


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.logical_and(a, b).sum() / (a.sum() + b.sum()))


def _series(shared_data: Path, name: str) -> Path:
    folder = shared_data / name / "dicom"
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    return folder


@pytest.fixture
def chaos(shared_data):
    """(CT from the CHAOS series, 0/1/2 labels on its grid: the expert liver + a tumour block)."""
    folder = _series(shared_data, "chaos-ct-1")
    ct = read_volume(folder, kind="ct")
    label = read_volume(shared_data / "chaos-ct-1" / "label.nii.gz", kind="label")
    assert label.geometry.same_grid(ct.geometry)
    labels = (label.array > 0).astype(np.uint8)
    z = int(np.median(np.nonzero(labels)[0]))
    y, x = (int(np.median(c)) for c in np.nonzero(labels[z]))
    block = labels[z - 2:z + 3, y - 10:y + 10, x - 12:x + 12]
    block[block > 0] = 2
    return ct, ct.with_array(labels, kind="label")


def test_contours_rasterise_to_the_mask_exactly():
    rng = np.random.default_rng(0)
    mask = np.zeros((40, 50), dtype=bool)
    mask[5:30, 8:40] = True
    mask[12:20, 15:25] = False          # a hole
    mask[14:17, 18:21] = True           # an island inside the hole
    mask[35, 45] = True                 # one voxel
    mask |= rng.random(mask.shape) > 0.97
    loops = slice_contours(mask)
    assert np.array_equal(rasterise_loops(loops, mask.shape), mask)
    assert slice_contours(np.zeros((4, 4), bool)) == []


def test_chaos_read_back_dice(chaos, tmp_path):
    ct, labels = chaos
    out = write_rtstruct(labels, ct, tmp_path / "chaos.rtstruct.dcm")
    back = read_rtstruct(out, reference=ct)
    assert back.geometry.same_grid(ct.geometry)
    assert back.meta["segments"] == {"Liver": 1, "Liver tumour": 2}
    liver_dice = _dice(back.array >= 1, labels.array >= 1)
    tumour_dice = _dice(back.array == 2, labels.array == 2)
    print(f"CHAOS RTSTRUCT read back: liver Dice {liver_dice:.6f}, tumour Dice {tumour_dice:.6f}")
    assert liver_dice >= 0.98 and tumour_dice >= 0.98
    assert np.array_equal(back.array, labels.array)     # level-0.5 contours: exact


def test_chaos_references_the_series(chaos, tmp_path):
    ct, labels = chaos
    out = write_rtstruct(labels, ct, tmp_path / "chaos.rtstruct.dcm", structures=("liver", "tumour"))
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == RTStructureSetStorage and ds.Modality == "RTSTRUCT"
    assert ds.file_meta.MediaStorageSOPClassUID == RTStructureSetStorage
    images = {h.SOPInstanceUID: h for h in (pydicom.dcmread(p, stop_before_pixels=True)
                                            for p in ct.meta["slice_files"])}
    first = next(iter(images.values()))
    assert ds.StudyInstanceUID == first.StudyInstanceUID and ds.PatientID == first.PatientID
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == first.FrameOfReferenceUID
    study = frame.RTReferencedStudySequence[0]
    assert study.ReferencedSOPInstanceUID == first.StudyInstanceUID
    series = study.RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == ct.meta["series_uid"]
    assert {item.ReferencedSOPInstanceUID for item in series.ContourImageSequence} == set(images)
    assert [r.ROIName for r in ds.StructureSetROISequence] == ["Liver", "Liver tumour"]
    assert all(r.ReferencedFrameOfReferenceUID == first.FrameOfReferenceUID for r in ds.StructureSetROISequence)
    for roi in ds.ROIContourSequence:
        for contour in roi.ContourSequence:
            assert contour.ContourGeometricType == "CLOSED_PLANAR"
            points = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
            assert len(points) == contour.NumberOfContourPoints
            image = images[contour.ContourImageSequence[0].ReferencedSOPInstanceUID]
            normal = np.cross(*np.asarray(image.ImageOrientationPatient, float).reshape(2, 3))
            offsets = (points - np.asarray(image.ImagePositionPatient, float)) @ normal
            assert np.abs(offsets).max() < 1e-3     # each polygon lies in its image's plane
    codes = [o.RTROIIdentificationCodeSequence[0].CodeValue for o in ds.RTROIObservationsSequence]
    assert codes == ["10200004", "108369006"]


def test_liver_only_has_no_tumour_roi(chaos, tmp_path):
    ct, labels = chaos
    liver = labels.with_array((labels.array > 0).astype(np.uint8))
    ds = pydicom.dcmread(write_rtstruct(liver, ct, tmp_path / "liver.rtstruct.dcm", structures=("liver",)))
    assert [r.ROIName for r in ds.StructureSetROISequence] == ["Liver"]
    with pytest.raises(InvalidImageError, match="structures assessed"):
        write_rtstruct(labels, ct, tmp_path / "bad.rtstruct.dcm", structures=("liver",))
    assert not (tmp_path / "bad.rtstruct.dcm").exists()


def test_refuses_non_dicom_source_and_other_grid(chaos, shared_data, tmp_path):
    ct, labels = chaos
    nifti_ct = read_volume(shared_data / "chaos-ct-1" / "image.nii.gz", kind="ct")
    with pytest.raises(DicomSeriesError, match="DICOM"):
        write_rtstruct(labels, nifti_ct, tmp_path / "x.rtstruct.dcm")
    shifted = Volume(labels.array[:-1], ct.geometry.__class__(
        size=(512, 512, 77), spacing_mm=ct.geometry.spacing_mm, origin_mm=ct.geometry.origin_mm,
        direction=ct.geometry.direction), source="cut", kind="label")
    with pytest.raises(GeometryMismatchError):
        write_rtstruct(shifted, ct, tmp_path / "x.rtstruct.dcm")
    assert not (tmp_path / "x.rtstruct.dcm").exists()


def test_anonymised_series_gets_the_seg_uids(shared_data, tmp_path, caplog):
    folder = _series(shared_data, "totalseg-example")
    ct = read_volume(folder, kind="ct")
    labels = np.zeros(ct.geometry.shape_zyx, dtype=np.uint8)
    zs, ys, xs = (s // 2 for s in ct.geometry.shape_zyx)
    labels[zs - 2:zs + 2, ys - 8:ys + 8, xs - 8:xs + 8] = 1
    labels_volume = ct.with_array(labels, kind="label")
    with caplog.at_level(logging.WARNING):
        out = write_rtstruct(labels_volume, ct, tmp_path / "anon.rtstruct.dcm", structures=("liver",))
    assert "anonymised" in caplog.text
    seg = pydicom.dcmread(write_dicom_seg(labels_volume, ct, tmp_path / "anon-seg.dcm", structures=("liver",)))
    ds = pydicom.dcmread(out)
    series = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    seg_series = seg.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == seg_series.SeriesInstanceUID and series.SeriesInstanceUID
    assert ({i.ReferencedSOPInstanceUID for i in series.ContourImageSequence}
            == {i.ReferencedSOPInstanceUID for i in seg_series.ReferencedInstanceSequence})
    back = read_rtstruct(out, reference=ct)
    assert np.array_equal(back.array, labels)
