"""The training loop: ``train(config, out_dir) -> TrainResult``.

One epoch = a fixed plan of patches (foreground-oversampled, seeded by (seed, epoch)),
augmented with MONAI transforms, fed in batches to the network; the deep-supervision loss
weights follow their schedule by epoch; the learning rate follows its schedule by epoch.
After each epoch: validation on the held-out cases (rank 0), one CSV row, the learning-curve
PNG, and the checkpoints ``last.pt`` (every epoch) and ``best.pt`` (best validation Dice, or
lowest training loss without validation cases), each written to a temporary file and renamed.

A run folder holds::

    config.yaml   the resolved config (every key)
    log.csv       one row per epoch
    curves.png    loss and Dice against epoch
    last.pt       the latest checkpoint (resume from it)
    best.pt       the best checkpoint so far
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from livseg.config import Config, config_from_dict, config_to_dict, save_config
from livseg.errors import ConfigError, OutputError
from livseg.training import checkpoint as ckpt
from livseg.training.augmentation import Augmenter
from livseg.training.cases import CaseSource, fingerprint, sources_for, split_cases
from livseg.training.distributed import (
    Runtime,
    all_reduce_sum,
    barrier,
    broadcast_int,
    start_runtime,
    stop_runtime,
)
from livseg.training.history import TensorBoardLog, plot_curves, write_csv
from livseg.training.objective import Objective
from livseg.training.optim import build_optimiser, build_scheduler
from livseg.training.patches import (
    PatchRequest,
    TrainingCase,
    case_probabilities,
    extract_patch,
    load_training_case,
    plan_epoch,
    share_of,
)
from livseg.training.validation import dice_counts, dice_from_counts, validate

logger = logging.getLogger(__name__)

CONFIG_FILE, LOG_FILE, CURVES_FILE = "config.yaml", "log.csv", "curves.png"
LAST_FILE, BEST_FILE = "last.pt", "best.pt"


@dataclass
class TrainResult:
    """What a run produced.

    Attributes:
        run_dir: the run folder.
        history: one dict per epoch (the rows of log.csv).
        best_checkpoint: path of best.pt (None on processes other than rank 0).
        last_checkpoint: path of last.pt (None on processes other than rank 0).
        model: the trained network (unwrapped from DDP / compile), in eval mode.
        stopped: why training ended: "epochs", "target" (``stop_when`` said so) or "budget".
        train_cases, val_cases: the case ids of the split.
    """

    run_dir: Path
    history: list[dict[str, Any]]
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    model: nn.Module
    stopped: str = "epochs"
    train_cases: list[str] = field(default_factory=list)
    val_cases: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Set-up helpers
# --------------------------------------------------------------------------------------------


def _set_determinism(config: Config, runtime: Runtime) -> None:
    torch.manual_seed(config.training.seed)
    if config.training.deterministic:
        # cuBLAS needs this before its first use to be deterministic (PyTorch's documented rule).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _amp_dtype(config: Config, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full precision (always on CPU)."""
    mode = config.training.amp
    if device.type != "cuda" or mode == "off":
        if mode in ("fp16", "bf16") and device.type != "cuda":
            logger.info("mixed precision %s asked for, but training runs on %s: using float32", mode, device)
        return None
    if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def _autocast_factory(device: torch.device, dtype: torch.dtype | None) -> Callable[[], contextlib.AbstractContextManager]:
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def _build_network(config: Config) -> nn.Module:
    from livseg.models import build_model

    return build_model(config.model.name, in_channels=config.model.in_channels,
                       num_classes=config.num_classes, **config.model.options)


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    model = getattr(model, "module", model)  # DistributedDataParallel
    return getattr(model, "_orig_mod", model)


def _count_branches(model: nn.Module, config: Config, device: torch.device) -> int:
    branches = getattr(model, "num_branches", None)
    if branches is not None:
        return int(branches)
    # A network without the attribute: one tiny forward pass tells.
    size = [s + 2 * config.training.context_voxels for s in config.training.patch_voxels_xyz[::-1]]
    with torch.no_grad():
        was_training = model.training
        model.eval()
        out = model(torch.zeros(1, config.model.in_channels, *size, device=device))
        model.train(was_training)
    return len(out.branches)


