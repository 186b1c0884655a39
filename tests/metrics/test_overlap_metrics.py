"""Overlap measures from one confusion count: hand-computed cases, empty masks, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from livseg.errors import GeometryMismatchError, InvalidImageError
from livseg.metrics import (ConfusionCounts, confusion_counts, dice_global, overlap_from_counts,
                            overlap_scores)
from livseg.volume import Geometry, Volume

SPACING = (0.5, 0.8, 3.0)  # (x, y, z) mm: anisotropic on purpose


def cube(shape=(6, 7, 8), start=(1, 1, 1), size=3) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    z, y, x = start
    mask[z:z + size, y:y + size, x:x + size] = True
    return mask


def test_shifted_cube_by_hand():
    # 3x3x3 cube vs the same cube shifted by one voxel along x: 18 voxels shared, 9 + 9 not.
    ref, pred = cube(start=(1, 1, 1)), cube(start=(1, 1, 2))
    counts = confusion_counts(ref, pred, spacing_mm=SPACING)
    assert (counts.tp, counts.fp, counts.fn) == (18, 9, 9)
    assert counts.tn == 6 * 7 * 8 - 36
    scores = counts.scores()
    assert scores.dice == pytest.approx(2 * 18 / 54)
    assert scores.jaccard == pytest.approx(18 / 36)
    assert scores.voe_pct == pytest.approx(50.0)
    assert scores.rvd_pct == pytest.approx(0.0)
    assert scores.fpr == pytest.approx(9 / (6 * 7 * 8 - 27))
    assert scores.fnr == pytest.approx(9 / 27)
    # 27 voxels of 0.5 * 0.8 * 3.0 = 1.2 mm^3 = 0.0324 ml
    assert scores.reference_volume_ml == pytest.approx(27 * 1.2 / 1000)
    assert scores.empty == "none"


def test_rvd_is_signed_prediction_minus_reference():
    ref = cube(size=2)                          # 8 voxels
    bigger = cube(size=3)                       # 27 voxels, contains ref
    assert overlap_scores(ref, bigger, spacing_mm=SPACING).rvd_pct == pytest.approx(100 * (27 - 8) / 8)
    assert overlap_scores(bigger, ref, spacing_mm=SPACING).rvd_pct == pytest.approx(100 * (8 - 27) / 27)
    # nested masks: VOE = 100 (1 - small/large)
    assert overlap_scores(bigger, ref, spacing_mm=SPACING).voe_pct == pytest.approx(100 * (1 - 8 / 27))


@pytest.mark.parametrize(
    "ref_empty, pred_empty, expected",
    [
        (True, True, dict(empty="both", dice=1.0, jaccard=1.0, voe_pct=0.0, rvd_pct=0.0, fnr=0.0)),
        (True, False, dict(empty="reference", dice=0.0, jaccard=0.0, voe_pct=100.0, rvd_pct=None, fnr=None)),
        (False, True, dict(empty="prediction", dice=0.0, jaccard=0.0, voe_pct=100.0, rvd_pct=-100.0, fnr=1.0)),
    ],
)
def test_empty_mask_policy(ref_empty, pred_empty, expected):
    empty, full = np.zeros((4, 4, 4), bool), cube((4, 4, 4), (0, 0, 0), 2)
    scores = overlap_scores(empty if ref_empty else full, empty if pred_empty else full, spacing_mm=SPACING)
    for name, value in expected.items():
        assert getattr(scores, name) == (pytest.approx(value) if isinstance(value, float) else value), name


def test_dice_global_pools_voxels_not_cases():
    # case 1: TP 10, |R| 10, |P| 10 (Dice 1); case 2: TP 0, |R| 2, |P| 0 (Dice 0).
    a = ConfusionCounts(tp=10, fp=0, fn=0, tn=0, voxel_volume_mm3=1.0)
    b = ConfusionCounts(tp=0, fp=0, fn=2, tn=0, voxel_volume_mm3=1.0)
    assert dice_global([a, b]) == pytest.approx(2 * 10 / (10 + 10 + 2 + 0))  # 0.909..., not the mean 0.5
    assert overlap_from_counts(b).dice == 0.0
    assert dice_global([ConfusionCounts(0, 0, 0, 5, 1.0)]) is None


def test_volumes_carry_their_spacing():
    geometry = Geometry(size=(8, 7, 6), spacing_mm=SPACING)
    ref = Volume(cube().astype(np.uint8), geometry)
    pred = Volume(cube(start=(1, 1, 2)).astype(np.uint8), geometry)
    from_volumes = overlap_scores(ref, pred)
    from_arrays = overlap_scores(ref.array, pred.array, spacing_mm=SPACING)
    assert from_volumes == from_arrays


def test_input_checks():
    ref = cube()
    with pytest.raises(InvalidImageError, match="spacing_mm"):
        overlap_scores(ref, ref)  # arrays without spacing are never measured in voxels
    with pytest.raises(InvalidImageError, match="structure_mask"):
        overlap_scores(ref.astype(np.uint8) * 2, ref, spacing_mm=SPACING)
    with pytest.raises(GeometryMismatchError, match="shape"):
        overlap_scores(ref, ref[:, :, :-1], spacing_mm=SPACING)
    with pytest.raises(InvalidImageError, match="positive"):
        overlap_scores(ref, ref, spacing_mm=(1.0, 0.0, 1.0))
    geometry = Geometry(size=(8, 7, 6), spacing_mm=SPACING)
    other = Geometry(size=(8, 7, 6), spacing_mm=(0.5, 0.8, 2.5))
    with pytest.raises(GeometryMismatchError, match="--resample-pred"):
        overlap_scores(Volume(ref, geometry), Volume(ref, other))
    with pytest.raises(GeometryMismatchError):
        overlap_scores(Volume(ref, geometry), Volume(ref, geometry), spacing_mm=(1, 1, 1))
    with pytest.raises(InvalidImageError, match="two Volumes or two arrays"):
        overlap_scores(Volume(ref, geometry), ref, spacing_mm=SPACING)
