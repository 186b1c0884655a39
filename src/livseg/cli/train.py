"""``livseg train``: train a network from a YAML config, resume a run, or overfit one case.

    livseg train CONFIG.yaml [--set key.sub=value ...] [--out RUN_DIR]
    livseg train [CONFIG.yaml] --resume RUN_DIR [--set training.epochs=N]
    livseg train [CONFIG.yaml] --overfit-one CASE [--label LABEL] [--target-dice 0.95]
                 [--max-epochs N] [--budget-minutes M] [--out RUN_DIR]
    livseg train CONFIG.yaml --budget-minutes M     (stop at the end of the epoch that passes M)

Under ``torchrun --nproc_per_node N -m livseg train CONFIG.yaml`` the same command trains with
DistributedDataParallel; rank 0 alone writes the run folder.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from livseg.errors import ConfigError, InputNotFoundError

ORDER = 40
logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a network from a YAML config (or resume, or overfit one case)",
        description="Train a segmentation network as a YAML config describes; writes config.yaml, "
                    "log.csv, curves.png, last.pt and best.pt into the run folder. Under torchrun the "
                    "same command trains on several processes (rank 0 writes).")
    parser.add_argument("config", nargs="?", type=Path,
                        help="YAML config (optional with --resume: the run's config.yaml is used; "
                             "optional with --overfit-one: a built-in 3D DSN recipe is used)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set training.epochs=5 (repeatable; YAML values)")
    parser.add_argument("--out", type=Path, metavar="RUN_DIR",
                        help="run folder (default: output.dir of the config, else runs/<name>; "
                             "with --resume: the resumed run's folder)")
    parser.add_argument("--device", default=None,
                        help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps "
                             "(default: the config's training.device, itself auto by default)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue a run from its last.pt (or from a given checkpoint file)")
    parser.add_argument("--budget-minutes", type=float,
                        help="stop after this much training time, at the end of an epoch (default: none)")
    overfit = parser.add_argument_group("overfit-one sanity check")
    overfit.add_argument("--overfit-one", metavar="CASE",
                         help="train on one case until its Dice passes --target-dice: an image path (with "
                              "--label), a fetched sample name (lits-sample), or a case id of the config's data set")
    overfit.add_argument("--label", type=Path, help="the label file of an --overfit-one image path")
    overfit.add_argument("--target-dice", type=float, default=0.95, help="Dice to reach (default 0.95)")
    overfit.add_argument("--max-epochs", type=int, help="epoch budget (default: training.epochs)")
    parser.set_defaults(func=run)


def _load(args: argparse.Namespace):
    from livseg.config import load_config
    from livseg.training.overfit import default_overfit_config

    if args.config is not None:
        return load_config(args.config, args.overrides)
    if args.resume is not None:
        if not args.resume.exists():
            raise InputNotFoundError(args.resume, expected="a run folder (with last.pt) or a checkpoint to resume",
                                     found="nothing at that path")
        folder = args.resume if args.resume.is_dir() else args.resume.parent
        saved = folder / "config.yaml"
        if not saved.is_file():
            raise InputNotFoundError(saved, expected="the resolved config of the run to resume",
                                     found="nothing there", fix="pass the config file as well")
        return load_config(saved, args.overrides)
    if args.overfit_one is not None:
        from livseg.config import apply_overrides, config_from_dict, config_to_dict

        base = config_to_dict(default_overfit_config())
        return config_from_dict(apply_overrides(base, args.overrides), source="the built-in overfit-one config",
                                require_data=False)
    raise ConfigError("livseg train", expected="a CONFIG.yaml (or --resume RUN_DIR, or --overfit-one CASE)",
                      found="none", fix="see `livseg train --help`; configs/ holds examples")


def _out_dir(args: argparse.Namespace, config) -> Path:
    if args.out is not None:
        return args.out
    if args.resume is not None:
        return args.resume if args.resume.is_dir() else args.resume.parent
    if config.output.dir:
        return Path(config.output.dir)
    return Path("runs") / config.name


def _overfit_source(args: argparse.Namespace, config):
    from livseg.training.cases import case_source, pair_source

    name = args.overfit_one
    path = Path(name)
    if path.exists():
        if args.label is None:
            raise ConfigError("--overfit-one", expected="--label LABEL with an image path",
                              found=f"no label for {path}", fix="pass the label file with --label")
        return pair_source(path, args.label)
    from livseg.datasets.fetch import SAMPLES, sample_case

    if name in SAMPLES:
        return case_source(sample_case(name))
    if config.data.root is not None:
        from livseg.datasets import load_dataset

        return case_source(load_dataset(config.data.root, layout=config.data.layout).case(name))
    raise InputNotFoundError(name, expected="an image path, a sample name "
                             f"({', '.join(SAMPLES)}) or a case id of the config's data set",
                             found="none of these", fix="check the path, or give a config with data.root")


def run(args: argparse.Namespace) -> int:
    from livseg.io.atomic import require_writable_folder

    config = _load(args)
    if args.device is not None:
        from livseg.config import replace

        config = replace(config, training=replace(config.training, device=args.device))
    out_dir = _out_dir(args, config)
    require_writable_folder(out_dir)  # before any data is read or any epoch trained
    rank = int(os.environ.get("RANK", "0"))
    if args.overfit_one is not None:
        from livseg.training.overfit import overfit_one

        source = _overfit_source(args, config)
        budget = None if args.budget_minutes is None else args.budget_minutes * 60.0
        result = overfit_one(source, config, out_dir, target_dice=args.target_dice,
                             max_epochs=args.max_epochs, max_seconds=budget, progress=True)
        if rank == 0:
            if config.preprocessing.spacing_mm is None:
                print(f"note: trained on {source.case_id}'s voxel grid as it is (no resampling)")
            print(result.message)
            print(f"run folder: {out_dir}")
        return 0 if result.passed else 1

    from livseg.training.engine import train

    budget = None if args.budget_minutes is None else args.budget_minutes * 60.0
    result = train(config, out_dir, resume=args.resume, progress=True, max_seconds=budget)
    if rank == 0:
        history = result.history
        last = history[-1] if history else {}
        print(f"run folder: {out_dir}")
        print(f"epochs: {last.get('epoch', 0)} of {config.training.epochs} ({result.stopped}); "
              f"training cases {len(result.train_cases)}, validation cases {len(result.val_cases)}")
        if last.get("val_dice") is not None:
            best = max(r["val_dice"] for r in history if r.get("val_dice") is not None)
            print(f"validation Dice: last {last['val_dice']:.4f}, best {best:.4f}")
        if last:
            print(f"training loss: last {last['train_loss']:.4f}")
        written = [str(p) for p in (result.last_checkpoint, result.best_checkpoint) if p is not None]
        print("checkpoints: " + (", ".join(written) if written else
                                 "none written (no epoch was left to train; raise training.epochs to go on)"))
    return 0
