"""Fixtures of the batch tests: a saved bundle of the fixed-weight threshold network
(tests/inference/inference_helpers.py), whose masks are a known function of the image."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[1] / "inference"
sys.path.insert(0, str(HELPERS))

from inference_helpers import threshold_bundle  # noqa: E402
from livseg.inference import CrfSettings, save_bundle  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    bundle = threshold_bundle(spacing_mm=(1.5, 1.5, 2.0), settings={"crf": CrfSettings(margin_mm=5.0)})
    return save_bundle(bundle, tmp_path_factory.mktemp("model") / "threshold.pt")
