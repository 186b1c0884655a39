"""DICOM RT Structure Sets (RTSTRUCT): livseg labels as planar contours on a DICOM CT series.

An RTSTRUCT holds, per ROI (region of interest), closed polygons in patient coordinates (LPS,
mm), one or more per image slice, each referencing the SOP instance of its slice; radiotherapy
planning systems and many PACS viewers read it. livseg writes one ROI per structure assessed:

======  ==============  ==========================  ===================================
ROI     name            voxels                      RT ROI identification code
======  ==============  ==========================  ===================================
1       "Liver"         labels 1 and 2 (the organ,  SCT 10200004 "Liver", interpreted
                        tumours included)           type ORGAN
2       "Liver tumour"  label 2                     SCT 108369006 "Neoplasm" (type left
                                                    empty: a prediction is not a GTV)
======  ==============  ==========================  ===================================

(a liver-only prediction, ``structures=("liver",)``, has no tumour ROI; an assessed structure
that was not found is an ROI without contours). Display colours are those of livseg's DICOM
SEG and Slicer output.

Contours: on each axial slice of the input grid, marching squares (contourpy) at the level 0.5
of the binary mask, so each polygon runs through the midpoints between inside and outside
voxel centres; collinear vertices are dropped (exact). A voxel is inside an ROI when its centre
lies inside an odd number of the slice's polygons (even-odd rule: a contour inside another is a
hole), which gives back exactly the mask: :func:`read_rtstruct` rasterises that way. Points
are placed with the slice file's own ImagePositionPatient and the grid's in-plane directions
and spacing, so each polygon lies in the plane of the image it references.

The referenced series (study, series, frame of reference, the SOP instance of every slice) is
read from the slice headers exactly as livseg's DICOM SEG does (``livseg.io.dicom_seg``: same
checks, and for an anonymised series with empty UIDs the same derived UIDs, with a warning).

Library choice: highdicom (already used for the SEG) has no RT Structure Set class (0.28), and
rt-utils (1.2.7, January 2023) pulls the full opencv-python GUI build and a ``dataclasses``
backport, reloads the whole series itself and traces contours through boundary voxel centres
(a viewer that fills by voxel centre then loses half of the boundary). The dataset is
therefore built with pydicom (maintained, already a dependency, the library highdicom and
rt-utils build on) following the RT Structure Set IOD (PS3.3 A.19), and the contours come
from contourpy (maintained, the contouring engine of matplotlib, already installed with it).
"""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid

from livseg.errors import (
    ConfigError,
    GeometryMismatchError,
    InputNotFoundError,
    UnreadableInputError,
)
from livseg.io.atomic import atomic_path
from livseg.io.content import require_label_values
from livseg.io.dicom_seg import (
    DEFAULT_SEGMENT_LABELS,
    STRUCTURE_LABELS,
    referenced_slices,
)
from livseg.version import __version__
from livseg.volume import Geometry, Volume

LOG = logging.getLogger(__name__)

#: The file-name ending livseg gives RT Structure Sets (``-o case.rtstruct.dcm``).
RTSTRUCT_SUFFIX = ".rtstruct.dcm"
RTSTRUCT_SERIES_NUMBER = 301  # the RTSTRUCT's own series number (the SEG's is 300)

#: (SNOMED CT code value, code meaning, RTROIInterpretedType, display RGB) per label value.
_ROI_FACTS: Mapping[int, tuple[str, str, str, tuple[int, int, int]]] = MappingProxyType({
    1: ("10200004", "Liver", "ORGAN", (221, 130, 101)),
    2: ("108369006", "Neoplasm", "", (144, 238, 144)),
})
#: The retired "Detached Study Management" SOP class RT systems expect in RTReferencedStudySequence.
_STUDY_COMPONENT_CLASS = "1.2.840.10008.3.1.2.3.1"
#: A contour may lie this far (fraction of a slice step) off a slice of the reference grid.
_SLICE_TOL = 0.2


# --------------------------------------------------------------------------------------------
# Contours
# --------------------------------------------------------------------------------------------

def _drop_collinear(loop: np.ndarray) -> np.ndarray:
    """The closed loop (N, 2) without vertices that lie on the segment between their neighbours."""
    before = loop - np.roll(loop, 1, axis=0)
    after = np.roll(loop, -1, axis=0) - loop
    turn = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    keep = np.abs(turn) > 1e-9
    return loop[keep] if keep.sum() >= 3 else loop


