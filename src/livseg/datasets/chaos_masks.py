"""CHAOS CT reference masks: one PNG per DICOM slice, placed on the CT's grid.

Pairing (the organisers' evaluation code, CHAOSmetrics.py): the k-th PNG in sorted file-name
order belongs to the k-th DICOM file in sorted file-name order, and PNG pixel (row, column)
is that DICOM file's pixel (row, column). Each mask is then put where its DICOM file's own
ImagePositionPatient / ImageOrientationPatient / PixelSpacing say it is, so the result is on
the CT volume's grid however the series reader ordered the slices.

Written by hand because no library pairs a PNG stack with a DICOM series; the geometry is
ITK's (SimpleITK reads each file's header) and the placement is checked to be exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from livseg.errors import DatasetError, GeometryMismatchError, InvalidImageError, UnreadableInputError
from livseg.volume import Geometry

# A slice must land within this many voxels of a grid position (DICOM positions are rounded).
INDEX_TOL = 0.1


def chaos_dicom_files(dicom_dir: Path) -> list[Path]:
    """The ``*.dcm`` files of a CHAOS ``DICOM_anon`` folder in sorted file-name order."""
    return sorted(p for p in dicom_dir.iterdir() if p.is_file() and p.suffix.lower() == ".dcm"
                  and not p.name.startswith("."))


def chaos_png_files(ground_dir: Path) -> list[Path]:
    """The ``*.png`` masks of a CHAOS ``Ground`` folder in sorted file-name order."""
    return sorted(p for p in ground_dir.iterdir() if p.is_file() and p.suffix.lower() == ".png"
                  and not p.name.startswith("."))


def slice_geometry(dicom_file: Path) -> Geometry:
    """The grid of one DICOM slice file: size (columns, rows, 1), LPS origin and direction."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(dicom_file))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise UnreadableInputError(dicom_file, expected="a DICOM image file",
                                   found=str(exc).strip().splitlines()[-1]) from exc
    size = reader.GetSize()
    if len(size) == 2:
        size = (*size, 1)
    return Geometry(size=size, spacing_mm=(*reader.GetSpacing()[:2], 1.0),
                    origin_mm=reader.GetOrigin(), direction=reader.GetDirection())


def _read_png(path: Path) -> np.ndarray:
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise UnreadableInputError(path, expected="a PNG mask", found=str(exc).strip().splitlines()[-1]) from exc
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() != 2:
        raise InvalidImageError(path, expected="a single-channel 2D PNG mask",
                                found=f"{image.GetDimension()}D, {image.GetNumberOfComponentsPerPixel()} channels")
    return sitk.GetArrayFromImage(image)  # (rows, columns)


def _slice_indices(slice_grid: Geometry, grid: Geometry, *, subject: Path) -> np.ndarray:
    """Volume indices (3, rows, columns) in (i, j, k) order of every pixel of a slice."""
    corners = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=float)
    index = grid.physical_to_index(slice_grid.index_to_physical(corners))
    rounded = np.round(index)
    if np.abs(index - rounded).max() > INDEX_TOL:
        raise GeometryMismatchError(
            subject, expected="a slice lying on the CT volume's voxel grid",
            found=f"it falls at volume index {np.round(index[0], 3).tolist()}",
            fix="check that the DICOM folder holds one series")
    base, step_col, step_row = rounded[0], rounded[1] - rounded[0], rounded[2] - rounded[0]
    for step in (step_col, step_row):
        if np.abs(step).sum() != 1:
            raise GeometryMismatchError(subject, expected="in-plane pixels one voxel apart on the CT grid",
                                        found=f"a step of {step.tolist()} voxels")
    columns, rows = slice_grid.size[0], slice_grid.size[1]
    rr, cc = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    indices = (base[:, None, None] + step_col[:, None, None] * cc[None] + step_row[:, None, None] * rr[None])
    indices = indices.astype(np.int64)
    size = np.asarray(grid.size)[:, None, None]
    if indices.min() < 0 or np.any(indices >= size):
        raise GeometryMismatchError(subject, expected="a slice inside the CT volume",
                                    found=f"pixels at indices outside size {grid.size}")
    return indices


def read_chaos_masks(dicom_dir: Path, ground_dir: Path, grid: Geometry) -> np.ndarray:
    """Stack the PNG masks of ``ground_dir`` onto ``grid`` (the CT read from ``dicom_dir``).

    Returns:
        array (z, y, x) = ``grid.shape_zyx`` of the raw PNG values (255 liver in CHAOS CT).

    Raises:
        DatasetError: PNG and DICOM counts differ, or a CT slice gets no mask or two.
        GeometryMismatchError: a DICOM file is not on the grid, or a PNG has the wrong size.
    """
    dicom_files = chaos_dicom_files(dicom_dir)
    png_files = chaos_png_files(ground_dir)
    if len(dicom_files) != len(png_files):
        raise DatasetError(ground_dir, expected=f"one PNG mask per DICOM file ({len(dicom_files)} in {dicom_dir})",
                           found=f"{len(png_files)} PNG files")
    out: np.ndarray | None = None
    filled = np.zeros(grid.shape_zyx, dtype=bool)
    for dicom_file, png_file in zip(dicom_files, png_files):
        mask = _read_png(png_file)
        slice_grid = slice_geometry(dicom_file)
        if mask.shape != (slice_grid.size[1], slice_grid.size[0]):
            raise GeometryMismatchError(
                f"{png_file} vs {dicom_file}", expected=f"a mask of {slice_grid.size[1]} rows x {slice_grid.size[0]} columns",
                found=f"{mask.shape[0]} rows x {mask.shape[1]} columns")
        i, j, k = _slice_indices(slice_grid, grid, subject=dicom_file)
        if filled[k, j, i].any():
            raise DatasetError(dicom_file, expected="one DICOM file per slice position",
                               found=f"a second file at slice {int(k.flat[0])}")
        if out is None:
            out = np.zeros(grid.shape_zyx, dtype=mask.dtype)
        out[k, j, i] = mask
        filled[k, j, i] = True
    if out is None or not filled.all():
        missing = sorted(set(np.nonzero(~filled.all(axis=(1, 2)))[0].tolist()))
        raise DatasetError(ground_dir, expected="a mask for every CT slice",
                           found=f"no mask for slices {missing[:10]}{' ...' if len(missing) > 10 else ''}")
    return out
