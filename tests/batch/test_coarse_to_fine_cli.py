"""``livseg predict --coarse-to-fine``: recorded in the sidecar, and a rerun without it redoes the
case (another setting), a second rerun keeps it."""

from __future__ import annotations

import json

from livseg.io import write_volume
from livseg.phantoms import generate_phantom


def test_coarse_to_fine_is_a_setting_of_the_run(run_cli, model, tmp_path):
    ct, _ = generate_phantom(1, size_xyz=(64, 56, 24), spacing_mm=(1.6, 1.6, 6.0))  # 144 mm head-feet
    write_volume(ct, tmp_path / "case.nii.gz")
    out = tmp_path / "out"
    code, _, stderr = run_cli("predict", tmp_path / "case.nii.gz", "-o", out, "--model", model, "--coarse-to-fine")
    assert code == 0, stderr
    assert json.loads((out / "case.livseg.json").read_text(encoding="utf-8"))["coarse_to_fine"] is True
    statuses = []
    for _ in range(2):
        code, stdout, stderr = run_cli("predict", tmp_path / "case.nii.gz", "-o", out, "--model", model, "--timing")
        assert code == 0, stderr
        statuses.append(stdout.splitlines()[1].split()[1])
    assert statuses == ["ok", "skipped"]
    assert json.loads((out / "case.livseg.json").read_text(encoding="utf-8"))["coarse_to_fine"] is False
