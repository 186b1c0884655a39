"""The few header facts ITK does not report faithfully, read from the files themselves.

Why by hand: checked with SimpleITK 2.5 / ITK 5.4,

* a NIfTI file cut short is read *without any error*, the missing voxels filled with 0;
* a NIfTI pixdim of 0 is reported (and used) as 1 mm, even in ITK's own metadata;
* a NRRD without ``space directions``/``spacings`` gets 1 mm and the identity silently;
* a truncated MetaImage fails with "No such file or directory" after MetaIO printed to the
  process's stderr directly.

So before ITK reads a file, livseg looks at the stored header values: the NIfTI-1 binary
header (fixed 348-byte layout), and the key/value text headers of NRRD and MetaImage (only
whether some keys are present, and the sizes needed to know how many bytes the voxels
take). ITK still does all the real parsing and decoding.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TEXT_HEADER_BYTES = 65536  # NRRD / MetaImage headers are far smaller
_NIFTI1_HEADER_BYTES = 348
_CHUNK = 1 << 20

# MetaIO element types and their sizes in bytes.
_MET_TYPE_BYTES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}


def text_header(path: Path, *, nrrd: bool) -> tuple[dict[str, str], int]:
    """(fields, header length in bytes) of a NRRD or MetaImage text header; keys lower-case.

    NRRD: "key: value" lines up to the first blank line. MetaImage: "Key = Value" lines up
    to and including ``ElementDataFile`` (the last header line by definition).
    """
    with open(path, "rb") as handle:
        raw = handle.read(_TEXT_HEADER_BYTES)
    fields: dict[str, str] = {}
    separator = ":" if nrrd else "="
    offset = 0
    for raw_line in raw.split(b"\n"):
        offset += len(raw_line) + 1
        line = raw_line.decode("latin-1").strip()
        if not line:
            if nrrd:
                break
            continue
        if line.startswith("#") or separator not in line:
            continue
        key, value = line.split(separator, 1)
        key = key.strip().lower()
        if nrrd and key.endswith(":"):  # "key:=value" comment-style key/value pairs
            continue
        fields[key] = value.strip()
        if not nrrd and key == "elementdatafile":
            break
    return fields, min(offset, len(raw))


@dataclass(frozen=True)
class NiftiFacts:
    """Stored values of a NIfTI-1 header.

    Attributes:
        pixdim_xyz: pixdim[1..3] as stored (0 or negative means not recorded).
        qform_code, sform_code: 0 means that transform is absent.
        data_end: vox_offset + the voxel bytes the dims and bitpix call for.
        data_start: where the voxels start (vox_offset), bytes.
        datatype: the NIfTI datatype code (16 float32, 64 float64, 4 int16, ...).
        byte_order: "<" or ">".
        dims_xyz: dim[1..3].
    """

    pixdim_xyz: tuple[float, float, float]
    qform_code: int
    sform_code: int
    data_end: int
    data_start: int = 352
    datatype: int = 0
    byte_order: str = "<"
    dims_xyz: tuple[int, int, int] = (0, 0, 0)


def nifti1_facts(path: Path) -> NiftiFacts | None:
    """The stored header values of a NIfTI-1 file (.nii or .nii.gz); None if not NIfTI-1."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(_NIFTI1_HEADER_BYTES)
    except (OSError, EOFError, zlib.error):
        return None
    if len(header) < _NIFTI1_HEADER_BYTES:
        return None
    for endian in ("<", ">"):
        if struct.unpack_from(endian + "i", header, 0)[0] == _NIFTI1_HEADER_BYTES:
            break
    else:
        return None  # NIfTI-2 or not NIfTI: left to ITK
    dim = struct.unpack_from(endian + "8h", header, 40)
    bitpix = struct.unpack_from(endian + "h", header, 72)[0]
    pixdim = struct.unpack_from(endian + "8f", header, 76)
    vox_offset = struct.unpack_from(endian + "f", header, 108)[0]
    qform_code, sform_code = struct.unpack_from(endian + "2h", header, 252)
    ndim = max(0, min(int(dim[0]), 7))
    voxels = math.prod(max(int(n), 0) for n in dim[1:ndim + 1]) if ndim else 0
    start = int(vox_offset) if vox_offset >= _NIFTI1_HEADER_BYTES else 352
    return NiftiFacts(
        pixdim_xyz=(float(pixdim[1]), float(pixdim[2]), float(pixdim[3])),
        qform_code=int(qform_code),
        sform_code=int(sform_code),
        data_end=start + voxels * max(int(bitpix), 0) // 8,
        data_start=start,
        datatype=int(struct.unpack_from(endian + "h", header, 70)[0]),
        byte_order=endian,
        dims_xyz=(max(int(dim[1]), 0), max(int(dim[2]), 0), max(int(dim[3]), 0)),
    )


