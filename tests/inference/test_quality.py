"""The automatic quality flag: each signal against a value worked out by hand, the rule, and
the flag on real predictions (a clean phantom and the same phantom cut and emptied)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from livseg.inference import quality
from livseg.inference.quality import QualitySignals, assess
from livseg.inference.windows import BranchAgreement


def test_volume_deviation_is_zero_at_the_reference_mean_and_counts_sds():
    mean_ml = math.exp(quality.LOG_VOLUME_MEAN)
    assert quality.volume_deviation(mean_ml) == pytest.approx(0.0, abs=1e-9)
    assert quality.volume_deviation(mean_ml * math.exp(2 * quality.LOG_VOLUME_SD)) == pytest.approx(2.0)
    assert quality.volume_deviation(mean_ml / math.exp(3 * quality.LOG_VOLUME_SD)) == pytest.approx(3.0)
    assert quality.volume_deviation(0.0) == math.inf
    assert 1300 < mean_ml < 1700 and 0.1 < quality.LOG_VOLUME_SD < 0.3  # adult livers


def test_fov_cut_is_the_end_slice_area_over_the_largest():
    liver = np.zeros((10, 8, 8), dtype=bool)
    liver[2:8, 2:6, 2:6] = True                 # whole liver inside the scan
    assert quality.fov_cut_fraction(liver, 0) == 0.0
    liver[9, 3:5, 2:6] = True                   # 8 voxels on the last slice, largest slice 16
    assert quality.fov_cut_fraction(liver, 0) == pytest.approx(0.5)
    assert quality.fov_cut_fraction(np.moveaxis(liver, 0, 2), 2) == pytest.approx(0.5)  # head-feet along x
    assert quality.fov_cut_fraction(np.zeros((3, 3, 3), bool), 0) == 0.0


def test_uncertain_removed_and_changed_fractions():
    p = np.array([0.0, 0.1, 0.3, 0.6, 0.7, 0.9, 1.0, 0.95])
    assert quality.uncertain_fraction(p) == pytest.approx(3 / 5)  # 0.3, 0.6, 0.7 over 0.6 .. 1.0
    assert quality.uncertain_fraction(np.zeros(4)) == 0.0
    before = np.array([0, 1, 1, 1, 2, 1])
    after = np.array([0, 1, 0, 0, 2, 1])
    assert quality.removed_fraction(before, after) == pytest.approx(2 / 5)
    assert quality.changed_fraction(before, after, 4) == pytest.approx(2 / 4)


def test_branch_agreement_is_one_minus_the_soft_dice_of_main_and_branches():
    shape = (1, 2, 4, 4, 4)
    rng = np.random.default_rng(0)
    fg = torch.from_numpy(rng.random((1, 4, 4, 4)).astype(np.float32))
    main = torch.stack([1 - fg, fg], dim=1)
    same = BranchAgreement()
    same.add(main, [main.clone(), main.clone()])
    p = fg[:, ::2, ::2, ::2].numpy()
    assert same.disagreement == pytest.approx(1 - 2 * (p * p).sum() / (2 * p.sum()), abs=1e-6)
    disjoint = BranchAgreement()
    one = torch.zeros(shape)
    one[:, 1] = 1.0
    other = torch.zeros(shape)
    other[:, 0] = 1.0
    disjoint.add(one, [other])
    assert disjoint.disagreement == pytest.approx(1.0)
    assert BranchAgreement().disagreement is None


def _signals(**changes) -> QualitySignals:
    values = dict(branch_disagreement=0.05, crf_changed=0.07, uncertain=0.1, removed=0.0, volume_deviation=0.5,
                  fov_cut=0.05, liver_ml=1500.0)
    values.update(changes)
    return QualitySignals(**values)


def test_the_rule_score_from_mask_signals_flag_from_limits_and_plausibility():
    good = assess(_signals())
    assert good["qc"] == "ok" and good["reasons"] == []
    assert good["score"] == pytest.approx(0.07 / quality.MASK_LIMITS["crf_changed"], abs=1e-4)
    unsure = assess(_signals(uncertain=quality.MASK_LIMITS["uncertain"] * 1.5))
    assert unsure["qc"] == "review" and unsure["reasons"] == ["uncertain"] and unsure["score"] == pytest.approx(1.5)
    cut = assess(_signals(fov_cut=0.9))
    assert cut["qc"] == "review" and cut["reasons"] == ["fov_cut"] and cut["score"] == good["score"]
    tiny = assess(_signals(volume_deviation=7.0))
    assert tiny["qc"] == "review" and tiny["reasons"] == ["volume_deviation"]
    empty = assess(_signals(liver_ml=0.0, volume_deviation=math.inf, crf_changed=None))
    assert empty["qc"] == "review" and empty["reasons"] == ["no liver found"]
    assert empty["score"] == quality.MAX_SCORE and empty["signals"]["volume_deviation"] is None
    no_branches = assess(_signals(branch_disagreement=None, crf_changed=None))
    assert no_branches["qc"] == "ok" and no_branches["signals"]["branch_disagreement"] is None


@pytest.fixture(scope="module")
def default_segmenter():
    from livseg.inference import Segmenter

    return Segmenter.from_checkpoint("default", "cpu")


def test_the_flag_on_real_predictions_of_the_default_model(default_segmenter):
    """A life-size phantom is ok; cut through the liver it is flagged for the cut; a CT with no
    body at all yields no liver and the largest score."""
    from livseg.phantoms import generate_phantom
    from livseg.preprocessing.cropping import CropRecord, crop
    from livseg.volume import Geometry, Volume

    ct, labels = generate_phantom(2, size_xyz=(160, 128, 64), spacing_mm=(2.6, 2.6, 4.0))
    whole = default_segmenter.predict(ct)
    assert whole.quality["qc"] == "ok", whole.quality
    assert set(whole.quality["signals"]) == {"branch_disagreement", "crf_changed", "uncertain", "removed",
                                             "volume_deviation", "fov_cut", "liver_ml"}
    assert whole.quality["signals"]["branch_disagreement"] is not None and 0 < whole.quality["score"] < 1
    assert whole.quality["signals"]["liver_ml"] == pytest.approx(
        np.count_nonzero(whole.labels.array) * ct.geometry.voxel_volume_mm3 / 1000, rel=1e-4)
    z = np.flatnonzero(np.count_nonzero(labels.array, axis=(1, 2)))
    middle = int((z[0] + z[-1]) // 2)
    shape = ct.geometry.shape_zyx
    half = crop(ct, CropRecord(ct.geometry, (0, 0, 0), (middle, shape[1], shape[2])))
    cut = default_segmenter.predict(half)
    assert cut.quality["qc"] == "review" and "fov_cut" in cut.quality["reasons"], cut.quality
    air = Volume(np.full((24, 64, 64), -1000, dtype=np.int16), Geometry((64, 64, 24), (2.0, 2.0, 4.0)))
    empty = default_segmenter.predict(air)
    assert not empty.labels.array.any()
    assert empty.quality["qc"] == "review" and empty.quality["reasons"] == ["no liver found"]
    assert empty.quality["score"] == quality.MAX_SCORE
