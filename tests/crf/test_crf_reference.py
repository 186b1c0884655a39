"""livseg's CRF against pydensecrf (pydensecrf2): same unary, image, parameters -> same labels."""

from __future__ import annotations

import numpy as np
import pytest
from crf_cases import noisy_probabilities, organ_case

from livseg.crf import CrfParams, crop_to_roi, dense_crf
from livseg.crf.reference import pydensecrf_available, reference_dense_crf
from livseg.io import read_volume

pytestmark = pytest.mark.skipif(not pydensecrf_available(),
                                reason="pydensecrf not installed (pip install pydensecrf2, the dev extra)")

SPACING = (0.75, 0.75, 2.0)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(0) == b.argmax(0)).mean())


def test_2d_slice_agrees_with_pydensecrf(cpu_path):
    image, truth = organ_case(shape_zyx=(1, 160, 180), spacing_xyz=SPACING, seed=7)
    prob = noisy_probabilities(truth, seed=8)
    ours = dense_crf(prob, image, SPACING, mode="2d")
    reference = reference_dense_crf(prob, image, SPACING, mode="2d")
    assert agreement(ours, reference) >= 0.99
    assert agreement(ours, prob) < 0.99  # the CRF did change labels, so agreement means something
    assert np.abs(ours - reference).mean() < 0.005


def test_small_anisotropic_volume_agrees_with_pydensecrf(cpu_path):
    image, truth = organ_case(shape_zyx=(16, 48, 56), spacing_xyz=SPACING, seed=9)
    prob = noisy_probabilities(truth, seed=10)
    ours = dense_crf(prob, image, SPACING, mode="3d")
    reference = reference_dense_crf(prob, image, SPACING, mode="3d")
    assert agreement(ours, reference) >= 0.99
    assert agreement(ours, prob) < 0.99
    assert np.abs(ours - reference).mean() < 0.005


def test_per_slice_mode_agrees_with_pydensecrf_on_a_volume(cpu_path):
    image, truth = organ_case(shape_zyx=(6, 48, 56), spacing_xyz=SPACING, seed=11)
    prob = noisy_probabilities(truth, seed=12)
    params = CrfParams(mu1=3.0, mu2=1.0, theta_alpha_mm=6.0, theta_beta_hu=15.0, theta_gamma_mm=2.0, iterations=8)
    ours = dense_crf(prob, image, SPACING, params, mode="2d")
    reference = reference_dense_crf(prob, image, SPACING, params, mode="2d")
    assert agreement(ours, reference) >= 0.99


def test_three_labels_agree_with_pydensecrf(cpu_path):
    image, organ = organ_case(shape_zyx=(12, 48, 56), spacing_xyz=SPACING, seed=13)
    truth = organ.copy()
    z, y, x = np.meshgrid(*[np.arange(n) for n in truth.shape], indexing="ij")
    lesion = (organ == 1) & ((y - 22) ** 2 + (x - 26) ** 2 <= 64) & (np.abs(z - 6) <= 3)
    truth[lesion] = 2
    image = image + 70.0 * lesion
    prob = noisy_probabilities(truth, seed=14, classes=3)
    ours = dense_crf(prob, image, SPACING)
    reference = reference_dense_crf(prob, image, SPACING)
    assert agreement(ours, reference) >= 0.99


@pytest.mark.needs_shared_data
def test_real_chaos_liver_region_agrees_with_pydensecrf(shared_data, cpu_path):
    image = read_volume(shared_data / "chaos-ct-1" / "image.nii.gz")
    label = read_volume(shared_data / "chaos-ct-1" / "label.nii.gz")
    liver = label.array > 0
    roi = crop_to_roi(liver, 10.0, image.spacing_mm)
    middle = (roi[0].start + roi[0].stop) // 2
    roi = (slice(middle - 3, middle + 3),) + roi[1:]  # six slices keep the test quick
    hu = image.array[roi].astype(np.float32)
    prob = noisy_probabilities(liver[roi].astype(np.uint8), seed=15)
    ours = dense_crf(prob, hu, image.spacing_mm)
    reference = reference_dense_crf(prob, hu, image.spacing_mm)
    assert agreement(ours, reference) >= 0.99
