"""Which torch device to run on: ``auto`` picks CUDA, then Apple's MPS, then the CPU.

One rule for ``livseg predict --device``, ``livseg train --device`` / ``training.device`` and
the notebook API; a device that is not there is a one-line error naming the option.
"""

from __future__ import annotations

import torch

from livseg.errors import ConfigError

#: What a device option accepts.
CHOICES = "auto, cpu, cuda, cuda:N or mps"


def mps_available() -> bool:
    """True on an Apple-silicon Mac whose PyTorch has the MPS backend."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device, *, option: str = "--device", cuda_index: int | None = None
                   ) -> torch.device:
    """The torch device ``name`` means here.

    Args:
        name: "auto", "cpu", "cuda", "cuda:N", "mps" or a torch.device.
        option: the option it came from, for messages.
        cuda_index: the GPU "auto" and "cuda" mean (a DDP process's local rank); None: the
            current one.

    Raises:
        ConfigError: an unknown name, or a device this machine does not have.
    """
    text = str(name)
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda" if cuda_index is None else f"cuda:{cuda_index}")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(option, expected=CHOICES, found=repr(text)) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {text}", expected="a CUDA GPU visible to PyTorch",
                              found="none (torch.cuda.is_available() is False)", fix=f"use {option} cpu (or auto)")
        if device.index is None and cuda_index is not None:
            device = torch.device(f"cuda:{cuda_index}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"{option} {text}", expected=f"a GPU index below {torch.cuda.device_count()}",
                              found=str(device.index))
    elif device.type == "mps":
        if not mps_available():
            raise ConfigError(f"{option} {text}", expected="Apple's MPS backend (an Apple-silicon Mac)",
                              found="none here", fix=f"use {option} cpu (or auto)")
    elif device.type != "cpu":
        raise ConfigError(option, expected=CHOICES, found=repr(text))
    return device