def _centre_crop(tensor: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """The centre ``shape`` of the trailing three axes (no-op when equal)."""
    have = tensor.shape[-3:]
    if tuple(have) == tuple(shape):
        return tensor
    starts = [(h - s) // 2 for h, s in zip(have, shape)]
    return tensor[(..., *[slice(a, a + int(s)) for a, s in zip(starts, shape)])]


def _align(output, target: torch.Tensor, patch_zyx: Sequence[int]):
    """Crop outputs and target to the common labelled region.

    Networks with valid convolutions return less than their input: the target is cropped to
    the output. Networks with "same" convolutions return the whole input, context included:
    both are cropped to the labelled patch.
    """
    from livseg.models import SegmentationOutput

    out_shape = output.main.shape[-3:]
    shape = [min(int(o), int(p)) for o, p in zip(out_shape, patch_zyx)]
    if any(int(t) < s for t, s in zip(target.shape[-3:], shape)):
        raise ConfigError("training.context_voxels", expected="network outputs no larger than its input",
                          found=f"output {tuple(out_shape)} for target {tuple(target.shape[-3:])}")
    main = _centre_crop(output.main, shape)
    branches = tuple(_centre_crop(b, shape) for b in output.branches)
    return SegmentationOutput(main, branches), _centre_crop(target, shape)


def _batches(items: Sequence[PatchRequest], size: int) -> Iterator[Sequence[PatchRequest]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _load_cases(sources: Sequence[CaseSource], ids: Sequence[str], config: Config) -> list[TrainingCase]:
    by_id = {s.case_id: s for s in sources}
    return [load_training_case(by_id[i], config) for i in ids]


def _config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            keys.append(f"{prefix}{key}: {va!r} -> {vb!r}")
    return keys


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def train(
    config: Config,
    out_dir: str | os.PathLike[str],
    *,
    resume: str | os.PathLike[str] | None = None,
    sources: Sequence[CaseSource] | None = None,
    progress: bool = False,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
    max_seconds: float | None = None,
    validate_on_train: bool = False,
) -> TrainResult:
    """Train a network as ``config`` says and write the run into ``out_dir``.

    Args:
        config: the resolved configuration.
        out_dir: the run folder (created; rank 0 writes config.yaml, log.csv, curves.png,
            last.pt, best.pt).
        resume: a checkpoint (or run folder) to continue from: weights, optimiser, scheduler,
            scaler, RNG states, epoch count, history. In deterministic mode on CPU the result
            is bit-identical to an uninterrupted run.
        sources: cases to use instead of those the config's data section names.
        progress: show tqdm progress bars (the CLI does; library callers usually not).
        stop_when: called with each epoch's record; True ends training ("target").
        max_seconds: end training after the epoch during which this much time has passed
            ("budget").
        validate_on_train: validate on the training cases themselves (the overfit check)
            instead of held-out ones.

    Returns:
        TrainResult (history, checkpoint paths, the trained model).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if resume is None and (out_dir / LAST_FILE).exists():
        raise OutputError(out_dir, expected="a new run folder", found=f"a run with {LAST_FILE} already there",
                          fix="pass --resume to continue it, or choose another --out")
    runtime = start_runtime(config.training.device)
    # Global switches this run may flip; restored afterwards so callers are left as they were.
    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic, torch.get_num_threads())
    try:
        return _train(config, out_dir, runtime, resume=resume, sources=sources, progress=progress,
                      stop_when=stop_when, max_seconds=max_seconds, started=started,
                      validate_on_train=validate_on_train)
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[1], saved[2]
        torch.set_num_threads(saved[3])
        stop_runtime(runtime)


def _train(config: Config, out_dir: Path, runtime: Runtime, *, resume, sources, progress, stop_when,
           max_seconds, started: float, validate_on_train: bool) -> TrainResult:
    tr = config.training
    if config.validation.mode == "sliding" and tr.context_voxels > 0:
        raise ConfigError("validation.mode", expected="'whole' when training.context_voxels > 0",
                          found="'sliding'", fix="set validation.mode=whole for valid-convolution networks")
    if tr.threads:
        torch.set_num_threads(tr.threads)
    _set_determinism(config, runtime)
    device = runtime.device
    main = runtime.is_main

    # Data: split, fingerprint, preprocess once and keep in memory.
    sources = list(sources) if sources is not None else sources_for(config.data)
    if validate_on_train:
        train_ids = val_ids = [s.case_id for s in sources]
    else:
        train_ids, val_ids = split_cases([s.case_id for s in sources], config.data, tr.seed)
    data_fingerprint = fingerprint(sources)
    t0 = time.perf_counter()
    train_cases = _load_cases(sources, train_ids, config)
    if validate_on_train:
        val_cases = train_cases if main else []
    else:
        val_cases = _load_cases(sources, val_ids, config) if main else []
    logger.info("prepared %d training and %d validation cases in %.1f s (fingerprint %s)",
                len(train_ids), len(val_ids), time.perf_counter() - t0, data_fingerprint)

    # Network, loss, optimiser, schedule, scaler.
    model = _build_network(config).to(device)
    objective = Objective(config.loss, num_branches=_count_branches(model, config, device), device=device)
    optimiser = build_optimiser(model.parameters(), config.optimiser)
    scheduler = build_scheduler(optimiser, config.schedule, tr.epochs)
    amp_dtype = _amp_dtype(config, device)
    autocast = _autocast_factory(device, amp_dtype)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": None, "score": None}
    start_epoch = 0
    if resume is not None:
        state = ckpt.load_checkpoint(resume, map_location=device)
        changed = _config_differences(state["config"], config_to_dict(config))
        if changed:
            logger.warning("resuming with a config that differs from the checkpoint's: %s", "; ".join(changed))
        if state["dataset"]["fingerprint"] != data_fingerprint:
            logger.warning("resuming on different data: fingerprint %s, checkpoint has %s",
                           data_fingerprint, state["dataset"]["fingerprint"])
        _unwrap(model).load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        ckpt.set_rng_state(state["rng"])
        if runtime.rank:
            torch.manual_seed(tr.seed * 1000 + runtime.rank + state["epoch"])
        history = list(state["history"])
        best = dict(state["best"])
        start_epoch = int(state["epoch"])
        logger.info("resumed from %s after epoch %d", resume, start_epoch)

    network: nn.Module = model
    if runtime.distributed:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=objective.ignores_branches)
    if tr.compile:
        network = torch.compile(network)

    tensorboard = None
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, out_dir / CONFIG_FILE)
        if config.output.tensorboard:
            tensorboard = TensorBoardLog(out_dir / "tensorboard")

    augmenter = Augmenter(config.augmentation, device=device)
    case_probs = case_probabilities([c.case_id for c in train_cases], tr.phantom_share)
    patch_zyx = tuple(int(s) for s in tr.patch_voxels_xyz[::-1])
    input_zyx = tuple(s + 2 * tr.context_voxels for s in patch_zyx)
    num_classes = config.num_classes
    stopped = "epochs"
    last_path = best_path = None

    for epoch in range(start_epoch, tr.epochs):
        epoch_start = time.perf_counter()
        objective.set_epoch(epoch)
        lr = optimiser.param_groups[0]["lr"]
        plan = plan_epoch(train_cases, tr.patches_per_epoch, tr.foreground_fraction, tr.seed, epoch, patch_zyx,
                          case_probs=case_probs)
        mine = share_of(plan, runtime.rank, runtime.world_size)
        model.train()
        term_sums: dict[str, float] = {}
        patches_seen = 0
        counts = torch.zeros(num_classes - 1, 3, dtype=torch.float64)
        bar = None
        if progress and main:
            from tqdm import tqdm

            bar = tqdm(total=len(mine), desc=f"epoch {epoch + 1}/{tr.epochs}", unit="patch", leave=False)
        for batch in _batches(mine, tr.batch_size):
            images, targets = [], []
            for request in batch:
                case = train_cases[request.case_index]
                image = extract_patch(case.image, request.centre_zyx, input_zyx, case.pad_value)
                target = extract_patch(case.target, request.centre_zyx, input_zyx, 0)
                image_t, target_t = augmenter(image[None], target[None], request.seed)
                images.append(image_t)
                targets.append(target_t[0])
            x = torch.stack(images).to(device, non_blocking=True)
            y = torch.stack(targets).to(device, non_blocking=True)
            optimiser.zero_grad(set_to_none=True)
            with autocast():
                output = network(x)
            output, y = _align(output, y, patch_zyx)
            total, terms = objective(output, y)
            scaler.scale(total).backward()
            if tr.grad_clip_norm is not None:
                scaler.unscale_(optimiser)
                torch.nn.utils.clip_grad_norm_(model.parameters(), tr.grad_clip_norm)
            scaler.step(optimiser)
            scaler.update()
            n = len(batch)
            patches_seen += n
            for key, value in terms.items():
                term_sums[key] = term_sums.get(key, 0.0) + float(value) * n
            counts += dice_counts(output.main.detach().argmax(dim=1).cpu(), y.cpu(), num_classes)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(loss=f"{float(terms['train_loss']):.4f}")
        if bar is not None:
            bar.close()
        scheduler.step()

        # Average the training terms over all processes.
        keys = sorted(term_sums)
        packed = torch.tensor([term_sums[k] for k in keys] + [patches_seen] + counts.ravel().tolist(),
                              dtype=torch.float64)
        packed = all_reduce_sum(packed, runtime)
        seen = packed[len(keys)].item()
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
        for index, key in enumerate(keys):
            record[key] = packed[index].item() / max(seen, 1)
        record["train_dice"] = float(np.mean(dice_from_counts(packed[len(keys) + 1:].reshape(-1, 3))))
        for index, weight in enumerate(objective.branch_weights(), start=1):
            record[f"eta_{index}"] = weight

        last_epoch = epoch + 1 == tr.epochs
        if main and val_cases and ((epoch + 1) % config.validation.every_epochs == 0 or last_epoch):
            model.eval()
            forward = lambda t: model(t).main  # noqa: E731 - eager, unwrapped: rank 0 alone
            record.update(validate(forward, val_cases, config, device, objective.main_loss, autocast,
                                   getattr(model, "input_size_for", None) if tr.context_voxels else None))
        record["seconds"] = time.perf_counter() - epoch_start

        if main:
            history.append(record)
            score_key = "val_dice" if val_cases else "train_loss"
            score = record.get(score_key)
            improved = score is not None and (
                best["score"] is None
                or (score > best["score"] if score_key == "val_dice" else score < best["score"]))
            if improved:
                best = {"epoch": epoch + 1, "score": float(score), "metric": score_key}
            payload = {
                "epoch": epoch + 1,
                "model": _unwrap(model).state_dict(),
                "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": ckpt.rng_state(),
                "config": config_to_dict(config),
                "versions": ckpt.versions(),
                "dataset": {"fingerprint": data_fingerprint, "train_cases": list(train_ids),
                            "val_cases": list(val_ids)},
                "history": history,
                "best": best,
            }
            last_path = ckpt.save_checkpoint(payload, out_dir / LAST_FILE)
            if improved:
                best_path = ckpt.save_checkpoint(payload, out_dir / BEST_FILE)
            elif (out_dir / BEST_FILE).exists():
                best_path = out_dir / BEST_FILE
            write_csv(history, out_dir / LOG_FILE)
            if config.output.plot:
                plot_curves(history, out_dir / CURVES_FILE, title=config.name)
            if tensorboard is not None:
                tensorboard.add(record)
            logger.info("epoch %d/%d: %s", epoch + 1, tr.epochs, ", ".join(
                f"{k} {v:.4g}" for k, v in record.items() if k != "epoch" and isinstance(v, float)))
        barrier(runtime)

        reason = 0
        if main and stop_when is not None and stop_when(record):
            reason = 1
        elif max_seconds is not None and time.perf_counter() - started > max_seconds and not last_epoch:
            reason = 2
        reason = broadcast_int(reason, runtime)
        if reason:
            stopped = {1: "target", 2: "budget"}[reason]
            break

    if tensorboard is not None:
        tensorboard.close()
    model.eval()
    return TrainResult(run_dir=out_dir, history=history, best_checkpoint=best_path if main else None,
                       last_checkpoint=last_path if main else None, model=_unwrap(model), stopped=stopped,
                       train_cases=list(train_ids), val_cases=list(val_ids))


def config_of_checkpoint(path: str | os.PathLike[str]) -> Config:
    """The resolved config stored in a checkpoint (or a run folder's last.pt)."""
    state = ckpt.load_checkpoint(path)
    return config_from_dict(state["config"], source=str(path))

