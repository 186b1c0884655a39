"""The probability cache: written once, reused without a network forward, never stale.

The model is the fixed-weight band network of ``tuning_helpers`` (a real forward pass through
``livseg.inference``'s sliding window); forwards are counted with a forward hook on it.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from livseg.datasets import load_dataset, read_case_image, read_case_label
from livseg.errors import UnreadableInputError
from livseg.preprocessing import reorient
from livseg.tuning import cached_cases, load_cached_case
from livseg.tuning.cache import cache_path, sha256_of_path
from tuning_helpers import band_bundle, write_band_model, write_test_phantoms


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = write_test_phantoms(tmp_path_factory.mktemp("phantoms"), n=2)
    return load_dataset(folder).cases


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return write_band_model(folder / "band.pt"), write_band_model(folder / "band-90.pt", centre_hu=90.0)


class ForwardCounter:
    def __init__(self, network) -> None:
        self.calls = 0
        network.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output) -> None:
        self.calls += 1


def test_cache_is_written_once_and_reused_without_a_forward(cases, models, tmp_path):
    bundle = band_bundle()
    counter = ForwardCounter(bundle.network)
    sha = sha256_of_path(models[0])
    first, stats = cached_cases(bundle, cases, model_sha256=sha, cache_dir=tmp_path)
    ids = [c.case_id for c in cases]
    assert stats.computed == ids and stats.reused == []
    assert counter.calls >= len(cases)
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 2
    stamps = {f: os.stat(f).st_mtime_ns for f in files}

    counter.calls = 0
    second, stats = cached_cases(bundle, cases, model_sha256=sha, cache_dir=tmp_path)
    assert counter.calls == 0
    assert stats.reused == ids and stats.computed == []
    assert {f: os.stat(f).st_mtime_ns for f in sorted(tmp_path.glob("*.npz"))} == stamps
    for a, b in zip(first, second):
        assert a.key == b.key and a.case_id == b.case_id
        np.testing.assert_array_equal(a.outputs, b.outputs)
        np.testing.assert_array_equal(a.ct_hu, b.ct_hu)
        np.testing.assert_array_equal(a.reference, b.reference)
        assert a.prepared_region == b.prepared_region and a.working == b.working
        assert a.region == b.region and a.prepared_box == b.prepared_box


def test_cached_region_holds_the_reference_and_the_ct_at_its_offset(cases, models, tmp_path):
    bundle = band_bundle()
    (cached,), _ = cached_cases(bundle, cases[:1], model_sha256=sha256_of_path(models[0]), cache_dir=tmp_path)
    image = read_case_image(cases[0])
    reference = read_case_label(cases[0], image=image)
    working_ct, _ = reorient(image, "LPS")
    working_ref, _ = reorient(reference, "LPS")
    assert cached.working == working_ct.geometry
    np.testing.assert_array_equal(cached.ct_hu, working_ct.array[cached.region.slices])
    # Every reference voxel is inside the region, so metrics on the region see the whole liver.
    assert int(np.count_nonzero(cached.reference)) == int(np.count_nonzero(working_ref.array))
    assert cached.outputs.dtype == np.float16 and cached.outputs.shape[:2] == (3, 2)  # main + 2 branches, 2 classes
    np.testing.assert_allclose(cached.outputs.astype(np.float32).sum(axis=1), 1.0, atol=2e-3)
    assert cached.prepared_region.spacing_mm == cached.working.spacing_mm  # the test model does not resample


def test_another_model_or_setting_is_not_served_a_stale_cache(cases, models, tmp_path):
    bundle = band_bundle()
    cached_cases(bundle, cases, model_sha256=sha256_of_path(models[0]), cache_dir=tmp_path)
    other = band_bundle(centre_hu=90.0)
    counter = ForwardCounter(other.network)
    before = set(tmp_path.glob("*.npz"))
    changed, stats = cached_cases(other, cases, model_sha256=sha256_of_path(models[1]), cache_dir=tmp_path)
    assert stats.computed == [c.case_id for c in cases] and counter.calls >= len(cases)
    assert set(tmp_path.glob("*.npz")) - before  # new files, under new keys
    original, _ = cached_cases(bundle, cases, model_sha256=sha256_of_path(models[0]), cache_dir=tmp_path)
    assert changed[0].key != original[0].key
    assert not np.array_equal(changed[0].outputs, original[0].outputs)  # another band: other probabilities
    # A setting that changes the probabilities (the window overlap) is part of the key too.
    counter = ForwardCounter(bundle.network)
    _, stats = cached_cases(bundle.with_settings(overlap=0.5, window_voxels_xyz=(32, 32, 16), max_window_voxels=None),
                            cases[:1], model_sha256=sha256_of_path(models[0]), cache_dir=tmp_path)
    assert stats.computed == [cases[0].case_id] and counter.calls > 0


def test_a_file_under_the_wrong_key_is_refused_and_rebuilt(cases, models, tmp_path):
    bundle = band_bundle()
    sha = sha256_of_path(models[0])
    (good,), stats = cached_cases(bundle, cases[:1], model_sha256=sha, cache_dir=tmp_path)
    path = stats.files[cases[0].case_id]
    impostor = cache_path(tmp_path, cases[0].case_id, "0" * 24)
    shutil.copyfile(path, impostor)
    with pytest.raises(UnreadableInputError, match="expected cache key"):
        load_cached_case(impostor, key="0" * 24)
    path.write_bytes(b"not a cache file")
    counter = ForwardCounter(bundle.network)
    (again,), stats = cached_cases(bundle, cases[:1], model_sha256=sha, cache_dir=tmp_path)
    assert stats.computed == [cases[0].case_id] and counter.calls > 0
    np.testing.assert_array_equal(again.outputs, good.outputs)
    assert load_cached_case(path, key=good.key).case_id == cases[0].case_id  # rewritten in place


def test_a_model_that_finds_nothing_gives_empty_predictions(cases, tmp_path):
    from livseg.tuning import Objective, Refinement, TrialParams, search
    from livseg.tuning.space import default_space

    blind = band_bundle(centre_hu=2000.0)  # a band far above the window: background everywhere
    (cached,), _ = cached_cases(blind, cases[:1], model_sha256="b" * 64, cache_dir=tmp_path)
    assert not cached.found and cached.outputs.size == 0
    assert int(np.count_nonzero(cached.reference)) > 0  # the reference is still there to measure against
    space = default_space(3)
    space = type(space)(values={k: v[:1] for k, v in space.values.items()}, fusion_weights=space.fusion_weights[:1],
                        base=space.base)
    for measure, expected in (("sliver07_score", 0.0), ("dice", 0.0), ("assd_mm", None)):
        result = search([cached], space, reference=TrialParams(None, (1.0, 0.0, 0.0)),
                        default=TrialParams(space.base, (1.0, 0.0, 0.0)), objective=Objective(measure),
                        refinement=Refinement())
        assert [row.mean(result.objective) for row in result.rows] == [expected] * 3
