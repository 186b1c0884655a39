"""Route ITK/SimpleITK messages to Python logging instead of the process's stderr.

ITK prints warnings (e.g. "Non uniform sampling or missing slices detected") through its
global output window, which by default writes straight to file descriptor 2, bypassing
Python. SimpleITK (>= 2.3) lets a Python ``LoggerBase`` subclass replace that window; the
context manager below installs one for the duration of a read or write and restores the
previous window afterwards. The swap is process-global: reads in several threads at once
share it, which is harmless (messages still reach the log).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import SimpleITK as sitk

LOG = logging.getLogger("livseg.io.itk")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _ForwardingLogger(sitk.LoggerBase):
    """Collects ITK messages and forwards them to ``logging`` at DEBUG level.

    Why DEBUG: livseg checks the conditions it cares about
    itself and reports them in its own words; the raw ITK text is kept for ``--debug``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def _keep(self, level: int, text: str) -> None:
        line = _one_line(text)
        if line:
            self.messages.append(line)
            LOG.log(level, "ITK: %s", line)

    def DisplayText(self, t: str) -> None:  # noqa: N802 (ITK's method names)
        self._keep(logging.DEBUG, t)

    def DisplayErrorText(self, t: str) -> None:  # noqa: N802
        self._keep(logging.DEBUG, t)

    def DisplayWarningText(self, t: str) -> None:  # noqa: N802
        self._keep(logging.DEBUG, t)

    def DisplayGenericOutputText(self, t: str) -> None:  # noqa: N802
        self._keep(logging.DEBUG, t)

    def DisplayDebugText(self, t: str) -> None:  # noqa: N802
        self._keep(logging.DEBUG, t)


@contextlib.contextmanager
def itk_messages_to_log() -> Iterator[list[str]]:
    """Within the block, ITK messages go to the ``livseg.io.itk`` logger (DEBUG level).

    Yields the list the messages are collected in (one line each), so callers can mention
    them in an error.
    """
    forwarding = _ForwardingLogger()
    previous = forwarding.SetAsGlobalITKLogger()
    try:
        yield forwarding.messages
    finally:
        previous.SetAsGlobalITKLogger()


def itk_error_text(exc: BaseException) -> str:
    """The informative line of a SimpleITK RuntimeError (drops file/line prefixes)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        for prefix in ("ITK ERROR:", "itk::ERROR:"):
            if prefix in line:
                line = line.split(prefix, 1)[1].strip()
        # "ImageFileReader(0x55d...): Could not ..." -> "Could not ..."
        if "): " in line and line.split("(", 1)[0].isidentifier():
            line = line.split("): ", 1)[1]
        if line:
            return _one_line(line)
    return type(exc).__name__
