"""Preprocessing of CT and label volumes: intensity window, resampling, cropping.

Every geometric step returns a record of what it did so it can be undone exactly onto the
original grid (the predictor maps its output back with it)::

    prepared = prepare_case(ct, label, config.preprocessing)   # reorient -> crop -> window -> resample
    back = prepared.record.invert(prediction_labels)   # on ct's exact grid (nearest: kind "label")

Resampling reads ``Volume.kind``: label volumes are always interpolated by nearest neighbour,
everything else linearly.
"""

from __future__ import annotations

from livseg.preprocessing.cropping import (
    CropRecord,
    body_crop,
    crop,
    label_crop,
    uncrop,
)
from livseg.preprocessing.intensity import clip_and_normalise
from livseg.preprocessing.orientation import ReorientRecord, invert_reorient, reorient
from livseg.preprocessing.pipeline import PreparedCase, PreprocessRecord, prepare_case, prepare_image
from livseg.preprocessing.resampling import ResampleRecord, invert_resampling, resample_to_spacing

__all__ = [
    "CropRecord",
    "PreparedCase",
    "PreprocessRecord",
    "ReorientRecord",
    "ResampleRecord",
    "body_crop",
    "clip_and_normalise",
    "crop",
    "invert_reorient",
    "invert_resampling",
    "label_crop",
    "prepare_case",
    "prepare_image",
    "reorient",
    "resample_to_spacing",
    "uncrop",
]
