"""DICOM Segmentation (SEG) objects: write livseg labels for a DICOM CT, read them back.

A SEG stores one binary mask per *segment*; livseg's labels are one value per voxel
(0 background, 1 liver, 2 tumour). Writing turns each label value into one segment, with
codes from the DICOM standard's segmentation context groups (CID 7150 categories, SNOMED CT
property types, taken from pydicom's code dictionary):

==========  =================================================  ========================
label       segmented property category                        segmented property type
==========  =================================================  ========================
1 liver     SCT 91723000 "Anatomical Structure"                SCT 10200004 "Liver"
2 tumour    SCT 49755003 "Morphologically Abnormal Structure"  SCT 108369006 "Neoplasm"
==========  =================================================  ========================

(the tumour segment also names the liver, SCT 10200004, as its anatomic region). Only the
structures that were assessed get a segment: a prediction made without a tumour model is
written with ``structures=("liver",)`` and holds no "Liver tumour" segment (an empty one would
claim that a tumour search found nothing). The SEG is
BINARY, references every slice of the source series, keeps a frame for every slice and
segment even where the mask is empty (so the SEG alone defines the whole grid) and names
livseg and its version as the segmentation algorithm (family DCM 123110 "Artificial
Intelligence").

Reading maps each segment back to a label by its property type code (Liver -> 1,
Neoplasm -> 2; the retired SNOMED-RT equivalents such as SRT T-62000 match too), else by its
segment label text; segments matching neither are skipped with a warning. Where segments
overlap, the higher label wins (a tumour inside a "Liver" segment that includes it stays 2).
``meta["segments"]`` says which labels the SEG holds, so a reader can tell a SEG without a
tumour segment (tumour not assessed) from one whose tumour segment is empty
(:func:`assessed_structures`).

The DICOM objects are built and parsed by highdicom; livseg adds the grid checks.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

import highdicom as hd
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes
from pydicom.uid import CTImageStorage, SegmentationStorage, generate_uid

from livseg.version import __version__
from livseg.errors import (
    ConfigError,
    DicomSeriesError,
    GeometryMismatchError,
    InputNotFoundError,
    InvalidImageError,
    UnreadableInputError,
)
from livseg.io.atomic import atomic_path
from livseg.io.content import require_label_values
from livseg.volume import SPACING_TOL_MM, Geometry, Volume

LOG = logging.getLogger(__name__)

DEFAULT_SEGMENT_LABELS: Mapping[int, str] = MappingProxyType({1: "Liver", 2: "Liver tumour"})
#: livseg label value of each structure a SEG may hold a segment for.
STRUCTURE_LABELS: Mapping[str, int] = MappingProxyType({"liver": 1, "tumour": 2})

# (category, property type, anatomic regions) per livseg label value.
_SEGMENT_CODES = {
    1: (codes.SCT.AnatomicalStructure, codes.SCT.Liver, ()),
    2: (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm, (codes.SCT.Liver,)),
}
# Display colours (RGB) for viewers that honour RecommendedDisplayCIELabValue.
_SEGMENT_RGB = {1: (221, 130, 101), 2: (144, 238, 144)}

SEG_SERIES_NUMBER = 300  # the SEG's own series number (a free choice; dcmqi uses 300 as well)
_CONTENT_LABEL = "LIVSEG"
# A frame may sit this far (fraction of a voxel) from a grid position and still be placed
# there: the slice check of livseg's DICOM reader refuses series more than 20 % of a step
# off their regular grid, so a SEG made from an accepted series always passes.
_IN_PLANE_TOL_VOXELS = 0.05
_SLICE_TOL_VOXELS = 0.2


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def write_dicom_seg(
    labels: Volume,
    source: Volume,
    out_path: str | os.PathLike[str],
    *,
    segment_labels: Mapping[int, str] = DEFAULT_SEGMENT_LABELS,
    structures: Sequence[str] | None = None,
) -> Path:
    """Write ``labels`` as a BINARY DICOM SEG that references the CT series it was made from.

    Args:
        labels: (z, y, x) integer labels (0 background, 1 liver, 2 tumour) on exactly the
            grid of ``source``.
        source: the CT as ``livseg.io.read_volume`` read it from a DICOM series; its
            ``meta`` names the series (``series_uid``) and its files in slice order
            (``slice_files``), whose headers the SEG copies (the pixels are not read again).
        out_path: the SEG file to write (written atomically; parent folders are created).
        segment_labels: {label value: segment label text}; one segment per entry, in
            ascending label order (segment numbers 1, 2, ...). Values 1 and 2 only.
        structures: the structures the prediction assessed ("liver", "tumour"); only those
            get a segment (``("liver",)`` for a prediction made without a tumour model: no
            tumour segment at all). None: every entry of ``segment_labels``.

    Returns:
        ``out_path`` as a Path.

    Raises:
        GeometryMismatchError: the labels are not on the series' grid (both are named).
        InvalidImageError / ConfigError: labels or ``segment_labels`` not as described.
        DicomSeriesError: ``source`` was not read from a DICOM series, or its files changed.
    """
    out_path = Path(out_path)
    if structures is not None:
        segment_labels = _segments_of(structures, segment_labels)
    described = _check_segment_labels(segment_labels)
    require_label_values(labels, described, fix="give each label value a text in segment_labels")

    ordered, uid = referenced_slices(labels, source, product="SEG")
    masks = np.stack([labels.array == value for value in described], axis=-1)  # (z, y, x, s)

    descriptions = [_segment_description(number, value, segment_labels[value])
                    for number, value in enumerate(described, start=1)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seg = _build_seg(ordered, masks, descriptions)
    for warning in caught:  # highdicom's remarks on the source's patient data: not ours to fix
        LOG.debug("%s: highdicom: %s", source.source, " ".join(str(warning.message).split()))
    with atomic_path(out_path) as tmp:
        seg.save_as(tmp)
    LOG.info("wrote DICOM SEG %s (%d segments, %d frames) referencing series %s",
             out_path, len(described), int(seg.NumberOfFrames), uid)
    return out_path


def _build_seg(ordered: list[pydicom.Dataset], masks: np.ndarray,
               descriptions: list[hd.seg.SegmentDescription]) -> hd.seg.Segmentation:
    return hd.seg.Segmentation(
        source_images=ordered,
        pixel_array=masks,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="livseg",
        manufacturer_model_name="livseg",
        software_versions=__version__,
        device_serial_number="n/a",
        content_label=_CONTENT_LABEL,
        content_description="livseg " + " and ".join(
            str(d.segment_label).lower() for d in descriptions) + " segmentation",
        series_description="livseg segmentation",
        omit_empty_frames=False,
    )


def _segments_of(structures: Sequence[str], segment_labels: Mapping[int, str]) -> dict[int, str]:
    """The entries of ``segment_labels`` for the assessed ``structures``."""
    unknown = [name for name in structures if name not in STRUCTURE_LABELS]
    if unknown or not structures:
        raise ConfigError("structures", expected=f"one or more of {', '.join(STRUCTURE_LABELS)}",
                          found=", ".join(map(str, unknown)) if unknown else "none")
    values = {STRUCTURE_LABELS[name] for name in structures}
    return {value: text for value, text in segment_labels.items() if value in values}


def assessed_structures(seg_labels: Volume) -> tuple[str, ...] | None:
    """The structures a SEG read by :func:`read_dicom_seg` holds segments for, e.g. ("liver",).

    None when ``seg_labels`` was not read from a DICOM SEG (the file says nothing about it).
    """
    if seg_labels.meta.get("format") != "dicom-seg":
        return None
    values = set(dict(seg_labels.meta.get("segments") or {}).values())
    return tuple(name for name, value in STRUCTURE_LABELS.items() if value in values)


def _check_segment_labels(segment_labels: Mapping[int, str]) -> list[int]:
    values = sorted(segment_labels)
    if not values or any(value not in _SEGMENT_CODES for value in values):
        raise ConfigError("segment_labels", expected=f"label values among {sorted(_SEGMENT_CODES)}",
                          found=repr(dict(segment_labels)),
                          fix="livseg writes codes for 1 (liver) and 2 (liver tumour) only")
    for value in values:
        text = segment_labels[value]
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("segment_labels", expected="a non-empty text per label",
                              found=f"{value}: {text!r}")
    return values


#: SOP class of the source images when an anonymised series left SOPClassUID empty, by Modality.
_IMAGE_STORAGE = {"CT": CTImageStorage}
#: The UIDs a SEG copies or references from its source images.
_SOURCE_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _fill_missing_uids(datasets: list[pydicom.Dataset], series: Path) -> list[str]:
    """Give an anonymised series (empty UIDs) the UIDs a SEG must reference, in memory only.

    The study and series UIDs are one per series, each SOP instance UID one per file, all
    derived (``pydicom.uid.generate_uid`` with fixed entropy sources: the folder, the file
    name, the frame of reference) so that the same series always gets the same UIDs. An
    empty SOPClassUID becomes the image storage class of the series' Modality (CT).

    Returns:
        The names of the attributes that were empty (for the caller's warning).
    """
    missing = sorted({name for ds in datasets for name in _SOURCE_UIDS if not str(ds.get(name, "") or "")})
    if not missing:
        return []
    frame = str(datasets[0].get("FrameOfReferenceUID", "") or "")
    shared = {name: generate_uid(entropy_srcs=["livseg", name, str(series.resolve()), frame])
              for name in ("StudyInstanceUID", "SeriesInstanceUID")}
    for ds in datasets:
        for name, value in shared.items():
            if not str(ds.get(name, "") or ""):
                setattr(ds, name, value)
        if not str(ds.get("SOPInstanceUID", "") or ""):
            ds.SOPInstanceUID = generate_uid(entropy_srcs=["livseg", str(Path(ds.filename).resolve())])
        if not str(ds.get("SOPClassUID", "") or ""):
            modality = str(ds.get("Modality", "") or "").upper()
            if modality not in _IMAGE_STORAGE:
                raise DicomSeriesError(series, expected="a SOPClassUID (or Modality CT) on every slice",
                                       found=f"neither (Modality {modality or 'empty'})",
                                       fix="a DICOM SEG must name the class of the images it references")
            ds.SOPClassUID = _IMAGE_STORAGE[modality]
    return missing


def referenced_slices(labels: Volume, source: Volume, *, product: str) -> tuple[list[pydicom.Dataset], str]:
    """The headers of the series ``labels`` were made on, in slice order, and its UID: what a
    DICOM object that references its source (a SEG, an RTSTRUCT) copies and points to.

    Checks the source (:func:`check_seg_source`) and that ``labels`` lie on its grid; an
    anonymised series gets derived UIDs (:func:`_fill_missing_uids`) and a warning naming
    ``product``.

    Raises:
        DicomSeriesError: ``source`` is not a DICOM series, or its files changed.
        GeometryMismatchError: the labels are not on the series' grid (both are named).
    """
    check_seg_source(source)
    source.geometry.require_same_grid(
        labels.geometry, subject=f"DICOM series {source.source} vs labels {labels.source}",
        fix="predict on the DICOM series itself, or resample the labels onto its grid first")
    folder = Path(source.source)
    uid = str(source.meta["series_uid"])
    headers = _series_headers([Path(p) for p in source.meta["slice_files"]], uid, folder)
    missing = _fill_missing_uids(headers, folder)
    if missing:
        LOG.warning("%s: the series has no %s (anonymised); the %s references UIDs livseg derived for it, "
                    "so a viewer will not link it to these images unless they get the same UIDs",
                    folder, ", ".join(missing), product)
    return _order_by_slice(headers, labels.geometry, folder), uid


def check_seg_source(source: Volume) -> None:
    """Everything a DICOM SEG needs from its source, checked before any inference.

    Raises:
        DicomSeriesError: ``source`` was not read from a DICOM series (or its files are gone).
    """
    if source.meta.get("format") != "dicom" or not source.meta.get("slice_files"):
        raise DicomSeriesError(source.source, expected="a DICOM CT series read with livseg.io.read_volume",
                               found=f"a {source.meta.get('format', 'non-DICOM')} volume",
                               fix="a DICOM SEG can only reference a DICOM series")
    files = [Path(p) for p in source.meta["slice_files"]]
    headers = _series_headers(files[:1], str(source.meta["series_uid"]), Path(source.source))
    _fill_missing_uids(headers, Path(source.source))


def _series_headers(files: list[Path], uid: str, series: Path) -> list[pydicom.Dataset]:
    """Headers (no pixel data) of the series' image ``files``, each checked to be of series ``uid``."""
    found = []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
            raise DicomSeriesError(series, expected=f"the slice file {path} read with the series",
                                   found=f"not readable any more ({type(exc).__name__})",
                                   fix="read the series again") from exc
        if str(ds.get("SeriesInstanceUID", "")) != uid or "ImagePositionPatient" not in ds:
            raise DicomSeriesError(series, expected=f"{path} an image of series {uid}",
                                   found=f"series {ds.get('SeriesInstanceUID', '(none)')}",
                                   fix="read the series again")
        if "SpecificCharacterSet" in ds and not ds.SpecificCharacterSet:
            # An empty value means the default repertoire; highdicom copies the attribute
            # into the SEG and refuses the empty value, so drop it (in memory only).
            del ds.SpecificCharacterSet
        found.append(ds)
    return found


def _order_by_slice(datasets: list[pydicom.Dataset], geometry: Geometry, folder: Path) -> list[pydicom.Dataset]:
    """The series' datasets in the order of the grid's k index (one per slice, all slices)."""
    by_slice: dict[int, pydicom.Dataset] = {}
    for ds in datasets:
        i, j, k = geometry.physical_to_index(np.asarray(ds.ImagePositionPatient, dtype=float))
        nearest = int(round(k))
        if (abs(i) > _IN_PLANE_TOL_VOXELS or abs(j) > _IN_PLANE_TOL_VOXELS
                or abs(k - nearest) > _SLICE_TOL_VOXELS or not 0 <= nearest < geometry.size[2]
                or nearest in by_slice):
            raise DicomSeriesError(
                folder, expected=f"one file per slice of the grid {geometry.describe()}",
                found=f"{getattr(ds, 'filename', 'a file')} at index ({i:.3g}, {j:.3g}, {k:.3g})",
                fix="read the series with livseg.io.read_volume and report this as a bug")
        by_slice[nearest] = ds
    if len(by_slice) != geometry.size[2]:
        raise DicomSeriesError(folder, expected=f"{geometry.size[2]} slice files",
                               found=f"{len(by_slice)}", fix="copy the complete series folder")
    return [by_slice[k] for k in range(geometry.size[2])]


def _segment_description(number: int, value: int, text: str) -> hd.seg.SegmentDescription:
    category, property_type, regions = _SEGMENT_CODES[value]
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=text,
        segmented_property_category=category,
        segmented_property_type=property_type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="livseg", version=__version__, family=codes.cid7162.ArtificialIntelligence),
        anatomic_regions=list(regions) or None,
        display_color=hd.color.CIELabColor.from_rgb(*_SEGMENT_RGB[value]),
    )


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def read_dicom_seg(
    path: str | os.PathLike[str],
    *,
    reference: Volume | None = None,
    segment_labels: Mapping[int, str] = DEFAULT_SEGMENT_LABELS,
) -> Volume:
    """Read a BINARY DICOM SEG into a 0/1/2 label Volume.

    Args:
        path: the SEG file.
        reference: the volume the SEG was made on (e.g. the CT read with ``read_volume``);
            the labels come back on exactly its grid. Frames must sit on that grid (same
            orientation and pixel spacing, at a slice position); SEGs that leave out empty
            frames are fine. None: the grid is rebuilt from the SEG's own plane positions and
            pixel measures, which must be regularly spaced; the slice axis then points along
            the row x column normal, as livseg's DICOM series reader does, and the grid spans
            the first to the last frame present.
        segment_labels: {label value: segment label text} used for segments whose property
            type code is neither Liver nor Neoplasm (matched without regard to case).

    Returns:
        Volume (uint8 array (z, y, x)) with ``meta`` keys format ("dicom-seg"),
        referenced_series_uid, segments ({segment number: label value}), ignored_segments.

    Raises:
        InputNotFoundError, UnreadableInputError: no such file / not a DICOM SEG.
        InvalidImageError: not BINARY, no segment maps to a label, irregular frames.
        GeometryMismatchError: frames off the reference grid (both are named).
    """
    path = Path(path)
    seg = _open_seg(path)
    mapping, ignored = _map_segments(seg, segment_labels, path)
    geometry = reference.geometry if reference is not None else _own_grid(seg, path)
    where = f"reference {reference.source}" if reference is not None else "the SEG's own grid"
    pixel_spacing, orientation = _shared_plane(seg, path)
    _check_plane(path, geometry, pixel_spacing, orientation, where)

    frames = seg.pixel_array
    if frames.ndim == 2:
        frames = frames[None]
    out = np.zeros(geometry.shape_zyx, dtype=np.uint8)
    for value in sorted(set(mapping.values())):  # ascending: a higher label wins overlaps
        for index, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
            number = int(_frame_item(seg, item, "SegmentIdentificationSequence").ReferencedSegmentNumber)
            if mapping.get(number) != value:
                continue
            position = _frame_item(seg, item, "PlanePositionSequence").ImagePositionPatient
            k = _slice_index(path, geometry, position, index, where)
            out[k][frames[index] > 0] = value
    meta = {
        "format": "dicom-seg",
        "modality": "SEG",
        "orientation_known": True,
        "referenced_series_uid": _referenced_series_uid(seg),
        "segments": dict(mapping),
        "ignored_segments": ignored,
    }
    # pixel spacing and frame positions are mandatory in a SEG, so the spacing is known
    return Volume(out, geometry, source=str(path), meta=meta, kind="label", spacing_known=True)


