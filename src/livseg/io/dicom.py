"""Read a DICOM CT series (a folder, or one file of it) into a Volume, checking it first.

Headers are read with ``pydicom`` (fast, exact tag values, no pixel decoding); the voxels
are decoded slice by slice by SimpleITK's GDCM reader (which handles compressed transfer
syntaxes and applies each slice's own rescale slope/intercept), and the grid is built from
the headers exactly as ITK's series reader builds it. Before decoding, the slices of the
chosen series are sorted by their position along the slice normal and checked:

Errors (``DicomSeriesError``, nothing is read):
    * the folder holds several series and none was chosen (each is listed: UID,
      description, slice count), or the chosen UID is not there;
    * a series of a single slice (the slice spacing cannot be known) or a multi-frame file;
    * slices of one series with different orientation, size or pixel spacing;
    * duplicate slices: two files at the same position along the normal;
    * missing slices: a step between neighbours larger than 1.5 x the median step;
    * uneven spacing: a slice more than 20 % of a step away from the regular grid
      (first position + k x mean step); on that grid such a slice would be misplaced;
    * slices shifted within their plane along the series (gantry tilt): the grid would be
      sheared, which a Volume cannot represent.

Warnings (logged, listed in ``meta["warnings"]``, the volume is read):
    * small unevenness: a slice between 1 % and 20 % of a step off the regular grid.

Deviations below 1 % of a step are rounding in the headers and pass silently.

The voxels are HU after rescale: int16 when slope and intercept are whole numbers (int32 in
the rare case of values beyond the int16 range), else float32.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError
from pydicom.uid import SegmentationStorage

from livseg.errors import DicomSeriesError, InvalidImageError, UnreadableInputError
from livseg.io.itk_messages import itk_error_text, itk_messages_to_log
from livseg.volume import Geometry, Volume

LOG = logging.getLogger(__name__)

MISSING_STEP_FACTOR = 1.5  # a step this many times the median means slices are missing
UNEVEN_ERROR_FRACTION = 0.20  # off-grid by more than this fraction of a step: error
UNEVEN_WARN_FRACTION = 0.01  # off-grid by more than this fraction of a step: warning
DUPLICATE_FRACTION = 0.01  # a step below this fraction of the median step: same position
ORIENTATION_TOL = 1e-4  # direction cosines of slices in one series must agree to this
_NON_VOLUME_MODALITIES = {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "SR", "PR", "KO", "REG"}
_LISTED_SERIES_MAX = 10
_LISTED_POSITIONS_MAX = 4

_HEADER_TAGS = [
    "SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "Modality", "SOPClassUID",
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns",
    "RescaleSlope", "RescaleIntercept", "NumberOfFrames", "InstanceNumber", "SamplesPerPixel",
]


@dataclass(frozen=True)
class DicomSlice:
    """The header facts of one DICOM image file that matter for building a volume.

    Attributes:
        position_mm: ImagePositionPatient, LPS mm of the centre of the first pixel.
        orientation: ImageOrientationPatient, row then column direction cosines (LPS).
        pixel_spacing_mm: PixelSpacing as (between rows, between columns) mm, or None.
    """

    path: Path
    series_uid: str
    description: str
    modality: str
    position_mm: tuple[float, float, float]
    orientation: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float] | None
    rows: int
    columns: int
    slope: float
    intercept: float
    frames: int
    samples_per_pixel: int

    @property
    def normal(self) -> np.ndarray:
        row, col = np.asarray(self.orientation[:3]), np.asarray(self.orientation[3:])
        return np.cross(row, col)


@dataclass(frozen=True)
class SeriesSummary:
    """One series found in a folder: its UID, description and slice count."""

    uid: str
    description: str
    modality: str
    slices: int

    def describe(self) -> str:
        uid = self.uid or "(no SeriesInstanceUID)"
        description = self.description or "no description"
        return f"{uid} ({self.modality or '?'}, {description!r}, {self.slices} slices)"


def _float(value, default: float) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def _read_slice_header(path: Path) -> DicomSlice | str:
    """The DicomSlice of ``path``, or a one-line reason why it is not a volume slice."""
    with warnings.catch_warnings(record=True) as caught:  # pydicom's value warnings -> log
        warnings.simplefilter("always")
        try:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
            except InvalidDicomError:
                # no 128-byte preamble: still DICOM when it starts with a group 0002/0008 tag
                with open(path, "rb") as handle:
                    if handle.read(2) not in (b"\x02\x00", b"\x08\x00"):
                        raise
                ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS,
                                     force=True)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError,
                AttributeError) as exc:
            return f"not readable as DICOM ({type(exc).__name__})"
    for warning in caught:
        LOG.debug("%s: pydicom: %s", path, " ".join(str(warning.message).split()))
    modality = str(ds.get("Modality", "") or "")
    if modality.upper() in _NON_VOLUME_MODALITIES:
        return f"a {modality} object, not an image slice"
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if position is None or orientation is None or len(position) != 3 or len(orientation) != 6:
        return "no ImagePositionPatient / ImageOrientationPatient"
    if ds.get("Rows") is None or ds.get("Columns") is None:
        return "no Rows / Columns (not an image)"
    spacing = ds.get("PixelSpacing")
    pixel_spacing = None
    if spacing is not None and len(spacing) == 2 and all(_float(v, 0.0) > 0 for v in spacing):
        pixel_spacing = (float(spacing[0]), float(spacing[1]))
    return DicomSlice(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "") or ""),
        description=str(ds.get("SeriesDescription", "") or "").strip(),
        modality=modality,
        position_mm=tuple(float(v) for v in position),  # type: ignore[arg-type]
        orientation=tuple(float(v) for v in orientation),
        pixel_spacing_mm=pixel_spacing,
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        slope=_float(ds.get("RescaleSlope", 1.0), 1.0),
        intercept=_float(ds.get("RescaleIntercept", 0.0), 0.0),
        frames=int(_float(ds.get("NumberOfFrames", 1), 1.0)),
        samples_per_pixel=int(_float(ds.get("SamplesPerPixel", 1), 1.0)),
    )


def is_segmentation_file(path: Path) -> bool:
    """True when ``path`` reads as a DICOM Segmentation (Modality SEG), not an image slice."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality", "SOPClassUID"], force=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
        return False
    return str(ds.get("Modality", "") or "").upper() == "SEG" or ds.get("SOPClassUID") == SegmentationStorage


