"""``livseg predict ... --engine ray``: the cases of a run segmented by Ray actors.

The driver (the ``livseg predict`` process) lists the cases, checks the model once, and hands
cases one at a time to idle workers. Each worker is a Ray actor that builds the run's
``Segmenter`` once (:class:`~livseg.batch.spec.SegmenterSpec`) and then reads, segments and
writes every case it is given with :func:`livseg.batch.runner.run_case_recorded`, the function
the local engine calls: a case's mask is the same whichever engine made it. The driver appends
each case's manifest line as its result arrives.

Failures:

* A case that fails (unreadable input, bad geometry, a write error) is recorded as failed by
  its worker and the run goes on, as with the local engine.
* A worker that dies (killed, out of memory, its node lost) is restarted by Ray
  (``max_restarts``); the case it was running goes back to the queue and is tried again, up to
  ``max_attempts`` times in all; the manifest's ``attempts`` says how many it took. A case that
  kills its worker on every attempt is recorded as failed.
* A worker that cannot start (the model does not load there, no GPU) stops the run before any
  case, with the worker's error.

Where it runs: without ``address`` a Ray is started in this process's machine and shut down at
the end (Ray's embedded default); with ``address`` ("auto", "HOST:6379" or "ray://HOST:10001")
the run joins that cluster. Workers change to the driver's working directory when it exists on
their machine, and every output path is made absolute, so relative paths mean what they mean to
the driver; on a cluster, inputs and outputs must be on a file system every node sees.

Ray is an optional dependency: ``pip install 'livseg[ray]'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from livseg.batch.inputs import InputCase, OutputPlan
from livseg.batch.runner import CaseOptions, CaseResult, manifest_record, run_case_recorded
from livseg.batch.spec import SegmenterSpec
from livseg.errors import ConfigError, LivsegError

if TYPE_CHECKING:
    from livseg.inference import Segmenter

logger = logging.getLogger(__name__)

#: Times a case is started before a worker death on it counts as the case's failure.
DEFAULT_MAX_ATTEMPTS = 3
#: CPUs each worker asks Ray for (its PyTorch threads), unless told otherwise.
DEFAULT_CPUS_PER_WORKER = 2


class CaseWorker:
    """A Ray actor's state: one Segmenter, built once, used for every case sent to it.

    Args:
        spec: the run's model and options (portable: absolute paths).
        threads: PyTorch intra-op threads (the CPUs Ray gave the actor).
        cwd: the driver's working directory (entered when it exists here).
        plugins: the modules that registered the run's networks in the driver when they are not
            livseg's own (imported first, so that a bundle of a user's own network loads here too).
    """

    def __init__(self, spec: SegmenterSpec, threads: int, cwd: str, plugins: Sequence[str] = ()) -> None:
        import importlib

        import torch

        if os.path.isdir(cwd):
            os.chdir(cwd)
        torch.set_num_threads(max(1, int(threads)))
        self.segmenter: Segmenter | None = None
        self.error: str | None = None
        try:
            for module in plugins:
                importlib.import_module(module)
            self.segmenter = spec.build()
        except Exception as exc:  # reported by describe(): the driver stops the run with it
            self.error = str(exc) if isinstance(exc, LivsegError) else f"{type(exc).__name__}: {exc}"

    def describe(self) -> dict[str, Any]:
        """Where this worker runs: {"host", "pid", "device", "threads", "error"} (error: why the
        model could not be built here, else None)."""
        import torch

        return {"host": socket.gethostname(), "pid": os.getpid(),
                "device": None if self.segmenter is None else str(self.segmenter.device),
                "threads": torch.get_num_threads(), "error": self.error}

    def run(self, case: InputCase, plan: OutputPlan, options: CaseOptions) -> tuple[CaseResult, dict[str, Any]]:
        """One case (see :func:`livseg.batch.runner.run_case_recorded`)."""
        assert self.segmenter is not None  # the driver stops the run when a worker has no model
        return run_case_recorded(self.segmenter, case, plan, options)


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--engine ray", expected="Ray installed", found=f"no module 'ray' ({exc})",
                          fix="pip install 'livseg[ray]' (or use the default --engine local)") from exc
    return ray


def connect(ray: Any, address: str | None, *, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address``, or start a local Ray (``num_cpus``: its CPUs, default all).

    Returns:
        True when this call started Ray (the caller shuts it down), False when it joined one
        already running (or this process was already connected).
    """
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                               "log_to_driver": False, "configure_logging": False}
    try:
        if address is None:
            # A local Ray turns on token authentication by itself (the safe default) and logs
            # a warning saying so; nothing is asked of the user, so it is not shown.
            with _quiet("ray._private.authentication.authentication_token_setup"):
                ray.init(num_cpus=num_cpus, **options)
        else:
            ray.init(address=address, **options)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ConfigError("--engine ray", expected=f"to start or join {where}",
                          found=" ".join(str(exc).split())[:300] or type(exc).__name__,
                          fix="check --address (ray status on the head node), or leave it out for a local Ray"
                          ) from exc
    return True


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Warnings of ``logger_name`` hidden for the duration."""
    chosen = logging.getLogger(logger_name)
    level = chosen.level
    chosen.setLevel(logging.ERROR)
    try:
        yield
    finally:
        chosen.setLevel(level)


def plan_workers(resources: dict[str, float], *, workers: int | None, cpus_per_worker: float | None,
                 gpus_per_worker: float, n_cases: int) -> tuple[int, float]:
    """(number of workers, CPUs per worker) for a cluster with ``resources`` (Ray's totals).

    Without ``workers``: as many as the cluster's GPUs allow (with ``gpus_per_worker``) or its
    CPUs (``cpus_per_worker`` each, default 2), at least 1, at most one per case.
    """
    cpus = float(resources.get("CPU", 1.0))
    per_worker = float(cpus_per_worker) if cpus_per_worker is not None else None
    if workers is None:
        if gpus_per_worker > 0:
            workers = int(float(resources.get("GPU", 0.0)) // gpus_per_worker)
            if workers < 1:
                raise ConfigError("--gpus-per-worker", expected=f"a cluster with at least {gpus_per_worker} GPU",
                                  found=f"{resources.get('GPU', 0)} GPUs", fix="leave out --gpus-per-worker on CPUs")
        else:
            workers = int(cpus // (per_worker or DEFAULT_CPUS_PER_WORKER))
        workers = max(1, min(workers, n_cases))
    if workers < 1:
        raise ConfigError("--workers", expected="at least 1", found=str(workers))
    if per_worker is None:
        per_worker = max(1.0, math.floor(cpus / workers))
    return workers, per_worker


def run_ray(spec: SegmenterSpec, cases: Sequence[InputCase], plan: OutputPlan, options: CaseOptions = CaseOptions(), *,
            address: str | None = None, workers: int | None = None, cpus_per_worker: float | None = None,
            gpus_per_worker: float = 0.0, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
            on_result: Callable[[InputCase, CaseResult], None] | None = None,
            on_start: Callable[[list[dict[str, Any]]], None] | None = None,
            manifest: str | os.PathLike[str] | None = None, num_cpus: int | None = None) -> list[CaseResult]:
    """Every case on Ray actors (module docstring).

    Args:
        spec: the model and its options; each worker builds its Segmenter from it.
        cases, plan, options: as for :func:`livseg.batch.runner.run_local`.
        address: the cluster to join (None: start a local Ray, shut down at the end).
        workers: number of actors (None: :func:`plan_workers`).
        cpus_per_worker: CPUs (PyTorch threads) per actor (None: the local Ray's CPUs shared out).
        gpus_per_worker: GPUs per actor (0: CPU workers).
        max_attempts: times a case is started when its worker dies under it.
        on_result: called on the driver after each case (progress, messages).
        on_start: called with each worker's :meth:`CaseWorker.describe` once all have started.
        manifest: a folder whose ``manifest.jsonl`` gets one line per case (None: none).
        num_cpus: CPUs of a local Ray (None: all of this machine's).

    Returns:
        One result per case, in the order of ``cases``.

    Raises:
        ConfigError: Ray missing, the cluster unreachable, or a worker that cannot start.
    """
    from livseg.batch.manifest import append_record

    if max_attempts < 1:
        raise ConfigError("max_attempts", expected=">= 1", found=str(max_attempts))
    spec = spec.portable()
    checker = spec.build(device="cpu")  # the model loads: fail here, before any cluster work
    plan = dataclasses.replace(plan, file=None if plan.file is None else plan.file.resolve(),
                               folder=None if plan.folder is None else plan.folder.resolve())
    if not cases:
        return []
    ray = import_ray()
    started = connect(ray, address, num_cpus=num_cpus)
    try:
        count, cpus = plan_workers(ray.cluster_resources(), workers=workers, cpus_per_worker=cpus_per_worker,
                                   gpus_per_worker=gpus_per_worker, n_cases=len(cases))
        actor_class = ray.remote(CaseWorker).options(
            num_cpus=cpus, num_gpus=gpus_per_worker, max_restarts=max_attempts, max_task_retries=0)
        from livseg.models.registry import plugin_modules

        networks = [b.config.model.name for b in (checker.bundle, checker.tumour_bundle)
                    if b is not None and b.config is not None]
        actors = [actor_class.remote(spec, int(cpus), os.getcwd(), plugin_modules(networks)) for _ in range(count)]
        try:
            described = ray.get([actor.describe.remote() for actor in actors])
        except ray.exceptions.RayError as exc:
            raise ConfigError("--engine ray", expected="workers that load the model",
                              found="a worker failed to start: " + _cause(exc)) from exc
        for worker in described:
            if worker["error"] is not None:
                raise ConfigError(f"--engine ray (worker on {worker['host']})", expected="the model built there",
                                  found=" ".join(worker["error"].split()))
        if on_start is not None:
            on_start(described)
        return _dispatch(ray, actors, checker, cases, plan, options, max_attempts, on_result,
                         (lambda record: append_record(manifest, record)) if manifest is not None else None)
    finally:
        if started:
            ray.shutdown()


def _dispatch(ray: Any, actors: list[Any], checker: Any, cases: Sequence[InputCase], plan: OutputPlan,
              options: CaseOptions, max_attempts: int, on_result: Callable[[InputCase, CaseResult], None] | None,
              record: Callable[[dict[str, Any]], Any] | None) -> list[CaseResult]:
    """Hand cases to idle actors until every case has a result.

    A worker lost under a case is pinged (``describe``) until Ray has restarted it, then used
    again; its case goes back to the front of the queue. Ray gives up on an actor after
    ``max_restarts`` deaths: its ping then fails for good and the run goes on without it.
    """
    queue: deque[tuple[int, int]] = deque((index, 1) for index in range(len(cases)))
    idle = deque(range(len(actors)))
    in_flight: dict[Any, tuple[str, int, int, int]] = {}  # ref -> ("case" | "ping", actor, case index, attempt)
    results: list[CaseResult | None] = [None] * len(cases)

    def finish(index: int, result: CaseResult, line: dict[str, Any]) -> None:
        results[index] = result
        if record is not None:
            record(line)
        if on_result is not None:
            on_result(cases[index], result)

    def ping(actor: int) -> None:
        in_flight[actors[actor].describe.remote()] = ("ping", actor, -1, 0)

    while queue or any(kind == "case" for kind, *_ in in_flight.values()):
        while queue and idle:
            actor = idle.popleft()
            index, attempt = queue.popleft()
            in_flight[actors[actor].run.remote(cases[index], plan, options)] = ("case", actor, index, attempt)
        if not in_flight:  # every worker is gone for good: the rest fail
            for index, attempt in queue:
                result = CaseResult(cases[index].case_id, False, exit_code=1, attempts=attempt - 1,
                                    error="every Ray worker was lost before this case could run")
                finish(index, result, manifest_record(checker, cases[index], result))
            break
        done, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in done:
            kind, actor, index, attempt = in_flight.pop(ref)
            if kind == "ping":
                try:
                    ray.get(ref)
                except ray.exceptions.ActorDiedError as exc:
                    logger.warning("a Ray worker is gone for good; going on without it: %s", _cause(exc))
                except ray.exceptions.RayActorError:  # still restarting
                    time.sleep(0.2)
                    ping(actor)
                else:
                    idle.append(actor)
                continue
            try:
                result, line = ray.get(ref)
            except ray.exceptions.RayActorError as exc:  # the worker died under this case
                logger.warning("case %s: its Ray worker was lost (attempt %d of %d): %s",
                               cases[index].case_id, attempt, max_attempts, _cause(exc))
                ping(actor)
                if attempt < max_attempts:
                    queue.appendleft((index, attempt + 1))
                    continue
                result = CaseResult(cases[index].case_id, False, exit_code=1, attempts=attempt,
                                    error=f"its Ray worker died on each of {attempt} attempts: {_cause(exc)}")
                line = manifest_record(checker, cases[index], result)
            else:
                idle.append(actor)
                if attempt > 1:
                    result = dataclasses.replace(result, attempts=attempt)
                    line = {**line, "attempts": attempt}
            finish(index, result, line)
    assert all(result is not None for result in results)  # every case finished above
    return [result for result in results if result is not None]


def _cause(exc: BaseException) -> str:
    """One line saying why a Ray call failed: Ray's message runs to many lines (a traceback
    when the worker raised); its first line, and the raised error's line when there is one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0].split(",")[0]
    raised = [line for line in lines[1:] if not line.startswith(("File ", "^")) and ":" in line]
    return (first + (f": {raised[-1]}" if raised else ""))[:400]

