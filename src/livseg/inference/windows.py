"""Sliding-window inference over a prepared volume, stitched in z-slabs to bound memory.

:func:`livseg.inference.blending.blend_windows` does the windowing and the Gaussian blending
with MONAI's arithmetic (why it is not MONAI's own function: that module's docstring). The
network returns a :class:`~livseg.models.SegmentationOutput`; :class:`WindowPredictor` turns
each window's outputs into softmax probabilities (mirroring test-time augmentation and mixed
precision included) and either fuses them with eq. 4 right there or hands the blending the
tuple of per-output probabilities to blend each (the two agree: fusion and blending are both
weighted sums).

Memory: the blending keeps float32 output and weight buffers the size of its input. A tall
volume is therefore cut into z-slabs that hold whole rows of windows (:func:`plan_slabs`): every
slab starts and ends on the window grid of the whole volume, and neighbouring
slabs share enough windows that each voxel is kept from a slab that saw *every* window
covering it. The stitched result is thus the whole-volume result (same windows, same
weights, same order of summation), while the buffers never exceed one slab. The stitched
probabilities are kept in float16 (2 bytes per voxel and class; about 5e-4 absolute
resolution at p = 0.5).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from livseg.errors import ConfigError
from livseg.inference.blending import blend_windows, window_starts
from livseg.inference.fusion import fuse_probabilities
from livseg.models.output import SegmentationOutput
from livseg.models.precision import autocast_dtype

logger = logging.getLogger(__name__)

#: dtype of the stitched probabilities of a whole volume.
STORE_DTYPE = np.float16


def amp_dtype_for(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """The autocast dtype for inference: bf16 (or fp16) on CUDA, None (float32) on CPU."""
    return autocast_dtype(device, "auto" if enabled else "off")


class BranchAgreement:
    """Sums over every window of how the network's main output and its deep-supervision
    branches agree on the foreground (for :mod:`livseg.inference.quality`).

    With p the main output's foreground probability (1 - background) and q the mean of the
    branches' at each voxel of each window, it keeps sum(p q), sum(p) and sum(q); the soft
    Dice 2 sum(p q) / (sum(p) + sum(q)) is 1 when they agree everywhere. Every second voxel
    along each axis is counted (an eighth of the work; the sums are ratios of smooth maps).
    """

    def __init__(self) -> None:
        self.product = 0.0
        self.main = 0.0
        self.branches = 0.0

    def add(self, main: torch.Tensor, branches: Sequence[torch.Tensor]) -> None:
        """One window: softmax probabilities (N, C, d, h, w) of the main output and each branch."""
        every = (slice(None), 0, slice(None, None, 2), slice(None, None, 2), slice(None, None, 2))
        p = 1.0 - main[every]
        q = sum(1.0 - b[every] for b in branches) / len(branches)
        self.product += float((p * q).sum())
        self.main += float(p.sum())
        self.branches += float(q.sum())

    @property
    def disagreement(self) -> float | None:
        """1 - soft Dice of main and branches (0: full agreement); None before any foreground."""
        total = self.main + self.branches
        return None if total <= 0 else 1.0 - 2.0 * self.product / total


class WindowPredictor:
    """Maps a window (N, C_in, d, h, w) to class probabilities for the blending.

    Args:
        network: returns a SegmentationOutput (main, branches) of logits (N, C, d, h, w).
        weights: tau_d of eq. 4 (main first); outputs with weight 0 are skipped unless
            ``keep_outputs``.
        tta: average the softmax over the mirrorings of the window: every combination of flips
            of ``tta_axes`` (8 for z, y and x).
        tta_axes: the array axes (0 z, 1 y, 2 x) that ``tta`` may flip.
        amp_dtype: autocast dtype on CUDA (None: float32).
        keep_outputs: return the tuple (main, branch 1, ...) of probabilities, each blended
            separately, instead of the fused probabilities.
        agreement: receives each window's main and branch probabilities (every output is then
            computed, whatever its weight).

    Returns (when called): float32 (N, C, d, h, w) fused probabilities, or a tuple of them.
    """

    def __init__(self, network: torch.nn.Module, weights: Sequence[float], *, tta: bool = False,
                 tta_axes: Sequence[int] = (0, 1, 2), amp_dtype: torch.dtype | None = None,
                 keep_outputs: bool = False, agreement: BranchAgreement | None = None) -> None:
        self.network = network
        self.weights = tuple(float(w) for w in weights)
        self.keep_outputs = keep_outputs
        self.agreement = agreement if len(self.weights) > 1 else None
        self.flips: list[tuple[int, ...]] = [()]
        if tta:
            dims = tuple(2 + int(axis) for axis in sorted(set(tta_axes)))
            self.flips = [combo for r in range(len(dims) + 1) for combo in itertools.combinations(dims, r)]
        self.amp_dtype = amp_dtype
        self.calls = 0

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.amp_dtype)

    def _outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        with self._autocast(x.device):
            out = self.network(x)
        if not isinstance(out, SegmentationOutput):
            raise ConfigError(type(self.network).__name__, expected="a network returning SegmentationOutput",
                              found=type(out).__name__)
        outputs = [out.main, *out.branches]
        if len(self.weights) == 1:  # the main output alone (a network that does not count its branches)
            outputs = outputs[:1]
        if len(outputs) != len(self.weights):
            raise ConfigError(type(self.network).__name__,
                              expected=f"{len(self.weights)} outputs (main + branches) for the fusion weights",
                              found=f"{len(outputs)} outputs")
        return outputs

    def __call__(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        self.calls += 1
        needed = [self.keep_outputs or self.agreement is not None or w > 0 for w in self.weights]
        sums: list[torch.Tensor | None] = [None] * len(self.weights)
        for dims in self.flips:
            outputs = self._outputs(torch.flip(x, dims) if dims else x)
            for index, (logits, keep) in enumerate(zip(outputs, needed)):
                if not keep:
                    continue
                prob = torch.softmax(logits.float(), dim=1)
                if dims:
                    prob = torch.flip(prob, dims)
                sums[index] = prob if sums[index] is None else sums[index].add_(prob)
        if len(self.flips) > 1:
            sums = [None if s is None else s.div_(len(self.flips)) for s in sums]
        if self.agreement is not None:
            main, *branches = sums
            assert main is not None and all(b is not None for b in branches)  # every output is needed
            self.agreement.add(main, [b for b in branches if b is not None])
        if self.keep_outputs:
            return tuple(s for s in sums if s is not None)
        return fuse_probabilities(sums, self.weights)


# --------------------------------------------------------------------------------------------
# The window grid and the z-slabs
# --------------------------------------------------------------------------------------------


def grow_window(window_zyx: Sequence[int], shape_zyx: Sequence[int], max_voxels: int | None,
                overlap: float = 0.25) -> tuple[int, ...]:
    """The window actually used: ``window_zyx`` cut to the volume, then grown to whole axes.

    A fully convolutional network gives the same result away from window borders whatever
    the window size, and on a CPU one large window costs far less than several overlapping
    ones (a 3D DSN took 2.6 s for a whole 248x164x80 volume, 18 s for its eight 160x160x72
    windows at overlap 0.25). So, while the window stays within ``max_voxels``, the axis
    whose growth to the whole volume saves the most windows is grown (None: no growth).
    """
    window = [int(min(w, s)) for w, s in zip(window_zyx, shape_zyx)]
    if max_voxels is None:
        return tuple(window)

    def count(w: Sequence[int]) -> int:
        return int(np.prod([len(window_starts(s, a, overlap)) for s, a in zip(shape_zyx, w)]))

    while True:
        options = []
        for axis in range(3):
            if window[axis] < shape_zyx[axis]:
                grown = list(window)
                grown[axis] = int(shape_zyx[axis])
                if int(np.prod(grown)) <= max_voxels:
                    options.append((count(window) / count(grown), -int(np.prod(grown)), grown))
        if not options:
            return tuple(window)
        window = max(options)[2]


@dataclass(frozen=True)
class Slab:
    """A z-range of the volume given to the inferer, and the part of it that is kept.

    Attributes:
        start, stop: the slab's z-range (the inferer sees ``image[start:stop]``).
        keep_start, keep_stop: the z-range taken from this slab's result (within start..stop).
    """

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def plan_slabs(depth: int, window: int, overlap: float, max_rows: int) -> list[Slab]:
    """Cut ``depth`` slices into slabs of at most ``max_rows`` rows of windows (at least the
    minimum that makes progress), such that each kept voxel's covering windows all lie in
    its slab.

    Args:
        depth: slices (z) of the prepared volume.
        window: window size along z.
        overlap: the inferer's overlap fraction.
        max_rows: most window rows (z-starts) per slab, >= 1.
    """
    starts = window_starts(depth, window, overlap)
    rows = max(1, int(max_rows))
    n = len(starts)
    if n <= rows:
        return [Slab(0, depth, 0, depth)]
    slabs: list[Slab] = []
    first, keep_start = 0, 0
    while True:
        last = min(n - 1, first + rows - 1)
        nxt = None
        while last < n - 1:
            # The next slab starts at the latest window whose predecessors all end before
            # this slab's complete region does (z < starts[last + 1]).
            nxt = max((j for j in range(first + 1, last + 1) if starts[j - 1] + window <= starts[last + 1]),
                      default=None)
            if nxt is not None:
                break
            last += 1  # too few rows to make progress: take one more
        if last == n - 1:
            slabs.append(Slab(starts[first], depth, keep_start, depth))
            return slabs
        cut = starts[nxt - 1] + window  # type: ignore[operator]
        slabs.append(Slab(starts[first], starts[last] + window, keep_start, cut))
        first, keep_start = nxt, cut  # type: ignore[assignment]


def sliding_window_probabilities(
    network: torch.nn.Module,
    image: np.ndarray,
    *,
    window_zyx: Sequence[int],
    overlap: float,
    weights: Sequence[float],
    device: torch.device | str = "cpu",
    sigma_scale: float = 0.125,
    tta: bool = False,
    tta_axes: Sequence[int] = (0, 1, 2),
    amp: bool = True,
    keep_outputs: bool = False,
    slab_voxels: int | None = None,
    max_window_voxels: int | None = None,
    on_slab: Callable[[int, int], None] | None = None,
    store_dtype: type = STORE_DTYPE,
    agreement: BranchAgreement | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Gaussian-blended sliding-window probabilities of a whole prepared volume.

    Args:
        network: in eval mode, on ``device``; returns SegmentationOutput logits.
        image: float32 prepared intensities (Z, Y, X).
        window_zyx: window size (z, y, x) in voxels; an axis shorter than the window is
            covered by one window of the axis' size (no padding).
        max_window_voxels: grow the window to whole axes up to this size (see
            :func:`grow_window`; None: keep ``window_zyx``).
        overlap: fraction of a window shared with its neighbours, in [0, 1).
        weights: tau_d of eq. 4 (main output first).
        device: where the network runs; the stitched result stays on the CPU.
        sigma_scale: Gaussian blending sigma as a fraction of the window.
        tta: mirroring test-time augmentation (every combination of flips of ``tta_axes``:
            8 per window for z, y and x).
        tta_axes: the array axes (0 z, 1 y, 2 x) ``tta`` may flip.
        amp: autocast on CUDA.
        keep_outputs: return one probability array per network output (main, branches)
            instead of the fused one.
        slab_voxels: most voxels stitched at once (None: the whole volume in one go).
        on_slab: called with (slab index, number of slabs) after each slab.
        store_dtype: dtype of the stitched result (float16 by default; float32 doubles it).
        agreement: receives the main output's and the branches' probabilities of each window
            (:class:`BranchAgreement`; a window the slabs share counts once per slab).

    Returns:
        ``store_dtype`` array (C, Z, Y, X) of fused probabilities, or a list of such arrays (one
        per output) with ``keep_outputs``.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ConfigError("image", expected="a 3D (z, y, x) prepared volume", found=f"shape {image.shape}")
    device = torch.device(device)
    depth, height, width = image.shape
    roi = grow_window(window_zyx, image.shape, max_window_voxels, overlap)
    if slab_voxels is None:
        max_rows = len(window_starts(depth, roi[0], overlap))
    else:
        step = max(1, int(roi[0] * (1 - overlap)))
        max_rows = max(1, (int(slab_voxels) // (height * width) - roi[0]) // step + 1)
    slabs = plan_slabs(depth, roi[0], overlap, max_rows)
    predictor = WindowPredictor(network, weights, tta=tta, tta_axes=tta_axes,
                                amp_dtype=amp_dtype_for(device, amp),
                                keep_outputs=keep_outputs, agreement=agreement)
    outputs: list[np.ndarray] | None = None
    for index, slab in enumerate(slabs):
        x = torch.from_numpy(np.ascontiguousarray(image[slab.start:slab.stop]))[None, None]
        with torch.inference_mode():
            parts = blend_windows(predictor, x, window_zyx=roi, overlap=overlap, sigma_scale=sigma_scale,
                                  device=device)
        if outputs is None:
            outputs = [np.empty((int(p.shape[1]), depth, height, width), dtype=store_dtype) for p in parts]
        keep = slice(slab.keep_start - slab.start, slab.keep_stop - slab.start)
        for store, part in zip(outputs, parts):
            store[:, slab.keep_start:slab.keep_stop] = torch.as_tensor(part)[0, :, keep].numpy()
        del parts
        if on_slab is not None:
            on_slab(index, len(slabs))
    logger.debug("sliding window: %d slabs, %d window calls, roi %s", len(slabs), predictor.calls, roi)
    stored: list[np.ndarray] = outputs or []  # plan_slabs always gives at least one slab
    return stored if keep_outputs else stored[0]
