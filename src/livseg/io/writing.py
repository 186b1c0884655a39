"""Write Volumes to NIfTI, MetaImage or NRRD, atomically and on the exact grid.

Single-file formats (.nii, .nii.gz, .mha, .nrrd) are written to a temporary file beside the
target and renamed into place. Header + data formats (.mhd + .raw/.zraw, .nhdr + .raw/.raw.gz)
are written under their final names in a temporary folder beside the target, then the data
file and finally the header are moved into place (see ``livseg.io.atomic``).

Label maps (``kind="label"``) are written as uint8 with compression; other volumes keep
their dtype and are written uncompressed unless ``compress=True`` (``.nii.gz`` is always
compressed, ``.nii`` never).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from livseg.errors import GeometryMismatchError, InvalidImageError, OutputError
from livseg.io.atomic import atomic_header_and_data, atomic_path
from livseg.io.formats import NIFTI, WRITE_SUFFIXES, FileFormat, format_for_suffix, suffix_of
from livseg.io.headers import gzip_uncompressed_size, nifti1_facts
from livseg.io.itk_messages import itk_error_text, itk_messages_to_log
from livseg.io.sitk_bridge import sitk_from_volume
from livseg.io.spacing import require_known_spacing
from livseg.volume import Volume

LOG = logging.getLogger(__name__)

WRITE_KINDS = ("any", "ct", "label")


def _label_array(volume: Volume, path: Path) -> np.ndarray:
    """The volume's labels as uint8; labels must be whole numbers in 0..255."""
    array = volume.array
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if array.dtype.kind == "f" and not np.array_equal(array, np.trunc(array)):
        raise InvalidImageError(path, expected="whole-number labels to write as uint8",
                                found="fractional values", fix="threshold the map, or write it as kind='any'")
    if array.size and (float(array.min()) < 0 or float(array.max()) > 255):
        raise InvalidImageError(path, expected="labels in 0..255 to write as uint8",
                                found=f"values {float(array.min()):g}..{float(array.max()):g}",
                                fix="write it as kind='any'")
    return array.astype(np.uint8)


def write_volume(volume: Volume, path: str | os.PathLike[str], *, kind: str | None = None,
                 compress: bool | None = None) -> Path:
    """Write ``volume`` to ``path`` (format from the suffix) with its exact geometry.

    Args:
        volume: the volume; its spacing must be known (a placeholder spacing would be
            written down as if it were real).
        path: target; suffix .nii, .nii.gz, .mha, .mhd, .nrrd or .nhdr.
        kind: "label" (uint8, compressed), "ct" or "any"; None takes ``volume.kind``.
        compress: override the compression choice (.mha/.mhd/.nrrd/.nhdr only).

    Returns:
        The path written.

    Raises:
        OutputError: unsupported suffix, or the write failed (nothing is left behind).
        InvalidImageError: unknown spacing, or labels that do not fit uint8.
    """
    path = Path(path)
    suffix = suffix_of(path)
    file_format = format_for_suffix(suffix)
    if file_format is None or not file_format.writable:
        raise OutputError(path, expected="one of the suffixes " + ", ".join(WRITE_SUFFIXES),
                          found=f"{suffix or 'no suffix'!r}", fix="name the output e.g. mask.nii.gz")
    if path.is_dir():
        raise OutputError(path, expected="a file path", found="a folder",
                          fix="name a file inside it, e.g. mask.nii.gz")
    kind = kind if kind is not None else volume.kind
    if kind not in WRITE_KINDS:
        raise OutputError(path, expected="kind one of " + ", ".join(WRITE_KINDS), found=repr(kind))
    require_known_spacing(volume, what=f"writing {path.name}")
    if not volume.meta.get("orientation_known", True):
        LOG.warning("%s: the source of this volume records no patient orientation; the file gets "
                    "the same placeholder orientation (%s)", path, volume.geometry.orientation)
    if kind == "label":
        volume = volume.with_array(_label_array(volume, path))
    use_compression = (kind == "label") if compress is None else bool(compress)
    if suffix == ".nii":
        use_compression = False
    image = sitk_from_volume(volume)
    staging = atomic_header_and_data(path) if suffix in file_format.detached_header else atomic_path(path)
    with staging as temporary, itk_messages_to_log():
        try:
            sitk.WriteImage(image, str(temporary), useCompression=use_compression)
        except RuntimeError as exc:
            raise OutputError(path, expected=f"a writable {file_format.name} file",
                              found=itk_error_text(exc)) from exc
        _verify_written(temporary, path, volume, file_format)
    LOG.debug("wrote %s (%s)", path, volume.geometry.describe())
    return path


def _verify_written(temporary: Path, path: Path, volume: Volume, file_format: FileFormat) -> None:
    """Refuse a written file that does not hold the whole volume, before it is renamed into place.

    ITK's NIfTI writer reports a short write (a full disk: "** ERROR: NWAD") only on stderr and
    returns normally, leaving a truncated file; the other writers raise. So every file is
    checked after writing: its header must announce the volume's size, and a NIfTI file must
    hold (after decompression) every byte its header announces. The checks read the header
    and, for .nii.gz, the gzip trailer (the whole stream only when the trailer disagrees).

    Raises:
        OutputError: the file is short or its header is not the volume's (``path`` untouched).
    """
    short = f"a complete {file_format.name} file of {volume.geometry.describe()}"
    fix = "free disk space (or choose another output folder) and run again"
    if file_format is NIFTI:
        facts = nifti1_facts(temporary)
        if facts is not None:
            expected = facts.data_end
            if temporary.name.lower().endswith(".gz"):
                written = gzip_uncompressed_size(temporary, expected=expected)
            else:
                written = temporary.stat().st_size
            if written < expected:
                raise OutputError(path, expected=short,
                                  found=f"only {written} of {expected} bytes reached the disk (disk full?)", fix=fix)
    reader = sitk.ImageFileReader()
    reader.SetImageIO(file_format.itk_io)
    reader.SetFileName(str(temporary))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise OutputError(path, expected=short, found=f"an unreadable file ({itk_error_text(exc)})", fix=fix) from exc
    size = tuple(reader.GetSize())[:3]
    if size != tuple(volume.geometry.size):
        raise OutputError(path, expected=short, found=f"a header of size {'x'.join(map(str, size))}", fix=fix)


def write_like(array: np.ndarray, reference: Volume, path: str | os.PathLike[str], *,
               kind: str = "label", compress: bool | None = None) -> Path:
    """Write ``array`` (z, y, x) on ``reference``'s grid, e.g. a mask on the input CT's grid.

    Args:
        array: shape (z, y, x) equal to ``reference.array.shape``.
        reference: the volume whose geometry the output takes.
        path: target file (see :func:`write_volume`).
        kind: "label" by default (uint8, compressed); "any" for probabilities.

    Raises:
        GeometryMismatchError: the array's shape differs from the reference's.
    """
    array = np.asarray(array)
    if tuple(array.shape) != reference.geometry.shape_zyx:
        raise GeometryMismatchError(
            path, expected=f"an array of shape (z, y, x) {reference.geometry.shape_zyx} "
                           f"like {reference.source}",
            found=f"shape {tuple(array.shape)}",
            fix="resample the array back to the reference grid first")
    meta = {k: v for k, v in reference.meta.items() if k in ("orientation_known", "geometry_note")}
    volume = Volume(array=array, geometry=reference.geometry, source=str(path), meta=meta,
                    spacing_known=reference.spacing_known)
    return write_volume(volume, path, kind=kind, compress=compress)
