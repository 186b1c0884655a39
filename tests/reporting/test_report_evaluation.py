"""Reading an evaluation folder: metrics.json, the cases.csv fallback, and bad folders."""

from __future__ import annotations

import json
import shutil

import pytest

from livseg.errors import DatasetError, InputNotFoundError, UnreadableInputError
from livseg.reporting.evaluation import read_evaluation
from livseg.reporting.figures import MEASURES


def test_metrics_json_is_read_as_written(phantom_evaluation):
    evaluation = read_evaluation(phantom_evaluation.eval_dir)
    written = json.loads((phantom_evaluation.eval_dir / "metrics.json").read_text(encoding="utf-8"))
    assert evaluation.source.name == "metrics.json"
    assert evaluation.case_ids == list(phantom_evaluation.case_ids)
    assert evaluation.summary == written["summary"]
    assert evaluation.values("liver", "dice") == [c["liver"]["dice"] for c in written["cases"]]


def test_cases_csv_alone_gives_the_same_tables(phantom_evaluation, tmp_path):
    shutil.copy(phantom_evaluation.eval_dir / "cases.csv", tmp_path / "cases.csv")
    from_csv = read_evaluation(tmp_path)
    from_json = read_evaluation(phantom_evaluation.eval_dir)
    assert from_csv.source.name == "cases.csv" and from_csv.settings == {}
    assert from_csv.case_ids == from_json.case_ids
    for structure in ("liver", "tumour"):
        for measure in MEASURES:
            assert from_csv.values(structure, measure.key) == from_json.values(structure, measure.key)
            expected = from_json.summary["structures"][structure]["measures"][measure.key]
            got = from_csv.summary["structures"][structure]["measures"][measure.key]
            for stat in ("mean", "std", "median", "n", "n_undefined"):
                assert got[stat] == pytest.approx(expected[stat], rel=1e-12), (structure, measure.key, stat)
        json_block = from_json.summary["structures"][structure]
        csv_block = from_csv.summary["structures"][structure]
        assert csv_block["n_empty"] == json_block["n_empty"]
        assert csv_block["dice_global"] == pytest.approx(json_block["dice_global"], rel=1e-12)
    assert from_csv.summary["lesions"] == from_json.summary["lesions"]
    # the perturbations: case 1 misses its tumour, so one case has an empty tumour prediction
    assert from_csv.summary["structures"]["tumour"]["n_empty"]["prediction"] == 1


def test_bad_folders_raise_clear_errors(tmp_path):
    with pytest.raises(InputNotFoundError):
        read_evaluation(tmp_path / "missing")
    with pytest.raises(DatasetError, match="metrics.json or cases.csv"):
        read_evaluation(tmp_path)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(UnreadableInputError, match="metrics.json"):
        read_evaluation(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"cases": []}))
    with pytest.raises(UnreadableInputError, match="non-empty 'cases'"):
        read_evaluation(tmp_path)
