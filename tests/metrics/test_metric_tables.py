"""CSV/JSON tables: written atomically, re-read without loss, None as empty cell / null."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from livseg.io.tables import format_table, write_csv, write_json
from livseg.metrics import evaluate_case, summarize
from livseg.reporting.tables import SUMMARY_COLUMNS, case_row, summary_rows


def test_tables_round_trip(tmp_path):
    reference = np.zeros((4, 6, 6), dtype=np.uint8)
    reference[1:3, 1:5, 1:5] = 1
    cases = [evaluate_case(reference, reference, spacing_mm=(0.7, 0.7, 2.0), case_id="a"),
             evaluate_case(reference, np.zeros_like(reference), spacing_mm=(0.7, 0.7, 2.0), case_id="b")]
    rows = [case_row(c.as_dict()) for c in cases]
    write_csv(rows, tmp_path / "cases.csv")
    summary = summarize(cases)
    write_csv(summary_rows(summary), tmp_path / "summary.csv", columns=SUMMARY_COLUMNS)
    write_json({"summary": summary}, tmp_path / "metrics.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "metrics.json", "summary.csv"]
    with open(tmp_path / "cases.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [r["case_id"] for r in read] == ["a", "b"]
    assert float(read[0]["liver_dice"]) == 1.0
    assert read[1]["liver_empty"] == "prediction" and read[1]["liver_assd_mm"] == ""   # undefined
    assert float(read[1]["liver_rvd_pct"]) == -100.0
    assert json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))["summary"]["structures"]["liver"][
        "measures"]["assd_mm"]["n_undefined"] == 1


def test_non_finite_values_are_a_bug_not_data(tmp_path):
    with pytest.raises(ValueError):
        write_json({"x": float("nan")}, tmp_path / "bad.json")
    assert not list(tmp_path.iterdir())           # nothing half-written left behind


def test_format_table():
    text = format_table([{"measure": "dice", "liver": 0.5, "tumour": None}], ["measure", "liver", "tumour"])
    assert text.splitlines()[1].split() == ["dice", "0.5000", "-"]


def test_tables_leave_a_structure_not_assessed_empty_and_say_so(tmp_path):
    reference = np.zeros((4, 6, 6), dtype=np.uint8)
    reference[1:3, 1:5, 1:5] = 1
    reference[1:3, 2:4, 2:4] = 2
    liver_only = np.where(reference > 0, 1, 0).astype(np.uint8)
    cases = [evaluate_case(reference, liver_only, spacing_mm=(0.7, 0.7, 2.0), case_id="a", structures=("liver",)),
             evaluate_case(reference, reference, spacing_mm=(0.7, 0.7, 2.0), case_id="b")]
    write_csv([case_row(c.as_dict()) for c in cases], tmp_path / "cases.csv")
    write_csv(summary_rows(summarize(cases[:1])), tmp_path / "summary.csv", columns=SUMMARY_COLUMNS)
    with open(tmp_path / "cases.csv", newline="") as handle:
        a, b = list(csv.DictReader(handle))
    assert a["tumour_assessed"] == "False" and b["tumour_assessed"] == "True"
    assert a["tumour_dice"] == "" and a["tumour_empty"] == "" and float(b["tumour_dice"]) == 1.0
    assert a["lesions_n_detected"] == "" and a["lesions_n_reference"] == "" and b["lesions_n_detected"] == "1"
    assert a["tumour_burden_error"] == "" and float(a["liver_dice"]) == 1.0
    with open(tmp_path / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    tumour = [r for r in rows if r["structure"] == "tumour"]
    assert tumour and all(r["mean"] == "" and r["n"] == "0" and r["n_not_assessed"] == "1"
                          and r["note"].startswith("not assessed") for r in tumour)
    assert all(r["note"] == "" for r in rows if r["structure"] == "liver")
