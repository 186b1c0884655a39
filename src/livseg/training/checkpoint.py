"""Checkpoints: weights, optimiser/scheduler/scaler/RNG states, config, versions, data fingerprint.

A checkpoint is written to a temporary file beside its target and renamed into place, so a
crash while writing never damages the last good one. Everything in it loads with
``torch.load(weights_only=True)`` (tensors, numbers, strings, lists and dicts only).
"""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livseg.errors import InputNotFoundError, UnreadableInputError
from livseg.io.atomic import atomic_path

FORMAT = "livseg-checkpoint"
FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """Versions of livseg, torch, MONAI and Python."""
    import monai

    from livseg.version import __version__

    return {"livseg": str(__version__), "torch": str(torch.__version__), "monai": str(monai.__version__),
            "python": platform.python_version()}


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU and CUDA, numpy, Python) as checkpoint-safe values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": _python_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` recorded."""
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_plain(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``payload`` (plus format tag) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a livseg checkpoint (``weights_only``: no code is executed on loading)."""
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
