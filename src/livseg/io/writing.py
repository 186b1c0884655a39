"""Write Volumes to NIfTI, MetaImage or NRRD, atomically and on the exact grid."""

from __future__ import annotations

import os
from pathlib import Path

import SimpleITK as sitk

from livseg.io.atomic import atomic_path
from livseg.io.sitk_bridge import sitk_from_volume
from livseg.volume import Volume


def write_volume(volume: Volume, path: str | os.PathLike[str]) -> Path:
    """Write ``volume`` to ``path`` (format from the suffix); returns the path written."""
    path = Path(path)
    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk_from_volume(volume), str(tmp), useCompression=True)
    return path
