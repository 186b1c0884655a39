"""crop_to_roi and dense_crf_in_roi: boxes computed by hand, pasting checked voxel by voxel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from crf_cases import noisy_probabilities, organ_case

from livseg.crf import crop_to_roi, dense_crf, dense_crf_in_roi
from livseg.errors import InvalidImageError


def test_box_plus_margin_in_millimetres_per_axis():
    mask = np.zeros((20, 30, 40), dtype=bool)
    mask[8:11, 12:15, 20:26] = True
    # spacing (x, y, z) = (0.5, 1.0, 2.5) mm, margin 5 mm -> 10, 5, 2 voxels along x, y, z
    roi = crop_to_roi(mask, 5.0, (0.5, 1.0, 2.5))
    assert roi == (slice(6, 13), slice(7, 20), slice(10, 36))
    # a margin that is not a whole number of voxels is rounded up
    assert crop_to_roi(mask, 2.6, (0.5, 1.0, 2.5)) == (slice(6, 13), slice(9, 18), slice(14, 32))


def test_box_is_clipped_to_the_volume_and_accepts_tensors():
    mask = torch.zeros(5, 6, 7, dtype=torch.uint8)
    mask[0, 5, 3] = 1
    assert crop_to_roi(mask, 10.0, (1.0, 1.0, 1.0)) == (slice(0, 5), slice(0, 6), slice(0, 7))
    assert crop_to_roi(mask, 0.0, (1.0, 1.0, 1.0)) == (slice(0, 1), slice(5, 6), slice(3, 4))


@pytest.mark.parametrize("mask, margin, spacing, text", [
    (np.zeros((4, 5, 6), bool), 5.0, (1.0, 1.0, 1.0), "empty mask"),
    (np.ones((5, 6), bool), 5.0, (1.0, 1.0, 1.0), "3D"),
    (np.ones((4, 5, 6), bool), -1.0, (1.0, 1.0, 1.0), "margin_mm"),
    (np.ones((4, 5, 6), bool), 5.0, (1.0, -1.0, 1.0), "spacing_mm"),
])
def test_bad_roi_inputs_raise(mask, margin, spacing, text):
    with pytest.raises(InvalidImageError, match=text):
        crop_to_roi(mask, margin, spacing)


def test_crf_in_roi_pastes_back_and_leaves_the_rest_alone():
    spacing = (0.8, 0.8, 2.5)
    image, truth = organ_case(shape_zyx=(12, 40, 44), spacing_xyz=spacing)
    prob = noisy_probabilities(truth)
    roi_mask = np.zeros_like(truth)
    roi_mask[4:8, 10:30, 12:32] = 1
    out = dense_crf_in_roi(prob, image, spacing, roi_mask, 2.0)
    roi = crop_to_roi(roi_mask, 2.0, spacing)
    inside = np.zeros(truth.shape, bool)
    inside[roi] = True
    np.testing.assert_array_equal(out[:, ~inside], prob[:, ~inside])
    np.testing.assert_allclose(out[(slice(None),) + roi],
                               dense_crf(prob[(slice(None),) + roi], image[roi], spacing), atol=1e-6)
    assert np.abs(out[:, inside] - prob[:, inside]).max() > 0.1  # the CRF did act inside
    tensor_out = dense_crf_in_roi(torch.from_numpy(prob), torch.from_numpy(image), spacing, roi_mask, 2.0)
    np.testing.assert_allclose(tensor_out.numpy(), out, atol=1e-6)
