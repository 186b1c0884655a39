"""How the dense CRF uses CPU threads: one scheme, in one place.

PyTorch's intra-op threads pay off only for large operations; the CRF's per-voxel steps on a
slice or a slab are too small for them, and its CPU scatter (``scatter_add_`` / ``index_add_``
of a 1D tensor) runs in one thread anyway. So the CRF runs its own threads, always the same way:

* **Process-wide executors, one per role** (:func:`pool`). A role names who submits to it:
  ``SPLAT`` (row blocks of one scatter, submitted by the thread running a filter), ``SIDE``
  (one thread working beside a filter: the spatial kernel, half of the scatter and gather) and
  ``BLOCK`` (independent slabs of slices in 2D mode). A thread never waits on the executor it
  runs in, so nothing deadlocks. Their threads start with one intra-op thread each (a
  per-thread setting; at the default, an operation inside a worker would start more threads
  than there are cores).
* **Work carries the caller's inference mode** (a thread-local setting) into the worker
  (:func:`carrying_inference_mode`); :func:`run_all` submits jobs so and waits for them.
* **Small inputs run with one intra-op thread** (:func:`runs_single_threaded`,
  :func:`single_threaded`), the second core serving the side thread instead.
* **Two threads share one filter pass** through :func:`share_with_side_thread`: the side thread
  does its first step, then its own work, then its last step; the calling thread does its
  first step, waits for the side thread's first, does the middle step, and hands its result
  to both last steps. Every hand-off is a ``threading.Event`` that is set even when a step
  fails, so that neither thread is ever left waiting; a failure surfaces in the caller.

Which steps run on which thread never changes the arithmetic: results are bit-identical to
one thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

import torch

Result = TypeVar("Result")
Handed = TypeVar("Handed")

#: Roles of the executors (see the module docstring).
SPLAT, SIDE, BLOCK = "splat", "side", "block"

#: Below this many voxels a CPU scatter runs in the calling thread (the hand-off costs more).
PARALLEL_SPLAT_MIN_VOXELS = 1 << 16
#: Inputs up to this many voxels run with one intra-op thread on a CPU, the kernels side by
#: side in two threads (see :func:`livseg.crf.mean_field.dense_crf`).
SINGLE_THREAD_MAX_VOXELS = 1 << 20

_pool_lock = threading.Lock()
_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}


def pool(role: str, workers: int) -> ThreadPoolExecutor:
    """The process-wide executor of ``workers`` threads for ``role`` (created on first use)."""
    with _pool_lock:
        if (role, workers) not in _pools:
            _pools[role, workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"livseg-crf-{role}",
                                                       initializer=torch.set_num_threads, initargs=(1,))
        return _pools[role, workers]


def side_pool() -> ThreadPoolExecutor:
    """The single thread that works beside a CRF filter (role ``SIDE``)."""
    return pool(SIDE, 1)


def carrying_inference_mode(work: Callable[[], Result]) -> Callable[[], Result]:
    """``work`` wrapped to run under the calling thread's inference mode (a thread-local setting)."""
    inference = torch.is_inference_mode_enabled()

    def run() -> Result:
        with torch.inference_mode(inference):
            return work()

    return run


def run_all(role: str, jobs: Sequence[Callable[[], None]], workers: int | None = None) -> None:
    """Run ``jobs`` on the ``role`` executor of ``workers`` threads (default: one per job) and
    wait for all of them; the first failure is raised."""
    executor = pool(role, len(jobs) if workers is None else workers)
    for done in [executor.submit(carrying_inference_mode(job)) for job in jobs]:
        done.result()


def row_workers(device: torch.device) -> int:
    """Threads to split a scatter over: the intra-op threads on a CPU, 1 elsewhere."""
    return torch.get_num_threads() if device.type == "cpu" else 1


def runs_single_threaded(voxels: int, device: torch.device) -> bool:
    """Whether a CRF of ``voxels`` voxels runs faster with one intra-op thread plus the side
    thread than with the caller's intra-op threads."""
    return device.type == "cpu" and voxels <= SINGLE_THREAD_MAX_VOXELS and torch.get_num_threads() > 1


@contextmanager
def single_threaded() -> Iterator[None]:
    """One intra-op thread in this thread for the duration; the previous setting is restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def share_with_side_thread(side: ThreadPoolExecutor, *, side_first: Callable[[], None],
                           side_work: Callable[[], Result], main_first: Callable[[], None],
                           middle: Callable[[], Handed], side_last: Callable[[Handed], None],
                           main_last: Callable[[Handed], None]) -> Result:
    """One job on two threads, in the order the module docstring gives; returns ``side_work()``.

    The side thread runs ``side_first``, ``side_work`` and then ``side_last(handed)``; this
    thread runs ``main_first``, waits for ``side_first``, runs ``handed = middle()``, then
    ``main_last(handed)``, and finally waits for the side thread. The side thread is woken
    once per call.
    """
    first_done, middle_done = threading.Event(), threading.Event()
    handed: list[Handed] = []

    def side_job() -> Result:
        try:
            side_first()
        finally:  # never leave the other thread waiting; an error surfaces from the future
            first_done.set()
        result = side_work()
        middle_done.wait()
        if handed:  # else this thread failed: it raises
            side_last(handed[0])
        return result

    future = side.submit(carrying_inference_mode(side_job))
    try:
        main_first()
        first_done.wait()
        handed.append(middle())
    finally:  # also on an error here, so that the side thread finishes
        middle_done.set()
    main_last(handed[0])
    return future.result()
