"""Slab-wise preprocessing equals livseg.preprocessing.prepare_image (what training uses)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from livseg.config import PreprocessingConfig
from livseg.phantoms import generate_phantom
from livseg.preprocessing.pipeline import crop_for
from livseg.preprocessing.prepare import prepare_for_inference
from livseg.preprocessing import body_crop, prepare_image


@pytest.fixture(scope="module")
def ct():
    volume, _ = generate_phantom(1, size_xyz=(48, 40, 60))  # seed 1 stores some axes flipped
    return volume


@pytest.mark.parametrize("crop,spacing", [("none", (1.5, 1.5, 2.7)), ("body", (1.2, 1.2, 1.1)),
                                          ("body", None), ("none", (0.6, 0.6, 0.5))])
def test_slabs_equal_the_one_shot_preparation(ct, crop, spacing):
    config = PreprocessingConfig(orientation="LPS", crop=crop, spacing_mm=spacing)
    expected, expected_record = prepare_image(ct, config)
    got, record = prepare_for_inference(ct, config, one_shot_voxels=0, slab_source_voxels=6 * 48 * 40)
    assert record == expected_record
    got.geometry.require_same_grid(expected.geometry, subject="slab-wise preparation")
    np.testing.assert_allclose(got.array, expected.array, rtol=0, atol=1e-5)


def test_small_volumes_go_through_prepare_image_itself(ct):
    config = PreprocessingConfig(spacing_mm=(1.5, 1.5, 2.0), normalisation="zscore")
    expected, _ = prepare_image(ct, config)
    got, _ = prepare_for_inference(ct, config, one_shot_voxels=0)  # z-score needs the whole crop
    np.testing.assert_array_equal(got.array, expected.array)


@pytest.mark.parametrize("stride_budget", [48 * 40 * 60 // 8, 48 * 40 * 60 // 27, 1000])
def test_subsampled_body_box_contains_the_exact_one(ct, stride_budget):
    exact = body_crop(ct)
    coarse = crop_for(ct, dataclasses.replace(PreprocessingConfig(), crop="body"), body_exact_voxels=stride_budget)
    stride = int(np.ceil((ct.array.size / stride_budget) ** (1 / 3)))
    assert stride > 1
    for a, b, c, d in zip(coarse.start_zyx, exact.start_zyx, coarse.stop_zyx, exact.stop_zyx):
        assert a <= b and c >= d  # contains the exact box
    # ... and stays a crop: subsampling may join thin structures (the table) to the body, no more.
    assert np.prod(np.subtract(coarse.stop_zyx, coarse.start_zyx)) < 0.9 * ct.array.size
