"""Progress on a terminal: bars and stage lines on stderr, quiet when stderr is not a terminal
(a pipe, a log file, CI) or with ``livseg -q``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from typing import Iterator

from livseg.inference.timing import PROGRESS_LOGGER


def show_progress(args: argparse.Namespace) -> bool:
    """Whether this command shows progress: stderr is a terminal and ``-q`` was not given."""
    return sys.stderr.isatty() and not getattr(args, "quiet", False)


@contextlib.contextmanager
def stage_lines(enabled: bool, label: str) -> Iterator[None]:
    """While active (and ``enabled``), each pipeline stage a :class:`StageTimer` enters is
    printed on stderr as ``livseg: LABEL: stage``."""
    if not enabled:
        yield
        return
    log = logging.getLogger(PROGRESS_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"livseg: {label}: %(message)s"))
    previous_level, previous_propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous_level)
        log.propagate = previous_propagate
