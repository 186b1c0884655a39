"""Config: YAML loading with unknown keys rejected, typed overrides, resolved save/load."""

from __future__ import annotations

from pathlib import Path

import pytest

from livseg.config import Config, config_from_dict, dump_config, load_config, save_config
from livseg.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

MINIMAL = """
data:
  phantoms: {n: 4, seed: 1, size_xyz: [32, 32, 24]}
training:
  epochs: 2
  patch_voxels_xyz: [16, 16, 8]
preprocessing:
  hu_window: [-100, 250]
  spacing_mm: [1.5, 1.5, 2]
"""


def _write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_fills_defaults_converts_types_and_names_the_run(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL))
    assert config.name == "exp"
    assert config.data.phantoms.size_xyz == (32, 32, 24)
    assert config.preprocessing.hu_window == (-100.0, 250.0)
    assert config.preprocessing.spacing_mm == (1.5, 1.5, 2.0)
    assert isinstance(config.preprocessing.spacing_mm[2], float)
    assert config.training.epochs == 2 and config.training.batch_size == Config().training.batch_size
    assert config.num_classes == 2


def test_unknown_key_names_key_file_and_valid_keys(tmp_path):
    path = _write(tmp_path, MINIMAL.replace("  epochs: 2", "  epoch: 2"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "training.epoch" in message and str(path) in message
    assert "epochs" in message and "patch_voxels_xyz" in message
    assert "\n" not in message


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'optimizer'.*optimiser"):
        load_config(_write(tmp_path, MINIMAL + "optimizer: {lr: 0.1}\n"))


@pytest.mark.parametrize("text, expected", [
    ("training: {epochs: three}", "an integer"),
    ("training: {epochs: 2.5}", "an integer"),
    ("training: {deterministic: 1}", "true or false"),
    ("optimiser: {name: rmsprop}", "'sgd'"),
    ("preprocessing: {spacing_mm: [1, 2]}", "3 values"),
    ("preprocessing: {hu_window: [200, -200]}", "low < high"),
    ("data: {phantoms: {n: 4}, folds: 1}", "k >= 2"),
    ("name: ../../../x", "a plain name"),
    ("name: runs/x", "a plain name"),
    ("name: ..", "a plain name"),
])
def test_wrong_values_are_rejected(tmp_path, text, expected):
    if not text.startswith("data"):
        text = "data: {phantoms: {n: 4}}\n" + text
    with pytest.raises(ConfigError, match=expected):
        load_config(_write(tmp_path, text))


def test_overrides_are_typed_and_checked(tmp_path):
    path = _write(tmp_path, MINIMAL)
    config = load_config(path, ["training.epochs=5", "optimiser.lr=0.1", "model.options.width=8",
                                "preprocessing.spacing_mm=null", "data.folds=leave-one-out"])
    assert config.training.epochs == 5 and config.optimiser.lr == 0.1
    assert config.model.options == {"width": 8}
    assert config.preprocessing.spacing_mm is None
    assert config.data.folds == "leave-one-out"
    with pytest.raises(ConfigError, match="unknown key 'training.epoch'.*epochs"):
        load_config(path, ["training.epoch=5"])
    with pytest.raises(ConfigError, match="'training.epochs'.*an integer.*'many'"):
        load_config(path, ["training.epochs=many"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(path, ["training.epochs"])
    with pytest.raises(ConfigError, match="a plain name"):
        load_config(path, ["name=../outside"])
    assert load_config(path, ["name=liver-v2.1_b"]).name == "liver-v2.1_b"


def test_exponent_notation_is_a_number_in_files_and_overrides(tmp_path):
    # PyYAML reads 1e-4 (no dot) as a string; a learning rate written that way must still work.
    path = _write(tmp_path, MINIMAL + "optimiser: {lr: 1e-4, weight_decay: 3E-5}\n")
    config = load_config(path)
    assert config.optimiser.lr == 1e-4 and config.optimiser.weight_decay == 3e-5
    assert load_config(path, ["optimiser.lr=5e-3"]).optimiser.lr == 5e-3
    with pytest.raises(ConfigError, match="a number.*'1e-4x'"):
        load_config(path, ["optimiser.lr=1e-4x"])
    with pytest.raises(ConfigError, match="an integer"):
        load_config(path, ["training.epochs=1e2"])  # exponent notation is never an integer


def test_saved_resolved_config_loads_back_equal(tmp_path):
    config = load_config(_write(tmp_path, MINIMAL), ["model.options.width=8"])
    saved = save_config(config, tmp_path / "run" / "config.yaml")
    assert load_config(saved) == config
    text = saved.read_text(encoding="utf-8")
    assert "spacing_mm" in text and "hu_window" in text and "foreground_fraction" in text
    assert [p.name for p in saved.parent.iterdir()] == ["config.yaml"]  # no temp file left


def test_data_needs_a_source_and_sources_combine():
    with pytest.raises(ConfigError, match="data.root"):
        config_from_dict({})
    both = config_from_dict({"data": {"root": "/x", "phantoms": {"n": 2}, "samples": ["lits-sample"],
                                      "sample_spacing_mm": [1, 1, 1]}})
    assert both.data.root == "/x" and both.data.phantoms.n == 2 and both.data.samples == ("lits-sample",)
    with pytest.raises(ConfigError, match="sample_spacing_mm"):
        config_from_dict({"data": {"samples": ["lits-sample"], "sample_spacing_mm": [1, 0, 1]}})


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_config(path)
    assert load_config(path) == config
    assert config_from_dict(__import__("yaml").safe_load(dump_config(config))) == config


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_name_a_buildable_network_and_loss(path):
    from livseg.losses import DeepSupervisionLoss, build_loss
    from livseg.models import build_model

    config = load_config(path)
    assert config.name == path.name.removesuffix(".yaml")
    network = build_model(config.model.name, in_channels=config.model.in_channels,
                          num_classes=config.num_classes, **config.model.options)
    assert sum(p.numel() for p in network.parameters()) > 0
    DeepSupervisionLoss(build_loss(config.loss.name, **config.loss.options), config.loss.deep_supervision,
                        **config.loss.schedule_options)
