"""Dense building blocks of the grid filters: tent splat/slice along one axis and Gaussian blur.

A regular axis of length ``L`` (voxels) is represented on a coarse grid of ``ceil(L / r) + 1``
nodes, node ``c`` sitting at voxel position ``c * r``. Voxel ``i = c * r + k`` (``0 <= k < r``)
lies between nodes ``c`` and ``c + 1`` with linear ("tent") weights ``1 - k / r`` and ``k / r``.

* :func:`tent_down` (splat) spreads voxel values onto the nodes with those weights;
* :func:`tent_up` (slice) interpolates node values back at the voxels;

the two are exact adjoints of each other, so a filter ``up(blur(down(.)))`` is symmetric, which
the symmetric normalisation of the dense CRF relies on. Both are written as small matrix
products over a ``(..., L/r, r, ...)`` view, which runs at memory speed on CPU and GPU.

Linear splatting and slicing each widen the filter: averaged over the voxel phases, each adds
a variance of ``(r**2 - 1) / 6`` voxels**2 (``c**2 / 6`` for continuous positions and cell size
``c``). :func:`compensated_sigma` gives the blur that makes splat + blur + slice have the
intended total variance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _split(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    pre = math.prod(shape[:axis])
    post = math.prod(shape[axis + 1:])
    return pre, shape[axis], post


def tent_down(x: torch.Tensor, axis: int, r: int, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """Splat ``x`` along ``axis`` onto a grid with one node every ``r`` voxels.

    Args:
        x: any shape; ``x.shape[axis] = L``.
        axis: the axis to coarsen.
        r: voxels per grid cell (``r == 1`` returns ``x`` unchanged, or copies it into ``out``).
        out: optional contiguous tensor with as many elements as the result, written into.

    Returns:
        Tensor with ``shape[axis] = ceil(L / r) + 1``: node ``c`` holds
        ``sum_i w(i - c r) x[i]`` with the tent ``w(d) = max(0, 1 - |d| / r)``.
    """
    if r == 1:
        return x if out is None else out.view(x.shape).copy_(x)
    shape = tuple(x.shape)
    pre, length, post = _split(shape, axis)
    cells = -(-length // r)
    x3 = x.reshape(pre, length, post)
    out = x.new_zeros(pre, cells + 1, post) if out is None else out.view(pre, cells + 1, post).zero_()
    # One strided multiply-add per phase k (voxels k, k + r, k + 2r, ...): a single pass over
    # x in total, at memory speed; small batched matrix products were several times slower
    # on CPU (bench/RESULTS.md).
    for k in range(r):
        phase = x3[:, k::r]
        count = phase.shape[1]
        out[:, :count].add_(phase, alpha=1.0 - k / r)
        if k:
            out[:, 1:count + 1].add_(phase, alpha=k / r)
    return out.reshape(shape[:axis] + (cells + 1,) + shape[axis + 1:])


def tent_up(g: torch.Tensor, axis: int, r: int, length: int, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """Slice (linearly interpolate) grid ``g`` back to ``length`` voxels along ``axis``.

    The exact adjoint of :func:`tent_down`. Returns a contiguous tensor with
    ``shape[axis] = length``, written into ``out`` (any shape with that many elements) when
    given and ``r > 1``.
    """
    if r == 1:
        return g
    shape = tuple(g.shape)
    pre, nodes, post = _split(shape, axis)
    if nodes != -(-length // r) + 1:
        raise ValueError(f"grid of {nodes} nodes does not match {length} voxels at {r} per cell")
    g3 = g.reshape(pre, nodes, post)
    start = g3[:, :-1]
    step = g3[:, 1:] - start
    out = g.new_empty(pre, length, post) if out is None else out.view(pre, length, post)
    for k in range(r):
        phase = out[:, k::r]
        count = phase.shape[1]
        torch.add(start[:, :count], step[:, :count], alpha=k / r, out=phase)
    return out.reshape(shape[:axis] + (length,) + shape[axis + 1:])


def compensated_sigma(sigma: float, cell: float, *, discrete: bool) -> float:
    """Blur sigma (in cells) so that splat + blur + slice has total standard deviation ``sigma``.

    Args:
        sigma: wanted standard deviation of the whole filter, in the same unit as ``cell``.
        cell: grid cell size (voxels for a spatial axis, HU for intensity).
        discrete: True when the samples sit on an integer lattice (voxel positions) with an
            integer ``cell``; False for continuous values (intensities).

    Returns:
        Standard deviation of the grid blur in cells (0 when interpolation alone is too wide).
    """
    added = (cell * cell - 1.0) / 3.0 if discrete else cell * cell / 3.0
    return math.sqrt(max(sigma * sigma - added, 0.0)) / cell


def gaussian_taps(sigma_cells: float) -> list[float]:
    """Normalised 1D Gaussian taps over ``[-R, R]`` with ``R = ceil(3 sigma)`` (at least 1).

    Plain floats, so that blurring on a GPU needs no device-to-host copies.
    """
    radius = max(1, math.ceil(3.0 * sigma_cells))
    if sigma_cells <= 0:
        taps = [1.0 if offset == 0 else 0.0 for offset in range(-radius, radius + 1)]
    else:
        taps = [math.exp(-0.5 * (offset / sigma_cells) ** 2) for offset in range(-radius, radius + 1)]
    total = sum(taps)
    return [tap / total for tap in taps]


def gaussian_blur(x: torch.Tensor, axis: int, taps: list[float]) -> torch.Tensor:
    """Convolve ``x`` along ``axis`` with symmetric ``taps`` (zero padding, same length).

    Meant for the small coarse grids: a sum of shifted slices, no data layout change.
    """
    radius = (len(taps) - 1) // 2
    length = x.shape[axis]
    out = x * taps[radius]
    for shift in range(1, min(radius, length - 1) + 1):
        weight = taps[radius + shift]  # symmetric: same weight for +shift and -shift
        ahead = x.narrow(axis, shift, length - shift)
        behind = x.narrow(axis, 0, length - shift)
        out.narrow(axis, 0, length - shift).add_(ahead, alpha=weight)
        out.narrow(axis, shift, length - shift).add_(behind, alpha=weight)
    return out
