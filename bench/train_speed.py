"""Training throughput and peak memory per network at 96^3.

For each network (its registry defaults: the full-size networks, not the slim phantom
variants) one training step is forward + loss (Dice + CE with the network's deep-supervision
weights) + backward + AdamW step on a batch of random-intensity patches with a random label
map. After ``--warmup`` untimed steps, ``--steps`` steps are timed. Each network runs in its own
child process so that the peak resident memory (``ru_maxrss``) is its own; the table reports the
growth of that peak over the process's state after building the network, and on CUDA
``torch.cuda.max_memory_allocated``.

Run::

    .venv/bin/python bench/train_speed.py                       # CPU, 2 threads, batch 2
    .venv/bin/python bench/train_speed.py --device cuda --amp   # on a GPU, also with AMP
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch

NETWORKS = ("dsn3d", "cnn3d", "unet3d", "resunet3d", "sffnet")
DS_SCHEDULE = {"dsn3d": "dsn2016", "resunet3d": "resunet2017"}


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(network: str, size: int, batch: int, steps: int, warmup: int, device: str, amp: bool,
            threads: int) -> dict[str, Any]:
    """Time ``steps`` training steps of ``network`` on (batch, 1, size, size, size) patches."""
    from livseg.config import LossConfig
    from livseg.models import build_model
    from livseg.training.objective import Objective

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    model = build_model(network, in_channels=1, num_classes=2).to(dev).train()
    branches = int(getattr(model, "num_branches", 0))
    loss_config = LossConfig(name="dice+ce", deep_supervision=DS_SCHEDULE.get(network, "constant") if branches else "none")
    objective = Objective(loss_config, num_branches=branches, device=dev)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, size, size, size, device=dev)
    y = (torch.rand(batch, size, size, size, device=dev) > 0.7).long()
    use_amp = amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and not torch.cuda.is_bf16_supported())
    amp_dtype = torch.bfloat16 if (use_amp and torch.cuda.is_bf16_supported()) else torch.float16

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=amp_dtype, enabled=use_amp):
            output = model(x)
        total, _ = objective(output, y)
        scaler.scale(total).backward()
        scaler.step(optimiser)
        scaler.update()

    base_rss = peak_rss_mib()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {
        "network": network, "device": device, "amp": use_amp, "batch": batch, "size": size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_per_step": seconds / steps, "patches_per_second": steps * batch / seconds,
        "rss_growth_mib": peak_rss_mib() - base_rss,
        "cuda_peak_mib": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS))
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="on CUDA: also measure with mixed precision")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args(argv)
    if args.one:
        result = measure(args.networks[0], args.size, args.batch, args.steps, args.warmup, args.device,
                         args.amp, args.threads)
        print(json.dumps(result))
        return 0

    print(f"command: train_speed.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}, patches {args.size}^3, "
          f"batch {args.batch}, {args.warmup} warm-up + {args.steps} timed steps (forward+backward+AdamW step); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    modes = [False, True] if (args.amp and args.device.startswith("cuda")) else [False]
    rows = []
    for network in args.networks:
        for amp in modes:
            command = [sys.executable, str(Path(__file__).resolve()), "--one", "--networks", network,
                       "--size", str(args.size), "--batch", str(args.batch), "--steps", str(args.steps),
                       "--warmup", str(args.warmup), "--threads", str(args.threads), "--device", args.device]
            if amp:
                command.append("--amp")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{network}: failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            cuda = f"{row['cuda_peak_mib']:.0f}" if row["cuda_peak_mib"] is not None else "-"
            print(f"{row['network']:>10} amp={str(row['amp']):5} params {row['parameters'] / 1e6:6.2f} M  "
                  f"{row['seconds_per_step']:7.2f} s/step  {row['patches_per_second']:7.3f} patches/s  "
                  f"RSS growth {row['rss_growth_mib']:7.0f} MiB  CUDA peak {cuda} MiB  "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
