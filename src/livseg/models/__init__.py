"""Segmentation networks (3D DSN, CNN baseline, 3D U-Net, 3D ResUNet, SFFNet) behind one registry."""

from __future__ import annotations

from livseg.models.output import SegmentationOutput
from livseg.models.registry import MODELS, build_model, register_model

__all__ = ["MODELS", "SegmentationOutput", "build_model", "register_model"]
