"""SLiver07 scores: score = max(0, 100 - 25 * |value| / human reference), case score = mean."""

from __future__ import annotations

import pytest

from livseg.metrics import HUMAN_REFERENCE, sliver07_scores
from livseg.metrics.sliver07 import measure_score


def test_human_reference_values():
    assert HUMAN_REFERENCE == {"voe_pct": 6.4, "rvd_pct": 4.7, "assd_mm": 1.0, "rmssd_mm": 1.8, "mssd_mm": 19.0}


@pytest.mark.parametrize("measure", sorted(HUMAN_REFERENCE))
def test_anchor_points(measure):
    reference = HUMAN_REFERENCE[measure]
    assert measure_score(measure, 0.0) == 100.0
    assert measure_score(measure, reference) == pytest.approx(75.0)  # as good as a human rater
    assert measure_score(measure, 2 * reference) == pytest.approx(50.0)
    assert measure_score(measure, 4 * reference) == pytest.approx(0.0)
    assert measure_score(measure, 10 * reference) == 0.0             # clipped at 0
    assert measure_score(measure, None) == 0.0                       # undefined scores nothing


def test_rvd_scored_by_absolute_value():
    assert measure_score("rvd_pct", -4.7) == pytest.approx(75.0)
    assert measure_score("rvd_pct", -2.35) == measure_score("rvd_pct", 2.35) == pytest.approx(87.5)


def test_dsn_paper_figures_by_hand():
    # The 3D DSN paper's SLiver07 means: VOE 5.42 %, VD 1.75 %, AvgD 0.79, RMSD 1.64, MaxD 33.55 mm.
    scores = sliver07_scores(voe_pct=5.42, rvd_pct=1.75, assd_mm=0.79, rmssd_mm=1.64, mssd_mm=33.55)
    expected = [100 - 25 * 5.42 / 6.4, 100 - 25 * 1.75 / 4.7, 100 - 25 * 0.79 / 1.0,
                100 - 25 * 1.64 / 1.8, 100 - 25 * 33.55 / 19.0]
    assert [scores.voe, scores.rvd, scores.assd, scores.rmssd, scores.mssd] == pytest.approx(expected)
    assert scores.score == pytest.approx(sum(expected) / 5)
    assert scores.as_dict()["score"] == pytest.approx(76.57, abs=0.01)
