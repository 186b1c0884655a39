"""The predict pipeline's stages, written once: ``Segmenter``, ``livseg tune-crf`` and the batch
runners all call these functions, so a CRF tuned on a case sees exactly the box, unary and
labels that ``livseg predict`` produces on it.

::

    to_model_orientation   CT storage turned as the model's preprocessing says   (exact permutation)
    network_stage          crop, HU window, resample; sliding windows, blending  (-> prepared grid)
    crf_region             fused argmax -> liver component(s) post-processing
                           keeps -> box + margin on the working grid -> the
                           probabilities resampled onto that box (the CRF's unary)
    refine_region          dense CRF on the box (or none) -> class labels of the box
    (then)                 post-processing (livseg.postprocessing) and the inverse orientation

    coarse_liver           (coarse-to-fine, opt-in) the network on a grid 2x coarser -> the liver
                           component(s) -> a mask on the working grid, whose box + margin the
                           fine network_stage then runs in (crop "liver")

The *working grid* is the input's grid reoriented as the model says; the *prepared grid* is
the cropped, resampled grid the network sees (see :mod:`livseg.inference.restore`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from livseg.crf import CrfParams, dense_crf
from livseg.crf.mean_field import Mode
from livseg.inference.bundle import ModelBundle
from livseg.preprocessing.prepare import prepare_for_inference
from livseg.inference.restore import foreground_roi, probabilities_on
from livseg.inference.timing import StageTimer
from livseg.inference.windows import BranchAgreement, sliding_window_probabilities
from livseg.postprocessing import PostprocessConfig, keep_liver_components
from livseg.preprocessing import CropRecord, PreprocessRecord, ReorientRecord, reorient
from livseg.volume import Geometry, Volume


def to_model_orientation(volume: Volume, orientation: str | None) -> tuple[Volume, ReorientRecord]:
    """``volume`` with its storage turned to ``orientation`` (None: as it is), and the record
    that turns results back (:func:`livseg.preprocessing.invert_reorient`)."""
    if orientation is None:
        return volume, ReorientRecord(volume.geometry, volume.geometry)
    return reorient(volume, orientation)


@dataclass
class NetworkStage:
    """The network's probabilities of one CT on the prepared grid.

    Attributes:
        probabilities: float16 (C, Z, Y, X) fused with tau_d (eq. 4); None with ``keep_outputs``.
        outputs: with ``keep_outputs``, one float16 (C, Z, Y, X) array per network output (main
            first, then the deep-supervision branches), each blended on its own; else None.
        prepared: the prepared grid (Z, Y, X voxels; physical LPS mm).
        record: what preparation did; ``record.crop`` is the box of the working grid it was
            made from.
        branch_disagreement: 1 - soft Dice of the main output's and the branches' foreground
            over every window (:class:`~livseg.inference.windows.BranchAgreement`); None for a
            network without branches.
    """

    probabilities: np.ndarray | None
    outputs: list[np.ndarray] | None
    prepared: Geometry
    record: PreprocessRecord
    branch_disagreement: float | None = None


def network_stage(bundle: ModelBundle, ct: Volume, *, device: torch.device, amp: bool,
                  fusion_weights: Sequence[float], keep_outputs: bool = False, roi: Volume | None = None,
                  timer: StageTimer | None = None) -> NetworkStage:
    """Prepare ``ct`` as the bundle says and run the sliding-window network over it.

    Args:
        bundle: the model; its network is in eval mode on ``device``.
        ct: CT in HU (z, y, x) already in the bundle's orientation (the working grid).
        device: where the network runs (results come back to the CPU).
        amp: mixed precision on CUDA.
        fusion_weights: tau_d, one per network output.
        keep_outputs: keep each output's probabilities instead of fusing them (tune-crf).
        roi: a 0/1 Volume on ``ct``'s grid for models that crop to the liver (the cascade).
        timer: receives "preprocess" and "network" seconds.
    """
    timer = timer if timer is not None else StageTimer()
    settings = bundle.settings
    config = dataclasses.replace(bundle.preprocessing, orientation=None)
    with timer("preprocess"):
        prepared, record = prepare_for_inference(ct, config, roi=roi)
    agreement = BranchAgreement()
    with timer("network"):
        result = sliding_window_probabilities(
            bundle.network, prepared.array, window_zyx=settings.window_zyx, overlap=settings.overlap,
            weights=tuple(fusion_weights), device=device, sigma_scale=settings.sigma_scale,
            tta=settings.tta, tta_axes=bundle.tta_flip_axes, amp=amp, keep_outputs=keep_outputs,
            slab_voxels=settings.slab_voxels,
            max_window_voxels=settings.max_window_voxels, agreement=agreement)
    if keep_outputs:
        assert isinstance(result, list)  # keep_outputs=True always returns the list
        return NetworkStage(None, result, prepared.geometry, record, agreement.disagreement)
    assert isinstance(result, np.ndarray)
    return NetworkStage(result, None, prepared.geometry, record, agreement.disagreement)


#: Coarse-to-fine: the coarse pass's spacing over the model's, the margin (mm) kept around the
#: liver it finds, and the shortest head-feet extent (mm) of a scan it is used on. Measured on
#: the real cases (bench/RESULTS.md, "Coarse-to-fine"): on scans of 156 and 336 mm the network
#: stage ran 1.4-2.6x faster and Dice rose 0.002-0.006; on slabs of 3-40 mm the 30 mm box cut
#: the context the network needs (Dice fell by up to 0.1) while the full pass costs little.
COARSE_FACTOR = 2.0
COARSE_MARGIN_MM = 30.0
COARSE_MIN_EXTENT_MM = 120.0


def coarse_liver(bundle: ModelBundle, ct: Volume, *, device: torch.device, amp: bool,
                 fusion_weights: Sequence[float], liver_rule: PostprocessConfig,
                 timer: StageTimer | None = None) -> Volume | None:
    """The liver found by the network on a grid :data:`COARSE_FACTOR` times coarser than the
    model's (the liver component(s) by ``liver_rule``'s thresholds), as a 0/1 Volume on
    ``ct``'s grid; None when the model has no target spacing or finds nothing there.

    Args:
        bundle: a liver model; ct, device, amp, fusion_weights, timer: as for :func:`network_stage`.
        liver_rule: the post-processing whose liver-component rule picks the liver.
    """
    spacing = bundle.preprocessing.spacing_mm
    if spacing is None:
        return None
    coarse = dataclasses.replace(bundle, preprocessing=dataclasses.replace(
        bundle.preprocessing, spacing_mm=tuple(float(s) * COARSE_FACTOR for s in spacing)))
    stage = network_stage(coarse, ct, device=device, amp=amp, fusion_weights=fusion_weights, timer=timer)
    assert stage.probabilities is not None  # fused: keep_outputs is off
    # The liver component(s) by the rule's thresholds even when post-processing keeps every
    # component: a far false positive must not stretch the box the fine pass runs in.
    found = kept_foreground(stage.probabilities, stage.prepared,
                            dataclasses.replace(liver_rule, keep_largest_liver=True))
    if not found.any():
        return None
    return stage.record.invert(Volume(found.astype(np.uint8), stage.prepared, source=ct.source, kind="label"),
                               fill=0)


def kept_foreground(fused: np.ndarray, grid: Geometry, liver_rule: PostprocessConfig | None) -> np.ndarray:
    """Bool (Z, Y, X): the voxels of ``fused`` (C, Z, Y, X probabilities on ``grid``) whose argmax
    is not background, limited to the liver component(s) ``liver_rule`` keeps when its
    ``keep_largest_liver`` is set (None: every foreground voxel)."""
    foreground = fused.argmax(axis=0) != 0
    if liver_rule is not None and liver_rule.keep_largest_liver:
        foreground = keep_liver_components(
            foreground.astype(np.uint8), grid.spacing_mm, connectivity=liver_rule.connectivity,
            min_fraction=liver_rule.min_liver_fraction, min_volume_ml=liver_rule.min_liver_volume_ml) > 0
    return foreground


@dataclass
class CrfRegion:
    """The region the CRF refines and its unary.

    Attributes:
        box: a box of the working grid (``box.slices`` index it; ``box.cropped`` is its grid).
        unary: float32 (C, z, y, x) class probabilities on ``box.cropped``, summing to 1 over C.
    """

    box: CropRecord
    unary: np.ndarray


def crf_region(fused: np.ndarray, prepared: Geometry, working_box: CropRecord, *, margin_mm: float,
               liver_rule: PostprocessConfig | None) -> CrfRegion | None:
    """Where the CRF runs, and its unary there.

    The box is the one around the fused foreground (argmax != 0) that post-processing would
    keep: with ``liver_rule`` whose ``keep_largest_liver`` is set, only the liver component(s)
    ``keep_liver_components`` keeps by that rule (so a far false positive, or several scans'
    livers stacked, do not stretch the box and its memory over the whole volume); plus
    ``margin_mm`` on each side, clipped to ``working_box``.

    Args:
        fused: (C, Z, Y, X) probabilities on ``prepared`` (any float dtype), or on a crop of
            the prepared grid that holds every foreground voxel and its interpolation support.
        prepared: the grid of ``fused``.
        working_box: the box of the working grid the prepared grid was made from.
        margin_mm: margin around the foreground, mm.
        liver_rule: the post-processing whose liver-component rule bounds the box; None (or
            ``keep_largest_liver`` off): every foreground voxel.

    Returns:
        The box and its unary, or None when nothing is foreground.
    """
    foreground = kept_foreground(fused, prepared, liver_rule)
    box = foreground_roi(foreground, prepared, working_box, margin_mm)
    del foreground
    if box is None:
        return None
    return CrfRegion(box, probabilities_on(box, fused, prepared))


def refine_region(unary: np.ndarray, image_hu: np.ndarray, spacing_mm: tuple[float, float, float],
                  class_labels: Sequence[int], *, crf: CrfParams | None, mode: Mode,
                  device: torch.device | str) -> np.ndarray:
    """Labels of a CRF region: the dense CRF on ``unary`` with the CT (or none), then argmax.

    Args:
        unary: float32 (C, z, y, x) class probabilities of the region.
        image_hu: CT in HU (z, y, x) of the same region (any numeric dtype).
        spacing_mm: voxel size (x, y, z), mm.
        class_labels: livseg label of each class (0 background, 1 liver, 2 tumour).
        crf: the CRF's parameters; None skips the CRF.
        mode: "3d" or "2d" (per axial slice).
        device: where the CRF runs.

    Returns:
        uint8 livseg labels (z, y, x) of the region.
    """
    if crf is not None:
        unary = dense_crf(unary, np.asarray(image_hu, dtype=np.float32), spacing_mm, crf, mode=mode, device=device)
    lookup = np.asarray(class_labels, dtype=np.uint8)
    return lookup[unary.argmax(axis=0)]
