"""Trials reproduce the predictor, and the tuned settings file drives it.

Oracle: :class:`livseg.inference.Segmenter` itself, run on the same phantoms with the same
(fixed-weight, real) network. With one-hot fusion weights the predictor stores exactly the
float16 probabilities the cache holds, so labels must agree voxel for voxel; with mixed
weights the predictor fuses before rounding to float16 and the cache after, so a few voxels
at p = 0.5 may differ.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from livseg.crf import CrfParams
from livseg.datasets import load_dataset, read_case_image, read_case_label
from livseg.errors import ConfigError
from livseg.inference import Segmenter, load_bundle
from livseg.metrics import evaluate_structure
from livseg.preprocessing import ReorientRecord, invert_reorient, reorient
from livseg.tuning import (Objective, Refinement, TrialParams, apply_tuned_settings, cached_cases, load_tuned_settings,
                           predict_labels, search, space_from_mapping, tune_crf)
from livseg.io import write_like
from livseg.tuning.cache import sha256_of_path
from livseg.tuning.trial import fused_unary
from livseg.volume import Volume
from tuning_helpers import band_bundle, write_band_model, write_test_phantoms

GRID = {"crf": {"mu1": [0, 5], "mu2": [3], "theta_alpha_mm": [5], "theta_beta_hu": [20], "theta_gamma_mm": [3]},
        "fusion_weights": [[1, 0, 0], [0, 1, 0]]}


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    return write_test_phantoms(tmp_path_factory.mktemp("phantoms"), n=2)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_band_model(tmp_path_factory.mktemp("model") / "band.pt")


def on_input_grid(cached, region_labels: np.ndarray, image: Volume) -> np.ndarray:
    """Trial labels (on the cached region) pasted into the working grid and turned back."""
    working = np.zeros(cached.working.shape_zyx, dtype=np.uint8)
    working[cached.region.slices] = region_labels
    return invert_reorient(Volume(working, cached.working), ReorientRecord(image.geometry, cached.working)).array


def test_reference_rows_and_trials_equal_the_predictor(phantoms, model, tmp_path):
    bundle = load_bundle(model)
    cases = load_dataset(phantoms).cases
    cached, _ = cached_cases(bundle, cases, model_sha256=sha256_of_path(model), cache_dir=tmp_path)
    refinement = Refinement(mode=bundle.settings.crf.mode, postprocess=bundle.settings.postprocess)
    tau = (1.0, 0.0, 0.0)  # the bundle's own: no fusion_weights means the main output alone
    space = space_from_mapping({**GRID, "crf": {**GRID["crf"], "mu1": [5]}, "fusion_weights": [[0, 1, 0]]},
                               num_outputs=3, base=bundle.settings.crf.params)
    result = search(cached, space, reference=TrialParams(None, tau),
                    default=TrialParams(bundle.settings.crf.params, tau), objective=Objective("sliver07_score"),
                    refinement=refinement)
    (branch_trial,) = result.rows[2:]  # the first branch alone, mu1 = 5
    for case, entry in zip(cases, cached):
        image = read_case_image(case)
        reference = read_case_label(case, image=image).array > 0
        runs = [("no-crf", Segmenter(bundle, crf=False)), ("default", Segmenter(bundle, crf=True)),
                (branch_trial.trial_id, Segmenter(bundle.with_settings(
                    fusion_weights=(0.0, 1.0, 0.0),
                    crf=dataclasses.replace(bundle.settings.crf, params=branch_trial.params.crf))))]
        for trial_id, segmenter in runs:
            predicted = segmenter.predict(image).labels
            row = result.row(trial_id)
            mine = on_input_grid(entry, predict_labels(entry, row.params, refinement), image)
            np.testing.assert_array_equal(mine, predicted.array, err_msg=f"{case.case_id} trial {trial_id}")
            expected = evaluate_structure(reference, predicted.array > 0, spacing_mm=image.spacing_mm)
            assert row.per_case[case.case_id] == pytest.approx(expected.sliver07_score, abs=1e-9)
    # The CRF does something here: the default row differs from the no-CRF one.
    assert result.row("default").per_case != result.row("no-crf").per_case


def test_mixed_fusion_weights_agree_with_the_predictor_up_to_float16_rounding(phantoms, model, tmp_path):
    bundle = load_bundle(model)
    case = load_dataset(phantoms).cases[0]
    (entry,), _ = cached_cases(bundle, [case], model_sha256=sha256_of_path(model), cache_dir=tmp_path)
    tau = (0.5, 0.25, 0.25)
    image = read_case_image(case)
    no_post = dataclasses.replace(bundle.settings.postprocess, keep_largest_liver=False, fill_holes_2d=False,
                                  fill_holes_3d=False, tumour_in_liver=False, min_tumour_volume_mm3=0.0)
    for post in (no_post, bundle.settings.postprocess):
        predicted = Segmenter(bundle.with_settings(fusion_weights=tau, postprocess=post), crf=False).predict(image)
        mine = on_input_grid(entry, predict_labels(entry, TrialParams(None, tau), Refinement(postprocess=post)), image)
        assert np.count_nonzero(predicted.labels.array) > 1000  # a real mask is compared
        assert np.mean(mine == predicted.labels.array) > 0.999


def test_tuned_yaml_round_trips_into_the_predictor(phantoms, model, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    out = tmp_path / "out" / "tuned.yaml"
    outcome = tune_crf(model, phantoms, cases="1", grid=grid, cache_dir=tmp_path / "cache", output=out,
                       bundle_out=tmp_path / "out" / "tuned.pt", command="livseg tune-crf (test)")
    best = outcome.result.best
    assert out.is_file() and outcome.csv_path.is_file() and outcome.json_path.is_file()
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert document["tuning"]["model_sha256"] == sha256_of_path(model)
    assert document["tuning"]["cases"] == ["phantom-000"] and document["tuning"]["metric"] == "sliver07_score"
    assert document["tuning"]["best_trial"] == best.trial_id and document["tuning"]["date"]
    bundle = load_bundle(model)
    settings = load_tuned_settings(out, bundle.settings)
    assert settings.fusion_weights == best.params.fusion_weights
    if best.params.crf is None:
        assert settings.crf.enabled is False
    else:
        assert settings.crf.enabled and settings.crf.params == best.params.crf
        assert isinstance(settings.crf.params, CrfParams)
    tuned = apply_tuned_settings(bundle, out)
    assert Segmenter(tuned).weights == best.params.fusion_weights
    saved = load_bundle(tmp_path / "out" / "tuned.pt")
    assert saved.settings == tuned.settings
    # The predictor with the tuned bundle gives the best trial's labels.
    case = load_dataset(phantoms).cases[0]
    image = read_case_image(case)
    (entry,), _ = cached_cases(bundle, [case], model_sha256=sha256_of_path(model), cache_dir=tmp_path / "cache")
    refinement = Refinement(mode=settings.crf.mode, postprocess=settings.postprocess)
    mine = on_input_grid(entry, predict_labels(entry, best.params, refinement), image)
    np.testing.assert_array_equal(Segmenter(saved).predict(image).labels.array, mine)


def test_tuned_file_for_another_network_is_refused(phantoms, model, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"inference": {"fusion_weights": [1, 0]}}))
    with pytest.raises(ConfigError, match="3 fusion weights"):
        apply_tuned_settings(load_bundle(model), bad)
    with pytest.raises(ConfigError, match="inference"):
        (tmp_path / "empty.yaml").write_text("tuning: {}\n")
        load_tuned_settings(tmp_path / "empty.yaml", band_bundle().settings)


def test_a_distant_false_positive_gets_the_same_crf_box_and_labels_as_the_predictor(phantoms, model, tmp_path):
    """A liver-HU blob far from the liver is foreground for the network; post-processing drops it,
    so the predictor's CRF box leaves it out. tune-crf must refine exactly that box (the case where
    a second copy of the pipeline that boxed every foreground voxel disagreed)."""
    case = load_dataset(phantoms).cases[0]
    image = read_case_image(case)
    spotted = image.array.copy()
    spotted[24:30, 30:36, 58:64] = 105  # portal-venous liver HU, at the body's edge far from the liver
    folder = tmp_path / "spotted"
    write_like(spotted, image, folder / "images" / f"{case.case_id}.nii.gz", kind="ct")
    write_like(read_case_label(case, image=image).array, image, folder / "labels" / f"{case.case_id}.nii.gz",
               kind="label")
    (spotted_case,) = load_dataset(folder).cases
    spotted_image = read_case_image(spotted_case)
    bundle = load_bundle(model)
    # A 2 mm margin: on this 5 cm phantom the default margin would reach the blob anyway.
    bundle = bundle.with_settings(crf=dataclasses.replace(bundle.settings.crf, margin_mm=2.0))
    (entry,), _ = cached_cases(bundle, [spotted_case], model_sha256=sha256_of_path(model), cache_dir=tmp_path)
    tau = (1.0, 0.0, 0.0)
    refinement = Refinement(mode=bundle.settings.crf.mode, postprocess=bundle.settings.postprocess)
    for crf in (bundle.settings.crf.params, None):
        segmenter = Segmenter(bundle, crf=crf is not None)
        predicted = segmenter.predict(spotted_image)
        region = fused_unary(entry, tau, refinement.box_rule)
        assert region is not None
        assert (region.box.start_zyx, region.box.stop_zyx) == predicted.info["roi"]
        mine = on_input_grid(entry, predict_labels(entry, TrialParams(crf, tau), refinement), spotted_image)
        np.testing.assert_array_equal(mine, predicted.labels.array)
    # The blob is foreground for the network and lies outside the predictor's box, inside the box
    # of every foreground voxel (so the test shows something).
    blob = np.zeros(spotted.shape, dtype=bool)
    blob[24:30, 30:36, 58:64] = True
    working_blob = reorient(Volume(blob.astype(np.uint8), image.geometry), "LPS")[0].array > 0
    everything = fused_unary(entry, tau, None)
    assert everything is not None
    everything_blob = working_blob[everything.box.slices]
    assert np.mean(everything.unary[1][everything_blob] > 0.5) > 0.9
    for region, holds in ((region, False), (everything, True)):
        inside = np.zeros(entry.working.shape_zyx, dtype=bool)
        inside[region.box.slices] = True
        assert bool((inside & working_blob).any()) is holds