def scan_folder(folder: Path) -> tuple[list[DicomSlice], list[tuple[Path, str]]]:
    """Read the headers of the files directly in ``folder`` (not sub-folders).

    Returns:
        (image slices, [(skipped file, reason), ...]).
    """
    slices: list[DicomSlice] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        found = _read_slice_header(path)
        if isinstance(found, str):
            skipped.append((path, found))
            LOG.debug("%s: skipped: %s", path, found)
        else:
            slices.append(found)
    return slices, skipped


def _summaries(by_series: dict[str, list[DicomSlice]]) -> list[SeriesSummary]:
    return [SeriesSummary(uid, group[0].description, group[0].modality, len(group))
            for uid, group in sorted(by_series.items(), key=lambda item: (-len(item[1]), item[0]))]


def list_series(folder: str | Path) -> list[SeriesSummary]:
    """The image series in a DICOM folder, most slices first."""
    slices, _ = scan_folder(Path(folder))
    by_series: dict[str, list[DicomSlice]] = defaultdict(list)
    for dicom_slice in slices:
        by_series[dicom_slice.series_uid].append(dicom_slice)
    return _summaries(by_series)


def _choose_series(path: Path, slices: list[DicomSlice], skipped: list[tuple[Path, str]],
                   series_uid: str | None) -> list[DicomSlice]:
    by_series: dict[str, list[DicomSlice]] = defaultdict(list)
    for dicom_slice in slices:
        by_series[dicom_slice.series_uid].append(dicom_slice)
    if not by_series:
        reasons = sorted({reason for _, reason in skipped})
        folder = path if path.is_dir() else path.parent
        subfolders = sum(1 for p in folder.iterdir() if p.is_dir())
        raise DicomSeriesError(
            path, expected="DICOM image slices with ImagePositionPatient and ImageOrientationPatient",
            found=f"none among {len(skipped)} files" + (f" ({'; '.join(reasons[:3])})" if reasons else "")
            + (f" and {subfolders} sub-folders, which are not searched" if subfolders else ""),
            fix="pass the folder that holds the CT series itself")
    summaries = _summaries(by_series)
    listing = "; ".join(s.describe() for s in summaries[:_LISTED_SERIES_MAX])
    if len(summaries) > _LISTED_SERIES_MAX:
        listing += f"; and {len(summaries) - _LISTED_SERIES_MAX} more"
    if series_uid is not None:
        if series_uid not in by_series:
            raise DicomSeriesError(path, expected=f"series {series_uid}",
                                   found=f"{len(summaries)} other series: {listing}",
                                   fix="pick one of the listed UIDs")
        return by_series[series_uid]
    if len(summaries) > 1:
        raise DicomSeriesError(path, expected="one DICOM series",
                               found=f"{len(summaries)} series: {listing}",
                               fix="choose one with --series UID (read_volume(..., series_uid=UID))")
    return by_series[summaries[0].uid]


