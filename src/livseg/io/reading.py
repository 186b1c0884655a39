"""Read any supported CT or label file (or DICOM folder) into a Volume."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from livseg.errors import InputNotFoundError, InvalidImageError, LivsegError, UnreadableInputError
from livseg.io.content import check_content
from livseg.io.formats import DICOM, MRC, detect_format
from livseg.io.sidecar import apply_sidecar
from livseg.io.spacing import with_spacing
from livseg.volume import Kind, Volume, require_kind

LOG = logging.getLogger(__name__)


def read_volume(
    path: str | os.PathLike[str],
    *,
    kind: Kind = "any",
    series_uid: str | None = None,
    spacing_mm: Sequence[float] | None = None,
    allow_non_finite: bool = False,
) -> Volume:
    """Read a 3D volume from a file or a DICOM series folder, geometry exact.

    Args:
        path: NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr) or MRC
            (.mrc) file, a DICOM series folder, one file of a DICOM series, or a DICOM SEG
            file (BINARY; read as 0/1/2 labels by :func:`livseg.io.dicom_seg.read_dicom_seg`
            on the grid of its frames; pass the CT to that function to get exactly its grid).
        kind: "any" (structural checks only), "ct" (also: plausible HU; whole numbers
            become int16) or "label" (also: whole numbers >= 0, few values; becomes uint8).
        series_uid: for a DICOM folder with several series, the SeriesInstanceUID to read.
        spacing_mm: (x, y, z) voxel spacing in mm for files that do not record it (MRC, or a
            file whose JSON sidecar says ``"spacing_known": false``); for files that do, it
            must agree with the file.
        allow_non_finite: with ``kind="any"``, return a float volume holding NaN or infinite
            voxels instead of refusing it (for inspection: ``livseg info`` counts them).

    Returns:
        Volume with array (z, y, x) and the file's geometry (LPS, mm); its ``kind`` is
        ``kind`` and its ``spacing_known`` says whether the file (or the caller) gave the
        spacing. ``meta`` holds format, orientation_known, and for DICOM series_uid,
        series_description, modality, rescale, warnings and slice_files (what
        ``livseg.io.dicom_seg.write_dicom_seg`` needs to reference the series).

    Raises:
        InputNotFoundError, UnreadableInputError, InvalidImageError, DicomSeriesError.
    """
    require_kind(kind)
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(path, expected="an existing file or DICOM folder",
                                 found="nothing at that path", fix="check the path")
    file_format = detect_format(path)
    if series_uid is not None and file_format is not DICOM:
        raise UnreadableInputError(path, expected="a DICOM folder when a series UID is given",
                                   found=f"a {file_format.name} file",
                                   fix="leave out the series UID for non-DICOM files")
    try:
        if file_format is DICOM:
            from livseg.io.dicom import is_segmentation_file, read_dicom  # pydicom only when needed

            if series_uid is None and path.is_file() and is_segmentation_file(path):
                # a DICOM SEG (as ``livseg predict --output-format dicom-seg`` writes): its
                # labels on the grid its own frame positions span
                from livseg.io.dicom_seg import read_dicom_seg

                volume = read_dicom_seg(path)
            else:
                volume = read_dicom(path, series_uid=series_uid)
        elif file_format is MRC:
            from livseg.io.mrc import read_mrc

            volume = read_mrc(path)
        else:
            from livseg.io.itk_files import read_itk_file

            volume = read_itk_file(path, file_format)
    except LivsegError:
        raise
    except PermissionError as exc:
        raise UnreadableInputError(path, expected="a readable file", found="permission denied",
                                   fix="check the file's permissions") from exc
    except MemoryError as exc:
        raise UnreadableInputError(path, expected="a volume that fits in memory",
                                   found="not enough memory to read it") from exc
    volume = apply_sidecar(path, volume)
    modality = str(volume.meta.get("modality") or "")
    if kind == "ct" and modality and modality.upper() != "CT":
        raise InvalidImageError(path, expected="a CT series (DICOM Modality CT)",
                                found=f"Modality {modality}",
                                fix="pass the CT series (or read it with kind='any')")
    if spacing_mm is not None:
        volume = with_spacing(volume, spacing_mm)
    volume = check_content(volume, kind, allow_non_finite=allow_non_finite)
    LOG.debug("read %s: %s", path, volume.geometry.describe())
    return volume