def slice_contours(mask: np.ndarray) -> list[np.ndarray]:
    """Closed polygons around the voxels of a 2D (y, x) boolean mask.

    Returns:
        Loops (N, 2) of (x, y) = (column, row) voxel-index coordinates, last point not
        repeating the first; voxel centres inside an odd number of loops are the mask.
    """
    import contourpy

    if not mask.any():
        return []
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, c0 = int(rows[0]) - 1, int(cols[0]) - 1
    box = np.zeros((rows[-1] - rows[0] + 3, cols[-1] - cols[0] + 3), dtype=np.float64)  # zero rim: loops close
    box[1:-1, 1:-1] = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    generator = contourpy.contour_generator(z=box, line_type=contourpy.LineType.Separate)
    loops = []
    for line in generator.lines(0.5):
        points = np.asarray(line, dtype=float)
        if len(points) > 1 and np.allclose(points[0], points[-1]):
            points = points[:-1]
        if len(points) >= 3:
            loops.append(_drop_collinear(points + (c0, r0)))
    return loops


def rasterise_loops(loops: Sequence[np.ndarray], shape_yx: tuple[int, int]) -> np.ndarray:
    """The (y, x) boolean mask of the voxel centres inside an odd number of ``loops`` ((N, 2), x, y)."""
    from matplotlib.path import Path as PolygonPath

    mask = np.zeros(shape_yx, dtype=bool)
    for loop in loops:
        x0 = max(int(np.floor(loop[:, 0].min())), 0)
        x1 = min(int(np.ceil(loop[:, 0].max())), shape_yx[1] - 1)
        y0 = max(int(np.floor(loop[:, 1].min())), 0)
        y1 = min(int(np.ceil(loop[:, 1].max())), shape_yx[0] - 1)
        if x1 < x0 or y1 < y0:
            continue
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        inside = PolygonPath(loop).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
        mask[y0:y1 + 1, x0:x1 + 1] ^= inside.reshape(yy.shape)
    return mask


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _roi_values(structures: Sequence[str] | None) -> list[int]:
    if structures is None:
        return sorted(DEFAULT_SEGMENT_LABELS)
    unknown = [name for name in structures if name not in STRUCTURE_LABELS]
    if unknown or not structures:
        raise ConfigError("structures", expected=f"one or more of {', '.join(STRUCTURE_LABELS)}",
                          found=", ".join(map(str, unknown)) if unknown else "none")
    return sorted(STRUCTURE_LABELS[name] for name in set(structures))


def _ds_text(values: np.ndarray) -> list[str]:
    """Decimal strings (DS, at most 16 characters) for coordinates in mm (0.1 um resolution)."""
    return [f"{v:.4f}".rstrip("0").rstrip(".") if v else "0" for v in np.round(values, 4) + 0.0]


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "SCT"
    item.CodeMeaning = meaning
    return item


