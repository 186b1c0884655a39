"""``livseg evaluate`` end to end on real files: pair form, data-set form, grids, label maps."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import ndimage

from livseg.io import read_volume, write_volume
from livseg.metrics import evaluate_case
from livseg.volume import Geometry, Volume

GEOMETRY = Geometry(size=(20, 18, 10), spacing_mm=(0.8, 0.8, 2.5), origin_mm=(-30.0, 12.0, 100.0))
KEYS = ("dice", "jaccard", "voe_pct", "rvd_pct", "assd_mm", "rmssd_mm", "mssd_mm", "hd95_mm", "sliver07_score")


def labels(shift_x: int = 0) -> np.ndarray:
    array = np.zeros(GEOMETRY.shape_zyx, dtype=np.uint8)
    array[2:8, 3:14, 4 + shift_x:15 + shift_x] = 1
    array[4:6, 6:9, 7 + shift_x:10 + shift_x] = 2
    return array


@pytest.fixture
def pair(tmp_path):
    gt = write_volume(Volume(labels(), GEOMETRY), tmp_path / "case7.nii.gz")
    pred = write_volume(Volume(labels(shift_x=1), GEOMETRY), tmp_path / "pred7.nii.gz")
    return pred, gt


def test_pair_json_has_every_key_and_the_library_values(pair, run_cli):
    pred, gt = pair
    code, out, err = run_cli("evaluate", pred, gt, "--json")
    assert code == 0, err
    result = json.loads(out)
    expected = evaluate_case(read_volume(gt), read_volume(pred), case_id="case7").as_dict()
    assert result["case_id"] == "case7"
    for structure in ("liver", "tumour"):
        for key in KEYS:
            assert result[structure][key] == pytest.approx(expected[structure][key]), (structure, key)
    # hand check: a one-voxel shift along x of an 11-voxel-wide box keeps 10/11 of it
    assert result["liver"]["dice"] == pytest.approx(10 / 11)
    assert result["liver"]["mssd_mm"] == pytest.approx(0.8)
    assert result["lesions"]["n_reference"] == 1


def test_out_writes_tables_atomically(pair, run_cli, tmp_path):
    pred, gt = pair
    out = tmp_path / "eval"
    code, text, err = run_cli("evaluate", pred, gt, "--out", out, "--tolerance-mm", "0.5")
    assert code == 0, err
    assert "dice" in text and "liver" in text
    assert sorted(p.name for p in out.iterdir()) == ["cases.csv", "metrics.json", "summary.csv"]
    with open(out / "cases.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["liver_dice"]) == pytest.approx(10 / 11)
    assert float(row["liver_surface_dice_tolerance_mm"]) == 0.5
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["tolerance_mm"] == 0.5
    assert metrics["summary"]["structures"]["liver"]["measures"]["dice"]["n"] == 1


def test_mismatched_grid_is_refused_then_resampled(tmp_path, run_cli):
    gt = write_volume(Volume(labels(), GEOMETRY), tmp_path / "gt.nii.gz")
    # The same labels written with the origin one voxel further along x: on the reference grid
    # this is exactly the array shifted by one voxel.
    moved = Geometry(size=GEOMETRY.size, spacing_mm=GEOMETRY.spacing_mm,
                     origin_mm=(GEOMETRY.origin_mm[0] + 0.8, GEOMETRY.origin_mm[1], GEOMETRY.origin_mm[2]))
    pred = write_volume(Volume(labels(), moved), tmp_path / "moved.nii.gz")
    code, _, err = run_cli("evaluate", pred, gt)
    assert code != 0
    assert "origin" in err and "--resample-pred" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli("evaluate", pred, gt, "--resample-pred", "--json")
    assert code == 0, err
    shifted = evaluate_case(labels(), labels(shift_x=1), spacing_mm=GEOMETRY.spacing_mm).as_dict()
    assert json.loads(out)["liver"]["dice"] == pytest.approx(shifted["liver"]["dice"])
    assert json.loads(out)["liver"]["assd_mm"] == pytest.approx(shifted["liver"]["assd_mm"])


def test_foreign_labels_need_a_label_map(tmp_path, run_cli):
    gt = write_volume(Volume(labels(), GEOMETRY), tmp_path / "gt.nii.gz")
    totalseg = np.where(labels() > 0, 5, 0).astype(np.uint8)
    totalseg[0, 0, 0] = 17                        # another organ
    pred = write_volume(Volume(totalseg, GEOMETRY), tmp_path / "ts.nii.gz")
    code, _, err = run_cli("evaluate", pred, gt)
    assert code != 0 and "--label-map" in err
    code, out, err = run_cli("evaluate", pred, gt, "--label-map", "5:1,*:0", "--json")
    assert code == 0, err
    assert json.loads(out)["liver"]["dice"] == 1.0
    assert json.loads(out)["tumour"]["empty"] == "prediction"


def test_wrong_forms_are_refused(run_cli, pair, tmp_path):
    pred, gt = pair
    for args in [(), (pred,), (pred, gt, "--pred-dir", tmp_path), ("--pred-dir", tmp_path)]:
        code, _, err = run_cli("evaluate", *args)
        assert code != 0 and "--pred-dir P --gt DATASET" in err
    code, _, err = run_cli("evaluate", tmp_path / "missing.nii.gz", gt)
    assert code != 0 and "missing.nii.gz" in err


def test_dataset_form(tmp_path, run_cli):
    root, preds = tmp_path / "data", tmp_path / "preds"
    for index, shift in enumerate((0, 1, 2)):
        case_id = f"case{index}"
        ct = np.random.default_rng(index).integers(-1000, 400, GEOMETRY.shape_zyx).astype(np.int16)
        write_volume(Volume(ct, GEOMETRY), root / "images" / f"{case_id}.nii.gz")
        write_volume(Volume(labels(), GEOMETRY), root / "labels" / f"{case_id}.nii.gz")
        if index < 2:
            write_volume(Volume(labels(shift_x=shift), GEOMETRY), preds / f"{case_id}.mha")
    code, _, err = run_cli("evaluate", "--pred-dir", preds, "--gt", root)
    assert code != 0 and "case2" in err and "--skip-missing" in err
    out = tmp_path / "eval"
    code, text, err = run_cli("evaluate", "--pred-dir", preds, "--gt", root, "--skip-missing", "--out", out, "--json")
    assert code == 0, err
    result = json.loads(text)
    assert [c["case_id"] for c in result["cases"]] == ["case0", "case1"]
    dice = result["summary"]["structures"]["liver"]["measures"]["dice"]
    assert dice["n"] == 2 and dice["mean"] == pytest.approx((1.0 + 10 / 11) / 2)
    assert dice["median"] == pytest.approx((1.0 + 10 / 11) / 2)
    with open(out / "summary.csv", newline="") as handle:
        rows = {(r["structure"], r["measure"]): r for r in csv.DictReader(handle)}
    assert float(rows[("liver", "dice")]["mean"]) == pytest.approx(dice["mean"])


@pytest.mark.needs_shared_data
def test_chaos_reference_against_its_erosion(shared_data, run_cli, tmp_path):
    """Exact, hand-checkable figures on the real CHAOS label (see tests/metrics/test_metrics_chaos.py)."""
    gt_path = shared_data / "chaos-ct-1" / "label.nii.gz"
    reference = read_volume(gt_path)
    ref = reference.array > 0
    eroded = ndimage.binary_erosion(ref, structure=np.ones((3, 3, 3), bool), border_value=0)
    pred_path = write_volume(reference.with_array(eroded.astype(np.uint8)), tmp_path / "eroded.nii.gz")
    code, out, err = run_cli("evaluate", pred_path, gt_path, "--json")
    assert code == 0, err
    liver = json.loads(out)["liver"]
    n_ref, n_eroded = int(ref.sum()), int(eroded.sum())        # 1342595 and 1208376
    assert liver["dice"] == pytest.approx(2 * n_eroded / (n_ref + n_eroded), abs=1e-12)
    assert liver["voe_pct"] == pytest.approx(100 * (1 - n_eroded / n_ref), abs=1e-10)
    assert liver["rvd_pct"] == pytest.approx(-100 * (n_ref - n_eroded) / n_ref, abs=1e-10)
    # border(R) and border(E) are disjoint, so no distance is below one in-plane step
    sx = reference.spacing_mm[0]
    assert sx <= liver["assd_mm"] <= liver["rmssd_mm"] <= liver["mssd_mm"]
    assert sx <= liver["hd95_mm"] <= liver["mssd_mm"]
    by_hand = np.mean([max(0.0, 100 - 25 * abs(value) / reference_value) for value, reference_value in [
        (liver["voe_pct"], 6.4), (liver["rvd_pct"], 4.7), (liver["assd_mm"], 1.0),
        (liver["rmssd_mm"], 1.8), (liver["mssd_mm"], 19.0)]])
    assert liver["sliver07_score"] == pytest.approx(by_hand)


def test_unknown_spacing_is_refused_until_given(tmp_path, run_cli):
    mrcfile = pytest.importorskip("mrcfile")
    path = tmp_path / "labels.mrc"
    with mrcfile.new(str(path)) as handle:       # MRC with voxel size 0: spacing unknown
        handle.set_data(labels())
    code, _, err = run_cli("evaluate", path, path)
    assert code != 0 and "--spacing-mm" in err
    code, out, err = run_cli("evaluate", path, path, "--spacing-mm", "0.8", "0.8", "2.5", "--json")
    assert code == 0, err
    liver = json.loads(out)["liver"]
    assert liver["dice"] == 1.0
    assert liver["reference_volume_ml"] == pytest.approx(int((labels() > 0).sum()) * 0.8 * 0.8 * 2.5 / 1000)
