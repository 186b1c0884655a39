"""LiTS lesion detection (IoU > 0.5, 6-connectivity) and tumour burden, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from livseg.errors import ConfigError
from livseg.metrics import LesionDetection, detect_lesions, tumour_burden, tumour_burden_error

SPACING = (0.8, 0.8, 2.5)


def test_detection_by_hand():
    ref = np.zeros((6, 10, 20), dtype=bool)
    pred = np.zeros_like(ref)
    ref[1:3, 1:3, 1:3] = True        # lesion A, 8 voxels
    pred[1:3, 1:3, 1:3] = True       # found exactly: IoU 1
    ref[4, 5, 10:14] = True          # lesion B, 4 voxels in a row
    pred[4, 5, 10:12] = True         # covers half: IoU 2/4 = 0.5, not > 0.5 -> missed
    pred[0, 8, 17] = True            # a false positive lesion
    found = detect_lesions(ref, pred, spacing_mm=SPACING)
    assert (found.n_reference, found.n_prediction, found.n_detected, found.n_matched_prediction) == (2, 3, 1, 1)
    assert found.recall == pytest.approx(1 / 2)
    assert found.precision == pytest.approx(1 / 3)
    # one more predicted voxel on B makes IoU 3/4 > 0.5
    pred[4, 5, 12] = True
    assert detect_lesions(ref, pred, spacing_mm=SPACING).n_detected == 2


def test_connectivity_decides_what_one_lesion_is():
    mask = np.zeros((3, 3, 3), dtype=bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True     # corner-touching voxels
    assert detect_lesions(mask, mask, spacing_mm=SPACING).n_reference == 2            # LiTS: 6
    assert detect_lesions(mask, mask, spacing_mm=SPACING, connectivity=26).n_reference == 1
    with pytest.raises(ConfigError):
        detect_lesions(mask, mask, spacing_mm=SPACING, connectivity=8)


def test_no_lesions_gives_undefined_rates():
    empty = np.zeros((3, 3, 3), dtype=bool)
    result = detect_lesions(empty, empty, spacing_mm=SPACING)
    assert result.precision is None and result.recall is None
    pooled = LesionDetection(2, 3, 1, 1) + LesionDetection(1, 0, 0, 0)
    assert pooled.as_dict() == {"n_reference": 3, "n_prediction": 3, "n_detected": 1,
                                "n_matched_prediction": 1, "precision": 1 / 3, "recall": 1 / 3}


def test_tumour_burden_by_hand():
    reference = np.zeros((5, 5, 8), dtype=np.uint8)
    reference.flat[:100] = 1
    reference.flat[:10] = 2              # liver 100 voxels (labels 1 and 2), tumour 10
    prediction = reference.copy()
    prediction.flat[10:15] = 2           # tumour 15 of 100
    assert tumour_burden(reference) == pytest.approx(0.10)
    assert tumour_burden(prediction) == pytest.approx(0.15)
    assert tumour_burden_error(reference, prediction) == pytest.approx(0.05)
    assert tumour_burden(np.zeros((2, 2, 2))) is None
    assert tumour_burden_error(reference, np.zeros_like(reference)) is None