def _open_seg(path: Path) -> hd.seg.Segmentation:
    if not path.is_file():
        raise InputNotFoundError(path, expected="a DICOM SEG file", found="nothing at that path"
                                 if not path.exists() else "a folder", fix="check the path")
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        raise UnreadableInputError(path, expected="a DICOM SEG file",
                                   found=f"not readable as DICOM ({type(exc).__name__})") from exc
    if ds.get("SOPClassUID") != SegmentationStorage:
        raise UnreadableInputError(path, expected="a DICOM Segmentation (Modality SEG)",
                                   found=f"Modality {ds.get('Modality', '?')}, SOP class {ds.get('SOPClassUID', '?')}",
                                   fix="pass the SEG file, not an image of the series")
    try:
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    except (AttributeError, ValueError, TypeError, KeyError) as exc:
        raise UnreadableInputError(path, expected="a valid DICOM SEG",
                                   found=" ".join(str(exc).split()) or type(exc).__name__) from exc
    if seg.segmentation_type != hd.seg.SegmentationTypeValues.BINARY:
        raise InvalidImageError(path, expected="a BINARY segmentation",
                                found=f"{seg.segmentation_type.value}",
                                fix="threshold FRACTIONAL masks / convert LABELMAP SEGs to BINARY first")
    return seg


