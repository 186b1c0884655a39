"""Reading and writing CT and label volumes, geometry kept exactly.

This package is the only place that knows file formats, LPS/RAS and on-disk axis order.
Public API::

    read_volume(path, *, kind="any", series_uid=None, spacing_mm=None) -> Volume
    write_volume(volume, path, *, kind=None, compress=None) -> Path
    write_like(array_zyx, reference_volume, path, *, kind="label") -> Path
    require_known_spacing(volume, *, what) -> None     # raises when spacing is a placeholder
                                                        # (volume.spacing_known is False)
    list_dicom_series(folder) -> list[SeriesSummary]
    summarize(volume, *, label=None) -> dict            # what ``livseg info`` prints

Formats: NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr) read and written;
MRC (.mrc), DICOM series (folder or one file of it) and DICOM SEG files (as labels) read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from livseg.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "livseg.io.content": ("KINDS",),
    "livseg.io.formats": ("READ_SUFFIXES", "WRITE_SUFFIXES"),
    "livseg.io.reading": ("read_volume",),
    "livseg.io.spacing": ("require_known_spacing",),
    "livseg.io.summary": ("summarize",),
    "livseg.io.writing": ("write_like", "write_volume"),
})

if TYPE_CHECKING:
    from livseg.io.dicom import SeriesSummary


def list_dicom_series(folder: str | Path) -> list[SeriesSummary]:
    """The image series in a DICOM folder (UID, description, modality, slice count)."""
    from livseg.io.dicom import list_series

    return list_series(folder)


__all__ = [
    "KINDS",
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "list_dicom_series",
    "read_volume",
    "require_known_spacing",
    "summarize",
    "write_like",
    "write_volume",
]
