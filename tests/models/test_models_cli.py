"""``livseg models list``."""

from __future__ import annotations

import json

import pytest

from livseg.models import model_names


def test_models_list_json_without_receptive_fields(run_cli):
    code, out, err = run_cli("models", "list", "--json", "--no-receptive-field")
    assert code == 0, err
    listing = json.loads(out)
    rows = listing["networks"]
    assert [r["name"] for r in rows] == model_names()
    packaged = {r["name"]: r for r in listing["packaged"]}
    assert packaged["default"]["task"] == "liver" and packaged["default-tumour"]["task"] == "tumour"
    assert packaged["default"]["parameters"] > 100_000 and packaged["default"]["megabytes"] < 10
    by_name = {r["name"]: r for r in rows}
    assert by_name["dsn3d"]["parameters"] == 432_870 and by_name["dsn3d"]["branches"] == 2
    assert by_name["cnn3d"]["branches"] == 0 and by_name["cnn3d"]["receptive_field"] is None
    assert all(r["description"] for r in rows)


def test_models_list_table_without_receptive_fields(run_cli):
    code, out, err = run_cli("models", "list", "--no-receptive-field")
    assert code == 0, err
    lines = out.split("\n\n")[0].splitlines()
    assert lines[0].split()[:2] == ["NAME", "PARAMETERS"] and len(lines) == 1 + len(model_names())
    assert "Packaged trained models" in out and "  default " in out
    assert next(line for line in lines if line.startswith("dsn3d ")).split()[1:4] == ["432,870", "-", "2"]


@pytest.mark.slow  # measures every network's receptive field: 10-30 s on 2 busy cores
def test_models_list_table_shows_measured_receptive_fields(run_cli):
    code, out, err = run_cli("models", "list")
    assert code == 0, err
    lines = out.split("\n\n")[0].splitlines()
    assert lines[0].split()[:2] == ["NAME", "PARAMETERS"]
    cnn = next(line for line in lines if line.startswith("cnn3d "))
    assert cnn.split()[1:4] == ["370,482", "46x72x72", "0"]
    unet = next(line for line in lines if line.startswith("unet3d "))
    assert unet.split()[2] == "100x100x100"
    assert len(lines) == 1 + len(model_names())


def test_models_without_action_prints_usage(run_cli):
    code, out, err = run_cli("models")
    assert code == 2 and "list" in err
