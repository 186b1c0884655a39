"""One case end to end (liver = labels 1+2, tumour = 2), the empty-mask policy, summaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livseg.errors import ConfigError, InvalidImageError
from livseg.metrics import STRUCTURE_MEASURES, evaluate_case, summarize
from livseg.io.tables import to_json
from livseg.volume import Geometry, Volume

SPACING = (0.75, 0.75, 2.0)


def labels_with_tumour() -> np.ndarray:
    labels = np.zeros((6, 12, 12), dtype=np.uint8)
    labels[1:5, 2:10, 2:10] = 1          # liver 4 x 8 x 8 = 256 voxels
    labels[2:4, 4:6, 4:6] = 2            # tumour 2 x 2 x 2 = 8 voxels inside it
    return labels


def test_liver_includes_tumour_and_missing_tumour_follows_policy():
    reference = labels_with_tumour()
    prediction = np.where(reference > 0, 1, 0).astype(np.uint8)   # whole liver, no tumour
    result = evaluate_case(reference, prediction, spacing_mm=SPACING, case_id="c1")
    liver, tumour = result.structures["liver"], result.structures["tumour"]
    assert liver.dice == 1.0 and liver.assd_mm == 0.0 and liver.sliver07_score == 100.0
    assert liver.reference_volume_ml == pytest.approx(256 * 0.75 * 0.75 * 2.0 / 1000)
    assert tumour.empty == "prediction"
    assert tumour.dice == 0.0 and tumour.rvd_pct == -100.0 and tumour.fnr == 1.0
    assert tumour.assd_mm is None and tumour.mssd_mm is None and tumour.hd95_mm is None
    assert tumour.surface_dice == 0.0 and tumour.sliver07_score == 0.0
    assert result.lesions.recall == 0.0 and result.lesions.precision is None
    assert result.tumour_burden_error == pytest.approx(8 / 256)


def test_no_tumour_anywhere_counts_as_both_empty():
    liver_only = np.where(labels_with_tumour() > 0, 1, 0).astype(np.uint8)
    tumour = evaluate_case(liver_only, liver_only, spacing_mm=SPACING).structures["tumour"]
    assert tumour.empty == "both" and tumour.dice == 1.0 and tumour.mssd_mm == 0.0
    assert tumour.sliver07_score == 100.0


def test_volumes_and_arrays_agree_and_inputs_stay_untouched():
    reference = labels_with_tumour()
    prediction = np.roll(reference, 1, axis=2)
    geometry = Geometry(size=(12, 12, 6), spacing_mm=SPACING, origin_mm=(10.0, -5.0, 30.0))
    before = reference.copy(), prediction.copy()
    from_volumes = evaluate_case(Volume(reference, geometry), Volume(prediction, geometry), case_id="c")
    from_arrays = evaluate_case(reference, prediction, spacing_mm=SPACING, case_id="c")
    assert from_volumes.as_dict() == from_arrays.as_dict()
    np.testing.assert_array_equal(reference, before[0])
    np.testing.assert_array_equal(prediction, before[1])


def test_foreign_label_values_are_refused_with_the_fix():
    labels = labels_with_tumour()
    labels[labels == 1] = 5              # TotalSegmentator's liver value
    with pytest.raises(InvalidImageError, match="--label-map"):
        evaluate_case(labels, labels, spacing_mm=SPACING)


def test_summary_counts_and_statistics_by_hand():
    reference = labels_with_tumour()
    perfect = reference.copy()
    shifted = np.roll(reference, 1, axis=2)
    no_liver = np.zeros_like(reference)
    cases = [evaluate_case(reference, p, spacing_mm=SPACING, case_id=str(i))
             for i, p in enumerate([perfect, shifted, no_liver])]
    liver_dice = [c.structures["liver"].dice for c in cases]
    summary = summarize(cases)
    liver = summary["structures"]["liver"]
    assert summary["n_cases"] == 3
    assert liver["n_empty"] == {"none": 2, "both": 0, "reference": 0, "prediction": 1}
    dice = liver["measures"]["dice"]
    assert dice["n"] == 3 and dice["n_undefined"] == 0
    assert dice["mean"] == pytest.approx(sum(liver_dice) / 3)
    assert dice["median"] == pytest.approx(sorted(liver_dice)[1])
    assert dice["std"] == pytest.approx(np.std(liver_dice, ddof=1))
    assd = liver["measures"]["assd_mm"]     # undefined for the empty prediction: left out, counted
    assert assd["n"] == 2 and assd["n_undefined"] == 1
    assert assd["mean"] == pytest.approx((0.0 + cases[1].structures["liver"].assd_mm) / 2)
    tp = [c.structures["liver"].counts.tp for c in cases]
    assert liver["dice_global"] == pytest.approx(2 * sum(tp) / (3 * 256 + 256 + 256 + 0))
    assert summary["tumour_burden_error"]["n_undefined"] == 1
    # strict JSON: no NaN anywhere, every measure present
    text = to_json({"summary": summary, "cases": [c.as_dict() for c in cases]})
    assert "NaN" not in text
    assert set(STRUCTURE_MEASURES) <= set(json.loads(text)["cases"][0]["liver"])


def test_a_structure_not_assessed_is_no_score():
    reference = labels_with_tumour()
    prediction = np.where(reference > 0, 1, 0).astype(np.uint8)   # a liver-only model's output
    result = evaluate_case(reference, prediction, spacing_mm=SPACING, case_id="c1", structures=("liver",))
    assert set(result.structures) == {"liver"} and result.assessed == ("liver",)
    assert result.lesions is None and result.tumour_burden_error is None
    as_dict = result.as_dict()
    assert as_dict["tumour"] == {"assessed": False}
    assert as_dict["lesions"] == {"assessed": False} and as_dict["tumour_burden"] == {"assessed": False}
    assert as_dict["liver"]["assessed"] is True and as_dict["liver"]["dice"] == 1.0
    # the same prediction scored as if a tumour model had run: Dice 0, 0 of 1 lesions
    both = evaluate_case(reference, prediction, spacing_mm=SPACING, structures=("tumour", "liver"))
    assert both.assessed == ("liver", "tumour") and both.structures["tumour"].dice == 0.0
    with pytest.raises(ConfigError, match="structures"):
        evaluate_case(reference, prediction, spacing_mm=SPACING, structures=("lung",))
    with pytest.raises(ConfigError, match="structures"):
        evaluate_case(reference, prediction, spacing_mm=SPACING, structures=())


def test_summary_counts_only_the_cases_that_assessed_a_structure():
    reference = labels_with_tumour()
    liver_only = np.where(reference > 0, 1, 0).astype(np.uint8)
    shifted = np.roll(reference, 1, axis=2)
    assessed = evaluate_case(reference, shifted, spacing_mm=SPACING, case_id="with-tumour-model")
    not_assessed = evaluate_case(reference, liver_only, spacing_mm=SPACING, case_id="liver-only",
                                 structures=("liver",))
    summary = summarize([assessed, not_assessed])
    liver, tumour = summary["structures"]["liver"], summary["structures"]["tumour"]
    assert liver["n_assessed"] == 2 and liver["n_not_assessed"] == 0 and liver["measures"]["dice"]["n"] == 2
    assert tumour["assessed"] is True and tumour["n_assessed"] == 1 and tumour["n_not_assessed"] == 1
    # the liver-only case's empty tumour is not averaged in as Dice 0
    assert tumour["measures"]["dice"]["n"] == 1
    assert tumour["measures"]["dice"]["mean"] == pytest.approx(assessed.structures["tumour"].dice)
    assert tumour["dice_global"] == pytest.approx(assessed.structures["tumour"].dice)
    assert summary["lesions"]["n_reference"] == 1 and summary["lesions"]["n_not_assessed"] == 1
    assert summary["tumour_burden_error"]["n"] == 1 and summary["tumour_burden_error"]["n_not_assessed"] == 1
    # no case assessed the tumour: the summary says so and holds no number for it
    none = summarize([not_assessed])
    tumour = none["structures"]["tumour"]
    assert tumour["assessed"] is False and "not assessed" in tumour["note"] and tumour["dice_global"] is None
    assert all(stats["n"] == 0 and stats["mean"] is None for stats in tumour["measures"].values())
    assert none["lesions"]["assessed"] is False and "n_detected" not in none["lesions"]
    assert none["tumour_burden_error"]["assessed"] is False
    assert "NaN" not in to_json(none)