def _fmt_mm(value: float) -> str:
    return f"{value:.6g}"


def _check_consistent(path: Path, group: list[DicomSlice], uid: str) -> None:
    first = group[0]
    for other in group[1:]:
        problems = []
        if not np.allclose(first.orientation, other.orientation, atol=ORIENTATION_TOL):
            problems.append(f"orientation {first.orientation} vs {other.orientation}")
        if (first.rows, first.columns) != (other.rows, other.columns):
            problems.append(f"size {first.columns}x{first.rows} vs {other.columns}x{other.rows}")
        if (first.pixel_spacing_mm is None) != (other.pixel_spacing_mm is None) or (
                first.pixel_spacing_mm is not None and not np.allclose(
                    first.pixel_spacing_mm, other.pixel_spacing_mm, atol=1e-4, rtol=0)):
            problems.append(f"pixel spacing {first.pixel_spacing_mm} vs {other.pixel_spacing_mm} mm")
        if problems:
            raise DicomSeriesError(
                path, expected=f"slices of one geometry in series {uid or '(no UID)'}",
                found=f"{first.path.name} and {other.path.name} differ: {', '.join(problems)}",
                fix="the series mixes several acquisitions: split it, or export each as its own series")


def check_slice_positions(path: Path, distances_mm: Sequence[float], names: Sequence[str]
                          ) -> list[str]:
    """Check sorted slice positions along the normal; raise on errors, return warnings.

    Args:
        path: the folder or file, for messages.
        distances_mm: position of each slice along the slice normal, ascending.
        names: the file name of each slice, same order.

    Returns:
        Warning lines (small unevenness); empty when the spacing is regular.

    Raises:
        DicomSeriesError: duplicate, missing or clearly uneven slices (module doc).
    """
    d = np.asarray(distances_mm, dtype=float)
    steps = np.diff(d)
    median = float(np.median(steps))
    duplicate = steps <= max(DUPLICATE_FRACTION * median, 1e-4)
    if duplicate.any():
        where = np.flatnonzero(duplicate)
        shown = ", ".join(f"{_fmt_mm(d[i])} mm ({names[i]}, {names[i + 1]})"
                          for i in where[:_LISTED_POSITIONS_MAX])
        more = f" and {len(where) - _LISTED_POSITIONS_MAX} more" if len(where) > _LISTED_POSITIONS_MAX else ""
        raise DicomSeriesError(
            path, expected="one slice per position",
            found=f"{len(where)} duplicate slice position(s): {shown}{more}",
            fix="remove the duplicate files, or split the acquisitions into separate series")
    missing = steps > MISSING_STEP_FACTOR * median
    if missing.any():
        where = np.flatnonzero(missing)
        shown = ", ".join(
            f"between {_fmt_mm(d[i])} and {_fmt_mm(d[i + 1])} mm (about {round(steps[i] / median) - 1} missing)"
            for i in where[:_LISTED_POSITIONS_MAX])
        more = f" and {len(where) - _LISTED_POSITIONS_MAX} more gaps" if len(where) > _LISTED_POSITIONS_MAX else ""
        raise DicomSeriesError(
            path, expected=f"evenly spaced slices {_fmt_mm(median)} mm apart",
            found=f"missing slices {shown}{more}",
            fix="copy the complete series (all files) and read it again")
    mean_step = float((d[-1] - d[0]) / (len(d) - 1))
    off_grid = np.abs(d - (d[0] + mean_step * np.arange(len(d)))) / mean_step
    worst = int(np.argmax(off_grid))
    if off_grid[worst] > UNEVEN_ERROR_FRACTION:
        raise DicomSeriesError(
            path, expected=f"evenly spaced slices (mean step {_fmt_mm(mean_step)} mm)",
            found=(f"uneven spacing: steps from {_fmt_mm(steps.min())} to {_fmt_mm(steps.max())} mm; "
                   f"slice {names[worst]} at {_fmt_mm(d[worst])} mm is "
                   f"{off_grid[worst]:.0%} of a step off the regular grid"),
            fix="resample the series to even spacing with a DICOM converter (e.g. dcm2niix) first")
    if off_grid[worst] > UNEVEN_WARN_FRACTION:
        return [f"slightly uneven slice spacing: steps from {_fmt_mm(steps.min())} to "
                f"{_fmt_mm(steps.max())} mm; read on a regular {_fmt_mm(mean_step)} mm grid, "
                f"slice {names[worst]} placed {off_grid[worst] * mean_step:.3g} mm from its position"]
    return []


