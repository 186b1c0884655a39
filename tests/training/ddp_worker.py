"""Run by test_distributed.py under torchrun: train one tiny epoch, save this rank's weights."""

from __future__ import annotations

import os
import sys

import torch

from livseg.config import load_config
from livseg.training.engine import train


def main(config_path: str, run_dir: str, weights_dir: str) -> None:
    result = train(load_config(config_path), run_dir)
    torch.save(result.model.state_dict(), os.path.join(weights_dir, f"rank{os.environ['RANK']}.pt"))
    with open(os.path.join(weights_dir, f"rank{os.environ['RANK']}.txt"), "w") as handle:
        handle.write(f"{len(result.history)} {result.last_checkpoint}\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
