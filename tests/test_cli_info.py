"""``livseg info``: text and JSON descriptions, error exits, the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from livseg.io import write_volume
from livseg.volume import Geometry, Volume

GRID = Geometry(size=(9, 7, 5), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(-120.25, 33.5, 1536.5),
                direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1))


def ct_file(tmp_path: Path) -> Path:
    array = np.arange(315, dtype=np.int16).reshape(5, 7, 9) * 4 - 1000  # -1000 .. 256
    return write_volume(Volume(array, GRID), tmp_path / "ct.nii.gz")


def label_file(tmp_path: Path) -> Path:
    labels = np.zeros(GRID.shape_zyx, np.uint8)
    labels[:2] = 1  # 126 voxels
    labels[4, 0, :5] = 2  # 5 voxels
    return write_volume(Volume(labels, GRID), tmp_path / "mask.nrrd", kind="label")


def assert_one_error_line(code: int, out: str, err: str, expected_code: int = 2) -> str:
    assert code == expected_code
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("livseg: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_text_output(tmp_path, run_cli):
    code, out, err = run_cli("info", ct_file(tmp_path))
    assert code == 0 and err == ""
    fields = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert fields["format"] == "NIfTI"
    assert fields["size"] == "9 x 7 x 5 voxels (x y z)"
    assert fields["spacing"] == "0.7 x 0.8 x 3.1 mm"
    assert fields["origin"] == "-120.25 33.5 1536.5 mm (LPS)"
    assert fields["orientation"] == "RAS"
    assert fields["dtype"] == "int16"
    assert fields["intensity"].startswith("min -1000  max 256")
    # percentiles of -1000 + 4 k, k = 0..314, by hand: p50 = -1000 + 4 * 157 = -372
    assert "p50 -372" in fields["percentiles"]
    assert "p1 -987.44" in fields["percentiles"]  # position 3.14 -> -1000 + 4 * 3.14


def test_json_output(tmp_path, run_cli):
    code, out, err = run_cli("info", ct_file(tmp_path), "--json")
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert summary["size"] == [9, 7, 5]
    assert summary["spacing_mm"] == pytest.approx([0.7, 0.8, 3.1])
    assert summary["origin_mm"] == pytest.approx([-120.25, 33.5, 1536.5])
    assert summary["direction"] == pytest.approx([-1, 0, 0, 0, -1, 0, 0, 0, 1])
    assert summary["orientation"] == "RAS"
    assert summary["dtype"] == "int16"
    assert summary["intensity"]["percentiles"]["p50"] == -372
    assert summary["is_label"] is False


def test_label_volumes_in_ml(tmp_path, run_cli):
    path = label_file(tmp_path)
    voxel_ml = 0.7 * 0.8 * 3.1 / 1000
    code, out, _ = run_cli("info", path, "--json")
    labels = json.loads(out)["labels"]
    assert [(e["value"], e["voxels"]) for e in labels] == [(0, 184), (1, 126), (2, 5)]
    assert labels[1]["volume_ml"] == pytest.approx(126 * voxel_ml)
    code, out, _ = run_cli("info", path, "--label")
    assert code == 0
    rows = out.strip().splitlines()[-3:]
    assert rows[1].split() == ["1", "126", f"{126 * voxel_ml:.3f}"]
    assert rows[2].split() == ["2", "5", f"{5 * voxel_ml:.3f}"]


def test_label_flag_on_a_ct_fails_cleanly(tmp_path, run_cli):
    line = assert_one_error_line(*run_cli("info", ct_file(tmp_path), "--label"))
    assert "expected a label map of values >= 0, found values down to -1000" in line


def test_unknown_spacing_is_said_unknown(tmp_path, run_cli):
    path = tmp_path / "crop.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.linspace(-1000, 1000, 60, dtype=np.float32).reshape(3, 4, 5))
    code, out, _ = run_cli("info", path)
    assert code == 0
    fields = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert fields["spacing"].startswith("unknown")
    assert fields["orientation"].startswith("unknown")
    code, out, _ = run_cli("info", path, "--json")
    summary = json.loads(out)
    assert summary["spacing_mm"] is None and summary["spacing_known"] is False
    code, out, _ = run_cli("info", path, "--json", "--spacing-mm", "0.8", "0.8", "1.5")
    assert json.loads(out)["spacing_mm"] == [0.8, 0.8, 1.5]


@pytest.mark.parametrize(
    "make, expected_code, fragment",
    [
        (lambda d: d / "absent.nii.gz", 3, "expected an existing file or DICOM folder, found nothing"),
        (lambda d: (d / "cut.nii.gz").write_bytes(b"\x1f\x8b" + b"\0" * 40) and d / "cut.nii.gz", 2,
         "expected a readable NIfTI file"),
        (lambda d: (d / "pic.png").write_bytes(b"\x89PNG") and d / "pic.png", 2, "expected a CT or label file"),
    ],
)
def test_errors_exit_non_zero_with_one_line(tmp_path, run_cli, make, expected_code, fragment):
    line = assert_one_error_line(*run_cli("info", make(tmp_path)), expected_code=expected_code)
    assert fragment in line


def test_truncated_file_fails_with_one_line(tmp_path, run_cli):
    path = ct_file(tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    line = assert_one_error_line(*run_cli("info", path))
    assert str(path) in line


@pytest.mark.needs_shared_data
def test_chaos_dicom_and_nifti_report_the_same_grid(shared_data, run_cli):
    reports = []
    for path in (shared_data / "chaos-ct-1" / "dicom", shared_data / "chaos-ct-1" / "image.nii.gz"):
        code, out, err = run_cli("info", path, "--json")
        assert code == 0, err
        reports.append(json.loads(out))
    dicom, nifti = reports
    assert dicom["size"] == nifti["size"] == [512, 512, 78]
    assert dicom["spacing_mm"] == pytest.approx(nifti["spacing_mm"], abs=1e-6)
    assert dicom["origin_mm"] == pytest.approx(nifti["origin_mm"], abs=1e-4)
    assert dicom["direction"] == pytest.approx(nifti["direction"], abs=1e-6)
    assert dicom["orientation"] == nifti["orientation"] == "LPS"
    assert dicom["intensity"] == nifti["intensity"]
    assert dicom["dicom"]["slices"] == 78 and dicom["dicom"]["modality"] == "CT"
    assert dicom["format"] == "DICOM" and nifti["format"] == "NIfTI"


def test_console_script_runs_in_a_real_process(tmp_path):
    script = Path(sys.executable).with_name("livseg")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable} (pip install -e .)")
    path = label_file(tmp_path)
    done = subprocess.run([str(script), "info", str(path), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["size"] == [9, 7, 5]
    done = subprocess.run([str(script), "info", str(tmp_path / "absent.mha")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("livseg: error: ")