def _check_no_tilt(path: Path, group: list[DicomSlice], normal: np.ndarray) -> None:
    positions = np.asarray([s.position_mm for s in group])
    distances = positions @ normal
    in_plane = positions - distances[:, None] * normal[None, :]
    shift = float(np.max(np.linalg.norm(in_plane - in_plane[0], axis=1)))
    pixel = min(group[0].pixel_spacing_mm or (1.0, 1.0))
    if shift > max(1e-2, 0.01 * pixel):
        raise DicomSeriesError(
            path, expected="slices stacked along their normal",
            found=f"slice origins shifted up to {shift:.3g} mm within the slice plane (gantry tilt?)",
            fix="resample the series to an orthogonal grid first (e.g. dcm2niix corrects gantry tilt)")


def read_dicom(path: Path, *, series_uid: str | None = None) -> Volume:
    """Read the DICOM series in folder ``path`` (or the series a file ``path`` belongs to).

    Args:
        path: a folder of DICOM files, or one file of a series.
        series_uid: SeriesInstanceUID to read when the folder holds several series.

    Returns:
        Volume with array (z, y, x) in HU (int16 when exact, else float32) and
        ``meta`` keys format, series_uid, series_description, modality, slices,
        slice_step_mm, rescale, warnings, orientation_known, slice_files (the series'
        files in k order); ``spacing_known`` False when PixelSpacing is missing.
    """
    folder = path if path.is_dir() else path.parent
    if path.is_file():
        own = _read_slice_header(path)
        if isinstance(own, str):
            raise UnreadableInputError(path, expected="a DICOM image slice", found=own,
                                       fix="pass a CT image file or the series folder")
        if own.frames > 1:
            raise InvalidImageError(
                path, expected="a classic single-frame DICOM series",
                found=f"a multi-frame file ({own.frames} frames)",
                fix="convert it to NIfTI first (e.g. with dcm2niix)")
        if series_uid is not None and series_uid != own.series_uid:
            raise DicomSeriesError(path, expected=f"a file of series {series_uid}",
                                   found=f"series {own.series_uid or '(no UID)'}",
                                   fix="pass the folder, or the file's own series")
        series_uid = own.series_uid
    slices, skipped = scan_folder(folder)
    group = _choose_series(path, slices, skipped, series_uid)
    uid = group[0].series_uid
    multi = [s for s in group if s.frames > 1]
    if multi:
        raise InvalidImageError(multi[0].path, expected="a classic single-frame DICOM series",
                                found=f"a multi-frame file ({multi[0].frames} frames)",
                                fix="convert it to NIfTI first (e.g. with dcm2niix)")
    if group[0].samples_per_pixel != 1:
        raise InvalidImageError(
            path, expected="one value per pixel (a grey-scale CT)",
            found=f"{group[0].samples_per_pixel} samples per pixel (RGB)",
            fix="pass the original CT series, not a colour rendering")
    if len(group) < 2:
        raise DicomSeriesError(
            path, expected="a series of at least 2 slices (one slice has no slice spacing)",
            found=f"1 slice ({group[0].path.name}) in series {uid or '(no UID)'}",
            fix="copy the complete series folder")
    _check_consistent(path, group, uid)
    normal = group[0].normal
    group = sorted(group, key=lambda s: float(np.dot(s.position_mm, normal)))
    distances = [float(np.dot(s.position_mm, normal)) for s in group]
    spacing_warnings = check_slice_positions(path, distances, [s.path.name for s in group])
    _check_no_tilt(path, group, normal)
    for line in spacing_warnings:
        LOG.warning("%s: %s", path, line)

    slopes = {s.slope for s in group}
    intercepts = {s.intercept for s in group}
    whole = all(float(v).is_integer() for v in slopes | intercepts)
    array = _read_pixels(group, whole_numbers=whole)
    geometry = _series_geometry(group)

    meta = {
        "format": "dicom",
        "format_name": "DICOM",
        "series_uid": uid,
        "series_description": group[0].description,
        "modality": group[0].modality,
        "slices": len(group),
        "slice_step_mm": geometry.spacing_mm[2],
        "rescale": {
            "slope": sorted(slopes)[0] if len(slopes) == 1 else sorted(slopes),
            "intercept": sorted(intercepts)[0] if len(intercepts) == 1 else sorted(intercepts),
            "applied": True,
        },
        "warnings": spacing_warnings,
        "orientation_known": True,
        "files_skipped": len(skipped),
        # the image files of the series in the order of the k index: what a DICOM SEG made
        # on this volume references (livseg.io.dicom_seg.write_dicom_seg), without a rescan
        "slice_files": tuple(str(s.path) for s in group),
    }
    return Volume(array=array, geometry=geometry, source=str(path), meta=meta,
                  spacing_known=group[0].pixel_spacing_mm is not None)


