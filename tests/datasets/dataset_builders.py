"""Test helpers: builders for tiny data-set trees in real formats (NIfTI, MetaImage, DICOM series, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import SimpleITK as sitk

STUDY_UID = "1.2.826.0.1.3680043.2.1125.1.1"


def sitk_volume(array_zyx: np.ndarray, spacing=(0.8, 0.7, 2.5), origin=(-10.0, 20.0, -30.0),
                direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_zyx))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(tuple(float(v) for v in direction))
    return image


def write_volume_file(path: Path, array_zyx: np.ndarray, **geometry) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk_volume(array_zyx, **geometry), str(path))
    return path


def write_dicom_series(folder: Path, array_zyx: np.ndarray, *, spacing=(0.8, 0.7, 2.5),
                       origin=(-10.0, 20.0, -30.0), series_uid: str = "1.2.826.0.1.3680043.2.1125.2.1",
                       name: Callable[[int], str] = lambda k: f"slice{k:03d}.dcm") -> list[Path]:
    """Write an axial CT series, one file per slice k (z increasing), with the tags a reader needs.

    Returns the file paths in slice order k = 0, 1, ...
    """
    folder.mkdir(parents=True, exist_ok=True)
    volume = sitk_volume(array_zyx.astype(np.int16), spacing=spacing, origin=origin)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetImageIO("GDCMImageIO")  # also for names without ".dcm" (IRCADb)
    paths = []
    for k in range(array_zyx.shape[0]):
        image = volume[:, :, k]
        position = volume.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0060": "CT",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2",
            "0008|0018": f"{series_uid}.{k + 1}",
            "0020|000d": STUDY_UID,
            "0020|000e": series_uid,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0018|0050": f"{spacing[2]:.6f}",
            "0028|1050": "40", "0028|1051": "400",
        }
        for key, value in tags.items():
            image.SetMetaData(key, value)
        path = folder / name(k)
        writer.SetFileName(str(path))
        writer.Execute(image)
        paths.append(path)
    return paths


def write_png(path: Path, array_rc: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(array_rc.astype(np.uint8))), str(path))
    return path


def ct_and_label(shape_zyx: Sequence[int] = (3, 6, 5), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small int16 'CT' with distinct values and a 0/1/2 label with every class present."""
    rng = np.random.default_rng(seed)
    ct = rng.integers(-1000, 1000, size=shape_zyx).astype(np.int16)
    label = np.zeros(shape_zyx, dtype=np.uint8)
    label[:, 1:4, 1:4] = 1
    label[1, 2, 2] = 2
    return ct, label
