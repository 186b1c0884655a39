"""The training engine end to end on tiny phantoms: run folder, checkpoints, exact resume."""

from __future__ import annotations

import pytest
import torch

from livseg.config import load_config
from livseg.errors import ConfigError, OutputError
from livseg.training.checkpoint import load_checkpoint
from livseg.training.engine import train
from livseg.training.history import read_csv
from training_fixtures import TINY



@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_writes_its_folder(tiny_config, tmp_path):
    config = load_config(tiny_config)
    result = train(config, tmp_path / "run")
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.yaml", "curves.png", "last.pt", "log.csv"]
    assert load_config(run / "config.yaml") == config
    rows = read_csv(run / "log.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert [r["lr"] for r in rows] == pytest.approx([0.01, 0.005])  # step schedule, halved after epoch 1
    for row in rows:
        assert row["train_loss"] == pytest.approx(row["train_loss_main"] + row["eta_1"] * row["train_loss_branch1"]
                                                  + row["eta_2"] * row["train_loss_branch2"], rel=1e-5)
        assert 0.0 <= row["val_dice"] <= 1.0 and row["val_loss"] > 0
    assert (rows[0]["eta_1"], rows[0]["eta_2"]) == pytest.approx((0.3, 0.4))  # the paper's initial weights
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 2 and state["config"]["name"] == "tiny"
    assert set(state["versions"]) >= {"livseg", "torch", "python"}
    assert len(state["dataset"]["fingerprint"]) == 16
    assert sorted(state["dataset"]["train_cases"] + state["dataset"]["val_cases"]) == [
        "phantom-000", "phantom-001", "phantom-002"]
    assert len(state["dataset"]["val_cases"]) == 1 and result.val_cases == state["dataset"]["val_cases"]
    assert _same_weights(state["model"], result.model.state_dict())
    best = load_checkpoint(run / "best.pt")
    assert best["best"]["metric"] == "val_dice"
    assert best["best"]["score"] == max(r["val_dice"] for r in rows)
    with pytest.raises(OutputError, match="--resume"):
        train(config, run)


def test_resume_continues_bit_for_bit(tiny_config, tmp_path):
    config = load_config(tiny_config, ["training.deterministic=true", "model.options.dropout=0.2"])
    straight = train(config, tmp_path / "straight")
    first = train(config, tmp_path / "resumed", stop_when=lambda record: record["epoch"] == 1)
    assert first.stopped == "target" and len(first.history) == 1
    resumed = train(config, tmp_path / "resumed", resume=tmp_path / "resumed")
    assert resumed.stopped == "epochs" and len(resumed.history) == 2
    assert _same_weights(straight.model.state_dict(), resumed.model.state_dict())
    for a, b in zip(straight.history, resumed.history):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert len(read_csv(tmp_path / "resumed" / "log.csv")) == 2


def test_resume_with_more_epochs_continues_the_learning_rate_smoothly(tiny_config, tmp_path, run_cli):
    """README's example: a 5-epoch run resumed with training.epochs=10. The poly schedule had
    reached lr 0 after epoch 5; the 6th epoch once trained at lr 0 and the 7th jumped up. Now
    the decay goes on from the last epoch's lr, down to 0 at the new end, never up."""
    out = tmp_path / "run"
    settings = ["--set", "schedule.name=poly", "--set", "training.deterministic=true"]
    code, _, stderr = run_cli("train", tiny_config, *settings, "--set", "training.epochs=5", "--out", out)
    assert code == 0, stderr
    code, _, stderr = run_cli("train", "--resume", out, *settings, "--set", "training.epochs=10")
    assert code == 0, stderr
    lrs = [float(r["lr"]) for r in read_csv(out / "log.csv")]
    assert len(lrs) == 10 and all(lr > 0 for lr in lrs)
    assert all(b < a for a, b in zip(lrs, lrs[1:])), lrs  # strictly decreasing: no step up, no zero
    steps = [a - b for a, b in zip(lrs, lrs[1:])]
    assert max(steps[4:]) < 1.5 * max(steps[:4])  # no drop larger than the original schedule's


def test_valid_convolution_context_is_rejected_with_sliding_validation(tiny_config, tmp_path):
    config = load_config(tiny_config, ["training.context_voxels=4"])
    with pytest.raises(ConfigError, match="whole"):
        train(config, tmp_path / "run")


def test_cli_trains_and_resumes(tiny_config, tmp_path, run_cli):
    out = tmp_path / "cli-run"
    code, stdout, stderr = run_cli("train", tiny_config, "--set", "training.epochs=1", "--out", out)
    assert code == 0, stderr
    assert "epochs: 1 of 1" in stdout and (out / "last.pt").is_file()
    code, stdout, stderr = run_cli("train", "--resume", out, "--set", "training.epochs=2")
    assert code == 0, stderr
    assert "epochs: 2 of 2" in stdout
    assert [r["epoch"] for r in read_csv(out / "log.csv")] == [1, 2]
    code, _, stderr = run_cli("train", tiny_config, "--set", "training.epoch=2")
    assert code != 0 and "training.epoch" in stderr and "epochs" in stderr
    code, stdout, stderr = run_cli("train", "--resume", out)  # nothing left to train
    assert code == 0, stderr
    assert "None" not in stdout and "checkpoints: none written" in stdout
    code, _, stderr = run_cli("train", "--resume", tmp_path / "nope")
    assert code != 0 and str(tmp_path / "nope") in stderr and "config.yaml" not in stderr


def test_saved_config_of_a_run_reproduces_it(tiny_config, tmp_path):
    config = load_config(tiny_config, ["training.epochs=1", "training.deterministic=true"])
    first = train(config, tmp_path / "a")
    second = train(load_config(tmp_path / "a" / "config.yaml"), tmp_path / "b")
    assert _same_weights(first.model.state_dict(), second.model.state_dict())


def test_tensorboard_without_the_package_says_how_to_get_it(tiny_config, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here; the missing-package message cannot be shown")
    config = load_config(tiny_config, ["output.tensorboard=true", "training.epochs=1"])
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        train(config, tmp_path / "run")


def test_weight_decay_is_on_kernels_only(tiny_config):
    """Eq. 3 of the 3D DSN paper puts the L2 term on the weights; biases, normalisation scales
    and PReLU slopes are not decayed."""
    from livseg.training.engine import _build_learner

    config = load_config(tiny_config, ["optimiser.weight_decay=0.01"])
    learner = _build_learner(config, torch.device("cpu"))
    decay_of = {id(p): group["weight_decay"] for group in learner.optimiser.param_groups for p in group["params"]}
    parameters = [p for p in learner.model.parameters() if p.requires_grad]
    assert len(decay_of) == len(parameters)
    assert any(p.dim() == 1 for p in parameters)  # the network has biases or scales to check
    for parameter in parameters:
        assert decay_of[id(parameter)] == (0.01 if parameter.dim() > 1 else 0.0)


def test_an_unwritable_run_folder_is_refused_before_training(tiny_config, tmp_path, run_cli):
    """The data root does not exist either: the output error must come first (before any data
    is read or epoch trained), in one line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    code, stdout, stderr = run_cli("train", tiny_config, "--set", "data.root=/no/such/data",
                                   "--out", blocker / "run")
    assert code != 0 and "is a file" in stderr and str(blocker) in stderr
    assert "/no/such/data" not in stderr and "epochs" not in stdout and not (tmp_path / "run").exists()


def _parameters(model: torch.nn.Module) -> dict:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_init_weights_starts_from_another_runs_network(tiny_config, tmp_path):
    source = train(load_config(tiny_config, ["training.epochs=1"]), tmp_path / "source")
    # lr 1e-30: the optimiser moves nothing measurable, so the fine-tuned network's parameters must
    # be the source's (a fresh run with the same seed starts elsewhere, so the check can fail).
    frozen = ["optimiser.lr=1e-30", "training.epochs=1"]
    tuned = train(load_config(tiny_config, frozen + [f"training.init_weights={tmp_path / 'source' / 'last.pt'}"]),
                  tmp_path / "tuned")
    scratch = train(load_config(tiny_config, frozen), tmp_path / "scratch")
    expected = _parameters(source.model)
    def close(a: dict, b: dict) -> bool:
        return all(torch.allclose(a[k], b[k], rtol=0.0, atol=1e-20) for k in b)

    assert close(_parameters(tuned.model), expected)
    assert not close(_parameters(scratch.model), expected)
    assert load_checkpoint(tmp_path / "tuned" / "last.pt")["config"]["training"]["init_weights"].endswith("last.pt")


def test_init_weights_from_a_packaged_model_by_name():
    from livseg.training.engine import _build_learner, _initialise_from
    from livseg.inference.bundle import load_bundle
    from livseg.inference.registry import resolve_model

    config = load_config("configs/default-tumour.yaml", ["training.init_weights=default-tumour"])
    learner = _build_learner(config, torch.device("cpu"))
    _initialise_from(learner, config)
    packaged = load_bundle(resolve_model("default-tumour")[1]).network.state_dict()
    assert _same_weights(learner.model.state_dict(), packaged)


def test_init_weights_of_another_network_is_refused_in_one_line(tiny_config, tmp_path, run_cli):
    code, _, stderr = run_cli("train", tiny_config, "--set", "training.init_weights=default", "--out", tmp_path / "r")
    assert code != 0 and "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert "training.init_weights" in line and "default.safetensors" in line and "dsn3d" in line
    assert not (tmp_path / "r" / "last.pt").exists()
    code, _, stderr = run_cli("train", tiny_config, "--set", f"training.init_weights={tmp_path / 'none.pt'}",
                              "--out", tmp_path / "r2")
    assert code != 0 and str(tmp_path / "none.pt") in stderr and "Traceback" not in stderr
