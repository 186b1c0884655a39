"""`livseg demo`: data preparation offline, and the full showcase on the CHAOS case."""

from __future__ import annotations

import csv

from livseg.io import read_volume


def test_demo_offline_without_segmentation_writes_a_phantom(tmp_path, run_cli):
    code, out, err = run_cli("demo", "--offline", "--no-segment", "--n-phantoms", "1", "--out", tmp_path)
    assert code == 0, err
    image = tmp_path / "phantoms" / "images" / "phantom-000.nii.gz"
    label = tmp_path / "phantoms" / "labels" / "phantom-000.nii.gz"
    ct, labels = read_volume(image, kind="ct"), read_volume(label, kind="label")
    assert ct.geometry.same_grid(labels.geometry)
    assert "phantom-000" in out and "LiTS sample: skipped (--offline)" in out
    assert not (tmp_path / "report.html").exists()


def test_demo_segments_evaluates_and_reports_the_chaos_case(tmp_path, run_cli, shared_data):
    code, out, err = run_cli("demo", "--offline", "--out", tmp_path, "--data-root", shared_data)
    assert code == 0, err
    report = tmp_path / "report.html"
    assert report.is_file() and f"Report: {report.resolve()}" in out
    assert "chaos-ct-1" in report.read_text(encoding="utf-8")
    mask = read_volume(tmp_path / "predictions" / "chaos-ct-1.nii.gz", kind="label")
    assert mask.geometry == read_volume(shared_data / "chaos-ct-1" / "image.nii.gz").geometry
    rows = {r["case_id"]: r for r in csv.DictReader((tmp_path / "evaluation" / "cases.csv").open())}
    # The packaged model saw this case in training (in-sample): a loose floor that still fails
    # on a broken pipeline (wrong grid, flipped axes, empty mask).
    assert float(rows["chaos-ct-1"]["liver_dice"]) > 0.9
    # The phantom (life-size, never trained on) is segmented and scored too: its liver Dice is
    # the first number of the pair evaluation's "dice" row (0.97 with the packaged model).
    phantom = read_volume(tmp_path / "phantom-prediction.nii.gz", kind="label")
    assert phantom.geometry == read_volume(tmp_path / "phantoms" / "images" / "phantom-000.nii.gz").geometry
    dice_row = next(line.split() for line in out.splitlines() if line.startswith("dice "))
    assert float(dice_row[1]) > 0.9
    # No tumour model ran (the cascade is opt-in): the tumour is reported as not assessed, never
    # as a score (it was 'tumour Dice 0.5' and '0/79 lesions detected' before).
    assert len(dice_row) == 2                                  # the pair table has a liver column only
    assert "tumour: not assessed (no tumour model ran, says phantom-prediction.livseg.json)" in out
    assert "tumour: not assessed (in none of the" in out and "lesions:" not in out
    assert rows["chaos-ct-1"]["tumour_assessed"] == "False" and rows["chaos-ct-1"]["tumour_dice"] == ""
    page = report.read_text(encoding="utf-8")
    assert "not assessed" in page and 'data-structure="tumour" data-measure="dice"' not in page
