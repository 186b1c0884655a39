"""Fused per-voxel steps of the bilateral grid filter on a CPU, compiled with Numba.

The bilateral filter (:class:`livseg.crf.filters.BilateralGridFilter`) spends most of a pass
on per-voxel work: spreading each voxel's value onto the grid nodes around it (splat) and
reading the blurred grid back at each voxel (slice). In PyTorch these are several passes
over memory (corner products, a scatter into a stage with whole y rows, a dense y coarsening,
and the mirror image on the way back). Here each is one loop that touches every voxel once:
the voxel's value goes straight to the 8 nodes of its (y, intensity, x) cell with trilinear
weights, and comes back from the same 8 nodes. Written by hand because no library offers a
splat/slice of a bilateral grid with per-voxel intensity coordinates; Numba compiles it on
the user's machine from wheels alone (no compiler needed), and caches the machine code.

Grid layout: ``coarse[z, node_y, node_i, node_x]`` (float32). Voxel n = (z, y, x) with intensity
coordinate ``i0 + fi[n]`` sits in cell ``(y0[y], i0, x // cell_x)`` with fractions
``(fy[y], fi[n], fx[x])`` in [0, 1); ``corner[n] = i0 * nodes_x + x // cell_x`` is its lower
corner within a y plane, precomputed once per image (with ``fi``, 8 bytes per voxel). The grid
has a node beyond the last cell on the intensity and x axes; on y, a row with fraction 0 reads
and writes its lower node only (an axis with one node per row has no node beyond).

Threads: each kernel has a parallel and a serial driver over the same task function. The
splat runs over y cells in two phases (even cells, then odd cells): the cells of a phase write
disjoint node rows, so no two threads add into the same node, and every node receives its
additions in the same order whatever the thread count (same bits). The slice writes one output
per voxel and runs over (z, y) rows. A caller with one intra-op thread (PyTorch's setting in
its thread: the CRF's slab threads and small inputs, see :mod:`livseg.crf.threads`) gets the
serial driver, which releases the GIL so that such callers run side by side; others get the
parallel driver on as many Numba threads, launched under one lock (Numba's default thread
pool must not be entered from two Python threads at once).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np

_LAUNCH = threading.Lock()


def _cache_dir() -> None:
    """Numba caches compiled kernels beside this file, or (read-only installs) in a user-wide
    folder; livseg's own cache folder is used when the user set one."""
    if "NUMBA_CACHE_DIR" not in os.environ and os.environ.get("LIVSEG_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = str(Path(os.environ["LIVSEG_CACHE_DIR"]) / "numba")


_cache_dir()

import numba  # noqa: E402  (after the cache folder is chosen)
from numba import njit, prange  # noqa: E402


_FLAGS = {"cache": True, "fastmath": True, "boundscheck": False}


@njit(**_FLAGS)
def _splat_task(values: np.ndarray, has_values: bool, norm: np.ndarray, has_norm: bool, corner: np.ndarray,
                fi: np.ndarray, y0: np.ndarray, fy: np.ndarray, fx: np.ndarray, cell_x: int, cells_y: np.ndarray,
                flat: np.ndarray, ny: int, plane: int, nx: int, z: int, c: int) -> None:  # pragma: no cover
    """Splat the rows of y cell ``c`` of slice ``z`` into ``flat`` (the grid, raveled)."""
    Y = y0.shape[0]
    X = fx.shape[0]
    one = np.float32(1.0)
    for y in range(cells_y[c], cells_y[c + 1]):
        wy1 = fy[y]
        wy0 = one - wy1
        low = (z * ny + y0[y]) * plane
        high = low + plane if wy1 != 0.0 else low  # one node per row: the zero share goes to it
        row = (z * Y + y) * X
        # x in phase order (k, k + cell_x, ...): consecutive voxels add into different nodes,
        # so the additions do not wait on each other (about 1.3x faster than x in order).
        for k in range(min(cell_x, X)):
            wx1 = fx[k]
            wx0 = one - wx1
            for x in range(k, X, cell_x):
                n = row + x
                v = values[n] if has_values else one
                if has_norm:
                    v = v * norm[n]
                d = v * fi[n]
                b = v - d
                b0 = b * wx0
                b1 = b * wx1
                d0 = d * wx0
                d1 = d * wx1
                at = corner[n]
                flat[low + at] += wy0 * b0
                flat[low + at + 1] += wy0 * b1
                flat[low + at + nx] += wy0 * d0
                flat[low + at + nx + 1] += wy0 * d1
                flat[high + at] += wy1 * b0
                flat[high + at + 1] += wy1 * b1
                flat[high + at + nx] += wy1 * d0
                flat[high + at + nx + 1] += wy1 * d1


@njit(**_FLAGS)
def _slice_task(flat: np.ndarray, ny: int, plane: int, nx: int, norm: np.ndarray, has_norm: bool,
                corner: np.ndarray, fi: np.ndarray, y0: np.ndarray, fy: np.ndarray, fx: np.ndarray, out: np.ndarray,
                accumulate: bool, alpha: float, t: int) -> None:  # pragma: no cover
    """Slice row ``t`` (= z * Y + y) of the output from ``flat`` (the blurred grid, raveled)."""
    Y = y0.shape[0]
    X = fx.shape[0]
    one = np.float32(1.0)
    z = t // Y
    y = t % Y
    wy1 = fy[y]
    wy0 = one - wy1
    low = (z * ny + y0[y]) * plane
    high = low + plane if wy1 != 0.0 else low
    row = t * X
    for x in range(X):
        n = row + x
        at = corner[n]
        a0 = wy0 * flat[low + at] + wy1 * flat[high + at]
        a1 = wy0 * flat[low + at + 1] + wy1 * flat[high + at + 1]
        a2 = wy0 * flat[low + at + nx] + wy1 * flat[high + at + nx]
        a3 = wy0 * flat[low + at + nx + 1] + wy1 * flat[high + at + nx + 1]
        wx1 = fx[x]
        lower = a0 + wx1 * (a1 - a0)
        upper = a2 + wx1 * (a3 - a2)
        s = lower + fi[n] * (upper - lower)
        if has_norm:
            s = s * norm[n]
        if accumulate:
            out[n] += alpha * s
        else:
            out[n] = s


@njit(parallel=True, **_FLAGS)
def _splat_parallel(values, has_values, norm, has_norm, corner, fi, y0, fy, fx, cell_x, cells_y,
                    coarse):  # pragma: no cover
    Z, ny, ni, nx = coarse.shape
    flat = coarse.reshape(-1)
    flat[:] = 0.0
    n_cells = cells_y.shape[0] - 1
    for phase in range(2):
        per_z = (n_cells - phase + 1) // 2
        for t in prange(Z * per_z):
            _splat_task(values, has_values, norm, has_norm, corner, fi, y0, fy, fx, cell_x, cells_y, flat, ny,
                        ni * nx, nx, t // per_z, 2 * (t % per_z) + phase)


@njit(nogil=True, **_FLAGS)
def _splat_serial(values, has_values, norm, has_norm, corner, fi, y0, fy, fx, cell_x, cells_y,
                  coarse):  # pragma: no cover
    Z, ny, ni, nx = coarse.shape
    flat = coarse.reshape(-1)
    flat[:] = 0.0
    n_cells = cells_y.shape[0] - 1
    for phase in range(2):  # the parallel driver's order, so that both give the same bits
        per_z = (n_cells - phase + 1) // 2
        for t in range(Z * per_z):
            _splat_task(values, has_values, norm, has_norm, corner, fi, y0, fy, fx, cell_x, cells_y, flat, ny,
                        ni * nx, nx, t // per_z, 2 * (t % per_z) + phase)


@njit(parallel=True, **_FLAGS)
def _slice_parallel(grid, norm, has_norm, corner, fi, y0, fy, fx, out, accumulate, alpha):  # pragma: no cover
    Z, ny, ni, nx = grid.shape
    flat = grid.reshape(-1)
    for t in prange(Z * y0.shape[0]):
        _slice_task(flat, ny, ni * nx, nx, norm, has_norm, corner, fi, y0, fy, fx, out, accumulate, alpha, t)


@njit(nogil=True, **_FLAGS)
def _slice_serial(grid, norm, has_norm, corner, fi, y0, fy, fx, out, accumulate, alpha):  # pragma: no cover
    Z, ny, ni, nx = grid.shape
    flat = grid.reshape(-1)
    for t in range(Z * y0.shape[0]):
        _slice_task(flat, ny, ni * nx, nx, norm, has_norm, corner, fi, y0, fy, fx, out, accumulate, alpha, t)


_EMPTY = np.zeros(1, dtype=np.float32)


def _launch(threads: int, parallel: Callable[..., None], serial: Callable[..., None], *args: object) -> None:
    """Run the serial driver (one thread: no lock, the GIL released) or the parallel one on
    ``threads`` Numba threads (under the launch lock)."""
    if threads <= 1:
        serial(*args)
        return
    with _LAUNCH:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        parallel(*args)


def splat(values: np.ndarray | None, norm: np.ndarray | None, corner: np.ndarray, fi: np.ndarray, y0: np.ndarray,
          fy: np.ndarray, fx: np.ndarray, cell_x: int, cells_y: np.ndarray, coarse: np.ndarray, *,
          threads: int) -> None:
    """Splat ``norm * values`` (N,) float32 (ones when ``values`` is None) onto ``coarse``
    (Z, nodes_y, nodes_i, nodes_x) float32, overwriting it.

    Args:
        corner: (N,) int32, ``node_i * nodes_x + node_x`` of each voxel's lower corner.
        fi: (N,) float32, the voxel's intensity fraction between its nodes.
        y0, fy: (Y,) lower y node (int32) and fraction (float32) of each row.
        fx: (X,) x fraction of each column (``(x mod cell_x) / cell_x``).
        cell_x: voxels per x cell.
        cells_y: (cells + 1,) int64, the first row of each y cell, then Y.
        threads: threads to use (1: the serial driver).
    """
    _launch(threads, _splat_parallel, _splat_serial, _EMPTY if values is None else values, values is not None,
            _EMPTY if norm is None else norm, norm is not None, corner, fi, y0, fy, fx, int(cell_x), cells_y, coarse)


def slice_into(grid: np.ndarray, norm: np.ndarray | None, corner: np.ndarray, fi: np.ndarray, y0: np.ndarray,
               fy: np.ndarray, fx: np.ndarray, out: np.ndarray, *, accumulate: bool = False, alpha: float = 1.0,
               threads: int) -> None:
    """Read ``grid`` (Z, nodes_y, nodes_i, nodes_x) at every voxel (times ``norm``) into
    ``out`` (N,) float32: ``out[n] = s`` or, with ``accumulate``, ``out[n] += alpha * s``.
    The other arguments are :func:`splat`'s."""
    _launch(threads, _slice_parallel, _slice_serial, grid, _EMPTY if norm is None else norm, norm is not None,
            corner, fi, y0, fy, fx, out, accumulate, float(alpha))


def warm_up() -> None:
    """Load (or compile) both drivers of both kernels on a tiny grid: the first call of each in
    a process costs about 0.4 s even from Numba's cache (LLVM set-up), so a caller that knows
    a CRF will follow can pay it early, beside other work (:func:`warm_up_in_background`)."""
    corner = np.zeros(4, dtype=np.int32)
    fractions = np.zeros(4, dtype=np.float32)
    rows, columns = np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.float32)
    cells_y = np.array([0, 2], dtype=np.int64)
    grid = np.zeros((1, 2, 2, 2), dtype=np.float32)
    out = np.zeros(4, dtype=np.float32)
    for threads in (1, 2):
        splat(fractions, fractions, corner, fractions, rows, columns, columns, 1, cells_y, grid, threads=threads)
        splat(None, None, corner, fractions, rows, columns, columns, 1, cells_y, grid, threads=threads)
        slice_into(grid, fractions, corner, fractions, rows, columns, columns, out, threads=threads)
        slice_into(grid, None, corner, fractions, rows, columns, columns, out, accumulate=True, alpha=0.5,
                   threads=threads)
        slice_into(grid, fractions, corner, fractions, rows, columns, columns, out, accumulate=True, alpha=0.5,
                   threads=threads)


_warm_up_started = threading.Event()


def warm_up_in_background() -> None:
    """Start :func:`warm_up` once per process in a daemon thread (later calls do nothing)."""
    if _warm_up_started.is_set():
        return
    _warm_up_started.set()
    threading.Thread(target=warm_up, name="livseg-crf-warm-up", daemon=True).start()
