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

import livseg.training.checkpoint as ckpt
from livseg.config import Config, config_from_dict, config_to_dict, save_config
from livseg.errors import ConfigError, OutputError
from livseg.losses.regularization import weight_decay_param_groups
from livseg.models.output import SegmentationOutput
from livseg.models.precision import autocast_dtype, autocast_factory
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
from livseg.training.network import align, build_network, count_branches, unwrap
from livseg.training.objective import Objective
from livseg.training.optim import (ScheduleResume, build_optimiser, build_scheduler, lr_factor,
                                   resumed_scheduler)
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
# Set-up: config checks, torch switches, data, the network and what trains it, resume
# --------------------------------------------------------------------------------------------


def _check_config(config: Config) -> None:
    """Reject combinations the loop cannot run."""
    if config.validation.mode == "sliding" and config.training.context_voxels > 0:
        raise ConfigError("validation.mode", expected="'whole' when training.context_voxels > 0",
                          found="'sliding'", fix="set validation.mode=whole for valid-convolution networks")


def _configure_torch(config: Config, runtime: Runtime) -> None:
    """Intra-op threads, the seed and the determinism switches (``train`` restores them)."""
    if config.training.threads:
        torch.set_num_threads(config.training.threads)
    torch.manual_seed(config.training.seed)
    if config.training.deterministic:
        # cuBLAS needs this before its first use to be deterministic (PyTorch's documented rule).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True


@dataclass
class _Data:
    """The split and its prepared cases (validation cases on rank 0 only)."""

    train_ids: list[str]
    val_ids: list[str]
    fingerprint: str
    train_cases: list[TrainingCase]
    val_cases: list[TrainingCase]


def _load_cases(sources: Sequence[CaseSource], ids: Sequence[str], config: Config) -> list[TrainingCase]:
    by_id = {s.case_id: s for s in sources}
    return [load_training_case(by_id[i], config) for i in ids]


def _prepare_data(config: Config, sources: Sequence[CaseSource] | None, *, validate_on_train: bool,
                  is_main: bool) -> _Data:
    """Split, fingerprint, preprocess once and keep in memory."""
    sources = list(sources) if sources is not None else sources_for(config.data)
    if validate_on_train:
        train_ids = val_ids = [s.case_id for s in sources]
    else:
        train_ids, val_ids = split_cases([s.case_id for s in sources], config.data, config.training.seed)
    data_fingerprint = fingerprint(sources)
    t0 = time.perf_counter()
    train_cases = _load_cases(sources, train_ids, config)
    if validate_on_train:
        val_cases = train_cases if is_main else []
    else:
        val_cases = _load_cases(sources, val_ids, config) if is_main else []
    logger.info("prepared %d training and %d validation cases in %.1f s (fingerprint %s)",
                len(train_ids), len(val_ids), time.perf_counter() - t0, data_fingerprint)
    return _Data(list(train_ids), list(val_ids), data_fingerprint, train_cases, val_cases)


@dataclass
class _Learner:
    """The network and what trains it: loss, optimiser, learning-rate schedule, AMP scaler."""

    model: nn.Module
    objective: Objective
    optimiser: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    autocast: Callable[[], contextlib.AbstractContextManager]


