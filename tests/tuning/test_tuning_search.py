"""Search correctness on synthetic cached cases whose best setting is known by construction.

A cached case is built by hand: a reference ellipsoid on an anisotropic grid, a CT that is 100 HU
inside and 0 HU outside (plus noise), and "network outputs" made from the reference. The
prepared grid is the working grid itself, so resampling the unary is the identity and every
expected value can be computed directly from the arrays.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from livseg.crf import CrfParams
from livseg.errors import ConfigError, UnknownNameError
from livseg.metrics import evaluate_structure
from livseg.tuning import Objective, Refinement, SearchSpace, TrialParams, search, space_from_mapping
from livseg.tuning.cache import CachedCase, GridBox
from livseg.tuning.search import halving_rungs
from livseg.tuning.space import default_fusion_vectors
from livseg.volume import Geometry

SPACING = (0.8, 0.8, 2.0)  # (x, y, z) mm
SHAPE = (20, 40, 40)       # (z, y, x)
NO_POST = Refinement(mode="3d", postprocess=None)


def ellipsoid(shape=SHAPE, centre=(10, 20, 20), radii_mm=(12.0, 11.0, 11.0)) -> np.ndarray:
    """Bool (z, y, x) ellipsoid; radii in mm along (z, y, x)."""
    z, y, x = np.indices(shape, dtype=float)
    d = (((z - centre[0]) * SPACING[2] / radii_mm[0]) ** 2 + ((y - centre[1]) * SPACING[1] / radii_mm[1]) ** 2
         + ((x - centre[2]) * SPACING[0] / radii_mm[2]) ** 2)
    return d <= 1.0


def probabilities(foreground: np.ndarray) -> np.ndarray:
    """float16 (2, z, y, x) background/foreground probabilities."""
    p = np.clip(foreground, 0.0, 1.0).astype(np.float32)
    return np.stack([1.0 - p, p]).astype(np.float16)


def synthetic_case(outputs: list[np.ndarray], reference: np.ndarray, *, case_id: str = "synthetic",
                   seed: int = 0) -> CachedCase:
    """A CachedCase whose prepared grid, working grid and region are one and the same grid."""
    grid = Geometry(size=SHAPE[::-1], spacing_mm=SPACING, origin_mm=(-10.0, 5.0, 30.0))
    rng = np.random.default_rng(seed)
    ct = np.where(reference, 100.0, 0.0) + rng.normal(0.0, 5.0, SHAPE)
    whole = GridBox((0, 0, 0), SHAPE)
    return CachedCase(case_id=case_id, key=f"key-{case_id}", outputs=np.stack(outputs), prepared_region=grid,
                      working=grid, prepared_box=whole, region=whole, ct_hu=ct.astype(np.int16),
                      reference=reference.astype(np.uint8), class_labels=(0, 1), margin_mm=4.0)


def noisy_unary_case(seed: int) -> CachedCase:
    """Foreground probability 0.65 inside, 0.35 outside, plus uniform noise of +-0.3: about a
    quarter of the voxels flip; a CRF that smooths over the intensity edge repairs them."""
    reference = ellipsoid()
    rng = np.random.default_rng(seed)
    p = np.where(reference, 0.65, 0.35) + rng.uniform(-0.3, 0.3, SHAPE)
    return synthetic_case([probabilities(p)], reference, case_id=f"noisy-{seed}", seed=seed)


def space(values: dict, fusion=((1.0,),), base: CrfParams = CrfParams()) -> SearchSpace:
    full = {"mu1": (0.0,), "mu2": (0.0,), "theta_alpha_mm": (5.0,), "theta_beta_hu": (20.0,), "theta_gamma_mm": (3.0,)}
    full.update({k: tuple(float(v) for v in vs) for k, vs in values.items()})
    return SearchSpace(values=full, fusion_weights=tuple(tuple(f) for f in fusion), base=base)


def test_moderate_mu_beats_mu_zero_on_a_noisy_unary():
    cases = [noisy_unary_case(1), noisy_unary_case(2)]
    result = search(cases, space({"mu1": (0, 5)}), reference=TrialParams(None, (1.0,)),
                    default=TrialParams(CrfParams(), (1.0,)), objective=Objective("dice"), refinement=NO_POST)
    by_mu = {row.params.crf.mu1: row for row in result.rows[2:]}
    dice_0 = by_mu[0.0].mean(result.objective)
    dice_5 = by_mu[5.0].mean(result.objective)
    # mu = 0 (with mu2 = 0) leaves the unary's argmax: about a quarter of the voxels wrong.
    assert dice_0 < 0.85
    assert dice_5 > 0.95
    assert result.best.params.crf is not None and result.best.params.crf.mu1 == 5.0
    # mu = 0 reproduces the no-CRF row exactly (the CRF is then softmax(log p)).
    assert by_mu[0.0].per_case == result.row("no-crf").per_case


def test_no_crf_row_is_the_argmax_of_the_fused_probabilities():
    reference = ellipsoid()
    rng = np.random.default_rng(5)
    a = np.where(reference, 0.7, 0.3) + rng.uniform(-0.35, 0.35, SHAPE)
    b = np.where(ellipsoid(centre=(10, 22, 19)), 0.9, 0.1) + rng.uniform(-0.05, 0.05, SHAPE)
    case = synthetic_case([probabilities(a), probabilities(b)], reference)
    tau = (0.7, 0.3)
    result = search([case], space({}, fusion=[tau]), reference=TrialParams(None, tau),
                    default=TrialParams(CrfParams(), tau), objective=Objective("dice"), refinement=NO_POST)
    fused = tau[0] * case.outputs[0].astype(np.float32) + tau[1] * case.outputs[1].astype(np.float32)
    expected = evaluate_structure(reference, fused[1] > fused[0], spacing_mm=SPACING)
    assert result.row("no-crf").per_case["synthetic"] == pytest.approx(expected.dice, abs=1e-12)
    measures = result.row("no-crf").measures["synthetic"]
    assert measures.counts.tp == expected.counts.tp and measures.counts.fp == expected.counts.fp


def test_fusion_weights_favour_the_output_that_is_right():
    reference = ellipsoid()
    right = probabilities(np.where(reference, 0.8, 0.2))
    shifted = probabilities(np.where(ellipsoid(centre=(10, 20, 27)), 0.9, 0.1))
    case = synthetic_case([shifted, right], reference)
    fusion = [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]
    result = search([case], space({}, fusion=fusion), reference=TrialParams(None, (1.0, 0.0)),
                    default=TrialParams(CrfParams(), (1.0, 0.0)), objective=Objective("sliver07_score"),
                    refinement=NO_POST)
    assert result.best.params.fusion_weights == (0.0, 1.0)
    assert result.best.mean(result.objective) == pytest.approx(100.0)  # the right output is the reference


def test_best_row_is_the_extreme_of_the_table_and_distances_are_minimised():
    cases = [noisy_unary_case(3)]
    grid = space({"mu1": (0, 5), "mu2": (0, 2)})
    for measure in ("sliver07_score", "assd_mm", "rvd_pct"):
        objective = Objective(measure)
        result = search(cases, grid, reference=TrialParams(None, (1.0,)), default=TrialParams(CrfParams(), (1.0,)),
                        objective=objective, refinement=NO_POST)
        means = [row.mean(objective) for row in result.rows]
        pick = max if objective.maximise else min
        assert result.best.mean(objective) == pick(means)
        assert len(result.rows) == 2 + 4
    assert Objective("assd_mm").direction == "minimise" and Objective("dice").direction == "maximise"


def test_objective_values_and_undefined_cases():
    objective = Objective("rvd_pct")
    reference = ellipsoid()
    metrics = evaluate_structure(reference, np.zeros_like(reference), spacing_mm=SPACING)
    assert objective.value(metrics) == pytest.approx(100.0)  # |-100 %|
    assert Objective("assd_mm").value(metrics) is None  # prediction empty: undefined distance
    assert objective.mean([1.0, None]) is None
    assert Objective("dice").better(0.9, None) and not Objective("assd_mm").better(None, 3.0)
    with pytest.raises(UnknownNameError):
        Objective("accuracy")
    with pytest.raises(UnknownNameError):
        Objective("dice", structure="spleen")


def test_halving_rungs_by_hand():
    assert halving_rungs(9, 27) == [(1, 27), (3, 9), (9, 3)]
    assert halving_rungs(3, 10) == [(1, 10), (3, 4)]
    assert halving_rungs(2, 5) == [(2, 5)]
    assert halving_rungs(10, 2) == [(10, 2)]


def test_halving_keeps_the_best_of_each_rung_and_picks_among_complete_rows():
    cases = [noisy_unary_case(s) for s in (11, 12, 13)]
    grid = space({"mu1": (0, 8), "mu2": (0, 4)})
    result = search(cases, grid, reference=TrialParams(None, (1.0,)), default=TrialParams(CrfParams(), (1.0,)),
                    objective=Objective("dice"), refinement=NO_POST, method="halving", trials=6, seed=4)
    trials = result.rows[2:]
    assert len(trials) == 6
    seen = sorted(len(row.per_case) for row in trials)
    assert seen == [1, 1, 1, 1, 3, 3]  # rung 0: 6 settings on 1 case; rung 1: ceil(6 / 3) = 2 on 3 cases
    first = cases[0].case_id
    survivors = {row.trial_id for row in trials if len(row.per_case) == 3}
    ranked = sorted(trials, key=lambda r: (-r.per_case[first], int(r.trial_id)))
    assert survivors == {ranked[0].trial_id, ranked[1].trial_id}
    assert len(result.best.per_case) == 3


def test_random_search_is_deterministic_for_a_seed_and_stays_in_range():
    grid = space({"mu1": (1, 9), "theta_alpha_mm": (2, 32)}, fusion=[(1, 0, 0), (0, 1, 0)])
    first, again, other = grid.sample(20, seed=7), grid.sample(20, seed=7), grid.sample(20, seed=8)
    assert first == again and first != other
    for trial in first:
        assert 1.0 <= trial.crf.mu1 <= 9.0 and 2.0 <= trial.crf.theta_alpha_mm <= 32.0
        assert trial.crf.mu2 == 0.0  # a single value stays fixed
        assert math.isclose(sum(trial.fusion_weights), 1.0) and len(trial.fusion_weights) == 3
    # theta is drawn on a log scale: its median is near the geometric mean (8), not 17.
    widths = sorted(t.crf.theta_alpha_mm for t in grid.sample(400, seed=1))
    assert 6.0 < widths[200] < 11.0


def test_grid_mapping_defaults_fixed_values_and_errors():
    base = CrfParams()
    parsed = space_from_mapping({"crf": {"mu1": [1, 2], "theta_gamma_mm": 4, "iterations": 3},
                                 "fusion_weights": [[2, 1, 1], [1, 0, 0]]}, num_outputs=3, base=base)
    assert parsed.values["mu1"] == (1.0, 2.0) and parsed.values["theta_gamma_mm"] == (4.0,)
    assert parsed.values["theta_beta_hu"] == (10.0, 20.0, 40.0)  # the default grid's
    assert parsed.fusion_weights == ((0.5, 0.25, 0.25), (1.0, 0.0, 0.0))
    assert parsed.grid_size == 2 * 2 * 3 * 3 * 2 and len(parsed.grid()) == parsed.grid_size
    assert {t.crf.iterations for t in parsed.grid()} == {3}
    # tau_d is the outer loop: the first half of the grid shares the first vector.
    assert {t.fusion_weights for t in parsed.grid()[:36]} == {(0.5, 0.25, 0.25)}
    assert default_fusion_vectors(1) == ((1.0,),)
    for bad in ({"crf": {"mu3": [1]}}, {"crf": {"theta_alpha_mm": [0, 5]}}, {"crf": {"mu1": ["a"]}},
                {"fusion_weights": [[1, 0]]}, {"grid": {}}, {"crf": {"mu1": []}}):
        with pytest.raises(ConfigError):
            space_from_mapping(bad, num_outputs=3, base=base)


def test_the_default_search_varies_every_crf_parameter_theta_gamma_included():
    from livseg.tuning.space import TUNED_CRF_PARAMS, default_space

    space = default_space(3)
    grid = space.grid()
    sampled = space.sample(16, seed=0)
    for name in TUNED_CRF_PARAMS:
        assert len({getattr(t.crf, name) for t in grid}) >= 2, name
        assert len({getattr(t.crf, name) for t in sampled}) >= 2, name
    assert space.grid_size == len(grid) == 108 * len(space.fusion_weights)


def test_trial_row_cells():
    trial = TrialParams(dataclasses.replace(CrfParams(), mu1=7.0), (0.5, 0.25, 0.25))
    cells = trial.row()
    assert cells["crf"] == "on" and cells["mu1"] == 7.0 and cells["tau"] == "0.5/0.25/0.25"
    assert TrialParams(None, (1.0,)).row()["mu1"] is None


def test_2d_mode_refines_each_slice_on_its_own():
    from livseg.crf import dense_crf

    case = noisy_unary_case(21)
    params = dataclasses.replace(CrfParams(), mu1=5.0, mu2=3.0)
    labels = {}
    for mode in ("2d", "3d"):
        result = search([case], space({"mu1": (5,), "mu2": (3,)}), reference=TrialParams(None, (1.0,)),
                        default=TrialParams(params, (1.0,)), objective=Objective("dice"),
                        refinement=Refinement(mode=mode, postprocess=None))
        labels[mode] = result.row("default").measures[case.case_id].counts
        # The same CRF called directly on the whole grid (the ROI box covers it here: the
        # noisy unary has foreground everywhere).
        unary = case.outputs[0].astype(np.float32)
        direct = dense_crf(unary, case.ct_hu.astype(np.float32), SPACING, params, mode=mode).argmax(axis=0) == 1
        expected = evaluate_structure(case.reference.astype(bool), direct, spacing_mm=SPACING)
        assert result.row("default").per_case[case.case_id] == pytest.approx(expected.dice, abs=1e-12)
    assert labels["2d"] != labels["3d"]


def test_refinement_refuses_an_unknown_mode():
    with pytest.raises(ConfigError, match="2d, 3d"):
        Refinement(mode="4d")
