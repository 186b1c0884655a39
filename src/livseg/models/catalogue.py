"""The networks by name: the built-in ones registered, then looked up in the registry.

Importing this module imports the modules of the built-in networks, whose
``@register_model`` decorators fill :data:`livseg.models.registry.MODELS`; networks registered
by other code (plug-ins, tests) are found the same way.
"""

from __future__ import annotations

from typing import Any

import torch

# The built-in networks register themselves on import.
import livseg.models.dsn3d  # noqa: F401
import livseg.models.resunet3d  # noqa: F401
import livseg.models.sffnet  # noqa: F401
import livseg.models.unet3d  # noqa: F401
from livseg.errors import UnknownNameError
from livseg.models.registry import MODELS


def build_model(name: str, *, in_channels: int = 1, num_classes: int = 2, **options: Any) -> torch.nn.Module:
    """Build a registered network; unknown names fail with the list of choices."""
    if name not in MODELS:
        raise UnknownNameError(name, expected=f"one of the networks {sorted(MODELS)}",
                               found="an unknown network name", fix="see `livseg models list`")
    return MODELS[name].builder(in_channels=in_channels, num_classes=num_classes, **options)


def model_names() -> list[str]:
    """Sorted names of every registered network (the built-in ones included)."""
    return sorted(MODELS)


def builtin_model_names() -> list[str]:
    """Sorted names of the networks livseg itself ships (not ones registered by user code or tests)."""
    return sorted(name for name, entry in MODELS.items()
                  if entry.builder.__module__.startswith("livseg.models."))
