"""Training cases held in memory and the patches drawn from them.

Each case is preprocessed once (crop, HU window, resampling) and kept as arrays. An epoch's
patches are planned up front from ``(seed, epoch)`` alone, so a resumed run draws exactly the
patches an uninterrupted run would, and every process of a distributed run takes its own
share of the same plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from livseg.config import Config
from livseg.preprocessing import prepare_case
from livseg.training.cases import CaseSource
from livseg.volume import Geometry

logger = logging.getLogger(__name__)

# Foreground voxels kept per case for centring patches (a random subset beyond this).
MAX_FOREGROUND_CENTRES = 200_000


@dataclass(frozen=True)
class TrainingCase:
    """One preprocessed case.

    Attributes:
        case_id: the case's id.
        image: float32 normalised intensities, array (z, y, x).
        target: uint8 class indices for the task (0..num_classes-1), array (z, y, x).
        foreground_zyx: int32 (K, 3) array indices of target > 0 voxels (possibly a subset).
        pad_value: intensity used outside the volume (the case's minimum: air after clipping).
        geometry: the prepared grid (spacing the network sees).
    """

    case_id: str
    image: np.ndarray
    target: np.ndarray
    foreground_zyx: np.ndarray
    pad_value: float
    geometry: Geometry


def task_target(label: np.ndarray, task: str) -> np.ndarray:
    """Class indices for a task from a 0/1/2 label array (z, y, x).

    "liver": 1 where liver or tumour; "tumour": 1 where tumour; "liver_tumour": the label.
    """
    label = np.asarray(label)
    if task == "liver":
        return (label > 0).astype(np.uint8)
    if task == "tumour":
        return (label == 2).astype(np.uint8)
    return label.astype(np.uint8)


def load_training_case(source: CaseSource, config: Config) -> TrainingCase:
    """Read, preprocess and keep one case in memory."""
    ct, label = source.load()
    prepared = prepare_case(ct, label, config.preprocessing)
    target = task_target(prepared.label.array, config.data.task)
    foreground = np.argwhere(target > 0).astype(np.int32)
    if len(foreground) > MAX_FOREGROUND_CENTRES:
        rng = np.random.default_rng(abs(hash(source.case_id)) % (2 ** 32))
        foreground = foreground[np.sort(rng.choice(len(foreground), MAX_FOREGROUND_CENTRES, replace=False))]
    if len(foreground) == 0:
        logger.warning("%s: no foreground for task %r; its patches are all background",
                       source.case_id, config.data.task)
    image = np.ascontiguousarray(prepared.image.array, dtype=np.float32)
    logger.info("%s: prepared %s", source.case_id, prepared.image.geometry.describe())
    return TrainingCase(case_id=source.case_id, image=image, target=np.ascontiguousarray(target),
                        foreground_zyx=foreground, pad_value=float(image.min()),
                        geometry=prepared.image.geometry)


@dataclass(frozen=True)
class PatchRequest:
    """One planned patch: which case, where its centre is, and the seed of its augmentation."""

    case_index: int
    centre_zyx: tuple[int, int, int]
    foreground: bool
    seed: int


def clamp_centre(centre_zyx: Sequence[int], patch_zyx: Sequence[int], shape_zyx: Sequence[int]) -> tuple[int, int, int]:
    """Move a patch centre so the patch lies inside the volume (centred where it cannot fit).

    Along an axis of n voxels a patch of s voxels spans ``[c - s // 2, c - s // 2 + s)``; with
    ``n >= s`` the centre is clipped to ``[s // 2, n - s + s // 2]``, which keeps every voxel
    the unclipped patch's centre saw inside the patch; with ``n < s`` it is ``n // 2`` so the
    whole axis is in the patch.
    """
    out = []
    for c, s, n in zip(centre_zyx, patch_zyx, shape_zyx):
        c, s, n = int(c), int(s), int(n)
        out.append(n // 2 if n < s else min(max(c, s // 2), n - s + s // 2))
    return tuple(out)  # type: ignore[return-value]


# Ids of synthetic cases: procedural phantoms and CT synthesised on organ masks.
SYNTHETIC_PREFIXES = ("phantom-", "synth-")


def case_probabilities(case_ids: Sequence[str], phantom_share: float | None) -> np.ndarray | None:
    """Per-case sampling probabilities giving synthetic cases (ids ``phantom-*`` and ``synth-*``)
    ``phantom_share`` of
    the patches and the other (real) cases the rest, uniformly within each group.

    None (uniform over all cases) when ``phantom_share`` is None or one group is empty.
    """
    if phantom_share is None:
        return None
    phantom = np.array([c.startswith(SYNTHETIC_PREFIXES) for c in case_ids], dtype=bool)
    if phantom.all() or not phantom.any():
        return None
    probs = np.where(phantom, phantom_share / phantom.sum(), (1.0 - phantom_share) / (~phantom).sum())
    return probs / probs.sum()


def plan_epoch(cases: Sequence[TrainingCase], count: int, foreground_fraction: float,
               seed: int, epoch: int, patch_zyx: Sequence[int] | None = None,
               case_probs: Sequence[float] | None = None) -> list[PatchRequest]:
    """The patches of one epoch, the same for every process and every resumption.

    Exactly ``round(count * foreground_fraction)`` patches are centred on a random foreground
    voxel (uniform over a case's foreground; cases without foreground fall back to a random
    voxel); the rest on a uniformly random voxel. Cases are chosen uniformly. With
    ``patch_zyx`` (the labelled patch size) centres are clamped so the labelled patch stays
    inside the volume (:func:`clamp_centre`); context beyond it may still be padding.
    ``case_probs`` (one per case, summing to 1) replaces the uniform choice of cases.
    """
    rng = np.random.default_rng([seed, epoch, 0x5EED])
    n_foreground = int(round(count * foreground_fraction))
    is_foreground = np.zeros(count, dtype=bool)
    is_foreground[:n_foreground] = True
    rng.shuffle(is_foreground)
    plan = []
    for index in range(count):
        case_index = (int(rng.integers(len(cases))) if case_probs is None
                      else int(rng.choice(len(cases), p=case_probs)))
        case = cases[case_index]
        wants_foreground = bool(is_foreground[index]) and len(case.foreground_zyx) > 0
        if wants_foreground:
            centre = case.foreground_zyx[int(rng.integers(len(case.foreground_zyx)))]
        else:
            centre = [int(rng.integers(n)) for n in case.image.shape]
        centre = tuple(int(c) for c in centre)
        if patch_zyx is not None:
            centre = clamp_centre(centre, patch_zyx, case.image.shape)
        plan.append(PatchRequest(case_index=case_index, centre_zyx=centre,  # type: ignore[arg-type]
                                 foreground=wants_foreground, seed=int(rng.integers(2 ** 31 - 1))))
    return plan


def share_of(plan: Sequence[PatchRequest], rank: int, world_size: int) -> list[PatchRequest]:
    """This process's patches: every ``world_size``-th, the same count on every process."""
    per_process = len(plan) // world_size
    return list(plan[rank::world_size][:per_process])


def extract_patch(array: np.ndarray, centre_zyx: Sequence[int], size_zyx: Sequence[int],
                  pad_value: float) -> np.ndarray:
    """The ``size_zyx`` box of ``array`` (z, y, x) centred on ``centre_zyx``, padded outside.

    The box starts at ``centre - size // 2``; voxels beyond the array take ``pad_value``, so
    volumes smaller than the patch and patches at the border (context for valid convolutions)
    work alike.
    """
    start = [int(c) - int(s) // 2 for c, s in zip(centre_zyx, size_zyx)]
    stop = [a + int(s) for a, s in zip(start, size_zyx)]
    inner = tuple(slice(max(a, 0), min(b, n)) for a, b, n in zip(start, stop, array.shape))
    pad = [(max(0, -a), max(0, b - n)) for a, b, n in zip(start, stop, array.shape)]
    piece = array[inner]
    if any(p for pair in pad for p in pair):
        piece = np.pad(piece, pad, mode="constant", constant_values=pad_value)
    return np.ascontiguousarray(piece)