def _map_segments(seg: hd.seg.Segmentation, segment_labels: Mapping[int, str], path: Path
                  ) -> tuple[dict[int, int], list[str]]:
    by_text = {text.strip().lower(): value for value, text in segment_labels.items()}
    mapping: dict[int, int] = {}
    ignored: list[str] = []
    for number in seg.segment_numbers:
        description = seg.get_segment_description(number)
        property_type = description.segmented_property_type
        text = str(description.segment_label)
        if property_type == codes.SCT.Liver:
            mapping[number] = 1
        elif property_type == codes.SCT.Neoplasm:
            mapping[number] = 2
        elif text.strip().lower() in by_text:
            mapping[number] = by_text[text.strip().lower()]
        else:
            ignored.append(f"{number} {text!r} ({property_type.meaning})")
    if ignored:
        LOG.warning("%s: segments not mapped to a livseg label, skipped: %s", path, "; ".join(ignored))
    if not mapping:
        raise InvalidImageError(path, expected="a segment coded Liver or Neoplasm, or labelled as in "
                                f"{dict(segment_labels)}", found=f"segments {'; '.join(ignored)}",
                                fix="pass segment_labels naming the segments to read")
    return mapping, ignored


def _frame_item(seg: pydicom.Dataset, item: pydicom.Dataset, sequence: str) -> pydicom.Dataset:
    """The first item of functional group ``sequence`` for a frame: per-frame, else shared."""
    if sequence in item:
        return item[sequence].value[0]
    return seg.SharedFunctionalGroupsSequence[0][sequence].value[0]


