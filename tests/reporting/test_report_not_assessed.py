"""The report of predictions that did not assess the tumour says 'not assessed', never a number."""

from __future__ import annotations

import re
import shutil

from livseg.reporting.evaluation import read_evaluation


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html)))


def test_a_tumour_not_assessed_shows_no_number(phantom_evaluation, run_cli, tmp_path):
    p = phantom_evaluation
    eval_dir = tmp_path / "eval"
    code, _, err = run_cli("evaluate", "--pred-dir", p.prediction, "--gt", p.data, "--out", eval_dir,
                           "--structures", "liver")
    assert code == 0, err
    out = tmp_path / "report.html"
    code, _, err = run_cli("report", eval_dir, "--pred-dir-nocrf", p.nocrf, "-o", out)
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    text = _text(page)
    assert 'data-structure="tumour" data-measure=' not in page          # no tumour value cell anywhere
    assert "mean tumour Dice not assessed" in text
    assert "tumour lesions detected" in text and "Tumour lesions and tumour burden: not assessed" in text
    assert text.count("not assessed (the prediction did not segment it") == len(p.case_ids) * 2  # metrics + CRF
    assert "liver Dice" in text and "tumour Dice 0" not in text and "tumour Dice 1" not in text
    # cases.csv alone (no metrics.json) reads back the same way
    csv_only = tmp_path / "csv-only"
    csv_only.mkdir()
    shutil.copyfile(eval_dir / "cases.csv", csv_only / "cases.csv")
    evaluation = read_evaluation(csv_only)
    assert all(case["tumour"] == {"assessed": False} and case["lesions"] == {"assessed": False}
               for case in evaluation.cases)
    tumour = evaluation.summary["structures"]["tumour"]
    assert tumour["assessed"] is False and tumour["n_not_assessed"] == len(p.case_ids)
    assert evaluation.summary["structures"]["liver"]["measures"]["dice"]["n"] == len(p.case_ids)
    assert evaluation.summary["lesions"]["assessed"] is False
    from_json = read_evaluation(eval_dir).summary["structures"]["liver"]["measures"]["dice"]
    assert evaluation.summary["structures"]["liver"]["measures"]["dice"]["mean"] == from_json["mean"]
