"""DDP under torchrun: two CPU processes (gloo) train one tiny epoch in lockstep."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_fixtures import TINY

from livseg.training.history import read_csv

from training_fixtures import TINY

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_gloo_run_keeps_ranks_identical_and_rank0_writes(tmp_path):
    config = tmp_path / "ddp.yaml"
    config.write_text(TINY.replace("epochs: 2", "epochs: 1"))
    run_dir, weights = tmp_path / "run", tmp_path / "weights"
    weights.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               str(WORKER), str(config), str(run_dir), str(weights)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = torch.load(weights / "rank0.pt", weights_only=True)
    rank1 = torch.load(weights / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # Rank 0 alone wrote the run folder; rank 1 reports no checkpoint.
    assert sorted(p.name for p in run_dir.iterdir()) == ["best.pt", "config.yaml", "curves.png", "last.pt", "log.csv"]
    assert len(read_csv(run_dir / "log.csv")) == 1
    assert (weights / "rank1.txt").read_text(encoding="utf-8").split()[1] == "None"
    assert (weights / "rank0.txt").read_text(encoding="utf-8").split()[1].endswith("last.pt")
    saved = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)
