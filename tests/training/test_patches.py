"""Patch planning and extraction: exact foreground share, padding, process shares."""

from __future__ import annotations

import numpy as np

from livseg.training.patches import TrainingCase, extract_patch, plan_epoch, share_of, task_target
from livseg.volume import Geometry


def _case(shape=(10, 12, 14), foreground_box=(slice(4, 6), slice(5, 7), slice(6, 8)), case_id="c") -> TrainingCase:
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    target = np.zeros(shape, dtype=np.uint8)
    target[foreground_box] = 1
    return TrainingCase(case_id=case_id, image=image, target=target,
                        foreground_zyx=np.argwhere(target > 0).astype(np.int32), pad_value=-1.0,
                        geometry=Geometry(size=shape[::-1], spacing_mm=(1.0, 1.0, 1.0)))


def test_extract_patch_inside_matches_slicing():
    case = _case()
    patch = extract_patch(case.image, (5, 6, 7), (4, 4, 6), case.pad_value)
    np.testing.assert_array_equal(patch, case.image[3:7, 4:8, 4:10])


def test_extract_patch_pads_beyond_the_border():
    case = _case()
    patch = extract_patch(case.image, (0, 0, 13), (3, 3, 4), case.pad_value)
    # z, y from -1 to 1, x from 11 to 14 (14 is outside).
    assert patch.shape == (3, 3, 4)
    assert np.all(patch[0] == -1) and np.all(patch[:, 0] == -1) and np.all(patch[..., 3] == -1)
    np.testing.assert_array_equal(patch[1:, 1:, :3], case.image[0:2, 0:2, 11:14])


def test_extract_patch_larger_than_the_volume():
    image = np.ones((2, 2, 2), dtype=np.float32)
    patch = extract_patch(image, (1, 1, 1), (6, 6, 6), 0.0)
    assert patch.shape == (6, 6, 6) and patch.sum() == 8
    np.testing.assert_array_equal(patch[2:4, 2:4, 2:4], image)  # start = 1 - 6 // 2 = -2


def test_plan_has_the_exact_foreground_share_and_is_reproducible():
    cases = [_case(case_id="a"), _case(case_id="b")]
    plan = plan_epoch(cases, count=20, foreground_fraction=0.3, seed=7, epoch=3)
    assert len(plan) == 20 and sum(p.foreground for p in plan) == 6
    for request in plan:
        if request.foreground:
            z, y, x = request.centre_zyx
            assert cases[request.case_index].target[z, y, x] == 1
    assert plan == plan_epoch(cases, count=20, foreground_fraction=0.3, seed=7, epoch=3)
    assert plan != plan_epoch(cases, count=20, foreground_fraction=0.3, seed=7, epoch=4)


def test_plan_falls_back_to_random_centres_without_foreground():
    case = _case(foreground_box=(slice(0, 0),) * 3)
    plan = plan_epoch([case], count=5, foreground_fraction=1.0, seed=0, epoch=0)
    assert not any(p.foreground for p in plan)


def test_process_shares_are_disjoint_equal_and_cover_the_plan():
    plan = plan_epoch([_case()], count=11, foreground_fraction=0.5, seed=1, epoch=0)
    shares = [share_of(plan, rank, 3) for rank in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]
    taken = [id(p) for s in shares for p in s]
    assert len(set(taken)) == 9
    assert share_of(plan, 0, 1) == plan


def test_task_targets():
    label = np.array([0, 1, 2, 1, 0], dtype=np.uint8)
    np.testing.assert_array_equal(task_target(label, "liver"), [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(task_target(label, "tumour"), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(task_target(label, "liver_tumour"), label)


def test_clamped_centres_keep_the_patch_inside_and_the_foreground_in_it():
    from livseg.training.patches import clamp_centre

    assert clamp_centre((0, 5, 13), (4, 4, 6), (10, 12, 14)) == (2, 5, 11)   # by hand: [s//2, n - s + s//2]
    assert clamp_centre((9, 0, 0), (4, 4, 6), (10, 12, 14)) == (8, 2, 3)
    assert clamp_centre((1, 1, 1), (20, 20, 20), (10, 12, 14)) == (5, 6, 7)  # larger than the volume: centred
    cases = [_case(foreground_box=(slice(0, 2), slice(0, 2), slice(12, 14)))]
    for request in plan_epoch(cases, count=30, foreground_fraction=0.5, seed=0, epoch=0, patch_zyx=(4, 4, 6)):
        z, y, x = request.centre_zyx
        assert 2 <= z <= 8 and 2 <= y <= 10 and 3 <= x <= 11
        patch = extract_patch(cases[0].target, request.centre_zyx, (4, 4, 6), 0)
        assert patch.shape == (4, 4, 6) and (not request.foreground or patch.any())


def test_phantom_share_weights_the_case_choice():
    from livseg.training.patches import case_probabilities

    ids = ["chaos", "totalseg"] + [f"phantom-{i:03d}" for i in range(8)]
    probs = case_probabilities(ids, 0.25)
    assert probs is not None and abs(probs.sum() - 1) < 1e-12
    assert abs(probs[:2].sum() - 0.75) < 1e-12 and abs(probs[2:].sum() - 0.25) < 1e-12
    assert case_probabilities(ids, None) is None and case_probabilities(ids[2:], 0.25) is None
    cases = [_case() for _ in ids]
    plan = plan_epoch(cases, count=2000, foreground_fraction=0.5, seed=0, epoch=0, case_probs=probs)
    real = sum(r.case_index < 2 for r in plan) / len(plan)
    assert 0.70 < real < 0.80  # 0.75 expected; binomial sd about 0.01