#: NIfTI datatype codes of real floating-point voxels -> numpy type.
NIFTI_FLOAT_TYPES = {16: "f4", 64: "f8"}


def nifti_non_finite(path: Path, facts: NiftiFacts) -> tuple[np.ndarray, np.ndarray] | None:
    """Flat indices and values of the NaN/Inf voxels stored in a float NIfTI file, read from the
    file's own bytes (ITK's reader turns them into 0); None when the file stores no float
    voxels or has none of them.

    Indices are in storage order (x fastest), i.e. into ``array.ravel()`` of the (z, y, x)
    array ITK returns. Read in chunks: memory stays small whatever the volume's size.
    """
    code = NIFTI_FLOAT_TYPES.get(facts.datatype)
    if code is None:
        return None
    dtype = np.dtype(facts.byte_order + code)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    indices, values = [], []
    total = math.prod(facts.dims_xyz)  # the first volume: a 4D file's first time point
    chunk_voxels = max(1, _CHUNK // dtype.itemsize)
    with opener(path, "rb") as handle:
        handle.seek(facts.data_start)
        done = 0
        while done < total:
            raw = handle.read(min(chunk_voxels, total - done) * dtype.itemsize)
            block = np.frombuffer(raw[: len(raw) - len(raw) % dtype.itemsize], dtype=dtype)
            if block.size == 0:
                break
            bad = np.flatnonzero(~np.isfinite(block))
            if bad.size:
                indices.append(bad + done)
                values.append(block[bad].astype(np.float64))
            done += block.size
    if not indices:
        return None
    return np.concatenate(indices), np.concatenate(values)


def gzip_uncompressed_size(path: Path, *, expected: int) -> int:
    """Bytes a gzip file decompresses to, or fewer when it is cut short.

    Fast path: the gzip trailer stores the size modulo 2**32; when it equals ``expected``
    the file is taken as complete. Otherwise the stream is decompressed to its end (this
    also covers multi-member files), counting bytes; a truncated stream stops early.
    """
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        if handle.tell() >= 18:
            handle.seek(-4, 2)
            if struct.unpack("<I", handle.read(4))[0] == expected % (1 << 32):
                return expected
    total = 0
    decoder = zlib.decompressobj(wbits=31)  # gzip framing
    with open(path, "rb") as handle:
        data = handle.read(_CHUNK)
        while data:
            try:
                total += len(decoder.decompress(data, _CHUNK * 4))  # bounded output
            except zlib.error:
                break
            if decoder.eof:  # end of one gzip member; another may follow
                data = decoder.unused_data or handle.read(_CHUNK)
                decoder = zlib.decompressobj(wbits=31)
            elif decoder.unconsumed_tail:
                data = decoder.unconsumed_tail
            else:
                data = handle.read(_CHUNK)
    return total


def metaimage_data_bytes(fields: dict[str, str]) -> int | None:
    """Bytes of uncompressed voxel data a MetaImage header calls for (None if unknown/compressed)."""
    if fields.get("compresseddata", "false").lower() == "true":
        return None
    try:
        dims = [int(v) for v in fields["dimsize"].split()]
        element = _MET_TYPE_BYTES[fields["elementtype"].strip().upper()]
        channels = int(fields.get("elementnumberofchannels", "1"))
    except (KeyError, ValueError):
        return None
    return math.prod(dims) * element * channels


#: NRRD "type" field values -> bytes per element (the NRRD0004+ spelling and its synonyms).
_NRRD_TYPE_BYTES = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t", "ushort",
                     "unsigned short", "unsigned short int", "uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t",
                     "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long", "signed long long int",
                     "int64", "int64_t", "ulonglong", "unsigned long long", "unsigned long long int", "uint64",
                     "uint64_t", "double"), 8),
}
#: The most a DEFLATE (gzip) stream can expand: about 1032 output bytes per input byte.
GZIP_MAX_RATIO = 1032


def nrrd_data_bytes(fields: dict[str, str]) -> int | None:
    """Bytes of voxel data (uncompressed) a NRRD header announces; None if it cannot tell."""
    try:
        sizes = [int(v) for v in fields["sizes"].split()]
        element = _NRRD_TYPE_BYTES[" ".join(fields["type"].lower().split())]
    except (KeyError, ValueError):
        return None
    if any(n < 0 for n in sizes):
        return None
    return math.prod(sizes) * element


def available_memory_bytes() -> int | None:
    """Memory the system could give this process now (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None

