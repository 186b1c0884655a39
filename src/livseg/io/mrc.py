"""Read MRC volumes (the LiTS crops shipped on PyPI use it) with ``mrcfile``.

MRC is an electron-microscopy format: it stores a voxel size in Angstrom (often 0), an
origin in Angstrom, and no patient orientation. So a CT stored as MRC has *unknown* spacing
and orientation: the Volume gets a nominal 1.0 placeholder spacing that means "index
units", ``spacing_known=False`` and ``meta["orientation_known"] = False``. The
caller supplies the real spacing with ``read_volume(path, spacing_mm=...)``.

Axis order: MRC stores columns fastest, then rows, then sections; ``mapc``/``mapr``/``maps``
say which of the format's X (1), Y (2), Z (3) axes columns, rows and sections run along.
``mrcfile`` returns the array as (sections, rows, columns); it is transposed here to
(Z, Y, X) of the MRC frame, which becomes the Volume's (z, y, x). For the standard mapping
(1, 2, 3) that is no change at all (ITK's MRC reader gives the same array).

``mrcfile`` rather than ITK: ITK also reads MRC but reports a voxel size of 0 as 1 mm
silently and ignores ``mapc``/``mapr``/``maps``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import mrcfile
import numpy as np

from livseg.errors import InvalidImageError, UnreadableInputError
from livseg.volume import Geometry, Volume

LOG = logging.getLogger(__name__)

# Modes livseg reads (MRC2014): 0 int8, 1 int16, 2 float32, 6 uint16, 12 float16.
_SUPPORTED_MODES = {0, 1, 2, 6, 12}


def read_mrc(path: Path) -> Volume:
    """Read an MRC file as a Volume with unknown spacing and orientation (see module doc).

    Returns:
        Volume with array (z, y, x) in native byte order; float16 data becomes float32.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                header = mrc.header
                mode = int(header.mode)
                mapping = (int(header.mapc), int(header.mapr), int(header.maps))
                voxel_size = tuple(float(v) for v in mrc.voxel_size.item())
                data = np.asarray(mrc.data)
                is_volume = bool(mrc.is_volume())
        except ValueError as exc:
            raise UnreadableInputError(path, expected="a complete MRC file",
                                       found=" ".join(str(exc).split()),
                                       fix="the file is truncated or not MRC: copy or export it again"
                                       ) from exc
    for warning in caught:
        LOG.info("%s: mrcfile: %s", path, " ".join(str(warning.message).split()))

    if mode not in _SUPPORTED_MODES:
        raise InvalidImageError(path, expected="MRC mode 0, 1, 2, 6 or 12 (real-valued voxels)",
                                found=f"mode {mode}", fix="convert it to a real-valued volume")
    if not is_volume or data.ndim != 3:
        raise InvalidImageError(path, expected="a 3D volume",
                                found=f"an MRC image of shape {data.shape}",
                                fix="pass a single 3D volume, not an image or a stack")
    if sorted(mapping) != [1, 2, 3]:
        raise UnreadableInputError(path, expected="mapc/mapr/maps a permutation of 1, 2, 3",
                                   found=f"{mapping}")
    # array axes are (sections, rows, columns) = MRC axes (maps, mapr, mapc); order them Z, Y, X.
    axes_of_array = (mapping[2], mapping[1], mapping[0])
    order = tuple(axes_of_array.index(axis) for axis in (3, 2, 1))
    array = np.transpose(data, order)
    target_dtype = np.dtype(np.float32) if array.dtype == np.float16 else array.dtype.newbyteorder("=")
    array = np.ascontiguousarray(array, dtype=target_dtype)

    size_xyz = (array.shape[2], array.shape[1], array.shape[0])
    meta = {
        "format": "mrc",
        "format_name": "MRC",
        "orientation_known": False,
        "stored_dtype": str(data.dtype),
        "mrc_mode": mode,
        "mrc_axis_map": mapping,
        "mrc_voxel_size_angstrom": voxel_size,
        "geometry_note": (
            f"MRC header voxel size {voxel_size} (Angstrom by the MRC definition; 0 = unset); "
            "MRC records no patient orientation"),
    }
    geometry = Geometry(size=size_xyz, spacing_mm=(1.0, 1.0, 1.0))  # placeholder: index units
    return Volume(array=array, geometry=geometry, source=str(path), meta=meta, spacing_known=False)
