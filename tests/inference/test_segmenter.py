"""Segmenter: labels on exactly the input's grid, whatever its storage order, obliquity or slices.

The network is the fixed-weight threshold network of ``inference_helpers`` (a mean filter and
a threshold), so the pipeline's result is a known function of the image; no accuracy is
claimed. Flipped, transposed and rotated inputs are built from the *same array* with a
changed direction (and origin), so their predictions must be the original's prediction,
flipped / transposed / unchanged, voxel for voxel.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from inference_helpers import threshold_bundle
from livseg.crf import CrfParams
from livseg.phantoms import generate_phantom
from livseg.errors import ConfigError, InvalidImageError
from livseg.inference import CrfSettings, Segmenter
from livseg.io.sitk_bridge import sitk_from_volume, volume_from_sitk
from livseg.postprocessing import PostprocessConfig
from livseg.volume import Geometry, Volume

NO_CRF = {"crf": CrfSettings(enabled=False)}
NO_POST = PostprocessConfig(keep_largest_liver=False, tumour_in_liver=False, min_tumour_volume_mm3=0.0,
                            fill_holes_3d=False, fill_holes_2d=False)


@pytest.fixture(scope="module")
def phantom() -> tuple[Volume, Volume]:
    return generate_phantom(0, size_xyz=(64, 56, 32), flip_axes=False)


def flipped(volume: Volume, array_axis: int) -> Volume:
    """The same voxels stored in reverse along ``array_axis`` (direction and origin follow)."""
    g = volume.geometry
    index_axis = 2 - array_axis
    direction = g.direction_matrix.copy()
    last = np.zeros(3)
    last[index_axis] = g.size[index_axis] - 1
    origin = g.index_to_physical(last)
    direction[:, index_axis] *= -1
    return Volume(np.ascontiguousarray(np.flip(volume.array, array_axis)),
                  Geometry(g.size, g.spacing_mm, tuple(origin), tuple(direction.ravel())), source="flipped")


def transposed_xz(volume: Volume) -> Volume:
    """The same voxels stored with the x and z index axes swapped."""
    g = volume.geometry
    direction = g.direction_matrix[:, [2, 1, 0]]
    return Volume(np.ascontiguousarray(np.transpose(volume.array, (2, 1, 0))),
                  Geometry(g.size[::-1], g.spacing_mm[::-1], g.origin_mm, tuple(direction.ravel())),
                  source="transposed")


def rotated(volume: Volume, degrees: float) -> Volume:
    """The same array on a grid rotated about the z axis (an oblique acquisition)."""
    g = volume.geometry
    a = np.deg2rad(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return Volume(volume.array, Geometry(g.size, g.spacing_mm, g.origin_mm, tuple((rotation @ g.direction_matrix).ravel())),
                  source="oblique")


def predict(volume: Volume, **bundle_kwargs) -> np.ndarray:
    settings = bundle_kwargs.pop("settings", NO_CRF)
    segmenter = Segmenter(threshold_bundle(settings=settings, **bundle_kwargs))
    prediction = segmenter.predict(volume)
    prediction.labels.geometry.require_same_grid(volume.geometry, subject="prediction")
    assert prediction.labels.array.dtype == np.uint8
    return prediction.labels.array


@pytest.mark.parametrize("array_axis", [0, 1, 2])
def test_flipped_input_gives_the_flipped_prediction(phantom, array_axis):
    ct, _ = phantom
    original = predict(ct, spacing_mm=(1.5, 1.5, 2.0))
    assert 0 < np.count_nonzero(original) < original.size // 2
    flipped_labels = predict(flipped(ct, array_axis), spacing_mm=(1.5, 1.5, 2.0))
    np.testing.assert_array_equal(flipped_labels, np.flip(original, array_axis))


def test_transposed_input_gives_the_transposed_prediction(phantom):
    ct, _ = phantom
    original = predict(ct, spacing_mm=(1.5, 1.5, 2.0))
    swapped = predict(transposed_xz(ct), spacing_mm=(1.5, 1.5, 2.0))
    np.testing.assert_array_equal(swapped, np.transpose(original, (2, 1, 0)))


def test_oblique_input_gives_the_same_voxels_on_its_own_grid(phantom):
    ct, _ = phantom
    oblique = rotated(ct, 12.0)
    assert oblique.geometry.is_oblique and oblique.geometry.orientation == "LPS"
    original = predict(ct, spacing_mm=(1.5, 1.5, 2.0))
    np.testing.assert_array_equal(predict(oblique, spacing_mm=(1.5, 1.5, 2.0)), original)


def _resample(volume: Volume, geometry: Geometry, interpolator) -> Volume:
    reference = sitk.Image(*geometry.size, sitk.sitkUInt8)
    reference.SetSpacing(geometry.spacing_mm)
    reference.SetOrigin(geometry.origin_mm)
    reference.SetDirection(geometry.direction)
    image = sitk.Resample(sitk_from_volume(volume), reference, sitk.Transform(), interpolator, 0.0,
                          sitk.sitkUnknown, True)
    return volume_from_sitk(image, source="resampled")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_five_mm_input_gives_the_resampled_prediction():
    """A 5 mm version of a 1 mm scan is predicted on its own grid, and agrees with the 1 mm
    prediction resampled onto that grid; one slice of misregistration is clearly worse."""
    fine, _ = generate_phantom(2, size_xyz=(64, 64, 80), spacing_mm=(0.8, 0.8, 1.0), flip_axes=False)
    g = fine.geometry
    thick_grid = Geometry((64, 64, 16), (0.8, 0.8, 5.0), tuple(np.add(g.origin_mm, (0, 0, 2.0))), g.direction)
    thick = _resample(fine, thick_grid, sitk.sitkLinear)
    thick = Volume(np.rint(thick.array).astype(np.int16), thick.geometry, source="5 mm")
    kwargs = dict(spacing_mm=(1.6, 1.6, 2.5), settings={**NO_CRF, "postprocess": NO_POST})
    fine_labels = Volume(predict(fine, **kwargs), fine.geometry)
    thick_labels = predict(thick, **kwargs) > 0
    expected = _resample(fine_labels, thick_grid, sitk.sitkNearestNeighbor).array > 0
    dice = _dice(thick_labels, expected)
    shifted_grid = dataclasses.replace(thick_grid, origin_mm=tuple(np.add(thick_grid.origin_mm, (0, 0, 5.0))))
    misregistered = _resample(fine_labels, shifted_grid, sitk.sitkNearestNeighbor).array > 0
    assert dice > 0.9
    assert _dice(thick_labels, misregistered) < dice - 0.05


def test_labels_are_the_thresholded_probabilities_without_crf_and_postprocessing(phantom):
    ct, _ = phantom
    segmenter = Segmenter(threshold_bundle(spacing_mm=(1.5, 1.5, 2.0), settings={**NO_CRF, "postprocess": NO_POST}))
    prediction = segmenter.predict(flipped(ct, 2), probabilities=True)
    probability = prediction.probabilities["liver"]
    probability.geometry.require_same_grid(flipped(ct, 2).geometry, subject="probability")
    p = probability.array
    assert p.dtype == np.float32 and p.min() >= 0 and p.max() <= 1
    clear = np.abs(p - 0.5) > 1e-3
    np.testing.assert_array_equal(prediction.labels.array[clear], (p[clear] > 0.5).astype(np.uint8))
    assert set(prediction.timings) == {"preprocess", "network", "restore", "post"}


def test_crf_with_no_iterations_pastes_back_the_unary_labels(phantom):
    ct, _ = phantom
    kwargs = dict(spacing_mm=(1.5, 1.5, 2.0))
    plain = predict(ct, settings={**NO_CRF}, **kwargs)
    zero = CrfSettings(enabled=True, params=CrfParams(iterations=0))
    segmenter = Segmenter(threshold_bundle(settings={"crf": zero}, **kwargs))
    prediction = segmenter.predict(ct)
    assert "crf" in prediction.timings
    np.testing.assert_array_equal(prediction.labels.array, plain)


def test_crf_runs_in_the_region_of_interest_on_the_input_grid(phantom):
    ct, _ = phantom
    volume = flipped(ct, 1)
    prediction = Segmenter(threshold_bundle(spacing_mm=(1.5, 1.5, 2.0))).predict(volume)
    prediction.labels.geometry.require_same_grid(volume.geometry, subject="prediction")
    start, stop = prediction.info["roi"]
    assert all(0 <= a < b <= n for a, b, n in zip(start, stop, volume.geometry.shape_zyx))
    # Outside the region of interest nothing is labelled (the working grid is the LPS one).
    labels_lps = np.flip(prediction.labels.array, 1)
    outside = np.ones(labels_lps.shape, bool)
    outside[tuple(slice(a, b) for a, b in zip(start, stop))] = False
    assert not labels_lps[outside].any() and labels_lps.any()


def test_tumour_cascade_puts_dark_tumours_inside_the_liver(phantom):
    ct, _ = phantom
    kwargs = dict(spacing_mm=(1.5, 1.5, 2.0))
    liver_only = predict(ct, **kwargs)
    tumour_bundle = threshold_bundle(task="tumour", threshold=0.66, dark=True, crop="liver", settings=NO_CRF,
                                     spacing_mm=(1.0, 1.0, 2.0))
    segmenter = Segmenter(threshold_bundle(settings=NO_CRF, **kwargs), tumour_bundle=tumour_bundle)
    prediction = segmenter.predict(ct)
    labels = prediction.labels.array
    assert set(np.unique(labels)) == {0, 1, 2}
    np.testing.assert_array_equal(labels > 0, liver_only > 0)  # the cascade only relabels liver voxels
    hu = ct.array
    assert hu[labels == 2].mean() < hu[labels == 1].mean() - 20
    assert "tumour" in prediction.timings and prediction.info["tumour"]["model"] == tumour_bundle.name
    without = Segmenter(threshold_bundle(settings=NO_CRF, **kwargs), tumour_bundle=tumour_bundle, tumour=False)
    np.testing.assert_array_equal(without.predict(ct).labels.array, liver_only)


def test_tumour_without_a_tumour_model_is_refused():
    with pytest.raises(ConfigError, match="--tumour-model"):
        Segmenter(threshold_bundle(), tumour=True)


def test_a_tumour_model_is_not_a_liver_model():
    with pytest.raises(ConfigError, match="tumour model"):
        Segmenter(threshold_bundle(task="tumour"))


def test_unknown_spacing_is_refused_by_a_resampling_model(phantom):
    ct, _ = phantom
    unknown = Volume(ct.array, ct.geometry, source="mystery.mrc", spacing_known=False)
    with pytest.raises(InvalidImageError, match="mystery.mrc"):
        Segmenter(threshold_bundle(spacing_mm=(1.5, 1.5, 2.0))).predict(unknown)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ConfigError, match="--device cpu"):
        Segmenter(threshold_bundle(), device="cuda")


def test_crf_box_follows_the_liver_component_that_post_processing_keeps():
    array = np.full((40, 40, 40), -100, dtype=np.int16)
    array[5:20, 5:20, 5:20] = 300      # the liver: 3375 voxels
    array[32:36, 32:36, 32:36] = 300   # a far-away false positive: 64 voxels
    ct = Volume(array, Geometry(size=(40, 40, 40), spacing_mm=(1.0, 1.0, 1.0)))
    zero_crf = {"crf": CrfSettings(enabled=True, margin_mm=2.0, params=CrfParams(iterations=0))}
    largest = Segmenter(threshold_bundle(crop="none", settings=zero_crf)).predict(ct)
    start, stop = largest.info["roi"]
    assert all(a <= 5 and 20 <= b < 32 for a, b in zip(start, stop))  # the large block only
    every = Segmenter(threshold_bundle(crop="none", settings={
        **zero_crf, "postprocess": PostprocessConfig(keep_largest_liver=False)})).predict(ct)
    start, stop = every.info["roi"]
    assert all(b >= 36 for b in stop)  # both blocks
    assert every.labels.array[33:35, 33:35, 33:35].all() and not largest.labels.array[32:36, 32:36, 32:36].any()


class _CountingNet(torch.nn.Module):
    """The threshold network, counting the inputs it is called on and their mirrorings."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.num_branches, self.calls = inner, inner.num_branches, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_tta_follows_the_flips_the_model_was_trained_with(phantom):
    """Mirroring TTA averages over mirrored inputs: valid for a model that saw mirrored patches
    in training (flip_prob > 0), refused for one that did not (the shipped default: its TTA
    mirrored left-right and dropped Dice 0.949 -> 0.698 on the TotalSegmentator example)."""
    import dataclasses

    ct, _ = phantom
    flipped_in_training = threshold_bundle()
    assert flipped_in_training.config.augmentation.flip_prob > 0 and flipped_in_training.tta_flip_axes == (0, 1, 2)
    counting = _CountingNet(flipped_in_training.network)
    flipped_in_training.network = counting
    plain = Segmenter(flipped_in_training, crf=False).predict(ct).labels.array
    one_pass = counting.calls
    mirrored = Segmenter(flipped_in_training, crf=False, tta=True).predict(ct).labels.array
    assert counting.calls - one_pass == 8 * one_pass  # the 8 mirrorings of z, y and x
    assert np.mean(mirrored == plain) > 0.99
    never_flipped = threshold_bundle()
    config = never_flipped.config
    never_flipped.config = dataclasses.replace(config, augmentation=dataclasses.replace(config.augmentation,
                                                                                          flip_prob=0.0))
    assert never_flipped.tta_flip_axes == ()
    Segmenter(never_flipped)  # without TTA it is fine
    with pytest.raises(ConfigError, match="--tta.*trained with flip augmentation.*flip_prob 0"):
        Segmenter(never_flipped, tta=True)
    with pytest.raises(ConfigError, match="--tta"):
        Segmenter(never_flipped.with_settings(tta=True))  # a bundle whose own settings ask for it


@pytest.mark.needs_shared_data
def test_tta_with_the_shipped_model_is_refused_before_any_work(run_cli, tmp_path, shared_data):
    code, _, stderr = run_cli("predict", shared_data / "chaos-ct-1" / "image.nii.gz", "-o", tmp_path / "m.nii.gz",
                              "--tta")
    assert code == 2 and "--tta with model default" in stderr and "flip_prob 0" in stderr
    assert not (tmp_path / "m.nii.gz").exists()
