"""One trial on one cached case: what the predictor does after its network, then the metrics.

The steps are the predictor's own functions (:mod:`livseg.inference.stages`, which
``Segmenter`` calls), applied to the cached region (see :mod:`livseg.tuning.cache` for why the
crops change nothing)::

    fused = eq. 4 of the cached outputs with tau_d             (inference.fuse_probabilities)
    box + unary: liver component(s) of the fused argmax,
          + margin, probabilities resampled onto the box       (inference.stages.crf_region)
    labels: CRF on the box with the CT in HU (or none), argmax (inference.stages.refine_region)
    post-processing                                            (postprocessing.postprocess)
    measures of the structure against the reference           (metrics.evaluate_structure)

The resampled unary depends only on tau_d, so it is memoised per (case, tau_d) for a run: a
grid trial with the tau_d of the previous one costs only the CRF, post-processing and metrics.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from livseg.crf import MODES
from livseg.crf.mean_field import Mode
from livseg.errors import ConfigError
from livseg.inference import fuse_probabilities
from livseg.inference.stages import CrfRegion, crf_region, refine_region
from livseg.metrics import StructureMetrics, evaluate_structure, structure_mask
from livseg.postprocessing import PostprocessConfig, postprocess
from livseg.preprocessing import CropRecord
from livseg.tuning.cache import CachedCase, as_volume
from livseg.tuning.space import TrialParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refinement:
    """How every trial refines: the predictor's CRF mode, device and post-processing.

    Attributes:
        mode: "3d" or "2d".
        device: where the CRF runs.
        postprocess: the post-processing applied to the labels (None: none).
        liver_rule: the post-processing whose liver-component rule bounds the CRF box, as the
            predictor's (its model's post-processing); None: the same as ``postprocess``.
    """

    mode: Mode = "3d"
    device: str = "cpu"
    postprocess: PostprocessConfig | None = PostprocessConfig()
    liver_rule: PostprocessConfig | None = None

    @property
    def box_rule(self) -> PostprocessConfig | None:
        """What bounds the CRF box (see :func:`livseg.inference.stages.crf_region`)."""
        return self.liver_rule if self.liver_rule is not None else self.postprocess

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError("--mode", expected=f"one of {', '.join(MODES)}", found=repr(self.mode))


class UnaryMemo:
    """The CRF region of each (case, tau_d, box rule), the last ``size`` of them."""

    def __init__(self, size: int = 8) -> None:
        self.size = int(size)
        self._items: OrderedDict[tuple, CrfRegion | None] = OrderedDict()

    def get(self, cached: CachedCase, fusion_weights: Sequence[float],
            liver_rule: PostprocessConfig | None) -> CrfRegion | None:
        key = (cached.case_id, cached.key, tuple(float(w) for w in fusion_weights), liver_rule)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = fused_unary(cached, fusion_weights, liver_rule)
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def fused_unary(cached: CachedCase, fusion_weights: Sequence[float],
                liver_rule: PostprocessConfig | None) -> CrfRegion | None:
    """The CRF region of a trial: its box on the working grid and the fused probabilities there.

    Returns:
        The region (box, float32 (C, z, y, x) unary on ``box.cropped``), or None when the fused
        probabilities have no foreground (the prediction is background everywhere).
    """
    if not cached.found:
        return None
    weights = tuple(float(w) for w in fusion_weights)
    if len(weights) != cached.num_outputs:
        raise ConfigError("fusion_weights", expected=f"{cached.num_outputs} weights (one per cached output)",
                          found=f"{len(weights)}: {list(weights)}")
    tensors = [None if w == 0 else torch.from_numpy(cached.outputs[d]) for d, w in enumerate(weights)]
    fused = fuse_probabilities(tensors, weights).numpy()  # type: ignore[arg-type]
    working_box = CropRecord(cached.working, cached.prepared_box.start_zyx, cached.prepared_box.stop_zyx)
    return crf_region(fused, cached.prepared_region, working_box, margin_mm=cached.margin_mm, liver_rule=liver_rule)


def predict_labels(cached: CachedCase, params: TrialParams, refinement: Refinement,
                   memo: UnaryMemo | None = None) -> np.ndarray:
    """The predictor's labels for this trial, uint8 (z, y, x) on the cached region's grid."""
    labels = np.zeros(cached.region.shape_zyx, dtype=np.uint8)
    rule = refinement.box_rule
    region = (memo.get(cached, params.fusion_weights, rule) if memo is not None
              else fused_unary(cached, params.fusion_weights, rule))
    if region is not None:
        box = region.box
        inner = tuple(slice(a - r, b - r) for a, b, r in zip(box.start_zyx, box.stop_zyx, cached.region.start_zyx))
        labels[inner] = refine_region(region.unary, cached.ct_hu[inner], cached.spacing_mm, cached.class_labels,
                                      crf=params.crf, mode=refinement.mode, device=refinement.device)
    if refinement.postprocess is not None:
        labels = postprocess(as_volume(cached, labels, f"{cached.case_id} trial"), refinement.postprocess).array
    return labels


def evaluate_labels(cached: CachedCase, labels: np.ndarray, structure: str) -> StructureMetrics:
    """Measures of ``structure`` ("liver" or "tumour") of ``labels`` against the cached reference."""
    return evaluate_structure(structure_mask(cached.reference, structure), structure_mask(labels, structure),
                              structure=structure, spacing_mm=cached.spacing_mm)


def run_trial_case(cached: CachedCase, params: TrialParams, refinement: Refinement, structure: str,
                   memo: UnaryMemo | None = None) -> StructureMetrics:
    """Labels of one trial on one case, measured against its reference."""
    return evaluate_labels(cached, predict_labels(cached, params, refinement, memo), structure)