def _shared_plane(seg: hd.seg.Segmentation, path: Path) -> tuple[tuple[float, float], tuple[float, ...]]:
    """(PixelSpacing (between rows, between columns) mm, ImageOrientationPatient), one for all frames."""
    spacings, orientations = set(), set()
    for item in seg.PerFrameFunctionalGroupsSequence:
        spacings.add(tuple(float(v) for v in _frame_item(seg, item, "PixelMeasuresSequence").PixelSpacing))
        orientations.add(tuple(float(v) for v in
                               _frame_item(seg, item, "PlaneOrientationSequence").ImageOrientationPatient))
    if len(spacings) != 1 or len(orientations) != 1:
        raise InvalidImageError(path, expected="frames of one pixel spacing and orientation",
                                found=f"{len(spacings)} spacings and {len(orientations)} orientations")
    return spacings.pop(), orientations.pop()


def _check_plane(path: Path, geometry: Geometry, pixel_spacing: tuple[float, float],
                 orientation: tuple[float, ...], where: str) -> None:
    """Frames must have the grid's rows/columns directions and spacings (no resampling here)."""
    direction = geometry.direction_matrix
    problems = []
    if not np.allclose(orientation[:3], direction[:, 0], atol=1e-4) or not np.allclose(
            orientation[3:], direction[:, 1], atol=1e-4):
        problems.append(f"row/column directions {tuple(round(v, 5) for v in orientation)} vs "
                        f"{tuple(round(v, 5) for v in (*direction[:, 0], *direction[:, 1]))}")
    if not np.allclose((pixel_spacing[1], pixel_spacing[0]), geometry.spacing_mm[:2], atol=SPACING_TOL_MM, rtol=0):
        problems.append(f"pixel spacing (x, y) {pixel_spacing[1]:.6g}x{pixel_spacing[0]:.6g} vs "
                        f"{geometry.spacing_mm[0]:.6g}x{geometry.spacing_mm[1]:.6g} mm")
    if problems:
        raise GeometryMismatchError(f"{path} vs {where}", expected="SEG frames on the same voxel grid",
                                    found="; ".join(problems),
                                    fix="pass the CT the SEG was made on as reference")


