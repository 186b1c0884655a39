"""Phantom accuracy per network: each network trained briefly on phantoms, best validation liver Dice.

Every network is trained with its own ``configs/<network>-phantom.yaml`` (network options, loss,
deep-supervision schedule), overridden only where the bench needs to bound the time: a smaller
phantom grid (the patch is the whole grid unless ``--patch`` says otherwise), the number of epochs and patches, a constant
learning rate, and a wall-clock budget per network. It prints, per network, the best validation
liver Dice, the epoch it came at, the epochs run, the time taken, and whether the goal (0.9 by
default) was reached, and writes a PNG of the validation curves.

Run (2-core CPU)::

    .venv/bin/python bench/phantom_accuracy.py --budget-seconds 150
    .venv/bin/python bench/phantom_accuracy.py --networks unet3d --size 64 64 32 --epochs 30
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from livseg.config import load_config
from livseg.io.atomic import atomic_path
from livseg.training import train

REPO = Path(__file__).resolve().parents[1]
NETWORKS = ("dsn3d", "cnn3d", "unet3d", "resunet3d", "sffnet")


def overrides(args: argparse.Namespace) -> list[str]:
    x, y, z = args.size
    px, py, pz = args.patch or args.size
    items = [
        f"data.phantoms={{n: {args.phantoms}, seed: {args.seed}, size_xyz: [{x}, {y}, {z}]}}",
        f"training.patch_voxels_xyz=[{px}, {py}, {pz}]",
        f"training.epochs={args.epochs}",
        f"training.patches_per_epoch={args.patches}",
        f"training.seed={args.seed}",
        f"training.device={args.device}",
        f"training.threads={args.threads}",
        f"schedule.name={args.schedule}",
        f"augmentation.enabled={str(args.augment).lower()}",
        "output.plot=false",
    ]
    if args.lr is not None:
        items.append(f"optimiser.lr={args.lr}")
    return items


def run_network(network: str, args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(REPO / "configs" / f"{network}-phantom.yaml", overrides(args))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"livseg-acc-{network}-") as out:
        result = train(config, out, max_seconds=args.budget_seconds,
                       stop_when=lambda record: (record.get("val_dice") or 0.0) >= args.stop_at)
    seconds = time.perf_counter() - started
    scored = [r for r in result.history if r.get("val_dice") is not None]
    best = max(scored, key=lambda r: r["val_dice"]) if scored else None
    return {"network": network, "history": result.history, "seconds": seconds, "stopped": result.stopped,
            "best_dice": best["val_dice"] if best else float("nan"), "best_epoch": best["epoch"] if best else None,
            "lr": config.optimiser.lr, "optimiser": config.optimiser.name, "options": dict(config.model.options)}


def plot(results: Sequence[dict[str, Any]], path: Path, goal: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for result in results:
        history = result["history"]
        ax.plot([r["epoch"] for r in history], [r.get("val_dice", float("nan")) for r in history],
                label=f"{result['network']} (best {result['best_dice']:.3f})")
    ax.axhline(goal, color="grey", lw=0.8)
    ax.set(xlabel="epoch", ylabel="validation liver Dice", ylim=(0, 1), title="networks on phantoms")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS))
    parser.add_argument("--size", type=int, nargs=3, default=[32, 32, 16], metavar=("X", "Y", "Z"))
    parser.add_argument("--patch", type=int, nargs=3, default=None, metavar=("X", "Y", "Z"),
                        help="training patch (default: the whole phantom, --size); validation is on whole phantoms")
    parser.add_argument("--phantoms", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patches", type=int, default=16, help="patches per epoch")
    parser.add_argument("--lr", type=float, default=0.003, help="learning rate (the configs' optimiser)")
    parser.add_argument("--schedule", default="constant")
    parser.add_argument("--augment", action="store_true", help="keep the configs' augmentation on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--goal", type=float, default=0.9)
    parser.add_argument("--stop-at", type=float, default=0.95, help="stop a network early at this val Dice")
    parser.add_argument("--budget-seconds", type=float, default=150.0, help="per network")
    parser.add_argument("--figure", type=Path, default=REPO / "bench" / "figures" / "phantom_accuracy.png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print("command: phantom_accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    results = []
    for network in args.networks:
        result = run_network(network, args)
        results.append(result)
        curve = " ".join(f"{r.get('val_dice', float('nan')):.2f}" for r in result["history"])
        print(f"{network:>10}: best val Dice {result['best_dice']:.4f} at epoch {result['best_epoch']} "
              f"of {len(result['history'])} ({result['stopped']}), {result['seconds']:.0f} s, "
              f"{result['optimiser']} lr {result['lr']:g}, goal {args.goal}: "
              f"{'reached' if result['best_dice'] >= args.goal else 'NOT reached'} "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        print(f"{'':>10}  network options {result['options']}; val Dice per epoch: {curve}", flush=True)
        plot(results, args.figure, args.goal)
    print(f"figure: {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
