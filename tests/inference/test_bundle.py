"""Model bundles: checkpoints (training's own), .safetensors, run folders, the name registry."""

from __future__ import annotations

import dataclasses

from pathlib import Path

import numpy as np
import pytest
import torch

from livseg.config import config_from_dict, load_config
from livseg.errors import ConfigError, InputNotFoundError, UnknownNameError, UnreadableInputError
from livseg.inference import InferenceSettings, ModelBundle, Segmenter, load_bundle, save_bundle
from livseg.inference.registry import WEIGHTS_DIR, available_models, is_packaged, resolve_model
from livseg.models import build_model
from livseg.models.checkpoint_file import load_checkpoint, save_checkpoint


def dsn_config(widths=(2, 2, 2, 2, 2), **training):
    return config_from_dict({"name": "tiny-dsn", "data": {"task": "liver"},
                             "preprocessing": {"spacing_mm": [1.5, 1.5, 2.0]},
                             "model": {"name": "dsn3d", "options": {"widths": list(widths)}},
                             "training": {"patch_voxels_xyz": [32, 32, 16], **training},
                             "validation": {"overlap": 0.5}}, require_data=False)


def dsn_bundle(seed=0, **settings):
    config = dsn_config()
    torch.manual_seed(seed)
    network = build_model("dsn3d", num_classes=2, **config.model.options)
    return ModelBundle(network=network, preprocessing=config.preprocessing, task="liver",
                       settings=InferenceSettings(window_voxels_xyz=(32, 32, 16), overlap=0.5, **settings),
                       name="tiny", config=config)


def _output(bundle, x):
    with torch.no_grad():
        return bundle.network(x).main


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_save_and_load_round_trip(tmp_path, suffix):
    bundle = dsn_bundle(fusion_weights=(0.5, 0.2, 0.3), tta=True)
    path = save_bundle(bundle, tmp_path / f"model{suffix}")
    loaded = load_bundle(path)
    assert loaded.settings == bundle.settings and loaded.preprocessing == bundle.preprocessing
    assert loaded.task == "liver" and loaded.name == path.name and loaded.source == str(path)
    x = torch.rand(1, 1, 16, 24, 24)
    torch.testing.assert_close(_output(loaded, x), _output(bundle, x), rtol=0, atol=0)


def test_defaults_come_from_the_training_config(tmp_path):
    bundle = dsn_bundle()
    path = tmp_path / "plain.pt"
    save_checkpoint({"model": bundle.network.state_dict(), "config": dataclasses.asdict(bundle.config)}, path)
    loaded = load_bundle(path)
    assert loaded.settings.window_voxels_xyz == (32, 32, 16) and loaded.settings.overlap == 0.5
    assert loaded.settings.fusion_weights is None


def test_run_folder_prefers_best(tmp_path):
    save_bundle(dsn_bundle(seed=1), tmp_path / "last.pt")
    save_bundle(dsn_bundle(seed=2), tmp_path / "best.pt")
    x = torch.rand(1, 1, 8, 16, 16)
    torch.testing.assert_close(_output(load_bundle(tmp_path), x), _output(dsn_bundle(seed=2), x))


def test_a_checkpoint_written_by_training_loads(tmp_path):
    from livseg.training.engine import train

    config = load_config_text(tmp_path, """
data: {phantoms: {n: 2, seed: 0, size_xyz: [32, 32, 16]}, val_fraction: 0.5}
preprocessing: {spacing_mm: null, crop: none}
model: {name: dsn3d, options: {widths: [2, 2, 2, 2, 2]}}
optimiser: {name: sgd, lr: 0.01}
augmentation: {enabled: false}
training: {epochs: 1, patches_per_epoch: 2, batch_size: 2, patch_voxels_xyz: [16, 16, 8], threads: 1}
validation: {mode: whole}
output: {plot: false}
""")
    result = train(config, tmp_path / "run")
    bundle = load_bundle(tmp_path / "run")
    assert bundle.source.endswith("best.pt") and bundle.settings.window_voxels_xyz == (16, 16, 8)
    state = load_checkpoint(tmp_path / "run" / "best.pt")
    for key, value in bundle.network.state_dict().items():
        torch.testing.assert_close(value, state["model"][key])
    from livseg.phantoms import generate_phantom

    ct, _ = generate_phantom(5, size_xyz=(40, 36, 20))
    labels = Segmenter(bundle, crf=False).predict(ct).labels
    labels.geometry.require_same_grid(ct.geometry, subject="prediction")
    assert result.last_checkpoint is not None


