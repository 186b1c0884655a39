"""``livseg predict`` end to end: formats, grids, batches with a broken case, DICOM SEG, timing.

The model is a saved bundle of the fixed-weight threshold network (tests/inference/
inference_helpers.py): the masks are a known function of the image, not a trained liver
segmentation; these tests check files, grids and reporting.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))

from inference_helpers import threshold_bundle  # noqa: E402
from livseg.phantoms import generate_phantom  # noqa: E402
from livseg.inference import CrfSettings, save_bundle  # noqa: E402
from livseg.io import read_volume, write_volume  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    bundle = threshold_bundle(spacing_mm=(1.5, 1.5, 2.0), settings={"crf": CrfSettings(margin_mm=5.0)})
    return save_bundle(bundle, tmp_path_factory.mktemp("model") / "threshold.pt")


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    """Two phantom CTs (stored with flipped axes) in two formats, in one folder."""
    folder = tmp_path_factory.mktemp("cases")
    for seed, suffix in ((1, ".nii.gz"), (3, ".mha")):
        ct, _ = generate_phantom(seed, size_xyz=(48, 40, 24))
        write_volume(ct, folder / f"case{seed}{suffix}")
    return folder


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_one_file_per_format_on_the_input_grid(run_cli, model, cases, tmp_path, suffix):
    source = cases / "case1.nii.gz"
    out = tmp_path / f"mask{suffix}"
    code, stdout, stderr = run_cli("predict", source, "-o", out, "--model", model, "--no-crf")
    assert code == 0, stderr
    assert f"wrote {out}" in stdout
    ct, mask = read_volume(source), read_volume(out, kind="label")
    ct.require_same_grid(mask)
    assert ct.geometry.orientation != "LPS"  # the phantom's storage is flipped: a real test of the grid
    assert set(np.unique(mask.array)) == {0, 1}


def test_probabilities_and_crf(run_cli, model, cases, tmp_path):
    out = tmp_path / "case3.nrrd"
    code, _, stderr = run_cli("predict", cases / "case3.mha", "-o", out, "--model", model, "--save-probabilities")
    assert code == 0, stderr
    ct = read_volume(cases / "case3.mha")
    probability = read_volume(tmp_path / "case3_prob_liver.nrrd")
    ct.require_same_grid(probability)
    assert probability.array.dtype == np.float32
    assert 0.0 <= probability.array.min() and probability.array.max() <= 1.0 and probability.array.max() > 0.5


def test_batch_reports_a_broken_case_and_finishes_the_others(run_cli, model, cases, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("case1.nii.gz", "case3.mha"):
        (folder / name).write_bytes((cases / name).read_bytes())
    good = gzip.compress(b"\0" * 400)  # a gzip stream that holds no NIfTI header
    (folder / "broken.nii.gz").write_bytes(good[:30])
    out = tmp_path / "masks"
    code, stdout, stderr = run_cli("predict", folder, "-o", out, "--model", model, "--no-crf")
    assert code != 0
    errors = [line for line in stderr.splitlines() if line.startswith("livseg: error: broken:")]
    assert len(errors) == 1 and "broken.nii.gz" in errors[0]
    assert "1 of 3 cases failed: broken" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["case1.nii.gz", "case3.nii.gz"]
    rows = {line.split()[0]: line.split()[1] for line in stdout.splitlines()[1:]}
    assert rows == {"broken": "failed", "case1": "ok", "case3": "ok"}
    for name, source in (("case1", "case1.nii.gz"), ("case3", "case3.mha")):
        read_volume(cases / source).require_same_grid(read_volume(out / f"{name}.nii.gz"))


def test_timing_prints_stages_and_peak_memory(run_cli, model, cases, tmp_path):
    code, stdout, _ = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "m.nii.gz", "--model", model,
                              "--timing")
    assert code == 0
    header = stdout.splitlines()[0].split()
    assert header[:10] == ["case", "status", "read", "preprocess", "network", "restore", "crf", "tumour", "post", "write"]
    values = dict(zip(header, stdout.splitlines()[1].split()))
    assert values["status"] == "ok" and values["tumour"] == "-"  # no tumour model: that stage did not run
    stages = [float(values[s]) for s in ("read", "preprocess", "network", "restore", "crf", "post", "write")]
    assert min(stages) >= 0 and float(values["total_s"]) == pytest.approx(sum(stages), abs=0.05)
    assert "peak memory: ru_maxrss" in stdout and "vmhwm" in stdout


def test_dicom_seg_needs_a_dicom_input(run_cli, model, cases, tmp_path):
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "seg.dcm", "--model", model)
    assert code == 2 and "DICOM series input" in stderr and "case1.nii.gz" in stderr
    assert not (tmp_path / "seg.dcm").exists()


@pytest.mark.needs_shared_data
def test_dicom_seg_of_a_dicom_series(run_cli, model, shared_data, tmp_path):
    series = shared_data / "dcmqi-ct-3slice" / "dicom"
    seg_path = tmp_path / "seg.dcm"
    code, _, stderr = run_cli("predict", series, "-o", seg_path, "--model", model, "--no-crf")
    assert code == 0, stderr
    code, _, stderr = run_cli("predict", series, "-o", tmp_path / "mask.nii.gz", "--model", model, "--no-crf")
    assert code == 0, stderr
    dataset = pydicom.dcmread(seg_path)
    assert dataset.Modality == "SEG" and dataset.SegmentationType == "BINARY"
    ct = read_volume(series)
    assert dataset.ReferencedSeriesSequence[0].SeriesInstanceUID == ct.meta["series_uid"]
    from livseg.io.dicom_seg import read_dicom_seg

    back = read_dicom_seg(seg_path, reference=ct)
    mask = read_volume(tmp_path / "mask.nii.gz", kind="label")
    np.testing.assert_array_equal(back.array, mask.array)
    assert mask.array.any()


def test_model_and_output_errors(run_cli, model, cases, tmp_path):
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", "no-such-model")
    assert code == 2 and "no such model" in stderr
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", cases / "case3.mha", "-o", tmp_path / "a.nii.gz",
                              "--model", model)
    assert code == 2 and "pass -o DIR" in stderr
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", model,
                              "--tumour")
    assert code == 2 and "--tumour-model" in stderr
    code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.mha", "--model", model,
                              "--output-format", "nrrd")
    assert code == 2 and "--output-format nrrd" in stderr
    code, _, stderr = run_cli("predict", tmp_path / "missing.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", model)
    assert code == 3 and "missing.nii.gz" in stderr
    if not torch.cuda.is_available():
        code, _, stderr = run_cli("predict", cases / "case1.nii.gz", "-o", tmp_path / "a.nii.gz", "--model", model,
                                  "--device", "cuda")
        assert code == 2 and "--device cpu" in stderr
