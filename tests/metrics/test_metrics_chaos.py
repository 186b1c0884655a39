"""The CHAOS reference against itself eroded by one voxel: figures checkable by hand.

E = binary_erosion(R, 3x3x3 cube, outside = background) removes exactly R's border voxels
(26-neighbourhood), so |R| - |E| = |border(R)|, and Dice, VOE, RVD follow from two counts.
Every border voxel of E has a 26-neighbour in border(R) (that is why it is a border voxel of
E), so E->R distances lie between the smallest step (0.727 mm in-plane) and the longest
neighbour offset sqrt(2 * 0.727^2 + 2^2) mm. R->E can be longer where the liver is thinner than
three voxels and E vanishes; MedPy gives the exact value there.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from livseg.io import read_volume
from livseg.metrics import border_voxels, evaluate_case, overlap_scores, surface_distances

pytestmark = pytest.mark.needs_shared_data


def test_eroded_reference_by_hand(shared_data):
    reference = read_volume(shared_data / "chaos-ct-1" / "label.nii.gz")
    sx, sy, sz = reference.spacing_mm
    assert (sx, sy, sz) == (0.7265625, 0.7265625, 2.0)
    ref = reference.array > 0
    eroded = ndimage.binary_erosion(ref, structure=np.ones((3, 3, 3), bool), border_value=0)
    n_ref, n_eroded = int(ref.sum()), int(eroded.sum())
    assert n_ref - n_eroded == int(border_voxels(ref).sum())

    prediction = reference.with_array(eroded)
    liver = overlap_scores(reference.with_array(ref), prediction)
    assert liver.dice == pytest.approx(2 * n_eroded / (n_ref + n_eroded), abs=1e-12)
    assert liver.voe_pct == pytest.approx(100 * (1 - n_eroded / n_ref), abs=1e-10)
    assert liver.rvd_pct == pytest.approx(100 * (n_eroded - n_ref) / n_ref, abs=1e-10)
    assert liver.reference_volume_ml == pytest.approx(n_ref * sx * sy * sz / 1000)

    distances = surface_distances(reference.with_array(ref), prediction)
    eroded_to_ref = distances.prediction_to_reference_mm
    longest_step = math.sqrt(2 * sx ** 2 + sz ** 2)
    assert eroded_to_ref.min() == pytest.approx(sx)
    assert eroded_to_ref.max() <= longest_step + 1e-9
    assert distances.mssd_mm == distances.reference_to_prediction_mm.max() >= eroded_to_ref.max()


@pytest.mark.slow  # two EDTs on the full 512x512x78 grid (MedPy does not crop)
def test_eroded_reference_matches_medpy(shared_data):
    binary = pytest.importorskip("medpy.metric.binary", reason="MedPy not installed (pip install medpy)")
    reference = read_volume(shared_data / "chaos-ct-1" / "label.nii.gz")
    ref = reference.array > 0
    eroded = ndimage.binary_erosion(ref, structure=np.ones((3, 3, 3), bool), border_value=0)
    result = evaluate_case(reference, reference.with_array(eroded.astype(np.uint8)), case_id="chaos-ct-1")
    liver = result.structures["liver"]
    spacing_zyx = reference.spacing_mm[::-1]
    # MedPy's distance routine on the full, uncropped volume (connectivity 3 = 26 neighbours):
    # an independent check of cropping, the border rule and the EDT.
    directed = getattr(binary, "__surface_distances")
    pooled = np.concatenate([directed(ref, eroded, spacing_zyx, 3), directed(eroded, ref, spacing_zyx, 3)])
    assert liver.assd_mm == pytest.approx(pooled.mean(), abs=1e-9)
    assert liver.rmssd_mm == pytest.approx(np.sqrt(np.mean(pooled ** 2)), abs=1e-9)
    assert liver.mssd_mm == pytest.approx(pooled.max(), abs=1e-9)
    assert liver.hd95_mm == pytest.approx(np.percentile(pooled, 95), abs=1e-9)
    tumour = result.structures["tumour"]
    assert tumour.empty == "both" and tumour.dice == 1.0 and tumour.mssd_mm == 0.0
