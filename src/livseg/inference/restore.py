"""From the prepared grid back to the input's grid: the region of interest and its probabilities.

The network's probabilities live on the prepared grid (cropped, resampled). Everything after
the network works on the *working grid*: the input's grid with its storage reoriented as the
model's preprocessing says (an exact permutation of the input's voxels, undone exactly at
the end). There only the bounding box of what the network segmented, plus a margin, is
needed: the probabilities are resampled (linearly, by SimpleITK) onto that box alone, from
the part of the prepared grid that covers it, and outside it every voxel is background.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from livseg.preprocessing import CropRecord
from livseg.preprocessing.resampling import resample_onto
from livseg.volume import Geometry, Volume


def _corners(start_zyx: tuple[int, ...], stop_zyx: tuple[int, ...]) -> np.ndarray:
    """The 8 outer corners (continuous indices i, j, k; voxel edges) of an index box."""
    low = [start_zyx[2] - 0.5, start_zyx[1] - 0.5, start_zyx[0] - 0.5]
    high = [stop_zyx[2] - 0.5, stop_zyx[1] - 0.5, stop_zyx[0] - 0.5]
    return np.array(list(itertools.product(*zip(low, high))), dtype=float)


def box_on(grid: Geometry, points_lps: np.ndarray, margin_voxels_zyx: tuple[int, int, int],
           within: CropRecord) -> CropRecord | None:
    """The index box of ``grid`` overlapping the span of ``points_lps`` plus a margin (voxels,
    per array axis), clipped to ``within`` (a box on ``grid``); None when nothing is left."""
    index = grid.physical_to_index(points_lps)  # (n, 3) in (i, j, k)
    # Voxels whose extent [c - 0.5, c + 0.5] overlaps the points' span (edge contact excluded).
    low = (np.floor(index.min(axis=0) - 0.5 + 1e-6) + 1).astype(int)[::-1]
    high = np.ceil(index.max(axis=0) + 0.5 - 1e-6).astype(int)[::-1]  # one past the last
    start = tuple(max(int(a) - m, s) for a, m, s in zip(low, margin_voxels_zyx, within.start_zyx))
    stop = tuple(min(int(b) + m, e) for b, m, e in zip(high, margin_voxels_zyx, within.stop_zyx))
    if any(a >= b for a, b in zip(start, stop)):
        return None
    return CropRecord(original=grid, start_zyx=start, stop_zyx=stop)  # type: ignore[arg-type]


def foreground_roi(mask: np.ndarray, prepared: Geometry, working_box: CropRecord, margin_mm: float
                   ) -> CropRecord | None:
    """The box on the working grid around ``mask``'s foreground, plus ``margin_mm``.

    Args:
        mask: (Z, Y, X) bool/int on the ``prepared`` grid.
        prepared: the prepared grid.
        working_box: the crop the prepared grid was made from (a box on the working grid);
            the ROI is clipped to it (outside it everything is background).
        margin_mm: margin on each side, mm (at least one prepared voxel is always added so
            interpolation near the boundary sees both sides).

    Returns:
        CropRecord on the working grid, or None when ``mask`` is empty.
    """
    present = [np.flatnonzero(np.asarray(mask).any(axis=tuple(a for a in range(3) if a != axis)))
               for axis in range(3)]
    if any(p.size == 0 for p in present):
        return None
    start = tuple(int(p[0]) for p in present)
    stop = tuple(int(p[-1]) + 1 for p in present)
    points = prepared.index_to_physical(_corners(start, stop))
    working = working_box.original
    margin = max(float(margin_mm), max(prepared.spacing_mm))
    margin_zyx = tuple(int(math.ceil(margin / s - 1e-9)) for s in working.spacing_mm[::-1])
    return box_on(working, points, margin_zyx, working_box)  # type: ignore[arg-type]


def covering_box(source: Geometry, target: Geometry) -> CropRecord:
    """The box of ``source`` whose voxels surround every voxel centre of ``target`` (plus one)."""
    whole = CropRecord(original=source, start_zyx=(0, 0, 0), stop_zyx=source.shape_zyx)
    points = target.index_to_physical(_corners((0, 0, 0), target.shape_zyx))
    box = box_on(source, points, (1, 1, 1), whole)
    return whole if box is None else box


def probabilities_on(box: CropRecord, probabilities: np.ndarray, prepared: Geometry) -> np.ndarray:
    """Class probabilities resampled (linearly) from the prepared grid onto ``box``'s grid.

    Args:
        box: a box on the working grid (its ``cropped`` grid is the target).
        probabilities: (C, Z, Y, X) on ``prepared`` (any float dtype).
        prepared: the prepared grid.

    Returns:
        float32 (C, z, y, x) on ``box.cropped``, summing to 1 over C (renormalised after
        interpolation; with two classes the background is 1 - foreground).
    """
    target = box.cropped
    source_box = covering_box(prepared, target)
    source_grid = source_box.cropped
    classes = probabilities.shape[0]
    wanted = [1] if classes == 2 else list(range(classes))
    out = np.empty((classes, *target.shape_zyx), dtype=np.float32)
    for c in wanted:
        part = np.asarray(probabilities[(c, *source_box.slices)], dtype=np.float32)
        out[c] = resample_onto(Volume(part, source_grid, source="probabilities"), target).array  # kind "any": linear
    if classes == 2:
        np.clip(out[1], 0.0, 1.0, out=out[1])
        np.subtract(1.0, out[1], out=out[0])
    else:
        np.clip(out, 0.0, None, out=out)
        total = out.sum(axis=0)
        np.maximum(total, 1e-12, out=total)
        out /= total
    return out
