"""Train the default models and their leave-one-real-case-out folds, several runs at once.

Every run is an ordinary ``livseg train`` of ``configs/default-liver.yaml`` or
``configs/default-tumour.yaml`` with ``--set`` overrides (printed, so any one run can be
repeated by hand). On one GPU the runs share the device; on a CPU run them one at a time
(``--jobs 1``) with a larger budget.

    python scripts/train_default_models.py --out runs/default --budget-minutes 7
    python scripts/train_default_models.py --out runs/default --only liver-unet3d-all --jobs 1
    python scripts/train_default_models.py --out runs/dry --only liver-unet3d-both-loo-chaos-ct-1 \
        tumour-unet3d-real-livers --jobs 1 --set training.epochs=1 --set training.patches_per_epoch=2 \
        --set training.batch_size=1 --set 'training.patch_voxels_xyz=[64, 64, 48]' --set training.device=cpu \
        --set 'data.mask_synthesis.n=2'        # the CPU dry run before a GPU run (about 2 minutes)
    nice -n 19 python scripts/train_default_models.py --out runs/cpu --only tumour-unet3d-real-livers-finetune \
        --jobs 1 --budget-minutes 125 --set training.device=cpu --set training.epochs=24 \
        --set 'data.mask_synthesis.n=12' --set validation.every_epochs=8 --export runs/cpu/bundles
                                           # without a GPU: fine-tune the tumour model on the CPU

Afterwards each run folder holds its checkpoints; ``--export DIR`` also writes each run's
weights after the last epoch (``last.pt``) as a ``.safetensors`` bundle named after the run: a
leave-one-out fold must not pick its checkpoint by its own held-out case's Dice.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: The real cases of configs/default-liver.yaml (in its order).
REAL_CASES = ("chaos-ct-1", "totalseg-example", "totalseg-example-dicom", "dcmqi-ct-3slice")
DSN3D = ["model.name=dsn3d", "model.options={}"]
#: CT synthesised on the 3D-IRCADb masks (issue #14): 48 cases from the 12 training patients (the
#: four of ``HELD_OUT_PATIENTS`` never), a quarter with random intensities per tissue.
SYNTH = ["data.mask_synthesis={n: 48, seed: 0, random_intensity_share: 0.25}"]
#: Tumour training on real livers: lesion copies of the real cases except CHAOS (kept out so the
#: tumour protocol can insert held-out tumours into it and measure false tumour on its healthy
#: liver), the synthesised anatomy with its real tumour masks, the phantoms and the LiTS crop. The
#: 3-slice dcmqi case is too thin to hold a lesion.
TUMOUR_REAL = ["data.root=../shared/data", "data.layout=shared", "data.cases=[totalseg-example, totalseg-example-dicom]",
               "data.lesion_copies={copies: 4, seed: 0}"]

#: Fine-tuning from the shipped weights: a quarter of the learning rate, one warm-up epoch.
FINETUNE = ["training.init_weights=default-tumour", "optimiser.lr=0.0005", "schedule.warmup_epochs=1"]


def liver_runs() -> dict[str, list[str]]:
    """{run name: --set overrides} for the liver candidates and folds."""
    runs: dict[str, list[str]] = {}
    for network, extra, folds in (("unet3d", [], REAL_CASES), ("dsn3d", DSN3D, REAL_CASES[:2])):
        for held_out in folds:
            runs[f"liver-{network}-loo-{held_out}"] = extra + [f"data.val_cases=[{held_out}]"]
        if network == "unet3d":
            runs[f"liver-{network}-all"] = list(extra)
    return runs


def synthesis_runs() -> dict[str, list[str]]:
    """{run name: --set overrides} comparing the training data (issue #14 item 4): phantoms
    (the ``liver-unet3d-*`` runs above), synthesised anatomy instead of them, and both; each on the
    two full real scans held out, and "all" for the candidate shipped model."""
    runs: dict[str, list[str]] = {}
    for held_out in REAL_CASES[:2]:
        runs[f"liver-unet3d-synth-loo-{held_out}"] = SYNTH + ["data.phantoms=null", f"data.val_cases=[{held_out}]"]
        runs[f"liver-unet3d-both-loo-{held_out}"] = SYNTH + [f"data.val_cases=[{held_out}]"]
    runs["liver-unet3d-both-all"] = list(SYNTH)
    return runs


def all_runs() -> dict[str, tuple[str, list[str]]]:
    """{run name: (config file, overrides)}."""
    runs = {name: ("configs/default-liver.yaml", sets) for name, sets in liver_runs().items()}
    runs.update({name: ("configs/default-liver.yaml", sets) for name, sets in synthesis_runs().items()})
    runs["tumour-unet3d-all"] = ("configs/default-tumour.yaml", [])
    runs["tumour-unet3d-real-livers"] = ("configs/default-tumour.yaml", TUMOUR_REAL + SYNTH)
    # Without a GPU (issue #14 item 3): fine-tune the shipped tumour model on the same data. The
    # shipped model never saw CHAOS, so the tumour protocol on CHAOS stays held out.
    runs["tumour-unet3d-real-livers-finetune"] = ("configs/default-tumour.yaml", TUMOUR_REAL + SYNTH + FINETUNE)
    return runs


def export(run_dir: Path, dest: Path, name: str) -> Path:
    """Write the run's last checkpoint as ``dest/NAME.safetensors``."""
    from livseg.inference.bundle import load_bundle, save_bundle

    return save_bundle(load_bundle(run_dir / "last.pt", name=name), dest / f"{name}.safetensors")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "default")
    parser.add_argument("--budget-minutes", type=float, default=None, help="per run (default: the configs' epochs)")
    parser.add_argument("--jobs", type=int, default=8, help="runs at once (default 8)")
    parser.add_argument("--only", nargs="+", help="run names to train (default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra override for every run")
    parser.add_argument("--export", type=Path, help="also write each run's bundle here")
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    args = parser.parse_args()

    runs = all_runs()
    if args.only:
        unknown = sorted(set(args.only) - set(runs))
        if unknown:
            parser.error(f"unknown run names {unknown}; known: {', '.join(runs)}")
        runs = {k: v for k, v in runs.items() if k in args.only}
    commands = {}
    for name, (config, sets) in runs.items():
        command = [sys.executable, "-m", "livseg", "train", config, "--out", str(args.out / name)]
        for item in sets + args.overrides:
            command += ["--set", item]
        if args.budget_minutes is not None:
            command += ["--budget-minutes", str(args.budget_minutes)]
        commands[name] = command
        print(f"{name}: livseg train {config} --out {args.out / name} "
              + " ".join(f"--set '{s}'" for s in sets + args.overrides), flush=True)
    if args.list:
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    pending, running, failed = list(commands), {}, []
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            log = (args.out / f"{name}.log").open("w")
            running[name] = (subprocess.Popen(commands[name], stdout=log, stderr=subprocess.STDOUT, env=env), log)
        time.sleep(2)
        for name, (process, log) in list(running.items()):
            if process.poll() is not None:
                log.close()
                del running[name]
                status = "ok" if process.returncode == 0 else f"FAILED ({process.returncode})"
                print(f"[{time.perf_counter() - started:7.1f} s] {name}: {status}", flush=True)
                if process.returncode != 0:
                    failed.append(name)
    if args.export:
        args.export.mkdir(parents=True, exist_ok=True)
        for name in commands:
            if name not in failed:
                print(f"exported {export(args.out / name, args.export, name)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
