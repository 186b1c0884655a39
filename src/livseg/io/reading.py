"""Read any supported CT or label file (or DICOM folder) into a Volume."""

from __future__ import annotations

import os
from pathlib import Path

import SimpleITK as sitk

from livseg.errors import InputNotFoundError, UnreadableInputError
from livseg.io.sitk_bridge import volume_from_sitk
from livseg.volume import Volume


def read_volume(path: str | os.PathLike[str], *, series_uid: str | None = None) -> Volume:
    """Read a 3D volume from a file or a DICOM series folder.

    Args:
        path: NIfTI, MetaImage, NRRD or MRC file, or a folder holding one DICOM series.
        series_uid: for a folder with several series, the SeriesInstanceUID to read.

    Returns:
        Volume with array (z, y, x) and the file's exact geometry.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(path, expected="an existing file or DICOM folder", found="nothing at that path")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise UnreadableInputError(path, expected="a readable image file",
                                   found=str(exc).strip().splitlines()[-1]) from exc
    return volume_from_sitk(image, source=str(path), meta={"format": path.suffix})