def _amp_dtype(config: Config, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``training.amp``, or None for full precision (always on CPU)."""
    mode = config.training.amp
    if mode in ("fp16", "bf16") and device.type != "cuda":
        logger.info("mixed precision %s asked for, but training runs on %s: using float32", mode, device)
    return autocast_dtype(device, mode)


def _build_learner(config: Config, device: torch.device) -> _Learner:
    """The network, its objective, optimiser (weight decay on kernels only), scheduler and scaler."""
    model = build_network(config).to(device)
    objective = Objective(config.loss, num_branches=count_branches(model, config, device), device=device)
    # Eq. 3's L2 term is on the kernels only: biases, normalisation scales and PReLU slopes
    # are not decayed (their own parameter group).
    optimiser = build_optimiser(weight_decay_param_groups(model, config.optimiser.weight_decay), config.optimiser)
    scheduler = build_scheduler(optimiser, config.schedule, config.training.epochs)
    amp_dtype = _amp_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    return _Learner(model, objective, optimiser, scheduler, scaler, autocast_factory(device, amp_dtype))


def _initialise_from(learner: _Learner, config: Config) -> None:
    """Load ``training.init_weights``' network weights into the new network (fine-tuning).

    Raises:
        ConfigError: the source's network or options differ from this run's (the weights
            cannot fit), or its weights do not load.
    """
    from livseg.inference.bundle import load_bundle
    from livseg.inference.registry import resolve_model

    name, path = resolve_model(str(config.training.init_weights))
    source = load_bundle(path, name=name)
    if source.config is None:
        raise ConfigError("training.init_weights", expected="a model that records its training config",
                          found=f"{path} without one")
    ours, theirs = config_to_dict(config)["model"], config_to_dict(source.config)["model"]
    if ours != theirs:
        raise ConfigError("training.init_weights", expected=f"a model with this run's network {ours}",
                          found=f"{path} with {theirs}", fix="set model.name/model.options to the source's")
    differs = _config_differences(config_to_dict(source.config)["preprocessing"],
                                  config_to_dict(config)["preprocessing"], "preprocessing.")
    if differs:
        logger.warning("fine-tuning %s with different preprocessing: %s", path, "; ".join(differs))
    try:
        unwrap(learner.model).load_state_dict(source.network.state_dict())
    except RuntimeError as exc:
        raise ConfigError("training.init_weights", expected="weights that fit this run's network",
                          found=f"{path}: {str(exc).splitlines()[0]}") from None
    logger.info("initialised the network from %s (%s)", name, path)


@dataclass
class _Progress:
    """What the epochs so far left: the log, the best score, and where the checkpoints are."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": None, "score": None})
    start_epoch: int = 0
    last_path: Path | None = None
    best_path: Path | None = None


def _config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            keys.append(f"{prefix}{key}: {va!r} -> {vb!r}")
    return keys


def _resume(resume: str | os.PathLike[str], learner: _Learner, config: Config, data: _Data,
            runtime: Runtime) -> _Progress:
    """Load weights, optimiser, scheduler, scaler and RNG states; the progress to continue."""
    state = ckpt.load_checkpoint(resume, map_location=runtime.device)
    changed = _config_differences(state["config"], config_to_dict(config))
    if changed:
        logger.warning("resuming with a config that differs from the checkpoint's: %s", "; ".join(changed))
    if state["dataset"]["fingerprint"] != data.fingerprint:
        logger.warning("resuming on different data: fingerprint %s, checkpoint has %s",
                       data.fingerprint, state["dataset"]["fingerprint"])
    unwrap(learner.model).load_state_dict(state["model"])
    learner.optimiser.load_state_dict(state["optimiser"])
    learner.scheduler.load_state_dict(state["scheduler"])
    learner.scheduler = resumed_scheduler(learner.optimiser, config.schedule, config.training.epochs,
                                          _schedule_resume(state, config, learner.optimiser))
    learner.scaler.load_state_dict(state["scaler"])
    ckpt.set_rng_state(state["rng"])
    if runtime.rank:
        torch.manual_seed(config.training.seed * 1000 + runtime.rank + state["epoch"])
    logger.info("resumed from %s after epoch %d", resume, int(state["epoch"]))
    return _Progress(history=list(state["history"]), best=dict(state["best"]), start_epoch=int(state["epoch"]))


def _schedule_resume(state: dict[str, Any], config: Config, optimiser: torch.optim.Optimizer) -> ScheduleResume:
    """Where the learning-rate schedule goes on: the factor the checkpoint's last epoch used (from
    its log row, so a chain of resumes stays continuous) and whether the epoch count changed."""
    start = int(state["epoch"])
    planned = int(state["config"].get("training", {}).get("epochs", config.training.epochs))
    history = state.get("history") or []
    initial = float(optimiser.param_groups[0].get("initial_lr", config.optimiser.lr))
    if history and history[-1].get("lr") is not None and initial > 0:
        last_factor = float(history[-1]["lr"]) / initial
    else:
        last_factor = lr_factor(config.schedule, max(start - 1, 0), planned)
    if planned != config.training.epochs:
        logger.info("resuming with %d epochs instead of %d: the learning rate decays on from %.4g",
                    config.training.epochs, planned, last_factor * initial)
    return ScheduleResume(start_epoch=start, last_factor=last_factor, same_plan=planned == config.training.epochs)


