"""Registry of network builders: a plain dict from name to builder.

A builder is ``builder(in_channels: int, num_classes: int, **options) -> torch.nn.Module`` whose
forward maps (N, in_channels, D, H, W) to a SegmentationOutput. Modules register themselves
with ``@register_model("name", description="...")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from livseg.errors import UnknownNameError


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


def build_model(name: str, *, in_channels: int = 1, num_classes: int = 2, **options: Any) -> torch.nn.Module:
    """Build a registered network; unknown names fail with the list of choices."""
    _load_builtin_models()
    if name not in MODELS:
        raise UnknownNameError(name, expected=f"one of the networks {sorted(MODELS)}",
                               found="an unknown network name", fix="see `livseg models list`")
    return MODELS[name].builder(in_channels=in_channels, num_classes=num_classes, **options)


def model_names() -> list[str]:
    """Sorted names of every registered network (the built-in ones included)."""
    _load_builtin_models()
    return sorted(MODELS)


def builtin_model_names() -> list[str]:
    """Sorted names of the networks livseg itself ships (not ones registered by user code or tests)."""
    _load_builtin_models()
    return sorted(name for name, entry in MODELS.items()
                  if entry.builder.__module__.startswith("livseg.models."))


def _load_builtin_models() -> None:
    """Import the modules that register the built-in networks (cheap after the first call)."""
    import importlib
    import pkgutil

    import livseg.models as package

    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_") and info.name not in {"registry", "output", "summary"}:
            importlib.import_module(f"livseg.models.{info.name}")