def _series_geometry(group: list[DicomSlice]) -> Geometry:
    """The grid of slices sorted along the normal, built as ITK's series reader builds it.

    Origin: the first slice's position. Spacing: PixelSpacing (columns, rows), and the
    distance first -> last slice / (n - 1). Direction: the row and column cosines, and the
    unit vector first -> last slice (the normal, as tilted series were refused).
    """
    first, last = group[0], group[-1]
    across = np.asarray(last.position_mm) - np.asarray(first.position_mm)
    distance = float(np.linalg.norm(across))
    row, column = first.orientation[:3], first.orientation[3:]
    spacing_rc = first.pixel_spacing_mm or (1.0, 1.0)  # placeholder when not recorded
    direction = np.column_stack([row, column, across / distance])
    return Geometry(
        size=(first.columns, first.rows, len(group)),
        spacing_mm=(spacing_rc[1], spacing_rc[0], distance / (len(group) - 1)),
        origin_mm=first.position_mm,
        direction=tuple(direction.ravel()),
    )


def _read_pixels(group: list[DicomSlice], *, whole_numbers: bool) -> np.ndarray:
    """Decode the slices one by one into a (z, y, x) HU array, int16 where values allow.

    Slice by slice (not ITK's series reader): each slice is rescaled with its own
    slope/intercept by GDCM and copied straight into the output, so the peak memory is the
    output plus one slice, instead of a 32-bit volume plus its 16-bit copy.
    """
    rows, columns = group[0].rows, group[0].columns
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    if not whole_numbers:
        reader.SetOutputPixelType(sitk.sitkFloat32)
    out = np.empty((len(group), rows, columns), np.int16 if whole_numbers else np.float32)
    int16 = np.iinfo(np.int16)
    with itk_messages_to_log():
        for k, dicom_slice in enumerate(group):
            reader.SetFileName(str(dicom_slice.path))
            try:
                image = reader.Execute()
            except RuntimeError as exc:
                raise UnreadableInputError(
                    dicom_slice.path, expected="decodable DICOM pixel data", found=itk_error_text(exc),
                    fix="the file may be truncated or use an unsupported compression: re-export the series"
                ) from exc
            if image.GetNumberOfComponentsPerPixel() != 1 or image.GetNumberOfPixels() != rows * columns:
                raise InvalidImageError(
                    dicom_slice.path, expected=f"one grey value per pixel, {columns}x{rows} pixels",
                    found=f"{image.GetNumberOfComponentsPerPixel()} components, size {image.GetSize()}")
            plane = sitk.GetArrayViewFromImage(image).reshape(rows, columns)
            if out.dtype == np.int16 and (plane.min() < int16.min or plane.max() > int16.max):
                out = out.astype(np.int32)  # HU beyond the int16 range: rare, keep them exact
            out[k] = plane
            del plane, image
    return out