def _wrap_network(model: nn.Module, config: Config, runtime: Runtime, objective: Objective) -> nn.Module:
    """``model`` in DistributedDataParallel (several processes) and ``torch.compile`` (when asked)."""
    network: nn.Module = model
    if runtime.distributed:
        device = runtime.device
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=objective.ignores_branches)
    if config.training.compile:
        network = torch.compile(network)
    return network


def _open_run_folder(config: Config, out_dir: Path) -> TensorBoardLog | None:
    """Create the run folder, write config.yaml; the TensorBoard log when asked for (rank 0)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, out_dir / CONFIG_FILE)
    return TensorBoardLog(out_dir / "tensorboard") if config.output.tensorboard else None


def _batches(items: Sequence[PatchRequest], size: int) -> Iterator[Sequence[PatchRequest]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class _EpochSums:
    """This process's share of an epoch: patch-weighted loss terms, patches, Dice counts."""

    terms: dict[str, float]
    patches: int
    counts: torch.Tensor  # (classes - 1, 3) float64 TP, FP, FN


# --------------------------------------------------------------------------------------------
# The run: one epoch's steps
# --------------------------------------------------------------------------------------------


class _TrainingRun:
    """The state of a run between epochs and the named steps of one epoch.

    ``model`` is the plain network (validation, checkpoints), ``network`` the same wrapped in
    DDP / ``torch.compile`` (the training forward pass).
    """

    def __init__(self, config: Config, out_dir: Path, runtime: Runtime, data: _Data, learner: _Learner,
                 progress: _Progress) -> None:
        self.config, self.out_dir, self.runtime = config, out_dir, runtime
        self.data, self.learner, self.progress = data, learner, progress
        self.network = _wrap_network(learner.model, config, runtime, learner.objective)
        self.tensorboard = _open_run_folder(config, out_dir) if runtime.is_main else None
        self.augmenter = Augmenter(config.augmentation, device=runtime.device)
        tr = config.training
        self.case_probs = case_probabilities([c.case_id for c in data.train_cases], tr.phantom_share)
        self.patch_zyx = tuple(int(s) for s in tr.patch_voxels_xyz[::-1])
        self.input_zyx = tuple(s + 2 * tr.context_voxels for s in self.patch_zyx)

    # -- training --------------------------------------------------------------------------
    def my_patches(self, epoch: int) -> Sequence[PatchRequest]:
        """This process's share of the epoch's patch plan (seeded by (seed, epoch))."""
        tr = self.config.training
        plan = plan_epoch(self.data.train_cases, tr.patches_per_epoch, tr.foreground_fraction, tr.seed, epoch,
                          self.patch_zyx, case_probs=self.case_probs)
        return share_of(plan, self.runtime.rank, self.runtime.world_size)

    def batch_tensors(self, batch: Sequence[PatchRequest]) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented images (n, C_in, D, H, W) and targets (n, D, H, W) of a batch, on the device."""
        images, targets = [], []
        for request in batch:
            case = self.data.train_cases[request.case_index]
            image = extract_patch(case.image, request.centre_zyx, self.input_zyx, case.pad_value)
            target = extract_patch(case.target, request.centre_zyx, self.input_zyx, 0)
            image_t, target_t = self.augmenter(image[None], target[None], request.seed)
            images.append(image_t)
            targets.append(target_t[0])
        device = self.runtime.device
        return torch.stack(images).to(device, non_blocking=True), torch.stack(targets).to(device, non_blocking=True)

    def optimiser_step(self, x: torch.Tensor, y: torch.Tensor
                       ) -> tuple[SegmentationOutput, torch.Tensor, dict[str, float]]:
        """Forward, loss, backward (scaled), clipping, step; the aligned output and target, the terms."""
        learner, clip = self.learner, self.config.training.grad_clip_norm
        learner.optimiser.zero_grad(set_to_none=True)
        with learner.autocast():
            output = self.network(x)
        output, y = align(output, y, self.patch_zyx)
        total, terms = learner.objective(output, y)
        learner.scaler.scale(total).backward()
        if clip is not None:
            learner.scaler.unscale_(learner.optimiser)
            torch.nn.utils.clip_grad_norm_(learner.model.parameters(), clip)
        learner.scaler.step(learner.optimiser)
        learner.scaler.update()
        return output, y, terms

    def train_patches(self, epoch: int, show_progress: bool) -> _EpochSums:
        """One pass over this process's patches of the epoch, then the scheduler's step."""
        mine = self.my_patches(epoch)
        self.learner.model.train()
        sums = _EpochSums({}, 0, torch.zeros(self.config.num_classes - 1, 3, dtype=torch.float64))
        bar = None
        if show_progress and self.runtime.is_main:
            from tqdm import tqdm

            bar = tqdm(total=len(mine), desc=f"epoch {epoch + 1}/{self.config.training.epochs}", unit="patch",
                       leave=False)
        for batch in _batches(mine, self.config.training.batch_size):
            output, y, terms = self.optimiser_step(*self.batch_tensors(batch))
            n = len(batch)
            sums.patches += n
            for key, value in terms.items():
                sums.terms[key] = sums.terms.get(key, 0.0) + float(value) * n
            sums.counts += dice_counts(output.main.detach().argmax(dim=1).cpu(), y.cpu(), self.config.num_classes)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(loss=f"{float(terms['train_loss']):.4f}")
        if bar is not None:
            bar.close()
        self.learner.scheduler.step()
        return sums

    def epoch_record(self, epoch: int, lr: float, sums: _EpochSums) -> dict[str, Any]:
        """The epoch's log row: the training terms and Dice summed over all processes, eta_d."""
        keys = sorted(sums.terms)
        packed = torch.tensor([sums.terms[k] for k in keys] + [sums.patches] + sums.counts.ravel().tolist(),
                              dtype=torch.float64)
        packed = all_reduce_sum(packed, self.runtime)
        seen = packed[len(keys)].item()
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
        for index, key in enumerate(keys):
            record[key] = packed[index].item() / max(seen, 1)
        record["train_dice"] = float(np.mean(dice_from_counts(packed[len(keys) + 1:].reshape(-1, 3))))
        for index, weight in enumerate(self.learner.objective.branch_weights(), start=1):
            record[f"eta_{index}"] = weight
        return record

    # -- validation, checkpoints, logs (rank 0) ----------------------------------------------
    def validate_into(self, record: dict[str, Any], epoch: int) -> None:
        """Add validation loss and Dice to ``record`` when this epoch validates (rank 0)."""
        config, model = self.config, self.learner.model
        last_epoch = epoch + 1 == config.training.epochs
        if not (self.runtime.is_main and self.data.val_cases
                and ((epoch + 1) % config.validation.every_epochs == 0 or last_epoch)):
            return
        model.eval()
        forward = lambda t: model(t).main  # noqa: E731 - eager, unwrapped: rank 0 alone
        record.update(validate(forward, self.data.val_cases, config, self.runtime.device,
                               self.learner.objective.main_loss, self.learner.autocast,
                               getattr(model, "input_size_for", None) if config.training.context_voxels else None))

    def update_best(self, record: dict[str, Any]) -> bool:
        """Whether ``record`` improves on the best score (validation Dice, else training loss)."""
        score_key = "val_dice" if self.data.val_cases else "train_loss"
        score, best = record.get(score_key), self.progress.best
        improved = score is not None and (
            best["score"] is None or (score > best["score"] if score_key == "val_dice" else score < best["score"]))
        if improved:
            self.progress.best = {"epoch": record["epoch"], "score": float(score), "metric": score_key}
        return improved

    def checkpoint_payload(self, epoch: int) -> dict[str, Any]:
        """Everything a checkpoint after ``epoch`` (0-based) holds."""
        learner, data = self.learner, self.data
        return {
            "epoch": epoch + 1,
            "model": unwrap(learner.model).state_dict(),
            "optimiser": learner.optimiser.state_dict(),
            "scheduler": learner.scheduler.state_dict(),
            "scaler": learner.scaler.state_dict(),
            "rng": ckpt.rng_state(),
            "config": config_to_dict(self.config),
            "versions": ckpt.versions(),
            "dataset": {"fingerprint": data.fingerprint, "train_cases": list(data.train_ids),
                        "val_cases": list(data.val_ids)},
            "history": self.progress.history,
            "best": self.progress.best,
        }

    def save_epoch(self, record: dict[str, Any], epoch: int) -> None:
        """Rank 0: the row into the history, last.pt (and best.pt), log.csv, curves, TensorBoard."""
        progress, out_dir = self.progress, self.out_dir
        progress.history.append(record)
        improved = self.update_best(record)
        payload = self.checkpoint_payload(epoch)
        progress.last_path = ckpt.save_checkpoint(payload, out_dir / LAST_FILE)
        if improved:
            progress.best_path = ckpt.save_checkpoint(payload, out_dir / BEST_FILE)
        elif (out_dir / BEST_FILE).exists():
            progress.best_path = out_dir / BEST_FILE
        write_csv(progress.history, out_dir / LOG_FILE)
        if self.config.output.plot:
            plot_curves(progress.history, out_dir / CURVES_FILE, title=self.config.name)
        if self.tensorboard is not None:
            self.tensorboard.add(record)
        logger.info("epoch %d/%d: %s", epoch + 1, self.config.training.epochs, ", ".join(
            f"{k} {v:.4g}" for k, v in record.items() if k != "epoch" and isinstance(v, float)))

    # -- the epoch and the end -----------------------------------------------------------------
    def run_epoch(self, epoch: int, show_progress: bool) -> dict[str, Any]:
        """Train, reduce, validate and save one epoch (0-based); returns its record."""
        epoch_start = time.perf_counter()
        self.learner.objective.set_epoch(epoch)
        lr = self.learner.optimiser.param_groups[0]["lr"]
        sums = self.train_patches(epoch, show_progress)
        record = self.epoch_record(epoch, lr, sums)
        self.validate_into(record, epoch)
        record["seconds"] = time.perf_counter() - epoch_start
        if self.runtime.is_main:
            self.save_epoch(record, epoch)
        barrier(self.runtime)
        return record

    def stop_reason(self, record: dict[str, Any], epoch: int, stop_when: Callable[[dict[str, Any]], bool] | None,
                    deadline: float | None) -> str | None:
        """"target" (``stop_when`` said so on rank 0), "budget" (past ``deadline``, a
        ``time.perf_counter`` value, before the last epoch) or None; the same on every process."""
        last_epoch = epoch + 1 == self.config.training.epochs
        reason = 0
        if self.runtime.is_main and stop_when is not None and stop_when(record):
            reason = 1
        elif deadline is not None and time.perf_counter() > deadline and not last_epoch:
            reason = 2
        reason = broadcast_int(reason, self.runtime)
        return {0: None, 1: "target", 2: "budget"}[reason]

    def finish(self, stopped: str) -> TrainResult:
        """Close the logs; the trained (unwrapped) network in eval mode and what the run wrote."""
        if self.tensorboard is not None:
            self.tensorboard.close()
        model, main = self.learner.model, self.runtime.is_main
        model.eval()
        return TrainResult(run_dir=self.out_dir, history=self.progress.history,
                           best_checkpoint=self.progress.best_path if main else None,
                           last_checkpoint=self.progress.last_path if main else None, model=unwrap(model),
                           stopped=stopped, train_cases=list(self.data.train_ids), val_cases=list(self.data.val_ids))


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
                      stop_when=stop_when, deadline=None if max_seconds is None else started + max_seconds,
                      validate_on_train=validate_on_train)
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[1], saved[2]
        torch.set_num_threads(saved[3])
        stop_runtime(runtime)


