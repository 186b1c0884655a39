"""Fixtures for the io tests: small real files written in real formats into tmp_path.

Plain helpers live in ``io_helpers.py`` (imported by that unique name; importing from a
``conftest`` module would depend on which of the suite's conftest files was loaded last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from io_helpers import ANISOTROPIC_MM, ct_like, oblique_direction, write_dicom_series

from livseg.volume import Geometry, Volume


@pytest.fixture
def oblique() -> tuple[float, ...]:
    """The direction of ``io_helpers.oblique_direction`` (right-handed: a valid DICOM grid)."""
    return oblique_direction()


@pytest.fixture
def ct_volume() -> Volume:
    """An oblique, anisotropic int16 CT of 9 x 7 x 5 voxels (x, y, z)."""
    geometry = Geometry(size=(9, 7, 5), spacing_mm=ANISOTROPIC_MM, origin_mm=(-120.25, 33.5, 1536.5),
                        direction=oblique_direction())
    return Volume(ct_like(geometry.shape_zyx), geometry, source="synthetic-ct")


@pytest.fixture
def label_volume(ct_volume: Volume) -> Volume:
    """uint8 labels 0/1/2 on ct_volume's grid."""
    labels = np.zeros(ct_volume.shape, np.uint8)
    labels[1:4, 2:5, 2:7] = 1
    labels[2, 3, 3:5] = 2
    return Volume(labels, ct_volume.geometry, source="synthetic-label")


@pytest.fixture
def dicom_series() -> Callable[..., list[Path]]:
    """The ``io_helpers.write_dicom_series`` function (see its docstring)."""
    return write_dicom_series


@pytest.fixture
def dicom_geometry() -> Geometry:
    """A small anisotropic, flipped grid for synthetic DICOM series: 6 x 5 x 4 voxels."""
    return Geometry(size=(6, 5, 4), spacing_mm=(0.7, 0.8, 2.5), origin_mm=(100.0, -50.25, -300.0),
                    direction=(-1, 0, 0, 0, 1, 0, 0, 0, -1))
