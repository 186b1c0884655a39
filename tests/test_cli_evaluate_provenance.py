"""`livseg evaluate --out` records its command and inputs, so `livseg report EVAL` needs no options."""

from __future__ import annotations

import json

import numpy as np

from livseg.phantoms import write_phantoms
from livseg.io import read_volume, write_volume


def test_metrics_json_records_command_inputs_and_case_files(tmp_path, run_cli):
    cases = write_phantoms(tmp_path / "gt", n=1, seed=5)
    preds = tmp_path / "preds"
    labels = read_volume(cases[0].label, kind="label")
    shifted = np.roll(labels.array, 1, axis=0)
    write_volume(labels.with_array(shifted.astype(np.uint8)), preds / f"{cases[0].case_id}.nii.gz")
    code, _, err = run_cli("evaluate", "--pred-dir", preds, "--gt", tmp_path / "gt", "--out", tmp_path / "eval")
    assert code == 0, err
    payload = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    settings = payload["settings"]
    assert settings["command"].startswith("livseg evaluate --pred-dir")
    assert settings["inputs"]["gt"] == str((tmp_path / "gt").resolve())
    assert settings["inputs"]["pred_dir"] == str(preds.resolve())
    files = payload["cases"][0]["files"]
    assert files == {
        "image": str(cases[0].image.resolve()),
        "reference": str(cases[0].label.resolve()),
        "prediction": str((preds / f"{cases[0].case_id}.nii.gz").resolve()),
    }
    code, _, err = run_cli("report", tmp_path / "eval", "-o", tmp_path / "report.html")
    assert code == 0, err
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("<img") >= 2 and cases[0].case_id in html
