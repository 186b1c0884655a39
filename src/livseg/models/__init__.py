"""Segmentation networks (3D DSN, CNN baseline, 3D U-Net, 3D ResUNet, SFFNet) behind one registry.

Every network is built by ``build_model(name, in_channels=..., num_classes=..., **options)`` and
maps (N, C_in, D, H, W) to a :class:`SegmentationOutput` (main logits and a tuple of
deep-supervision branch logits at full resolution) in train and in eval mode.

Inside the package, modules import from the module that defines a name (``models.registry``,
``models.catalogue``, ``models.base``...), never from this facade.
"""

from __future__ import annotations

from livseg.models.base import NetworkInputError, SegmentationNetwork
from livseg.models.blocks import initialise_weights
from livseg.models.catalogue import build_model, builtin_model_names, model_names
from livseg.models.output import SegmentationOutput
from livseg.models.precision import autocast_dtype
from livseg.models.receptive_field import receptive_field
from livseg.models.registry import MODELS, register_model
from livseg.models.summary import ModelSummary, count_parameters, summarize_model

__all__ = ["MODELS", "ModelSummary", "NetworkInputError", "SegmentationNetwork", "SegmentationOutput",
           "autocast_dtype", "build_model", "builtin_model_names", "count_parameters", "initialise_weights",
           "model_names", "receptive_field", "register_model", "summarize_model"]
