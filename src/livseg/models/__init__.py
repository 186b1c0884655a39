"""Segmentation networks (3D DSN, CNN baseline, 3D U-Net, 3D ResUNet, SFFNet) behind one registry.

Every network is built by ``build_model(name, in_channels=..., num_classes=..., **options)`` and
maps (N, C_in, D, H, W) to a :class:`SegmentationOutput` (main logits and a tuple of
deep-supervision branch logits at full resolution) in train and in eval mode.
"""

from __future__ import annotations

from livseg.models.output import SegmentationOutput
from livseg.models.registry import MODELS, build_model, builtin_model_names, model_names, register_model

# Importing the built-in networks registers them (registry first, so their imports resolve).
from livseg.models import dsn3d, resunet3d, sffnet, unet3d  # noqa: E402,F401  isort: skip
from livseg.models.blocks import NetworkInputError, initialise_weights  # noqa: E402
from livseg.models.receptive_field import receptive_field  # noqa: E402
from livseg.models.summary import ModelSummary, count_parameters, summarize_model  # noqa: E402

__all__ = ["MODELS", "ModelSummary", "NetworkInputError", "SegmentationOutput", "build_model", "builtin_model_names", "count_parameters",
           "initialise_weights", "model_names", "receptive_field", "register_model", "summarize_model"]