def load_config_text(tmp_path, text):
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return load_config(path)


def test_broken_files_are_reported(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UnreadableInputError, match="garbage.pt"):
        load_bundle(garbage)
    fake = tmp_path / "fake.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(fake), metadata={"format": "something-else"})
    with pytest.raises(UnreadableInputError, match="livseg-bundle"):
        load_bundle(fake)
    with pytest.raises(InputNotFoundError):
        load_bundle(tmp_path / "missing.pt")
    with pytest.raises(InputNotFoundError, match="best.pt or last.pt"):
        load_bundle(tmp_path)


def test_weights_that_do_not_fit_their_config_are_refused(tmp_path):
    bundle = dsn_bundle()
    wrong = dataclasses.replace(bundle.config, model=dataclasses.replace(bundle.config.model,
                                                                         options={"widths": [4, 4, 4, 4, 4]}))
    save_checkpoint({"model": bundle.network.state_dict(), "config": dataclasses.asdict(wrong)}, tmp_path / "x.pt")
    with pytest.raises(UnreadableInputError, match="weights of the network 'dsn3d'"):
        load_bundle(tmp_path / "x.pt")


def test_bad_inference_settings_and_valid_convolutions_are_refused(tmp_path):
    bundle = dsn_bundle()
    state, config = bundle.network.state_dict(), dataclasses.asdict(bundle.config)
    save_checkpoint({"model": state, "config": config, "inference": {"windw": [1, 2, 3]}}, tmp_path / "a.pt")
    with pytest.raises(ConfigError, match="unknown key 'windw'"):
        load_bundle(tmp_path / "a.pt")
    valid = dict(config, training=dict(config["training"], context_voxels=4))
    save_checkpoint({"model": state, "config": valid}, tmp_path / "b.pt")
    with pytest.raises(ConfigError, match="context_voxels"):
        load_bundle(tmp_path / "b.pt")


def test_registry_names_and_their_errors(tmp_path):
    bundle = dsn_bundle()
    save_bundle(bundle, tmp_path / "alpha.pt")
    save_bundle(bundle, tmp_path / "beta.pt")
    save_bundle(bundle, tmp_path / "beta.safetensors")
    models = available_models(tmp_path)
    assert list(models) == ["alpha", "beta"] and models["beta"].suffix == ".safetensors"
    assert resolve_model("alpha", tmp_path) == ("alpha", tmp_path / "alpha.pt")
    with pytest.raises(UnknownNameError, match="alpha, beta"):
        resolve_model("gamma", tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnknownNameError, match="none are installed"):
        resolve_model("default", empty)
    with pytest.raises(InputNotFoundError):
        resolve_model(str(tmp_path / "nope.pt"), tmp_path)
    with pytest.raises(UnknownNameError, match="no such model"):
        Segmenter.from_checkpoint("no-such-model-xyz")
    np.testing.assert_equal(load_bundle(resolve_model("beta", tmp_path)[1]).settings == bundle.settings, True)


def test_a_folder_named_like_a_packaged_model_does_not_shadow_it(tmp_path, monkeypatch, caplog):
    """An empty ``default/`` (what ``-o default`` leaves) or one with a foreign best.pt in the
    working directory must not replace the packaged model; written as a path it is that path."""
    packaged = tmp_path / "weights"
    packaged.mkdir()
    save_bundle(dsn_bundle(), packaged / "default.pt")
    work = tmp_path / "work"
    (work / "default").mkdir(parents=True)
    (work / "default" / "best.pt").write_bytes(b"not a model")
    monkeypatch.chdir(work)
    with caplog.at_level("WARNING", logger="livseg.inference.registry"):
        assert resolve_model("default", packaged) == ("default", packaged / "default.pt")
    assert "./default" in caplog.text and str(work / "default") in caplog.text
    assert resolve_model("./default", packaged) == ("default", Path("./default"))
    assert is_packaged(packaged / "default.pt", packaged) and not is_packaged(Path("./default"), packaged)
    # The real registry: "default" is the shipped model even with ./default in the way.
    name, path = resolve_model("default")
    assert (name, path.parent) == ("default", WEIGHTS_DIR) and is_packaged(path)