def _train(config: Config, out_dir: Path, runtime: Runtime, *, resume: str | os.PathLike[str] | None,
           sources: Sequence[CaseSource] | None, progress: bool,
           stop_when: Callable[[dict[str, Any]], bool] | None, deadline: float | None,
           validate_on_train: bool) -> TrainResult:
    """The steps of a run, in order: set-up, resume, then epochs until one says stop."""
    _check_config(config)
    _configure_torch(config, runtime)
    data = _prepare_data(config, sources, validate_on_train=validate_on_train, is_main=runtime.is_main)
    learner = _build_learner(config, runtime.device)
    if resume is None and config.training.init_weights:
        _initialise_from(learner, config)
    state = _Progress() if resume is None else _resume(resume, learner, config, data, runtime)
    run = _TrainingRun(config, out_dir, runtime, data, learner, state)
    stopped = "epochs"
    for epoch in range(state.start_epoch, config.training.epochs):
        record = run.run_epoch(epoch, progress)
        reason = run.stop_reason(record, epoch, stop_when, deadline)
        if reason is not None:
            stopped = reason
            break
    return run.finish(stopped)


def config_of_checkpoint(path: str | os.PathLike[str]) -> Config:
    """The resolved config stored in a checkpoint (or a run folder's last.pt)."""
    state = ckpt.load_checkpoint(path)
    return config_from_dict(state["config"], source=str(path))

