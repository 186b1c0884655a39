"""summarize(): statistics against numpy, label volumes in mL by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livseg.io import summarize
from livseg.io.summary import PERCENTILES, intensity_stats
from livseg.volume import Geometry, Volume


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int32, np.float32, np.float64])
def test_intensity_stats_match_numpy(dtype):
    rng = np.random.default_rng(5)
    for size in (1, 2, 7, 1000):
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            array = rng.integers(max(info.min, -3000), min(info.max, 3000), size=size).astype(dtype)
        else:
            array = rng.normal(0, 500, size=size).astype(dtype)
        stats = intensity_stats(array.reshape(1, 1, -1))
        expected = np.percentile(array.astype(np.float64), PERCENTILES)
        got = [stats["percentiles"][f"p{q}"] for q in PERCENTILES]
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert stats["min"] == array.min() and stats["max"] == array.max()
        assert stats["mean"] == pytest.approx(float(np.mean(array, dtype=np.float64)), rel=1e-9, abs=1e-9)
        assert stats["std"] == pytest.approx(float(np.std(array, dtype=np.float64)), rel=1e-9, abs=1e-9)


def test_label_table_in_millilitres_by_hand():
    geometry = Geometry(size=(10, 10, 10), spacing_mm=(0.5, 2.0, 4.0))  # 4 mm^3 per voxel
    labels = np.zeros(geometry.shape_zyx, np.uint8)
    labels[:5] = 1  # 500 voxels
    labels[0, 0, :3] = 2  # 3 voxels
    summary = summarize(Volume(labels, geometry))
    assert summary["is_label"]
    assert summary["labels"] == [
        {"value": 0, "voxels": 500, "volume_ml": 500 * 4 / 1000},
        {"value": 1, "voxels": 497, "volume_ml": 497 * 4 / 1000},
        {"value": 2, "voxels": 3, "volume_ml": 3 * 4 / 1000},
    ]


def test_label_detection_and_override():
    geometry = Geometry(size=(4, 3, 2), spacing_mm=(1, 1, 1))
    ct = Volume(np.arange(24, dtype=np.int16).reshape(2, 3, 4) * 50 - 1000, geometry)
    assert not summarize(ct)["is_label"] and summarize(ct)["labels"] is None
    few = Volume((np.arange(24) % 3).astype(np.uint8).reshape(2, 3, 4), geometry)
    assert summarize(few)["is_label"]
    assert not summarize(few, label=False)["is_label"]
    floats = Volume(np.zeros((2, 3, 4), np.float32), geometry)
    assert not summarize(floats)["is_label"]


def test_summary_fields_and_json(ct_volume):
    summary = summarize(ct_volume)
    text = json.dumps(summary)
    again = json.loads(text)
    assert again["size"] == [9, 7, 5]
    assert again["spacing_mm"] == [0.7, 0.8, 3.1]
    assert again["origin_mm"] == [-120.25, 33.5, 1536.5]
    assert again["direction"] == list(ct_volume.geometry.direction)
    assert again["orientation"] == ct_volume.geometry.orientation
    assert again["oblique"] is True
    assert again["dtype"] == "int16"
    assert again["voxels"] == 315
    assert set(again["intensity"]["percentiles"]) == {"p1", "p5", "p50", "p95", "p99"}


def test_unknown_geometry_is_null_not_a_placeholder():
    volume = Volume(np.zeros((2, 3, 4), np.uint8), Geometry(size=(4, 3, 2), spacing_mm=(1, 1, 1)),
                    meta={"orientation_known": False}, spacing_known=False)
    summary = summarize(volume)
    assert summary["spacing_mm"] is None and summary["extent_mm"] is None
    assert summary["origin_mm"] is None and summary["direction"] is None and summary["orientation"] is None
    assert summary["labels"] == [{"value": 0, "voxels": 24, "volume_ml": None}]