def _image_reference(ds: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    return item


def write_rtstruct(labels: Volume, source: Volume, out_path: str | os.PathLike[str], *,
                   structures: Sequence[str] | None = None) -> Path:
    """Write ``labels`` as a DICOM RT Structure Set referencing the CT series they were made on.

    Args:
        labels: (z, y, x) integer labels (0 background, 1 liver, 2 tumour) on exactly the
            grid of ``source``.
        source: the CT as ``livseg.io.read_volume`` read it from a DICOM series (its
            ``meta["slice_files"]`` are referenced; their pixels are not read again).
        out_path: the file to write (atomically; parent folders are created).
        structures: the structures assessed ("liver", "tumour"); one ROI each. None: both.

    Returns:
        ``out_path`` as a Path.

    Raises:
        DicomSeriesError: ``source`` is not a DICOM series (or its files changed).
        GeometryMismatchError: the labels are not on the series' grid.
        InvalidImageError / ConfigError: labels or ``structures`` not as described.
    """
    out_path = Path(out_path)
    values = _roi_values(structures)
    require_label_values(labels, values, why=" (the structures assessed)",
                         fix="pass every structure the labels hold in structures")
    ordered, uid = referenced_slices(labels, source, product="RTSTRUCT")
    dataset = _build(labels, ordered, values)
    with atomic_path(out_path) as temporary:
        dataset.save_as(temporary, enforce_file_format=True)
    LOG.info("wrote DICOM RTSTRUCT %s (%s) referencing series %s", out_path,
             ", ".join(DEFAULT_SEGMENT_LABELS[v] for v in values), uid)
    return out_path


def _build(labels: Volume, ordered: list[Dataset], values: list[int]) -> Dataset:
    first = ordered[0]
    frame_uid = str(first.get("FrameOfReferenceUID", "") or "") or generate_uid(
        entropy_srcs=["livseg", "FrameOfReferenceUID", str(first.StudyInstanceUID), str(first.SeriesInstanceUID)])
    now = datetime.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTStructureSetStorage
    ds.SOPClassUID = RTStructureSetStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = first.get("SpecificCharacterSet", None) or "ISO_IR 192"
    ds.InstanceCreationDate, ds.InstanceCreationTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    # Patient and General Study modules: copied from the images.
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber", "StudyDescription"):
        setattr(ds, keyword, first.get(keyword, "") or "")
    # RT Series and General Equipment modules.
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = RTSTRUCT_SERIES_NUMBER
    ds.SeriesDescription = "livseg structures"
    ds.OperatorsName = ""
    ds.Manufacturer = "livseg"
    ds.ManufacturerModelName = "livseg"
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = 1
    # Structure Set module.
    ds.StructureSetLabel = "livseg"
    ds.StructureSetName = "livseg"
    ds.StructureSetDate, ds.StructureSetTime = ds.InstanceCreationDate, ds.InstanceCreationTime
    series_ref = Dataset()
    series_ref.SeriesInstanceUID = first.SeriesInstanceUID
    series_ref.ContourImageSequence = DicomSequence([_image_reference(image) for image in ordered])
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = _STUDY_COMPONENT_CLASS
    study_ref.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study_ref.RTReferencedSeriesSequence = DicomSequence([series_ref])
    frame_ref = Dataset()
    frame_ref.FrameOfReferenceUID = frame_uid
    frame_ref.RTReferencedStudySequence = DicomSequence([study_ref])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame_ref])

    geometry = labels.geometry
    in_plane = (geometry.direction_matrix * np.asarray(geometry.spacing_mm)[None, :])[:, :2]  # (3, 2): i, j -> mm
    rois, contours, observations = [], [], []
    for number, value in enumerate(values, start=1):
        code, meaning, interpreted, rgb = _ROI_FACTS[value]
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_uid
        roi.ROIName = DEFAULT_SEGMENT_LABELS[value]
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        roi.ROIGenerationDescription = f"livseg {__version__}"
        rois.append(roi)
        mask = labels.array >= value if value == 1 else labels.array == value  # the liver includes its tumours
        items = []
        for k, image in enumerate(ordered):
            position = np.asarray(image.ImagePositionPatient, dtype=float)
            for loop in slice_contours(mask[k]):
                points = loop @ in_plane.T + position  # (N, 3) LPS mm in the plane of this image
                item = Dataset()
                item.ContourImageSequence = DicomSequence([_image_reference(image)])
                item.ContourGeometricType = "CLOSED_PLANAR"
                item.NumberOfContourPoints = len(points)
                item.ContourNumber = len(items) + 1
                item.ContourData = _ds_text(points.ravel())
                items.append(item)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = list(rgb)
        roi_contour.ReferencedROINumber = number
        if items:
            roi_contour.ContourSequence = DicomSequence(items)
        contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = interpreted
        observation.ROIInterpreter = ""
        observation.RTROIIdentificationCodeSequence = DicomSequence([_code(code, meaning)])
        observations.append(observation)
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    return ds


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def is_rtstruct_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a DICOM RT Structure Set (reads the header only)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError):
        return False
    return str(ds.get("SOPClassUID", "")) == RTStructureSetStorage


def _label_of(roi: Dataset, codes: Mapping[int, str]) -> int | None:
    by_name = {text.lower(): value for value, text in DEFAULT_SEGMENT_LABELS.items()}
    code = codes.get(int(roi.ROINumber))
    for value, facts in _ROI_FACTS.items():
        if code == facts[0]:
            return value
    return by_name.get(str(roi.get("ROIName", "")).strip().lower())


