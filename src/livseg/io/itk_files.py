"""Read single-file formats through SimpleITK: NIfTI, MetaImage (.mha/.mhd), NRRD (.nrrd/.nhdr).

SimpleITK gives exact LPS geometry, but it silently substitutes 1 mm and the identity where a
file does not record spacing or orientation, and zero-fills a NIfTI cut short (see
``livseg.io.headers``). So the stored header values are looked at first: the Volume's
``spacing_known`` field / ``meta["orientation_known"]`` say whether the file recorded
them, and files too short for the voxels their header announces are refused.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import SimpleITK as sitk

from livseg.errors import InvalidImageError, UnreadableInputError
from livseg.io.formats import METAIMAGE, NIFTI, NRRD, FileFormat
from livseg.io.headers import (
    GZIP_MAX_RATIO,
    NiftiFacts,
    available_memory_bytes,
    gzip_uncompressed_size,
    metaimage_data_bytes,
    nifti1_facts,
    nifti_non_finite,
    nrrd_data_bytes,
    text_header,
)
from livseg.io.itk_messages import itk_error_text, itk_messages_to_log
from livseg.io.sitk_bridge import volume_from_sitk
from livseg.volume import Volume

LOG = logging.getLogger(__name__)

def _detached_data_files(path: Path, file_format: FileFormat, fields: dict[str, str]) -> list[str]:
    """Names of the data files a detached header refers to (empty when data is inline)."""
    if file_format is METAIMAGE:
        name = fields.get("elementdatafile", "")
        if not name or name.upper() in ("LOCAL", "LIST") or name.upper().startswith("LIST"):
            return []
        if "%" in name:  # a printf-style file list: ITK will report missing parts itself
            return []
        return [name]
    if file_format is NRRD:
        name = fields.get("data file", fields.get("datafile", ""))
        if not name or name.upper().startswith("LIST") or "%" in name:
            return []
        return [name]
    return []


def _geometry_flags(file_format: FileFormat, fields: dict[str, str], itk_meta: dict[str, str],
                    nifti: NiftiFacts | None) -> tuple[bool, bool, str]:
    """(spacing_known, orientation_known, why) from the header as stored on disk."""
    if file_format is NIFTI:
        if nifti is not None:
            pixdim = list(nifti.pixdim_xyz)
            codes = (nifti.qform_code, nifti.sform_code)
        else:  # NIfTI-2: ITK's metadata is the best available account
            pixdim = [float(itk_meta.get(f"pixdim[{i}]", "0") or 0) for i in (1, 2, 3)]
            codes = (int(itk_meta.get("qform_code", "0") or 0), int(itk_meta.get("sform_code", "0") or 0))
        spacing_known = all(math.isfinite(p) and p > 0 for p in pixdim)
        orientation_known = any(code > 0 for code in codes)
        why = "" if spacing_known else f"NIfTI pixdim[1..3] = {pixdim}"
        if not orientation_known:
            why = (why + "; " if why else "") + "NIfTI qform_code and sform_code are 0"
        return spacing_known, orientation_known, why
    if file_format is NRRD:
        directions = fields.get("space directions", "")
        spacings = fields.get("spacings", "")
        spacing_known = ("(" in directions) or any(
            token.lower() not in ("nan", "none") for token in spacings.split())
        orientation_known = ("(" in directions and "space origin" in fields
                             and ("space" in fields or "space dimension" in fields))
        why = "" if spacing_known else "NRRD header has no 'space directions' or 'spacings'"
        if not orientation_known:
            why = ((why + "; " if why else "")
                   + "NRRD header lacks 'space', 'space directions' or 'space origin'")
        return spacing_known, orientation_known, why
    if file_format is METAIMAGE:
        spacing_known = "elementspacing" in fields or "elementsize" in fields
        # MetaImage defines identity orientation and zero offset as defaults, so only the
        # spacing can be missing in a way that matters.
        why = "" if spacing_known else "MetaImage header has no ElementSpacing"
        return spacing_known, True, why
    return True, True, ""


def read_itk_file(path: Path, file_format: FileFormat) -> Volume:
    """Read a NIfTI, MetaImage or NRRD file into a Volume (array (z, y, x), exact geometry).

    Raises:
        UnreadableInputError: truncated/corrupt file, missing detached data file.
        InvalidImageError: not a 3D scalar image (2D, 4D with several volumes, RGB).
    """
    fields: dict[str, str] = {}
    nifti: NiftiFacts | None = None
    if file_format in (NRRD, METAIMAGE):
        try:
            fields, header_bytes = text_header(path, nrrd=file_format is NRRD)
        except OSError as exc:
            raise UnreadableInputError(path, expected=f"a readable {file_format.name} file",
                                       found=exc.strerror or str(exc)) from exc
        data_files = _detached_data_files(path, file_format, fields)
        for name in data_files:
            data_file = path.parent / name
            if not data_file.is_file():
                raise UnreadableInputError(
                    path, expected=f"its data file {name} beside the header",
                    found=f"no file {data_file}",
                    fix="copy the header together with its data file, or use a single-file format "
                        "(.mha, .nrrd, .nii.gz)")
        if file_format is METAIMAGE:
            _check_metaimage_complete(path, fields, header_bytes, data_files)
        else:
            _check_nrrd_size(path, fields, header_bytes, data_files)
    elif file_format is NIFTI:
        nifti = nifti1_facts(path)
        if nifti is not None:
            _check_nifti_complete(path, nifti)

    reader = sitk.ImageFileReader()
    reader.SetImageIO(file_format.itk_io)
    reader.SetFileName(str(path))
    with itk_messages_to_log():
        try:
            reader.ReadImageInformation()
        except RuntimeError as exc:
            raise UnreadableInputError(path, expected=f"a readable {file_format.name} file",
                                       found=itk_error_text(exc)) from exc
    dimension = reader.GetDimension()
    size = tuple(reader.GetSize())
    components = reader.GetNumberOfComponents()
    _check_layout(path, dimension, size, components)
    itk_meta = {key: reader.GetMetaData(key) for key in reader.GetMetaDataKeys()}

    with itk_messages_to_log():
        try:
            image = reader.Execute()
        except RuntimeError as exc:
            raise UnreadableInputError(
                path, expected=f"a complete {file_format.name} file",
                found=f"the voxel data cannot be read ({itk_error_text(exc)})",
                fix="the file is probably truncated or corrupt: copy or export it again") from exc
    if image.GetDimension() == 4:  # (x, y, z, 1): drop the single time point / channel
        image = sitk.Extract(image, (*size[:3], 0), (0, 0, 0, 0))

    spacing_known, orientation_known, why = _geometry_flags(file_format, fields, itk_meta, nifti)
    meta: dict = {
        "format": file_format.key,
        "format_name": file_format.name,
        "orientation_known": orientation_known,
        "stored_dtype": image.GetPixelIDTypeAsString(),
    }
    if why:
        meta["geometry_note"] = why
        LOG.info("%s: %s", path, why)
    if file_format is NIFTI:
        slope = float(itk_meta.get("scl_slope", "0") or 0)
        inter = float(itk_meta.get("scl_inter", "0") or 0)
        if slope not in (0.0, 1.0) or inter != 0.0:
            meta["rescale"] = {"slope": slope, "intercept": inter, "applied": True}
    volume = volume_from_sitk(image, source=str(path), meta=meta, copy=False,  # image is ours alone
                              spacing_known=spacing_known)
    if nifti is not None:
        _restore_non_finite(path, nifti, volume)
    return volume


def _restore_non_finite(path: Path, nifti: NiftiFacts, volume: Volume) -> None:
    """Put back the NaN/Inf voxels ITK's NIfTI reader replaced by 0 (in place), so the content
    check sees and counts them instead of segmenting them as 0 HU."""
    found = nifti_non_finite(path, nifti)
    if found is None:
        return
    indices, values = found
    flat = volume.array.reshape(-1)
    if flat.dtype.kind != "f" or flat.size != math.prod(nifti.dims_xyz):
        raise InvalidImageError(path, expected="finite voxel values",
                                found=f"{indices.size} NaN or infinite voxels in the file")
    slope = float(volume.meta.get("rescale", {}).get("slope", 1.0)) or 1.0
    flat[indices] = values * slope  # NaN and +/-Inf stay what they are under a rescale


def _check_layout(path: Path, dimension: int, size: tuple[int, ...], components: int) -> None:
    """Reject what cannot be a CT volume or a label map, before reading the voxels."""
    shown = "x".join(str(s) for s in size)
    if dimension < 3:
        raise InvalidImageError(path, expected="a 3D volume", found=f"a {dimension}D image of {shown}",
                                fix="pass the whole scan, not a single slice")
    if dimension > 4 or (dimension == 4 and size[3] != 1):
        raise InvalidImageError(
            path, expected="a 3D volume", found=f"a {dimension}D image of {shown}",
            fix="extract one 3D volume (one time point or channel) first")
    if components != 1:
        raise InvalidImageError(
            path, expected="one value per voxel (a grey-scale CT or a label map)",
            found=f"{components} components per voxel (RGB or vector image)",
            fix="convert it to a single-channel image")
    if 0 in size:
        raise InvalidImageError(path, expected="a non-empty volume", found=f"size {shown}")


def _truncated(path: Path, expected: int, found: int, what: str) -> UnreadableInputError:
    return UnreadableInputError(
        path, expected=f"{expected} bytes of {what} as its header announces",
        found=f"only {found} (the file is truncated)",
        fix="copy or export it again")


def _check_nifti_complete(path: Path, nifti: NiftiFacts) -> None:
    """Refuse a NIfTI file shorter than its header says (ITK would fill the rest with 0)."""
    if path.name.lower().endswith(".gz"):
        available = gzip_uncompressed_size(path, expected=nifti.data_end)
        what = "header and voxels after decompression"
    else:
        available = path.stat().st_size
        what = "header and voxels"
    if available < nifti.data_end:
        raise _truncated(path, nifti.data_end, available, what)


def _check_nrrd_size(path: Path, fields: dict[str, str], header_bytes: int, data_files: list[str]) -> None:
    """Refuse a NRRD whose header announces more voxels than the file can hold, before any
    memory is allocated for them (ITK would allocate first and fail, or fill with garbage).

    * raw data: the data (after the header, or in the detached data file) must have at least
      the bytes the header announces;
    * gzip data: DEFLATE expands at most about 1032 times, so fewer compressed bytes than
      announced / 1032 cannot hold the volume;
    * any encoding: the announced voxels must fit in the memory available now.
    """
    expected = nrrd_data_bytes(fields)
    if expected is None:
        return
    encoding = fields.get("encoding", "raw").strip().lower()
    data = path.parent / data_files[0] if data_files else path
    offset = 0 if data_files else header_bytes
    try:
        stored = max(data.stat().st_size - offset, 0)
    except OSError:
        return
    shown = f"{fields.get('sizes', '?')} voxels of {fields.get('type', '?')} ({expected / 1e9:.3g} GB)"
    if encoding == "raw" and "byte skip" not in fields and "byteskip" not in fields and stored < expected:
        raise _truncated(path, expected, stored, "voxel data")
    if encoding in ("gzip", "gz") and stored * GZIP_MAX_RATIO < expected:
        raise UnreadableInputError(
            path, expected=f"gzip data that can hold {shown}",
            found=f"{stored} compressed bytes (at most {stored * GZIP_MAX_RATIO} after decompression)",
            fix="the file is truncated or its header is wrong: copy or export it again")
    available = available_memory_bytes()
    if available is not None and expected > available:
        raise UnreadableInputError(
            path, expected=f"a volume that fits in the memory available ({available / 1e9:.3g} GB)",
            found=f"a header announcing {shown}",
            fix="check the header's sizes and type, or read it on a machine with more memory")


def _check_metaimage_complete(path: Path, fields: dict[str, str], header_bytes: int,
                              data_files: list[str]) -> None:
    """Refuse a MetaImage whose header is cut or whose data is shorter than announced."""
    if "elementdatafile" not in fields:
        raise UnreadableInputError(
            path, expected="a MetaImage header ending with ElementDataFile",
            found="no ElementDataFile line (truncated, or not a MetaImage file)",
            fix="copy or export it again")
    expected = metaimage_data_bytes(fields)
    what = "voxel data"
    if expected is None and fields.get("compresseddata", "").lower() == "true":
        try:
            expected = int(fields.get("compresseddatasize", ""))
            what = "compressed voxel data"
        except ValueError:
            return
    if expected is None or fields.get("headersize", "0").strip() not in ("0", ""):
        return
    if data_files:
        available = (path.parent / data_files[0]).stat().st_size
    elif fields.get("elementdatafile", "").upper() == "LOCAL":
        available = path.stat().st_size - header_bytes
    else:
        return
    if available < expected:
        raise _truncated(path, expected, available, what)
