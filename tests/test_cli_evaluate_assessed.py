"""``livseg evaluate`` of predictions made without a tumour model: the tumour reads as *not
assessed* (text, --json, --out tables), never as Dice 0 and "0/N lesions detected".

Predictions are real ``livseg predict`` outputs of phantom CTs (with their provenance sidecars)
made with the fixed-weight threshold network of tests/inference/inference_helpers.py; the
references are the phantoms' own labels, which hold tumours.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))

from inference_helpers import threshold_bundle  # noqa: E402
from livseg.inference import save_bundle  # noqa: E402
from livseg.io import read_volume, write_volume  # noqa: E402
from livseg.phantoms import generate_phantom  # noqa: E402

SEEDS = (1, 3)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory) -> Path:
    """data/{images,labels}/case<seed>.nii.gz and masks/case<seed>.nii.gz + case<seed>.livseg.json."""
    from livseg.cli import main

    root = tmp_path_factory.mktemp("assessed")
    for seed in SEEDS:
        ct, labels = generate_phantom(seed, size_xyz=(48, 40, 24))
        assert (labels.array == 2).any()                                   # the reference has tumours
        write_volume(ct, root / "data" / "images" / f"case{seed}.nii.gz")
        write_volume(labels, root / "data" / "labels" / f"case{seed}.nii.gz")
    model = save_bundle(threshold_bundle(spacing_mm=(1.5, 1.5, 2.0)), root / "threshold.pt")
    assert main(["predict", str(root / "data" / "images"), "-o", str(root / "masks"), "--model", str(model),
                 "--no-crf"]) == 0
    for seed in SEEDS:
        facts = json.loads((root / "masks" / f"case{seed}.livseg.json").read_text(encoding="utf-8"))
        assert facts["structures"] == ["liver"]
    return root


def _pair(root: Path, seed: int = 1) -> tuple[Path, Path]:
    return root / "masks" / f"case{seed}.nii.gz", root / "data" / "labels" / f"case{seed}.nii.gz"


def test_text_says_not_assessed_instead_of_scores(predicted, run_cli):
    pred, gt = _pair(predicted)
    code, out, err = run_cli("evaluate", pred, gt)
    assert code == 0, err
    assert "tumour: not assessed (no tumour model ran, says case1.livseg.json)" in out
    header = out.splitlines()[1].split()
    assert header == ["measure", "liver"]                        # no tumour column of numbers
    assert "lesions" not in out and "burden" not in out
    # without the sidecar the file does not say: both are scored, as before (the tumour is missed)
    code, out, err = run_cli("evaluate", pred, gt, "--structures", "liver,tumour")
    assert code == 0, err
    assert out.splitlines()[1].split() == ["measure", "liver", "tumour"] and "not assessed" not in out
    assert "tumour lesions: 0/" in out


def test_json_and_out_tables_say_not_assessed(predicted, run_cli, tmp_path):
    pred, gt = _pair(predicted)
    code, out, err = run_cli("evaluate", pred, gt, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["tumour"] == {"assessed": False}
    assert result["lesions"] == {"assessed": False} and result["tumour_burden"] == {"assessed": False}
    assert result["liver"]["assessed"] is True and 0 < result["liver"]["dice"] <= 1
    assert result["assessed_from"]["source"] == "sidecar"
    assert result["assessed_from"]["path"] == str((predicted / "masks" / "case1.livseg.json").resolve())

    out_dir = tmp_path / "eval"
    code, _, err = run_cli("evaluate", pred, gt, "--out", out_dir)
    assert code == 0, err
    with open(out_dir / "cases.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["tumour_assessed"] == "False" and row["liver_assessed"] == "True"
    assert row["tumour_dice"] == "" and row["tumour_empty"] == "" and row["lesions_n_detected"] == ""
    assert row["tumour_burden_error"] == "" and float(row["liver_dice"]) > 0
    with open(out_dir / "summary.csv", newline="") as handle:
        summary_rows = list(csv.DictReader(handle))
    tumour_rows = [r for r in summary_rows if r["structure"] == "tumour"]
    assert tumour_rows and all(r["mean"] == "" and r["n"] == "0" and r["n_not_assessed"] == "1"
                               and "not assessed" in r["note"] for r in tumour_rows)
    metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["cases"][0]["tumour"] == {"assessed": False}
    assert metrics["cases"][0]["assessed_from"]["structures"] == ["liver"]
    assert metrics["summary"]["structures"]["tumour"]["assessed"] is False
    assert metrics["summary"]["lesions"]["assessed"] is False


def test_structures_option_wins_over_the_sidecar_and_applies_without_one(predicted, run_cli, tmp_path):
    pred, gt = _pair(predicted)
    code, out, err = run_cli("evaluate", pred, gt, "--structures", "liver,tumour", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["tumour"]["assessed"] is True and result["tumour"]["dice"] == 0.0   # scored as asked
    assert result["assessed_from"]["source"] == "option"
    bare = tmp_path / "bare.nii.gz"                          # a mask without sidecar: both scored
    shutil.copyfile(pred, bare)
    code, out, err = run_cli("evaluate", bare, gt, "--json")
    assert code == 0, err
    assert json.loads(out)["tumour"]["assessed"] is True
    code, out, err = run_cli("evaluate", bare, gt, "--structures", "liver")
    assert code == 0, err
    assert "tumour: not assessed (--structures liver)" in out
    code, _, err = run_cli("evaluate", bare, gt, "--structures", "liver,lungs")
    assert code != 0 and "lungs" in err and len(err.strip().splitlines()) == 1


def test_a_sidecar_of_another_mask_is_ignored(predicted, run_cli, tmp_path, caplog):
    pred, gt = _pair(predicted)
    other = tmp_path / "case1.nii.gz"
    mask = read_volume(pred, kind="label")
    write_volume(mask.with_array(np.where(read_volume(gt).array > 0, 1, 0).astype(np.uint8)), other)
    shutil.copyfile(predicted / "masks" / "case1.livseg.json", tmp_path / "case1.livseg.json")
    with caplog.at_level(logging.WARNING):
        code, out, err = run_cli("evaluate", other, gt, "--json")
    assert code == 0, err
    assert json.loads(out)["tumour"]["assessed"] is True              # the sidecar describes another mask
    assert any("checksum differs" in r.getMessage() for r in caplog.records)


def test_data_set_with_a_mix_counts_only_the_assessed_cases(predicted, run_cli, tmp_path):
    masks = tmp_path / "masks"
    shutil.copytree(predicted / "masks", masks)
    (masks / "case3.livseg.json").unlink()                  # case3: the file does not say -> both scored
    code, out, err = run_cli("evaluate", "--pred-dir", masks, "--gt", predicted / "data", "--out", tmp_path / "e")
    assert code == 0, err
    assert "tumour: Dice global" in out and "not assessed in 1 case(s), left out" in out
    summary = json.loads((tmp_path / "e" / "metrics.json").read_text(encoding="utf-8"))["summary"]
    tumour = summary["structures"]["tumour"]
    assert tumour["n_assessed"] == 1 and tumour["n_not_assessed"] == 1 and tumour["measures"]["dice"]["n"] == 1
    assert summary["lesions"]["n_not_assessed"] == 1
    code, out, err = run_cli("evaluate", "--pred-dir", predicted / "masks", "--gt", predicted / "data")
    assert code == 0, err
    assert "tumour: not assessed (in none of the 2 predictions: no tumour model ran, say their .livseg.json " \
           "sidecars)" in out
    assert "lesions:" not in out and not [line for line in out.splitlines() if line.startswith("tumour ")]