def read_rtstruct(path: str | os.PathLike[str], *, reference: Volume) -> Volume:
    """Rasterise an RT Structure Set onto the grid of the CT it was drawn on.

    Each ROI is mapped to a livseg label by its identification code (SCT Liver -> 1,
    Neoplasm -> 2) or its name ("Liver", "Liver tumour"); other ROIs are skipped with a
    warning. A voxel is in an ROI when its centre lies inside an odd number of the ROI's
    polygons on its slice; the tumour wins over the liver.

    Args:
        path: the RTSTRUCT file.
        reference: the CT (any format) on whose grid to rasterise: every contour must lie on
            one of its axial slices.

    Returns:
        uint8 labels (z, y, x) on ``reference``'s grid, ``meta["format"] == "dicom-rtstruct"``
        and ``meta["segments"]`` = {ROI name: label value} for the ROIs read.

    Raises:
        InputNotFoundError / UnreadableInputError: no file, or not an RTSTRUCT.
        GeometryMismatchError: a contour off the reference's slices.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(path, expected="an RTSTRUCT file", found="nothing at that path")
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise UnreadableInputError(path, expected="a DICOM RT Structure Set",
                                   found=" ".join(str(exc).split()) or type(exc).__name__) from exc
    if str(ds.get("SOPClassUID", "")) != RTStructureSetStorage:
        raise UnreadableInputError(path, expected="a DICOM RT Structure Set (SOP class RTSTRUCT)",
                                   found=f"SOP class {ds.get('SOPClassUID', '(none)')}")
    geometry = reference.geometry
    codes = {int(obs.ReferencedROINumber): str(obs.RTROIIdentificationCodeSequence[0].CodeValue)
             for obs in ds.get("RTROIObservationsSequence", [])
             if obs.get("RTROIIdentificationCodeSequence")}
    contours_of = {int(item.ReferencedROINumber): item.get("ContourSequence", [])
                   for item in ds.get("ROIContourSequence", [])}
    labels = np.zeros(geometry.shape_zyx, dtype=np.uint8)
    segments: dict[str, int] = {}
    for roi in sorted(ds.get("StructureSetROISequence", []), key=lambda r: _label_of(r, codes) or 0):
        value = _label_of(roi, codes)
        if value is None:
            LOG.warning("%s: ROI %r is neither liver nor liver tumour; skipped", path, str(roi.get("ROIName", "")))
            continue
        mask = _rasterise_roi(path, contours_of.get(int(roi.ROINumber), []), geometry)
        labels[mask] = value
        segments[str(roi.ROIName)] = value
    meta = {"format": "dicom-rtstruct", "segments": segments,
            "referenced_series_uid": _referenced_series(ds)}
    return Volume(array=labels, geometry=geometry, source=str(path), meta=meta, kind="label",
                  spacing_known=reference.spacing_known)


def _referenced_series(ds: Dataset) -> str | None:
    try:
        frame = ds.ReferencedFrameOfReferenceSequence[0]
        return str(frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0].SeriesInstanceUID)
    except (AttributeError, IndexError):
        return None


def _rasterise_roi(path: Path, contours: Sequence[Dataset], geometry: Geometry) -> np.ndarray:
    loops_by_slice: dict[int, list[np.ndarray]] = {}
    for number, contour in enumerate(contours, start=1):
        points = np.asarray([float(v) for v in contour.ContourData], dtype=float).reshape(-1, 3)
        index = geometry.physical_to_index(points)
        k = float(np.median(index[:, 2]))
        nearest = int(round(k))
        if np.abs(index[:, 2] - nearest).max() > _SLICE_TOL or not 0 <= nearest < geometry.size[2]:
            raise GeometryMismatchError(
                f"{path} vs {geometry.describe()}", expected="every contour on an axial slice of the reference",
                found=f"contour {number} at slice index {k:.3g}",
                fix="pass the CT the RTSTRUCT was drawn on as reference")
        loops_by_slice.setdefault(nearest, []).append(index[:, :2])
    mask = np.zeros(geometry.shape_zyx, dtype=bool)
    for k, loops in loops_by_slice.items():
        mask[k] = rasterise_loops(loops, geometry.shape_zyx[1:])
    return mask


__all__ = ["RTSTRUCT_SUFFIX", "is_rtstruct_file", "rasterise_loops", "read_rtstruct", "slice_contours",
           "write_rtstruct"]