def _slice_index(path: Path, geometry: Geometry, position, frame: int, where: str) -> int:
    i, j, k = geometry.physical_to_index(np.asarray(position, dtype=float))
    nearest = int(round(k))
    if (abs(i) > _IN_PLANE_TOL_VOXELS or abs(j) > _IN_PLANE_TOL_VOXELS
            or abs(k - nearest) > _SLICE_TOL_VOXELS or not 0 <= nearest < geometry.size[2]):
        raise GeometryMismatchError(
            f"{path} vs {where}", expected=f"every frame at a slice of {geometry.describe()}",
            found=f"frame {frame + 1} at {tuple(round(float(v), 3) for v in position)} mm = "
                  f"index ({i:.3g}, {j:.3g}, {k:.3g})",
            fix="pass the CT the SEG was made on as reference")
    return nearest


def _own_grid(seg: hd.seg.Segmentation, path: Path) -> Geometry:
    """The grid spanned by the SEG's frames (regular spacing required), k along the normal."""
    volume_geometry = seg.get_volume_geometry()
    if volume_geometry is None:
        raise InvalidImageError(path, expected="frames on a regularly spaced stack of parallel planes",
                                found="irregular or non-parallel frame positions",
                                fix="pass the CT the SEG was made on as reference")
    # highdicom indexes (slice, row, column); livseg's index axes are (column, row, slice) and
    # its DICOM reader stacks slices along row x column, which is left-handed in highdicom's order.
    volume_geometry = volume_geometry.ensure_handedness(hd.AxisHandedness.LEFT_HANDED, flip_axis=0)
    affine = np.asarray(volume_geometry.affine, dtype=float) + 0.0  # + 0.0 turns -0.0 into 0.0
    affine[:3, :3] = affine[:3, [2, 1, 0]]
    slices, rows, columns = volume_geometry.spatial_shape
    try:
        return Geometry.from_affine(affine, (columns, rows, slices), space="LPS")
    except InvalidImageError as exc:
        raise InvalidImageError(path, expected="an orthonormal frame orientation",
                                found=exc.found) from exc


def _referenced_series_uid(seg: pydicom.Dataset) -> str | None:
    series = seg.get("ReferencedSeriesSequence")
    return str(series[0].SeriesInstanceUID) if series else None


__all__ = ["DEFAULT_SEGMENT_LABELS", "STRUCTURE_LABELS", "assessed_structures", "read_dicom_seg", "write_dicom_seg"]
