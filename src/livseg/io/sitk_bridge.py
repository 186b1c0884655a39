"""Conversion between SimpleITK images and livseg Volumes (no copy of geometry semantics).

SimpleITK already works in LPS with (x, y, z) geometry tuples and returns arrays in (z, y, x)
order, so the conversion is a direct, lossless transfer of size, spacing, origin, direction.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from livseg.errors import InvalidImageError
from livseg.volume import Geometry, Kind, Volume


def geometry_of(image: sitk.Image) -> Geometry:
    """The Geometry of a 3D SimpleITK image."""
    return Geometry(
        size=image.GetSize(),
        spacing_mm=image.GetSpacing(),
        origin_mm=image.GetOrigin(),
        direction=image.GetDirection(),
    )


class _ItkPixelBuffer:
    """Exposes a SimpleITK image's pixel buffer to numpy and keeps the image alive.

    ``np.asarray`` of this object is a (z, y, x) array *sharing* the image's memory; the
    array's ``base`` holds this object, which holds the image, so the buffer lives exactly
    as long as the array (``sitk.GetArrayViewFromImage`` alone gives no such guarantee).
    """

    def __init__(self, image: sitk.Image) -> None:
        view = sitk.GetArrayViewFromImage(image)
        interface = dict(view.__array_interface__)
        interface["data"] = (interface["data"][0], False)  # writable: the image is private
        self._image = image
        self.__array_interface__ = interface


def array_from_sitk(image: sitk.Image, *, copy: bool = True) -> np.ndarray:
    """The image's voxels as a writable (z, y, x) array.

    Args:
        copy: False hands the image's own buffer to the array without copying (half the
            peak memory of a read). Only for images nothing else holds: the array and the
            image then share memory.
    """
    if copy:
        return sitk.GetArrayFromImage(image)
    return np.asarray(_ItkPixelBuffer(image))


def volume_from_sitk(image: sitk.Image, *, source: str, meta: dict | None = None,
                     copy: bool = True, kind: Kind = "any", spacing_known: bool = True) -> Volume:
    """Wrap a scalar 3D SimpleITK image as a Volume (array (z, y, x)).

    ``copy=False``: see :func:`array_from_sitk` (for images private to the caller).
    ``kind`` and ``spacing_known`` become the Volume's fields.
    """
    if image.GetDimension() != 3:
        raise InvalidImageError(source, expected="a 3D image",
                                found=f"a {image.GetDimension()}D image of size {image.GetSize()}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidImageError(
            source, expected="one value per voxel (a grey-scale CT or a label map)",
            found=f"{image.GetNumberOfComponentsPerPixel()} components per voxel (RGB or vector image)",
            fix="convert it to a single-channel image")
    return Volume(array=array_from_sitk(image, copy=copy), geometry=geometry_of(image),
                  source=source, meta=dict(meta or {}), kind=kind, spacing_known=spacing_known)


def sitk_from_volume(volume: Volume) -> sitk.Image:
    """A SimpleITK image with the Volume's array and exact geometry."""
    array = volume.array
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=False)
    geometry = volume.geometry
    image.SetSpacing(geometry.spacing_mm)
    image.SetOrigin(geometry.origin_mm)
    image.SetDirection(geometry.direction)
    return image
