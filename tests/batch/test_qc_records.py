"""The quality flag travels with each case: printed, in the sidecar, the manifest and the
cohort table, and kept when a rerun skips the case."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from livseg.io import write_volume
from livseg.phantoms import generate_phantom


def test_qc_in_the_sidecar_manifest_and_cohort_table(run_cli, model, tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    for seed in (1, 2):
        ct, _ = generate_phantom(seed, size_xyz=(64, 56, 32))
        write_volume(ct, cases / f"case{seed}.nii.gz")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("predict", cases, "-o", out, "--model", model)
    assert code == 0, stderr
    assert stdout.splitlines()[0].split()[-1] == "qc"
    side = json.loads((out / "case1.livseg.json").read_text(encoding="utf-8"))
    records = {r["case_id"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines())}
    for case_id in ("case1", "case2"):
        qc = records[case_id]["qc"]
        assert qc["qc"] in ("ok", "review") and qc["score"] >= 0
        assert qc["signals"]["liver_ml"] == pytest.approx(records[case_id]["volumes_ml"]["liver"], abs=1e-4)
        assert (qc["qc"] == "review") == bool(qc["reasons"])
    assert side["qc"] == records["case1"]["qc"]
    code, stdout, _ = run_cli("predict", cases, "-o", out, "--model", model)  # a rerun keeps both
    rerun = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()][-2:]
    assert [r["status"] for r in rerun] == ["skipped", "skipped"]
    assert {r["case_id"]: r["qc"] for r in rerun} == {c: records[c]["qc"] for c in ("case1", "case2")}
    code, stdout, _ = run_cli("summary", out)
    assert code == 0 and " qc " in stdout.splitlines()[0] + " "
    with open(out / "cohort.csv", newline="", encoding="utf-8") as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    for case_id in ("case1", "case2"):
        assert rows[case_id]["qc"] == records[case_id]["qc"]["qc"]
        assert float(rows[case_id]["qc_score"]) == pytest.approx(records[case_id]["qc"]["score"])
