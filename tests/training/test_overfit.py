"""The overfit-one sanity check: quick on a phantom, the real check on the LiTS sample (slow)."""

from __future__ import annotations

import pytest

from livseg.config import DataConfig, PhantomData, config_from_dict
from livseg.io import write_volume
from livseg.training.cases import phantom_sources
from livseg.training.overfit import default_overfit_config, overfit_one

SMALL = {
    "model": {"name": "unet3d", "options": {"widths": [8, 16, 32], "dropout": 0.0}},
    "loss": {"name": "dice+ce", "deep_supervision": "constant"},
    "optimiser": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0},
    "schedule": {"name": "constant"},
    "preprocessing": {"spacing_mm": None, "crop": "none"},
    "training": {"patch_voxels_xyz": [32, 32, 16], "patches_per_epoch": 1, "batch_size": 1, "threads": 2},
    "validation": {"mode": "whole"},
}


def _phantom():
    return phantom_sources(DataConfig(phantoms=PhantomData(n=1, seed=0, size_xyz=(32, 32, 16))))[0]


def test_overfit_reaches_a_modest_target_on_a_tiny_phantom_and_stops(tmp_path):
    config = config_from_dict(SMALL, require_data=False)
    result = overfit_one(_phantom(), config, tmp_path / "run", target_dice=0.5, max_epochs=60)
    assert result.passed and result.stopped == "target", result.message
    assert result.dice >= 0.5 and result.epochs < 60
    assert result.run.history[-1]["val_dice"] == result.dice  # stopped at the first epoch that passed
    assert all(r["val_dice"] < 0.5 for r in result.run.history[:-1])
    assert result.run.train_cases == result.run.val_cases == ["phantom-000"]
    assert "passed" in result.message


def test_overfit_says_when_the_budget_runs_out(tmp_path):
    config = config_from_dict(SMALL, require_data=False)
    result = overfit_one(_phantom(), config, tmp_path / "run", target_dice=0.999, max_epochs=1)
    assert not result.passed and result.stopped == "epochs" and result.epochs == 1
    assert "FAILED" in result.message and "epoch budget" in result.message


def test_cli_overfit_one_with_an_image_and_label(tmp_path, run_cli):
    ct, label = _phantom().load()
    write_volume(ct, tmp_path / "ct.nii.gz")
    write_volume(label, tmp_path / "label.nii.gz")
    code, stdout, stderr = run_cli(
        "train", "--overfit-one", tmp_path / "ct.nii.gz", "--label", tmp_path / "label.nii.gz",
        "--max-epochs", "1", "--target-dice", "0.999", "--out", tmp_path / "run",
        "--set", "training.patch_voxels_xyz=[32,32,16]", "--set", "model.options.widths=[8,16,32]",
        "--set", "training.patches_per_epoch=1")
    assert code == 1, stderr
    assert "FAILED" in stdout and "voxel grid as it is" in stdout
    assert (tmp_path / "run" / "last.pt").is_file()
    code, _, stderr = run_cli("train", "--overfit-one", tmp_path / "ct.nii.gz")
    assert code != 0 and "--label" in stderr


@pytest.mark.slow
def test_overfit_one_on_the_lits_sample(tmp_path):
    """The blog's sanity check on a real case: LiTS volume 117 (128^3 crop, spacing unknown)."""
    from livseg.datasets.fetch import is_fetched, sample_case
    from livseg.training.cases import case_source

    if not is_fetched("lits-sample"):
        pytest.skip("the LiTS sample is not fetched: run `livseg data fetch lits-sample`")
    result = overfit_one(case_source(sample_case("lits-sample")), default_overfit_config(), tmp_path / "run",
                         target_dice=0.95, max_seconds=1500)
    assert result.passed, result.message
