"""The file formats livseg reads and writes, and how a path's format is recognised."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livseg.errors import UnreadableInputError


@dataclass(frozen=True)
class FileFormat:
    """One format family.

    Attributes:
        key: short identifier stored in ``Volume.meta["format"]``.
        name: human-readable name.
        suffixes: file-name endings, lower case, compound ones first.
        itk_io: the ITK ImageIO that reads/writes it ("" when ITK is not used).
        writable: whether ``write_volume`` writes it.
        detached_header: suffixes whose file is a text header naming a separate data file.
    """

    key: str
    name: str
    suffixes: tuple[str, ...]
    itk_io: str
    writable: bool
    detached_header: tuple[str, ...] = ()


NIFTI = FileFormat("nifti", "NIfTI", (".nii.gz", ".nii"), "NiftiImageIO", True)
METAIMAGE = FileFormat("metaimage", "MetaImage", (".mha", ".mhd"), "MetaImageIO", True, (".mhd",))
NRRD = FileFormat("nrrd", "NRRD", (".nrrd", ".nhdr"), "NrrdImageIO", True, (".nhdr",))
MRC = FileFormat("mrc", "MRC", (".mrc",), "", False)
DICOM = FileFormat("dicom", "DICOM", (".dcm", ".ima"), "GDCMImageIO", False)

FORMATS: tuple[FileFormat, ...] = (NIFTI, METAIMAGE, NRRD, MRC, DICOM)
READ_SUFFIXES: tuple[str, ...] = tuple(s for f in FORMATS for s in f.suffixes)
WRITE_SUFFIXES: tuple[str, ...] = tuple(s for f in FORMATS if f.writable for s in f.suffixes)


def suffix_of(path: Path) -> str:
    """The lower-case suffix livseg recognises (".nii.gz" for compound ones), or "" if none."""
    name = path.name.lower()
    for suffix in sorted(READ_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def format_for_suffix(suffix: str) -> FileFormat | None:
    for file_format in FORMATS:
        if suffix in file_format.suffixes:
            return file_format
    return None


def looks_like_dicom(path: Path) -> bool:
    """True when the file has the DICOM preamble marker "DICM" at byte 128."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def detect_format(path: Path) -> FileFormat:
    """The format of an existing ``path``: a folder is a DICOM series, else by suffix or content.

    Raises:
        UnreadableInputError: the suffix is not one livseg reads and the file is not DICOM.
    """
    if path.is_dir():
        return DICOM
    file_format = format_for_suffix(suffix_of(path))
    if file_format is not None:
        return file_format
    if looks_like_dicom(path):  # DICOM files often have no suffix or a numeric one
        return DICOM
    raise UnreadableInputError(
        path,
        expected="a CT or label file (" + ", ".join(READ_SUFFIXES) + ") or a DICOM series folder",
        found=f"suffix {path.suffix or '(none)'!r} and no DICOM marker",
        fix="convert it to NIfTI (.nii.gz) or pass the DICOM folder",
    )
