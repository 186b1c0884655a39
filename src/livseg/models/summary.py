"""One line of facts per network: parameters, receptive field, deep-supervision branches."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from livseg.models.receptive_field import receptive_field
from livseg.models.catalogue import build_model
from livseg.models.registry import MODELS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSummary:
    """Facts about one network built with given options.

    Attributes:
        name: registry name.
        parameters: trainable parameters.
        receptive_field: voxels (D, H, W) that can influence one main-output voxel (convolutional
            receptive field; see ``livseg.models.receptive_field``), or None if not measured.
        branches: deep-supervision outputs besides the main one.
        description: the registry's one-line description.
        options: the builder options used (in_channels and num_classes included).
    """

    name: str
    parameters: int
    receptive_field: tuple[int, int, int] | None
    branches: int
    description: str
    options: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["receptive_field"] = list(self.receptive_field) if self.receptive_field else None
        return data


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def summarize_model(name: str, *, in_channels: int = 1, num_classes: int = 2, with_receptive_field: bool = True,
                    **options: Any) -> ModelSummary:
    """Build ``name`` with the given options and describe it."""
    model = build_model(name, in_channels=in_channels, num_classes=num_classes, **options)
    rf = None
    if with_receptive_field and not getattr(model, "valid", False):
        volume_channels = 1 if getattr(model, "spatial_dims", 3) == 2 else None  # 2.5D: called on volumes
        try:
            rf = receptive_field(model, input_channels=volume_channels)
        except ValueError as exc:  # unmeasurable (non-differentiable or huge): listed as n/a
            logger.info("%s: receptive field not measured: %s", name, exc)
    return ModelSummary(name=name, parameters=count_parameters(model), receptive_field=rf,  # type: ignore[arg-type]
                        branches=int(getattr(model, "num_branches", 0)), description=MODELS[name].description,
                        options={"in_channels": in_channels, "num_classes": num_classes, **options})
