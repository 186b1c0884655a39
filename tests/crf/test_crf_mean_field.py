"""dense_crf / crf_labels: properties that need no reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from crf_cases import noisy_probabilities, organ_case

from livseg.crf import CrfParams, crf_labels, dense_crf
from livseg.errors import ConfigError, InvalidImageError, LivsegError

SPACING = (0.8, 0.8, 2.5)  # (x, y, z) mm


@pytest.fixture(scope="module")
def case():
    image, truth = organ_case(spacing_xyz=SPACING)
    return image, truth, noisy_probabilities(truth)


def test_no_pairwise_term_returns_the_unary_softmax(case):
    image, _, prob = case
    floored = np.clip(prob, 1e-5, None)
    expected = floored / floored.sum(0, keepdims=True)  # softmax(log p)
    for params in (CrfParams(mu1=0.0, mu2=0.0), CrfParams(iterations=0)):
        out = dense_crf(prob, image, SPACING, params)
        np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_output_is_a_distribution_of_the_input_kind(case, mode):
    image, _, prob = case
    out = dense_crf(prob, image, SPACING, mode=mode)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == prob.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)
    tensor_out = dense_crf(torch.from_numpy(prob), torch.from_numpy(image), SPACING, mode=mode)
    assert isinstance(tensor_out, torch.Tensor) and tensor_out.dtype == torch.float32
    np.testing.assert_allclose(tensor_out.numpy(), out, atol=1e-6)
    labels = crf_labels(prob, image, SPACING, mode=mode)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, out.argmax(0))


def test_inputs_are_not_modified(case):
    image, _, prob = case
    image_copy, prob_copy = image.copy(), prob.copy()
    tensor = torch.from_numpy(prob.copy())
    dense_crf(prob, image, SPACING)
    dense_crf(tensor, image, SPACING)
    np.testing.assert_array_equal(image, image_copy)
    np.testing.assert_array_equal(prob, prob_copy)
    np.testing.assert_array_equal(tensor.numpy(), prob_copy)


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_noisy_unary_is_cleaned_up(case, mode):
    image, truth, prob = case
    unary_errors = int((prob.argmax(0) != truth).sum())
    crf_errors = int((crf_labels(prob, image, SPACING, mode=mode) != truth).sum())
    assert unary_errors > 300  # the test input is really noisy
    assert crf_errors < 0.25 * unary_errors


def test_three_labels_are_cleaned_up_and_sum_to_one():
    image, organ = organ_case(spacing_xyz=SPACING, seed=4)
    truth = organ.copy()
    image = image.copy()
    z, y, x = np.meshgrid(*[np.arange(n) for n in truth.shape], indexing="ij")
    lesion = (organ == 1) & ((y - 20) ** 2 + (x - 22) ** 2 <= 49) & (np.abs(z - 6) <= 3)
    truth[lesion] = 2
    image[lesion] += 70.0  # hyper-enhancing lesion, 180 HU: far from every other tissue
    prob = noisy_probabilities(truth, classes=3)
    out = dense_crf(prob, image, SPACING)
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)
    unary_errors = int((prob.argmax(0) != truth).sum())
    crf_errors = int((out.argmax(0) != truth).sum())
    assert crf_errors < 0.4 * unary_errors
    # the lesion survives: most of it is still labelled 2
    assert (out.argmax(0)[lesion] == 2).mean() > 0.8


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_flips_commute_with_the_crf(case, mode):
    image, _, prob = case
    reference = dense_crf(prob, image, SPACING, mode=mode)
    for axis in (1, 2, 3):
        flipped = dense_crf(np.flip(prob, axis).copy(), np.flip(image, axis - 1).copy(), SPACING, mode=mode)
        back = np.flip(flipped, axis)
        # the grid starts at index 0, so a flip moves voxels within their cells: close, not equal
        assert np.abs(back - reference).mean() < 2e-3
        assert (back.argmax(0) == reference.argmax(0)).mean() > 0.998


def test_swapping_x_and_y_with_their_spacing_commutes(case):
    image, _, prob = case
    spacing = (0.7, 0.9, 2.5)
    reference = dense_crf(prob, image, spacing)
    swapped = dense_crf(prob.transpose(0, 1, 3, 2).copy(), image.transpose(0, 2, 1).copy(), (0.9, 0.7, 2.5))
    back = swapped.transpose(0, 1, 3, 2)
    assert np.abs(back - reference).mean() < 2e-3
    assert (back.argmax(0) == reference.argmax(0)).mean() > 0.998


def test_kernel_widths_are_in_millimetres(case):
    """Scaling every spacing and every width in mm by the same factor changes nothing."""
    image, _, prob = case
    params = CrfParams()
    scaled = CrfParams(theta_alpha_mm=params.theta_alpha_mm * 2.5, theta_gamma_mm=params.theta_gamma_mm * 2.5)
    out = dense_crf(prob, image, SPACING, params)
    out_scaled = dense_crf(prob, image, tuple(2.5 * s for s in SPACING), scaled)
    np.testing.assert_allclose(out_scaled, out, atol=1e-6)
    # whereas the spacing alone does matter
    assert np.abs(dense_crf(prob, image, tuple(2.5 * s for s in SPACING), params) - out).max() > 0.05


def test_far_apart_slices_behave_like_2d_mode(case):
    """With slices 200 mm apart, the 3D kernels cannot reach the next slice: 3D equals 2D."""
    image, _, prob = case
    far = (SPACING[0], SPACING[1], 200.0)
    three_d = dense_crf(prob, image, far, mode="3d")
    two_d = dense_crf(prob, image, far, mode="2d")
    np.testing.assert_allclose(three_d, two_d, atol=1e-4)
    # at the real 2.5 mm they differ
    assert np.abs(dense_crf(prob, image, SPACING, mode="3d") - two_d).max() > 0.05


def test_2d_mode_equals_slice_by_slice(case):
    image, _, prob = case
    batched = dense_crf(prob, image, SPACING, mode="2d")
    for k in (0, 5, 11):
        single = dense_crf(prob[:, k:k + 1], image[k:k + 1], SPACING, mode="2d")[:, 0]
        # intensity cells are aligned to the volume's minimum, not the slice's: tiny differences
        assert np.abs(single - batched[:, k]).mean() < 1e-3
        assert (single.argmax(0) == batched[:, k].argmax(0)).mean() > 0.998


@pytest.mark.parametrize("threads", [1, 2])
def test_2d_mode_in_slabs_equals_one_pass(case, monkeypatch, threads, cpu_path):
    """On a CPU, 2D mode runs the slices in slabs (one per thread); the slabs share one intensity grid."""
    from livseg.crf import filters
    from livseg.crf import threads as crf_threads

    image, _, prob = case
    whole = dense_crf(prob, image, SPACING, mode="2d")
    monkeypatch.setattr(crf_threads, "SINGLE_THREAD_MAX_VOXELS", 0)  # the small case would skip the slabs
    monkeypatch.setattr(filters, "SLAB_VOXELS", 5 * image.shape[1] * image.shape[2])  # 5 + 5 + 2 slices
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        np.testing.assert_allclose(dense_crf(prob, image, SPACING, mode="2d"), whole, atol=1e-5)
        assert torch.get_num_threads() == threads  # the caller's setting is left alone
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_small_input_runs_single_threaded_with_the_same_result(case, monkeypatch, mode, cpu_path):
    """Small inputs: one intra-op thread plus the side thread (kernels side by side) give the
    marginals of the multi-threaded path."""
    from livseg.crf import threads as crf_threads

    image, _, prob = case
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        single = dense_crf(prob, image, SPACING, mode=mode)  # below SINGLE_THREAD_MAX_VOXELS
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(crf_threads, "SINGLE_THREAD_MAX_VOXELS", 0)
        np.testing.assert_allclose(dense_crf(prob, image, SPACING, mode=mode), single, atol=1e-5)
    finally:
        torch.set_num_threads(previous)


def test_stronger_bilateral_weight_removes_more_noise(case):
    image, truth, prob = case
    errors = [int((crf_labels(prob, image, SPACING, CrfParams(mu1=mu1, mu2=0.0)) != truth).sum())
              for mu1 in (0.5, 2.0, 5.0)]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("probabilities, image, spacing, message", [
    (np.full((2, 4, 5, 6), 0.5, np.float32), np.zeros((4, 5, 7), np.float32), SPACING, "image_hu"),
    (np.full((1, 4, 5, 6), 1.0, np.float32), np.zeros((4, 5, 6), np.float32), SPACING, "C >= 2"),
    (np.full((2, 5, 6), 0.5, np.float32), np.zeros((5, 6), np.float32), SPACING, "(C, Z, Y, X)"),
    (np.full((2, 4, 5, 6), 0.7, np.float32), np.zeros((4, 5, 6), np.float32), SPACING, "summing to 1"),
    (np.full((2, 4, 5, 6), 3.0, np.float32), np.zeros((4, 5, 6), np.float32), SPACING, "not logits"),
    (np.full((2, 4, 5, 6), 0.5, np.float32), np.full((4, 5, 6), np.nan, np.float32), SPACING, "finite HU"),
    (np.full((2, 4, 5, 6), 0.5, np.float32), np.zeros((4, 5, 6), np.float32), (1.0, 0.0, 1.0), "spacing_mm"),
    (np.full((2, 4, 5, 6), 0.5, np.float32), np.zeros((4, 5, 6), np.float32), (1.0, 1.0), "spacing_mm"),
])
def test_bad_inputs_raise_one_line_errors(probabilities, image, spacing, message):
    with pytest.raises(InvalidImageError) as info:
        dense_crf(probabilities, image, spacing)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_mode_and_params_raise_config_errors(case):
    image, _, prob = case
    with pytest.raises(ConfigError, match="mode"):
        dense_crf(prob, image, SPACING, mode="4d")  # type: ignore[arg-type]
    with pytest.raises(LivsegError):
        dense_crf(prob, image, SPACING, CrfParams(theta_beta_hu=-1.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(case):
    image, _, prob = case
    cpu = dense_crf(torch.from_numpy(prob), image, SPACING)
    gpu = dense_crf(torch.from_numpy(prob), image, SPACING, device="cuda")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
