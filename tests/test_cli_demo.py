"""`livseg demo` runs end to end on generated data (offline: no registry needed)."""

from __future__ import annotations

from livseg.io import read_volume


def test_demo_offline_writes_phantoms_and_describes_them(tmp_path, run_cli):
    code, out, err = run_cli("demo", "--offline", "--n-phantoms", "1", "--out", tmp_path)
    assert code == 0, err
    image = tmp_path / "phantoms" / "images" / "phantom-000.nii.gz"
    label = tmp_path / "phantoms" / "labels" / "phantom-000.nii.gz"
    ct, labels = read_volume(image, kind="ct"), read_volume(label, kind="label")
    assert ct.geometry.same_grid(labels.geometry)
    assert str(image) in out and "orientation" in out
    assert "skipped (--offline)" in out
