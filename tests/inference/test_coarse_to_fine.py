"""Coarse-to-fine prediction (``coarse_to_fine=True``, ``livseg predict --coarse-to-fine``): the
full-resolution network runs only in the liver box a 2x coarser pass finds, on scans long
enough; the masks stay as good, short scans are predicted exactly as without it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livseg.inference import Segmenter
from livseg.inference.stages import COARSE_MIN_EXTENT_MM
from livseg.postprocessing.pipeline import axial_extent_mm
from livseg.preprocessing.cropping import CropRecord, crop
from livseg.phantoms import generate_phantom


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a != 0, b != 0
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _voxels(described: str) -> int:
    return math.prod(int(n) for n in described.split(" voxels")[0].split("x"))


@pytest.fixture(scope="module")
def segmenters():
    return Segmenter.from_checkpoint("default", "cpu"), Segmenter.from_checkpoint("default", "cpu", coarse_to_fine=True)


def test_a_long_scan_runs_the_fine_network_in_the_liver_box_as_accurately(segmenters):
    full, fast = segmenters
    ct, reference = generate_phantom(2, size_xyz=(160, 128, 64), spacing_mm=(2.6, 2.6, 4.0))
    assert axial_extent_mm(ct.geometry) >= COARSE_MIN_EXTENT_MM
    whole, boxed = full.predict(ct), fast.predict(ct)
    assert _voxels(boxed.info["prepared"]) < 0.8 * _voxels(whole.info["prepared"])  # a smaller grid
    assert _dice(reference.array, boxed.labels.array) >= _dice(reference.array, whole.labels.array) - 0.01
    assert _dice(whole.labels.array, boxed.labels.array) > 0.97
    assert boxed.labels.geometry == ct.geometry
    assert fast.provenance()["coarse_to_fine"] is True and full.provenance()["coarse_to_fine"] is False


def test_a_short_scan_is_predicted_exactly_as_without_it(segmenters):
    full, fast = segmenters
    ct, _ = generate_phantom(3, size_xyz=(160, 128, 64), spacing_mm=(2.6, 2.6, 4.0))
    shape = ct.geometry.shape_zyx
    short = crop(ct, CropRecord(ct.geometry, (20, 0, 0), (45, shape[1], shape[2])))
    assert axial_extent_mm(short.geometry) < COARSE_MIN_EXTENT_MM
    np.testing.assert_array_equal(fast.predict(short).labels.array, full.predict(short).labels.array)
