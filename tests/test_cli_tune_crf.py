"""``livseg tune-crf`` end to end: table, files, cache reuse across runs, the predictor reading the result.

The model is the fixed-weight band network of ``tests/tuning/tuning_helpers.py`` saved as a
checkpoint; network forwards are counted with a global module forward hook (every module's
forward in the process), so "no forward" means none at all.
"""

from __future__ import annotations

import csv
import json

import pytest
import torch
import yaml

from tuning.tuning_helpers import write_band_model, write_test_phantoms

GRID = {"crf": {"mu1": [0, 5], "mu2": [3], "theta_alpha_mm": [5], "theta_beta_hu": [20], "theta_gamma_mm": [3]},
        "fusion_weights": [[1, 0, 0]]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    phantoms = write_test_phantoms(root / "phantoms", n=2)
    model = write_band_model(root / "band.pt")
    grid = root / "grid.yaml"
    grid.write_text(yaml.safe_dump(GRID))
    return phantoms, model, grid


class GlobalForwards:
    def __enter__(self):
        self.calls = 0
        self.handle = torch.nn.modules.module.register_module_forward_hook(self._hook)
        return self

    def _hook(self, module, inputs, output):
        self.calls += 1

    def __exit__(self, *exc):
        self.handle.remove()


def test_tune_crf_writes_table_and_settings_and_reuses_its_cache(run_cli, inputs, tmp_path):
    phantoms, model, grid = inputs
    out = tmp_path / "out" / "tuned-crf.yaml"
    args = ["tune-crf", "--model", model, "--data", phantoms, "--cases", "2", "--grid", grid,
            "--cache-dir", tmp_path / "cache", "-o", out, "--metric", "sliver07_score", "dice", "assd_mm",
            "--bundle-out", tmp_path / "out" / "tuned.pt"]
    with GlobalForwards() as first:
        code, stdout, stderr = run_cli(*args)
    assert code == 0, stderr
    assert first.calls > 0
    lines = stdout.splitlines()
    assert lines[0].split()[:3] == ["trial", "crf", "mu1"]
    assert lines[1].startswith("no-crf") and lines[2].startswith("default") and len(lines) >= 5
    assert "2 ran the network, 0 from the cache" in stdout
    assert "gain over no CRF" in stdout

    rows = list(csv.DictReader((tmp_path / "out" / "tuned-crf-trials.csv").open()))
    assert [r["trial"] for r in rows] == ["no-crf", "default", "1", "2"]
    scores = [float(r["mean_sliver07_score"]) for r in rows]
    best = [r for r in rows if r["best"] == "True"]
    assert len(best) == 1 and float(best[0]["mean_sliver07_score"]) == max(scores)
    for row in rows:  # the mean is the mean of the per-case columns
        per_case = [float(row["case:phantom-000"]), float(row["case:phantom-001"])]
        assert float(row["mean_sliver07_score"]) == pytest.approx(sum(per_case) / 2, abs=1e-9)
    document = json.loads((tmp_path / "out" / "tuned-crf-trials.json").read_text(encoding="utf-8"))
    assert document["best_trial"] == best[0]["trial"] and document["objective"]["direction"] == "maximise"
    assert document["provenance"]["command"].startswith("livseg tune-crf --model")

    settings = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert settings["tuning"]["best_trial"] == best[0]["trial"]
    assert settings["tuning"]["cases"] == ["phantom-000", "phantom-001"]
    assert set(settings["inference"]) == {"fusion_weights", "crf"}

    with GlobalForwards() as second:
        code, stdout, stderr = run_cli(*args)
    assert code == 0, stderr
    assert "0 ran the network, 2 from the cache" in stdout
    # Only the saved bundle is built again (no forward); the table is the same.
    assert second.calls == 0
    rows_again = list(csv.DictReader((tmp_path / "out" / "tuned-crf-trials.csv").open()))
    assert [r["mean_sliver07_score"] for r in rows_again] == [r["mean_sliver07_score"] for r in rows]

    # The tuned bundle is what `livseg predict --model` reads.
    prediction = tmp_path / "pred.nii.gz"
    code, stdout, stderr = run_cli("predict", phantoms / "images" / "phantom-000.nii.gz", "-o", prediction,
                                   "--model", tmp_path / "out" / "tuned.pt")
    assert code == 0, stderr
    assert prediction.is_file()
    # ... and so is the original model with the tuned YAML: the same labels, voxel for voxel.
    from_yaml = tmp_path / "pred-yaml.nii.gz"
    code, stdout, stderr = run_cli("predict", phantoms / "images" / "phantom-000.nii.gz", "-o", from_yaml,
                                   "--model", model, "--crf-config", out)
    assert code == 0, stderr
    from livseg.io import read_volume

    assert (read_volume(from_yaml).array == read_volume(prediction).array).all()


def test_tune_crf_random_search_with_a_budget(run_cli, inputs, tmp_path):
    phantoms, model, grid = inputs
    code, stdout, stderr = run_cli("tune-crf", "--model", model, "--data", phantoms, "--cases", "phantom-001",
                                   "--grid", grid, "--search", "random", "--trials", "2", "--seed", "3",
                                   "--cache-dir", tmp_path / "cache", "-o", tmp_path / "t.yaml",
                                   "--metric", "assd_mm", "--no-postprocess")
    assert code == 0, stderr
    rows = list(csv.DictReader((tmp_path / "t-trials.csv").open()))
    assert [r["trial"] for r in rows] == ["no-crf", "default", "1", "2"]
    values = [float(r["mean_assd_mm"]) for r in rows if r["mean_assd_mm"]]
    best = next(r for r in rows if r["best"] == "True")
    assert float(best["mean_assd_mm"]) == min(values)  # a distance is minimised
    for r in rows[2:]:
        assert 0.0 <= float(r["mu1"]) <= 5.0 and float(r["mu2"]) == 3.0
    assert yaml.safe_load((tmp_path / "t.yaml").read_text(encoding="utf-8"))["tuning"]["seed"] == 3


@pytest.mark.parametrize("extra, message", [
    (["--trials", "3"], "--search random"),
    (["--search", "random"], "a trial budget"),
    (["--cases", "phantom-999"], "no such case"),
])
def test_tune_crf_refuses_bad_requests(run_cli, inputs, tmp_path, extra, message):
    phantoms, model, grid = inputs
    code, _, stderr = run_cli("tune-crf", "--model", model, "--data", phantoms, "--cache-dir", tmp_path,
                              "-o", tmp_path / "t.yaml", *extra)
    assert code != 0
    assert message in stderr and stderr.startswith("livseg: error:")
    assert not (tmp_path / "t.yaml").exists()


def test_tune_crf_needs_labelled_cases(run_cli, inputs, tmp_path):
    phantoms, model, _ = inputs
    partly = tmp_path / "partly-labelled"
    (partly / "labels").mkdir(parents=True)
    (partly / "images").symlink_to(phantoms / "images")
    (partly / "labels" / "phantom-001.nii.gz").symlink_to(phantoms / "labels" / "phantom-001.nii.gz")
    code, _, stderr = run_cli("tune-crf", "--model", model, "--data", partly, "--cases", "phantom-000",
                              "--cache-dir", tmp_path, "-o", tmp_path / "t.yaml")
    assert code != 0 and "phantom-000" in stderr and "reference label" in stderr
