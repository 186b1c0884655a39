"""LiTS measures beyond per-case overlap: lesion-wise detection and tumour burden.

LiTS (Bilic et al., "The Liver Tumor Segmentation Benchmark (LiTS)", Medical Image Analysis,
2023; arXiv:1901.04056) evaluates tumours lesion by lesion. Its evaluation code labels lesions as
connected components with scipy's default structure (face neighbours, 6-connectivity in 3D)
and counts a reference lesion as detected when a predicted lesion overlaps it with
intersection over union > 0.5. We do the same with a plain one-to-one match.

Differences from the LiTS script, on purpose: LiTS first *merges* reference lesions that one
predicted lesion spans (and vice versa) before matching; we do not merge, so a prediction that
fuses two lesions detects at most one of them here. With IoU > 0.5 every match is one-to-one
(two disjoint components cannot both cover more than half of a third one), so counts are
unambiguous.

Global Dice over cases lives in :func:`livseg.metrics.overlap.dice_global`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from livseg.errors import ConfigError
from livseg.metrics.masks import MaskLike, mask_pair
from livseg.metrics.structures import STRUCTURES
from livseg.volume import Volume

#: connectivity (number of neighbours) -> scipy.ndimage.generate_binary_structure rank.
_CONNECTIVITY_RANK = {6: 1, 18: 2, 26: 3}


@dataclass(frozen=True)
class LesionDetection:
    """Lesion-wise detection counts of one case (or pooled over cases).

    Attributes:
        n_reference: reference lesions (connected components).
        n_prediction: predicted lesions.
        n_detected: reference lesions matched by a predicted lesion (IoU > threshold).
        n_matched_prediction: predicted lesions matching a reference lesion.
    """

    n_reference: int
    n_prediction: int
    n_detected: int
    n_matched_prediction: int

    @property
    def precision(self) -> float | None:
        """Matched predicted lesions / predicted lesions; None when nothing was predicted."""
        return None if self.n_prediction == 0 else self.n_matched_prediction / self.n_prediction

    @property
    def recall(self) -> float | None:
        """Detected reference lesions / reference lesions; None when there is no lesion."""
        return None if self.n_reference == 0 else self.n_detected / self.n_reference

    def __add__(self, other: "LesionDetection") -> "LesionDetection":
        return LesionDetection(self.n_reference + other.n_reference,
                               self.n_prediction + other.n_prediction,
                               self.n_detected + other.n_detected,
                               self.n_matched_prediction + other.n_matched_prediction)

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall}


def label_components(mask: np.ndarray, connectivity: int = 6) -> tuple[np.ndarray, int]:
    """Connected components of a bool mask (z, y, x): (int32 labels 1..n, n)."""
    if connectivity not in _CONNECTIVITY_RANK:
        raise ConfigError("connectivity", expected="6, 18 or 26", found=repr(connectivity))
    structure = ndimage.generate_binary_structure(3, _CONNECTIVITY_RANK[connectivity])
    labels, count = ndimage.label(mask, structure=structure, output=np.int32)
    return labels, int(count)


def detect_lesions(reference: MaskLike, prediction: MaskLike, *,
                   spacing_mm: Sequence[float] | None = None,
                   iou_threshold: float = 0.5, connectivity: int = 6) -> LesionDetection:
    """Match reference and predicted lesions (components of binary tumour masks) by IoU.

    Args:
        reference, prediction: binary tumour masks (Volumes, or arrays (z, y, x) + spacing_mm).
        iou_threshold: a pair matches when IoU > this (LiTS: 0.5).
        connectivity: 6 (LiTS' choice), 18 or 26 neighbours for connected components.
    """
    if not 0.0 <= iou_threshold < 1.0:
        raise ConfigError("iou_threshold", expected="a value in [0, 1)", found=repr(iou_threshold))
    pair = mask_pair(reference, prediction, spacing_mm=spacing_mm)
    ref_labels, n_ref = label_components(pair.reference, connectivity)
    pred_labels, n_pred = label_components(pair.prediction, connectivity)
    if n_ref == 0 or n_pred == 0:
        return LesionDetection(n_ref, n_pred, 0, 0)
    ref_sizes = np.bincount(ref_labels.ravel(), minlength=n_ref + 1)
    pred_sizes = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)
    both = (ref_labels > 0) & (pred_labels > 0)
    pair_index = ref_labels[both].astype(np.int64) * (n_pred + 1) + pred_labels[both]
    pair_codes, intersections = np.unique(pair_index, return_counts=True)
    ref_ids, pred_ids = np.divmod(pair_codes, n_pred + 1)
    unions = ref_sizes[ref_ids] + pred_sizes[pred_ids] - intersections
    matched = intersections / unions > iou_threshold
    return LesionDetection(n_reference=n_ref, n_prediction=n_pred,
                           n_detected=int(np.unique(ref_ids[matched]).size),
                           n_matched_prediction=int(np.unique(pred_ids[matched]).size))


def tumour_burden(labels: Volume | np.ndarray) -> float | None:
    """Tumour volume / liver volume (liver = labels 1 and 2) of a 0/1/2 label map; None if no liver."""
    array = labels.array if isinstance(labels, Volume) else np.asarray(labels)
    liver = int(np.count_nonzero(np.isin(array, STRUCTURES["liver"])))
    if liver == 0:
        return None
    return int(np.count_nonzero(np.isin(array, STRUCTURES["tumour"]))) / liver


def tumour_burden_error(reference: Volume | np.ndarray, prediction: Volume | np.ndarray) -> float | None:
    """|burden(prediction) - burden(reference)|; None when either has no liver (counted as undefined)."""
    ref, pred = tumour_burden(reference), tumour_burden(prediction)
    if ref is None or pred is None:
        return None
    return abs(pred - ref)
