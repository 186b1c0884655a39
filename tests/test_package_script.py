"""scripts/package_default_models.py refuses to replace packaged weights without --force and to
carry CRF settings tuned for another model; run for real, as a subprocess, on small bundles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
import yaml

from livseg.config import config_from_dict
from livseg.inference import InferenceSettings, ModelBundle, load_bundle, save_bundle
from livseg.io.checksums import sha256_of_path
from livseg.models import build_model

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "package_default_models.py"


def _bundle(path: Path, task: str, seed: int) -> Path:
    config = config_from_dict({"name": f"tiny-{task}", "data": {"task": task},
                               "model": {"name": "dsn3d", "options": {"widths": [2, 2, 2, 2, 2]}},
                               "training": {"patch_voxels_xyz": [32, 32, 16]}}, require_data=False)
    torch.manual_seed(seed)
    network = build_model("dsn3d", num_classes=2, **config.model.options)
    bundle = ModelBundle(network=network, preprocessing=config.preprocessing, task=task,
                         settings=InferenceSettings(window_voxels_xyz=(32, 32, 16)), name=path.stem, config=config)
    return save_bundle(bundle, path)


def _run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", timeout=300)


def test_packaging_guards_the_shipped_weights_and_their_crf_settings(tmp_path):
    liver, tumour = _bundle(tmp_path / "liver.pt", "liver", 0), _bundle(tmp_path / "tumour.pt", "tumour", 1)
    weights = tmp_path / "weights"
    done = _run(liver, tumour, "--weights-dir", weights)
    assert done.returncode == 0, done.stderr
    packaged = weights / "default.safetensors"
    first = packaged.read_bytes()
    torch.testing.assert_close(load_bundle(packaged).network.state_dict(),
                               {k: v.half().float() for k, v in load_bundle(liver).network.state_dict().items()})

    # A second packaging needs --force; nothing is touched without it.
    again = _run(liver, tumour, "--weights-dir", weights)
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr
    assert packaged.read_bytes() == first

    # CRF settings tuned on another model file are refused, the weights stay as they were.
    stale = tmp_path / "stale.yaml"
    stale.write_text(yaml.safe_dump({"inference": {"crf": {"params": {"mu1": 7.0}}},
                                     "tuning": {"model": "old.safetensors", "model_sha256": "0" * 64}}))
    refused = _run(liver, tumour, "--weights-dir", weights, "--force", "--crf-settings", stale)
    assert refused.returncode == 2 and "--allow-stale-crf" in refused.stderr and sha256_of_path(liver) in refused.stderr
    assert packaged.read_bytes() == first and not (weights / "default.crf.yaml").exists()

    # Settings tuned on this very file are applied and copied beside the weights.
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text(yaml.safe_dump({"inference": {"crf": {"params": {"mu1": 7.0}}},
                                     "tuning": {"model": str(liver), "model_sha256": sha256_of_path(liver)}}))
    done = _run(liver, tumour, "--weights-dir", weights, "--force", "--crf-settings", fresh)
    assert done.returncode == 0, done.stderr
    assert load_bundle(packaged).settings.crf.params.mu1 == 7.0 and (weights / "default.crf.yaml").is_file()

    # Packaging a model without settings removes the copy tuned for the earlier one.
    done = _run(liver, tumour, "--weights-dir", weights, "--force")
    assert done.returncode == 0, done.stderr
    assert not (weights / "default.crf.yaml").exists()
    assert load_bundle(packaged).settings.crf.params.mu1 != 7.0
