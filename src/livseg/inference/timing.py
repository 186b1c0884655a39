"""Seconds per pipeline stage and the process's peak memory."""

from __future__ import annotations

import contextlib
import logging
import resource
import sys
import time
from typing import Iterator

#: The stages of ``livseg predict``, in order.
STAGES = ("read", "preprocess", "network", "restore", "crf", "tumour", "post", "write")


#: Logger of the stage a pipeline enters (INFO); the CLI shows it on a terminal.
PROGRESS_LOGGER = "livseg.progress"
_progress = logging.getLogger(PROGRESS_LOGGER)


class StageTimer:
    """Accumulates wall-clock seconds per named stage.

    Usage::

        timer = StageTimer()
        with timer("network"):
            ...
        timer.seconds  # {"network": 1.23}
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last: str | None = None

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        if stage != self._last:  # a stage entered again right away is not news
            _progress.info("%s", stage)
            self._last = stage
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def merge(self, other: dict[str, float]) -> None:
        for stage, seconds in other.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @property
    def total(self) -> float:
        return float(sum(self.seconds.values()))


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process so far, MB (1e6 bytes).

    ``ru_maxrss`` from getrusage (kilobytes on Linux, bytes on macOS) and, on Linux, ``VmHWM``
    from /proc/self/status (the same high-water mark as the kernel keeps it).
    """
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    result = {"ru_maxrss_mb": usage * scale / 1e6}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    result["vmhwm_mb"] = int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return result
