"""Registry of network builders: a plain dict from name to builder.

A builder is ``builder(in_channels: int, num_classes: int, **options) -> torch.nn.Module`` whose
forward maps (N, in_channels, D, H, W) to a SegmentationOutput. Modules register themselves
with ``@register_model("name", description="...")``; :mod:`livseg.models.catalogue` imports the
built-in ones and looks names up (``build_model``, ``model_names``). This module imports no
network, so the networks can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., torch.nn.Module]
    description: str


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, *, description: str) -> Callable[[Callable[..., torch.nn.Module]], Callable[..., torch.nn.Module]]:
    def decorate(builder: Callable[..., torch.nn.Module]) -> Callable[..., torch.nn.Module]:
        MODELS[name] = ModelEntry(name=name, builder=builder, description=description)
        return builder

    return decorate


def plugin_modules(names: Iterable[str]) -> list[str]:
    """The modules outside livseg that registered the networks ``names`` in this process, sorted.

    Another process (a Ray worker) imports them to know the same networks: a bundle records
    its network by name, and a name registered by a user's module is only known where that
    module was imported. Names not registered here, and livseg's own networks, give nothing.
    """
    modules = {MODELS[name].builder.__module__ for name in names if name in MODELS}
    return sorted(m for m in modules if m != "livseg" and not m.startswith("livseg."))
