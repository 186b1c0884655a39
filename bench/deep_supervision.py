"""Deep supervision benchmark: dsn3d against cnn3d (the 3D DSN paper's Fig. 2a claim).

Both networks are trained side by side on the same phantom split with the same seed, the same
patch plan and the same budget (epochs x patches per epoch); the only difference is the two
deep-supervision branches (and their share of the loss, the paper's eta schedule). Per epoch it
prints training loss, training Dice, validation loss and validation Dice of each, then the
epoch at which each first reaches the target validation Dice (0.9 by default), and writes a
PNG of both curves.

Run (2-core CPU; the defaults take a few minutes per seed)::

    .venv/bin/python bench/deep_supervision.py --seeds 0 --epochs 20
    .venv/bin/python bench/deep_supervision.py --seeds 0 1 2 --epochs 20 --budget-seconds 300

Both configs start the convolutions He-normal and the deconvolutions as bilinear upsampling
(see configs/dsn3d-phantom.yaml for why) and share one learning rate (``--lr`` overrides it).

The training losses of the two networks are not on the same scale: dsn3d's includes the
weighted branch losses. Compare ``loss_main`` (the main output alone) and the Dice columns.
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
NETWORKS = ("dsn3d", "cnn3d")


def bench_overrides(args: argparse.Namespace, seed: int) -> list[str]:
    """The config overrides shared by both networks (phantom size, budget, optimiser, seed)."""
    x, y, z = args.size
    px, py, pz = args.patch or args.size
    return [
        f"data.phantoms={{n: {args.phantoms}, seed: {seed}, size_xyz: [{x}, {y}, {z}]}}",
        f"data.val_fraction={args.val_fraction}",
        f"training.patch_voxels_xyz=[{px}, {py}, {pz}]",
        f"training.epochs={args.epochs}",
        f"training.patches_per_epoch={args.patches}",
        f"training.batch_size={args.batch}",
        f"training.seed={seed}",
        f"training.device={args.device}",
        f"training.threads={args.threads}",
        f"optimiser.name={args.optimiser}",
        f"schedule.name={args.schedule}",
        f"augmentation.enabled={str(args.augment).lower()}",
        "output.plot=false",
    ] + ([f"optimiser.lr={args.lr}"] if args.lr is not None else [])


def run_one(network: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Train one network; returns its history and wall time (seconds)."""
    config = load_config(REPO / "configs" / f"{network}-phantom.yaml", bench_overrides(args, seed))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"livseg-ds-{network}-") as out:
        result = train(config, out, max_seconds=args.budget_seconds)
    return {"history": result.history, "seconds": time.perf_counter() - started, "stopped": result.stopped,
            "train_cases": result.train_cases, "val_cases": result.val_cases,
            "optimiser": f"{config.optimiser.name} lr {config.optimiser.lr:g}, {config.schedule.name} schedule",
            "init": dict(config.model.options)}


def first_epoch_reaching(history: Sequence[dict[str, Any]], target: float) -> int | None:
    """The first epoch (1-based) whose validation Dice is >= target, or None."""
    for record in history:
        if record.get("val_dice") is not None and record["val_dice"] >= target:
            return int(record["epoch"])
    return None


def print_table(seed: int, runs: dict[str, dict[str, Any]], target: float) -> None:
    columns = ("loss", "loss_main", "train_dice", "val_loss", "val_dice")
    head = "epoch " + " ".join(f"{n + ':' + c:>16}" for n in runs for c in columns)
    print(f"\nseed {seed}: train cases {runs[NETWORKS[0]]['train_cases']}, val cases {runs[NETWORKS[0]]['val_cases']}")
    print(head)
    longest = max(len(r["history"]) for r in runs.values())
    for i in range(longest):
        cells = [f"{i + 1:5d}"]
        for run in runs.values():
            rec = run["history"][i] if i < len(run["history"]) else {}
            values = (rec.get("train_loss"), rec.get("train_loss_main"), rec.get("train_dice"),
                      rec.get("val_loss"), rec.get("val_dice"))
            cells += [f"{v:16.4f}" if v is not None else f"{'-':>16}" for v in values]
        print(" ".join(cells))
    for name, run in runs.items():
        reached = first_epoch_reaching(run["history"], target)
        best = max((r.get("val_dice") or 0.0) for r in run["history"])
        print(f"seed {seed} {name}: first epoch with val Dice >= {target}: "
              f"{reached if reached is not None else 'not reached'}; best val Dice {best:.4f}; "
              f"{len(run['history'])} epochs in {run['seconds']:.0f} s ({run['stopped']}); "
              f"{run['optimiser']}; options {run['init']}")


def plot(all_runs: dict[int, dict[str, dict[str, Any]]], path: Path, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(10, 4))
    colours = {"dsn3d": "tab:blue", "cnn3d": "tab:orange"}
    styles = ["-", "--", ":", "-."]
    for k, (seed, runs) in enumerate(all_runs.items()):
        for name, run in runs.items():
            epochs = [r["epoch"] for r in run["history"]]
            ls = styles[k % len(styles)]
            ax_loss.plot(epochs, [r.get("train_loss_main", r["train_loss"]) for r in run["history"]],
                         ls, color=colours[name], label=f"{name} train (main), seed {seed}")
            ax_loss.plot(epochs, [r.get("val_loss", float("nan")) for r in run["history"]], ls,
                         color=colours[name], alpha=0.45, label=f"{name} val, seed {seed}")
            ax_dice.plot(epochs, [r.get("val_dice", float("nan")) for r in run["history"]], ls,
                         color=colours[name], label=f"{name} val, seed {seed}")
    ax_dice.axhline(target, color="grey", lw=0.8)
    ax_loss.set(xlabel="epoch", ylabel="loss (main output)", title="loss")
    ax_dice.set(xlabel="epoch", ylabel="validation liver Dice", title="validation Dice", ylim=(0, 1))
    ax_loss.legend(fontsize=6)
    ax_dice.legend(fontsize=6)
    fig.suptitle("dsn3d (deep supervision) vs cnn3d on phantoms")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patches", type=int, default=16, help="patches per epoch")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--phantoms", type=int, default=11, help="phantoms in all (train + validation)")
    parser.add_argument("--val-fraction", type=float, default=0.27)
    parser.add_argument("--size", type=int, nargs=3, default=[32, 32, 16], metavar=("X", "Y", "Z"),
                        help="phantom grid in voxels")
    parser.add_argument("--patch", type=int, nargs=3, default=None, metavar=("X", "Y", "Z"),
                        help="training patch (default: the whole phantom, --size); validation is on whole phantoms")
    parser.add_argument("--optimiser", default="adamw")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: the configs' own, the same for both networks)")
    parser.add_argument("--schedule", default="constant")
    parser.add_argument("--augment", action="store_true", help="keep the configs' augmentation on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--budget-seconds", type=float, default=None, help="per network and seed")
    parser.add_argument("--figure", type=Path, default=REPO / "bench" / "figures" / "deep_supervision.png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print("command:", " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]))
    all_runs: dict[int, dict[str, dict[str, Any]]] = {}
    for seed in args.seeds:
        all_runs[seed] = {name: run_one(name, args, seed) for name in NETWORKS}
        print_table(seed, all_runs[seed], args.target)
        plot(all_runs, args.figure, args.target)
    print("\nsummary (first epoch with validation Dice >= %.2f):" % args.target)
    for seed, runs in all_runs.items():
        print(f"  seed {seed}: " + ", ".join(
            f"{n} {first_epoch_reaching(r['history'], args.target) or 'not reached'}" for n, r in runs.items()))
    print(f"figure: {args.figure} (load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
