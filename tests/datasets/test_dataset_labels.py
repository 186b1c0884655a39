"""Label maps: parsing ``--label-map`` and mapping source values to 0/1/2."""

from __future__ import annotations

import numpy as np
import pytest

from livseg.datasets.labels import (BINARY_MASK_MAP, TOTALSEGMENTATOR_LIVER_MAP, LabelMap,
                                    apply_label_map, label_counts, parse_label_map)
from livseg.errors import ConfigError, InvalidImageError


def test_parse_pairs_and_wildcard():
    assert parse_label_map("5:1,*:0") == LabelMap({5: 1}, 0)
    assert parse_label_map(" 255 : 1 ") == LabelMap({255: 1}, None)
    assert parse_label_map("0:0,1:1,2:2,3:2") == LabelMap({0: 0, 1: 1, 2: 2, 3: 2}, None)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"), ("5", "SOURCE:TARGET"), ("5:3", "targets 0"), ("a:1", "integer source"),
    ("5:1,5:2", "each source value once"), ("*:0,*:1", "at most one"), ("5:x", "integer target"),
])
def test_parse_rejects_bad_items(text, fragment):
    with pytest.raises(ConfigError) as caught:
        parse_label_map(text)
    assert fragment in str(caught.value)
    assert "--label-map" in str(caught.value)


def test_identity_keeps_0_1_2_and_returns_uint8_copy():
    source = np.array([[[0, 1, 2, 1]]], dtype=np.int16)
    out = apply_label_map(source, {}, subject="x.nii.gz")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[[0, 1, 2, 1]]])
    out[...] = 7
    np.testing.assert_array_equal(source, [[[0, 1, 2, 1]]])  # input untouched


def test_identity_rejects_other_values_and_names_them():
    with pytest.raises(InvalidImageError) as caught:
        apply_label_map(np.array([0, 1, 255, 7]), {}, subject="seg.nii.gz")
    message = str(caught.value)
    assert "seg.nii.gz" in message and "7, 255" in message and "--label-map" in message


def test_binary_255_mask_maps_to_liver():
    out = apply_label_map(np.array([0, 255, 255, 0], dtype=np.uint8), BINARY_MASK_MAP, subject="m.png")
    np.testing.assert_array_equal(out, [0, 1, 1, 0])


def test_totalsegmentator_liver_only_with_default():
    source = np.array([0, 5, 1, 6, 5, 52], dtype=np.uint8)
    out = apply_label_map(source, TOTALSEGMENTATOR_LIVER_MAP, 0, subject="seg.nii.gz")
    np.testing.assert_array_equal(out, [0, 1, 0, 0, 1, 0])


def test_explicit_map_without_default_rejects_unlisted():
    with pytest.raises(InvalidImageError) as caught:
        apply_label_map(np.array([0, 5, 6]), {5: 1, 0: 0}, subject="seg.nii.gz")
    assert "values 6" in str(caught.value)


def test_zero_is_background_without_being_listed():
    np.testing.assert_array_equal(apply_label_map(np.array([0, 255]), {255: 1}, subject="s"), [0, 1])
    np.testing.assert_array_equal(apply_label_map(np.array([0, 1]), {0: 1, 1: 0}, subject="s"), [1, 0])


def test_default_can_be_liver():
    out = apply_label_map(np.array([0, 3, 4, 9]), {0: 0, 9: 2}, 1, subject="s")
    np.testing.assert_array_equal(out, [0, 1, 1, 2])


def test_float_labels_integral_accepted_fractional_rejected():
    np.testing.assert_array_equal(apply_label_map(np.array([0.0, 2.0]), {}, subject="s"), [0, 2])
    with pytest.raises(InvalidImageError, match="non-integer"):
        apply_label_map(np.array([0.0, 0.5]), {}, subject="prob.nii.gz")


def test_label_counts_names():
    assert label_counts(np.array([0, 0, 1, 2, 2, 2], dtype=np.uint8)) == {"background": 2, "liver": 1, "tumour": 3}
