"""Checkpoints: atomic writes that never damage the last good file, safe loading, RNG states."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from livseg.errors import InputNotFoundError, UnreadableInputError
from livseg.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state, versions


def test_round_trip_and_versions(tmp_path):
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    path = save_checkpoint({"epoch": 3, "model": weights, "versions": versions()}, tmp_path / "last.pt")
    loaded = load_checkpoint(tmp_path)  # a run folder means its last.pt
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], weights["w"])
    assert set(loaded["versions"]) >= {"livseg", "torch", "python"}
    assert loaded["versions"]["torch"] == str(torch.__version__)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failed_write_leaves_the_last_good_checkpoint_intact(tmp_path):
    path = save_checkpoint({"epoch": 1, "model": {"w": torch.ones(2)}}, tmp_path / "last.pt")
    good = path.read_bytes()

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("simulated crash while writing")

    with pytest.raises(RuntimeError, match="simulated crash"):
        save_checkpoint({"epoch": 2, "model": {"w": torch.zeros(2)}, "bad": Unpicklable()}, path)
    assert path.read_bytes() == good
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_foreign_and_missing_files_are_reported(tmp_path):
    with pytest.raises(InputNotFoundError):
        load_checkpoint(tmp_path / "nothing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UnreadableInputError, match="junk.pt"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(UnreadableInputError, match="another kind of file"):
        load_checkpoint(other)


def test_rng_states_survive_a_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_checkpoint({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
    assert [random.random() for _ in range(3)] == expected[2]
