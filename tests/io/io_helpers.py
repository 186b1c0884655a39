"""Plain helpers for the io tests (imported by name: tests/io is on sys.path under pytest)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from livseg.volume import Geometry

ANISOTROPIC_MM = (0.7, 0.8, 3.1)


def oblique_direction() -> tuple[float, ...]:
    """A rotation of about 20 degrees about an axis (1, 2, 3), composed with an x/y flip."""
    axis = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.deg2rad(20.0)
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    return tuple((rot @ np.diag([-1.0, -1.0, 1.0])).ravel())


FLIPPED_PERMUTED = (0.0, -1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # columns -P, -L, -S


def ct_like(shape_zyx: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """int16 HU-like data: air -1000 outside an ellipsoid body of soft tissue with noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape_zyx], indexing="ij")
    body = (x ** 2 + y ** 2 + 0.3 * z ** 2) < 0.8
    array = np.where(body, 40, -1000).astype(np.int16)
    array += rng.integers(-30, 30, size=shape_zyx, dtype=np.int16)
    array[0, 0, 0] = 1500  # a bright voxel at index (0, 0, 0): catches axis flips
    return array


def _dicom_dataset(stored: np.ndarray, *, position: Sequence[float], orientation: Sequence[float],
                   pixel_spacing_rc: Sequence[float], slope: float, intercept: float,
                   series_uid: str, study_uid: str, description: str, number: int,
                   modality: str = "CT") -> pydicom.Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = modality
    ds.SeriesDescription = description
    ds.PatientName = "Phantom^Synthetic"
    ds.PatientID = "synthetic"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.ImagePositionPatient = [f"{v:.10g}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.10g}" for v in orientation]
    ds.PixelSpacing = [f"{v:.10g}" for v in pixel_spacing_rc]
    ds.SliceThickness = "2.5"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if stored.dtype == np.int16 else 0
    ds.RescaleSlope = f"{slope:.10g}"
    ds.RescaleIntercept = f"{intercept:.10g}"
    ds.PixelData = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    return ds


def write_dicom_series(
    folder: Path,
    stored_zyx: np.ndarray,
    geometry: Geometry,
    *,
    slope: float | Sequence[float] = 1.0,
    intercept: float | Sequence[float] = 0.0,
    series_uid: str | None = None,
    description: str = "synthetic CT",
    offsets_mm: Sequence[float] | None = None,
    in_plane_shift_mm: Sequence[float] | None = None,
    order: Sequence[int] | None = None,
    modality: str = "CT",
) -> list[Path]:
    """Write ``stored_zyx`` as one CT file per slice; slice k at geometry's index (0, 0, k).

    Args:
        geometry: the grid the series should read back as (direction columns: row, column,
            slice-normal directions).
        slope, intercept: rescale, one value or one per slice.
        offsets_mm: slice k's distance from the origin along the normal (default k * spacing z).
        in_plane_shift_mm: slice k moved by this along the row direction (gantry-tilt-like).
        order: file-name order of the slices (default: reversed, so names do not sort by z).
    """
    folder.mkdir(parents=True, exist_ok=True)
    n = stored_zyx.shape[0]
    matrix = geometry.direction_matrix
    row_dir, col_dir, normal = matrix[:, 0], matrix[:, 1], matrix[:, 2]
    assert np.allclose(np.cross(row_dir, col_dir), normal), "DICOM grids are right-handed"
    origin = np.asarray(geometry.origin_mm)
    offsets = [k * geometry.spacing_mm[2] for k in range(n)] if offsets_mm is None else list(offsets_mm)
    shifts = [0.0] * n if in_plane_shift_mm is None else list(in_plane_shift_mm)
    slopes = [slope] * n if np.isscalar(slope) else list(slope)  # type: ignore[list-item]
    intercepts = [intercept] * n if np.isscalar(intercept) else list(intercept)  # type: ignore[list-item]
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    order = list(order) if order is not None else list(range(n))[::-1]
    paths = []
    for file_number, k in enumerate(order):
        position = origin + offsets[k] * normal + shifts[k] * row_dir
        ds = _dicom_dataset(
            stored_zyx[k], position=position, orientation=[*row_dir, *col_dir],
            pixel_spacing_rc=(geometry.spacing_mm[1], geometry.spacing_mm[0]),
            slope=float(slopes[k]), intercept=float(intercepts[k]), series_uid=series_uid,
            study_uid=study_uid, description=description, number=k + 1, modality=modality)
        path = folder / f"IM{file_number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
