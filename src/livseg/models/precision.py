"""Mixed precision: which autocast dtype a network runs in, for training and inference alike."""

from __future__ import annotations

import contextlib
from typing import Callable, Literal

import torch

AmpMode = Literal["auto", "off", "fp16", "bf16"]
#: The modes :func:`autocast_dtype` understands (``training.amp`` in the config).
AMP_MODES: tuple[str, ...] = ("auto", "off", "fp16", "bf16")


def autocast_dtype(device: torch.device, mode: AmpMode | str = "auto") -> torch.dtype | None:
    """The autocast dtype for a network on ``device``, or None for full precision (float32).

    Args:
        device: where the network runs; anything but CUDA runs in float32.
        mode: "auto" (bfloat16 where the GPU supports it, else float16), "bf16", "fp16", or
            "off" (float32).
    """
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "bf16" or (mode == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def autocast_factory(device: torch.device, dtype: torch.dtype | None
                     ) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of autocast contexts for ``device`` in ``dtype`` (null contexts for None)."""
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)
