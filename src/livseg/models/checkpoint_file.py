"""The checkpoint file: a dict of tensors, numbers, strings, lists and dicts written by
``torch.save`` with a format tag, read with ``torch.load(weights_only=True)`` (no code runs on
loading).

Training writes checkpoints (:mod:`livseg.training.checkpoint` adds optimiser and RNG states),
inference reads them as model bundles (:mod:`livseg.inference.bundle`); the file format lives
here, below both. A checkpoint is written to a temporary file beside its target and renamed
into place, so a crash while writing never damages the last good one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from livseg.errors import InputNotFoundError, OutputError, UnreadableInputError
from livseg.io.atomic import atomic_path

FORMAT = "livseg-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``payload`` (plus format tag) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, tmp)
        except RuntimeError as exc:
            # torch's zip writer (caffe2's inline_container) reports a short write, e.g. on a full
            # disk, as "PytorchStreamWriter failed writing file ..." or "[enforce fail at
            # inline_container.cc] unexpected pos"; anything else is not the file system's doing.
            if not any(mark in str(exc) for mark in ("inline_container", "PytorchStreamWriter")):
                raise
            raise OutputError(path, expected="the checkpoint written in full",
                              found=" ".join(str(exc).split())[:200],
                              fix="free disk space (or choose another folder) and run again") from exc
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a livseg checkpoint (``weights_only``: no code is executed on loading); a folder
    means its ``last.pt``."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise InputNotFoundError(path, expected="a livseg checkpoint (or a run folder with last.pt)",
                                 found="nothing at that path")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise UnreadableInputError(path, expected="a livseg checkpoint written by torch.save",
                                   found=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UnreadableInputError(path, expected=f"a {FORMAT} file", found="another kind of file")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise UnreadableInputError(path, expected=f"checkpoint format {FORMAT_VERSION} or older",
                                   found=f"format {payload['format_version']}", fix="upgrade livseg")
    return payload
