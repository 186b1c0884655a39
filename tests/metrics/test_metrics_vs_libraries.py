"""Agreement with independent libraries: MedPy (exact) and DeepMind surface-distance (approximate).

MedPy's ``medpy.metric.binary`` with ``connectivity=3`` uses the same border rule (26
neighbours, outside = background) and scipy's EDT, so every directed distance must match to
rounding. surface-distance measures between surfels (voxel faces) weighted by area, a different
discretisation, so only agreement within a voxel is expected from it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from livseg.metrics import confusion_counts, surface_distances

SPACING_XYZ = (0.7, 0.9, 2.5)
SPACING_ZYX = SPACING_XYZ[::-1]


def blob_pair(seed: int, shape=(16, 24, 24)) -> tuple[np.ndarray, np.ndarray]:
    """Two random smooth masks (several components, holes, contact with the volume edge)."""
    rng = np.random.default_rng(seed)
    reference = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0) > 0.02
    prediction = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0) > 0.02
    return reference, prediction


@pytest.mark.parametrize("seed", range(4))
def test_medpy_exact_agreement(seed):
    binary = pytest.importorskip("medpy.metric.binary", reason="MedPy not installed (pip install medpy)")
    reference, prediction = blob_pair(seed)
    assert reference.any() and prediction.any()
    ours = surface_distances(reference, prediction, spacing_mm=SPACING_XYZ)
    directed = getattr(binary, "__surface_distances")  # MedPy's own distance routine
    pred_to_ref = directed(prediction, reference, SPACING_ZYX, 3)
    ref_to_pred = directed(reference, prediction, SPACING_ZYX, 3)
    np.testing.assert_allclose(ours.prediction_to_reference_mm, pred_to_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.reference_to_prediction_mm, ref_to_pred, rtol=0, atol=1e-12)
    assert ours.mssd_mm == pytest.approx(binary.hd(prediction, reference, SPACING_ZYX, 3), abs=1e-12)
    assert ours.hd95_mm == pytest.approx(binary.hd95(prediction, reference, SPACING_ZYX, 3), abs=1e-12)
    # MedPy 0.5 pools both directions for assd, as SLiver07 (and livseg) do.
    assert ours.assd_mm == pytest.approx(binary.assd(prediction, reference, SPACING_ZYX, 3), abs=1e-12)
    scores = confusion_counts(reference, prediction, spacing_mm=SPACING_XYZ).scores()
    assert scores.dice == pytest.approx(binary.dc(prediction, reference), abs=1e-12)
    assert scores.jaccard == pytest.approx(binary.jc(prediction, reference), abs=1e-12)
    assert scores.rvd_pct == pytest.approx(100 * binary.ravd(prediction, reference), abs=1e-9)


def test_surface_distance_library_agrees_within_a_voxel():
    sd = pytest.importorskip("surface_distance", reason="surface-distance not installed (pip install surface-distance)")
    shape = (24, 48, 48)
    z, y, x = np.indices(shape, dtype=float)
    z, y, x = (z - 11.6) * SPACING_ZYX[0], (y - 23.3) * SPACING_ZYX[1], (x - 24.1) * SPACING_ZYX[2]
    reference = x ** 2 + y ** 2 + z ** 2 <= 14.0 ** 2
    prediction = (x - 1.5) ** 2 + (y / 1.1) ** 2 + z ** 2 <= 13.0 ** 2   # shifted, squashed
    ours = surface_distances(reference, prediction, spacing_mm=SPACING_XYZ)
    theirs = sd.compute_surface_distances(reference, prediction, SPACING_ZYX)
    voxel = min(SPACING_XYZ)
    diagonal = math.sqrt(sum(s * s for s in SPACING_XYZ))
    their_assd = float(np.mean(sd.compute_average_surface_distance(theirs)))
    assert abs(ours.assd_mm - their_assd) < voxel
    assert abs(ours.mssd_mm - sd.compute_robust_hausdorff(theirs, 100)) < diagonal
    # surface-distance's HD95 is the max of the two directed 95th percentiles
    assert abs(ours.hd95_directed_max_mm - sd.compute_robust_hausdorff(theirs, 95)) < diagonal
    assert abs(ours.surface_dice(2.0) - sd.compute_surface_dice_at_tolerance(theirs, 2.0)) < 0.1
