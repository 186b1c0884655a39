"""Distributed data-parallel training under ``torchrun``.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 the engine joins the
process group (NCCL on CUDA, Gloo on CPU), wraps the network in DistributedDataParallel, gives
each process every ``world_size``-th patch of the epoch plan, and lets rank 0 alone validate
and write checkpoints and logs.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from livseg.models.devices import resolve_device

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Where this process runs.

    Attributes:
        rank: global rank (0 alone writes files).
        world_size: number of processes.
        local_rank: rank on this machine (picks the GPU).
        device: the torch device this process computes on.
        distributed: whether a process group was set up.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    distributed: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _pick_device(preference: str, local_rank: int) -> torch.device:
    """``training.device`` for this process: "auto" is its local rank's GPU, else MPS, else the CPU."""
    return resolve_device(preference, option="training.device", cuda_index=local_rank)


def start_runtime(device_preference: str) -> Runtime:
    """Join the process group when launched by torchrun with several processes."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _pick_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=60))
        logger.info("rank %d of %d joined the %s process group on %s", rank, world_size, backend, device)
    return Runtime(rank=rank, world_size=world_size, local_rank=local_rank, device=device,
                   distributed=world_size > 1)


def stop_runtime(runtime: Runtime) -> None:
    """Leave the process group (if this module joined one)."""
    if runtime.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Sum a float64 tensor over all processes (identity when not distributed)."""
    if not runtime.distributed:
        return values
    reduced = values.to(runtime.device if runtime.device.type == "cuda" else "cpu").clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced.cpu()


def broadcast_int(value: int, runtime: Runtime) -> int:
    """Rank 0's ``value`` on every process."""
    if not runtime.distributed:
        return value
    tensor = torch.tensor([int(value)], dtype=torch.int64,
                          device=runtime.device if runtime.device.type == "cuda" else "cpu")
    dist.broadcast(tensor, src=0)
    return int(tensor.item())


def barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.barrier()
