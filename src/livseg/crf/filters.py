"""The two Gaussian filters of the dense CRF, on coarse grids, in PyTorch.

* :class:`SpatialGaussianFilter`: ``out_i = sum_j exp(-|p_i - p_j|^2 / (2 sigma^2)) v_j`` over
  voxel positions (per-axis sigma in voxels, so anisotropic spacing is exact), computed as
  tent splat onto a grid coarsened by about sigma per axis, separable Gaussian blur of the
  grid, tent slice back (all dense, separable, see :mod:`livseg.crf.grid_ops`).
* :class:`BilateralGridFilter`: the same with the voxel intensity as one more grid axis
  (Paris & Durand's bilateral grid). The intensity axis and the x axis are splatted and
  sliced with an index scatter/gather (four corners per voxel); the z and y axes, which are
  regular, are coarsened densely. The corner indices and weights are computed once per image
  and reused in every mean-field iteration.

Both filters include the self term (``k(i, i)``), as pydensecrf's permutohedral lattice
does; ``apply`` filters one channel of values, shape (N,) with ``N = Z * Y * X`` in (z, y, x)
raster order. An axis with ``sigma == 0`` is not coupled at all (2D mode: slices filtered
independently, batched along z).
"""

from __future__ import annotations

import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import torch

from livseg.crf.grid_ops import compensated_sigma, gaussian_blur, gaussian_taps, tent_down, tent_up

# Grid cell size as a fraction of the kernel's sigma. Linear splatting and slicing make the
# effective kernel width depend on where a voxel falls within its cell (the compensation in
# grid_ops is exact only on average), so coarser cells are faster but less Gaussian.
# Bilateral kernel, 1.0: mean deviation from the exact Gaussian sum about 3 %, label agreement
# with pydensecrf >= 99.9 % (tests/crf, bench/crf.py); its cost is dominated by the per-voxel
# scatter/gather, which the cell size does not change much.
SPATIAL_CELL_PER_SIGMA = 1.0
INTENSITY_CELL_PER_SIGMA = 1.0
# Smoothness kernel, 0.75: it is all dense and cheap, so it can afford a finer grid (mean
# deviation from the exact Gaussian below 1 %, at most 3 %); finer cells than this cost more
# in the blur (more taps on a larger grid) than they gain.
SMOOTHNESS_CELL_PER_SIGMA = 0.75


# Below this many voxels a CPU splat runs in the calling thread (thread hand-off costs more).
PARALLEL_SPLAT_MIN_VOXELS = 1 << 17

_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def _splat_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads for the CPU splat (created on first use)."""
    with _pool_lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="livseg-crf-splat")
        return _pools[workers]


def _index_add(stage: torch.Tensor, index: torch.Tensor, source: torch.Tensor, inference: bool) -> None:
    with torch.inference_mode(inference):
        stage.index_add_(0, index, source)


def _cell_voxels(sigma_voxels: float, cell_per_sigma: float) -> int:
    """Integer grid cell (voxels) for an axis: about ``cell_per_sigma * sigma``, at least 1."""
    if sigma_voxels <= 0:
        return 1
    return max(1, int(math.floor(cell_per_sigma * sigma_voxels + 0.5)))


class _RegularAxes:
    """Coarsen, blur and refine the leading spatial axes (z, y, x or a prefix) of a tensor."""

    def __init__(self, lengths: Sequence[int], sigmas_voxels: Sequence[float], cell_per_sigma: float) -> None:
        self.lengths = tuple(int(n) for n in lengths)
        self.cells = tuple(_cell_voxels(s, cell_per_sigma) for s in sigmas_voxels)
        self.taps = tuple(
            gaussian_taps(compensated_sigma(s, r, discrete=True)) if s > 0 else None
            for s, r in zip(sigmas_voxels, self.cells)
        )

    def down(self, x: torch.Tensor) -> torch.Tensor:
        # Coarsen the axis with the largest cell first: later passes then touch less data.
        for axis in sorted(range(len(self.cells)), key=lambda a: -self.cells[a]):
            x = tent_down(x, axis, self.cells[axis])
        return x

    def blur(self, g: torch.Tensor) -> torch.Tensor:
        for axis, taps in enumerate(self.taps):
            if taps is not None:
                g = gaussian_blur(g, axis, taps)
        return g

    def up(self, g: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Refine every axis back to full length; the last (largest) pass writes into ``out``."""
        order = [a for a in sorted(range(len(self.cells)), key=lambda a: self.cells[a]) if self.cells[a] > 1]
        for position, axis in enumerate(order):
            last = position == len(order) - 1
            g = tent_up(g, axis, self.cells[axis], self.lengths[axis], out=out if last else None)
        return g


class SpatialGaussianFilter:
    """Gaussian filter over voxel positions on a (z, y, x) grid.

    Args:
        shape_zyx: (Z, Y, X) voxels.
        sigma_voxels_zyx: kernel sigma per axis in voxels (``theta_mm / spacing_mm``);
            0 leaves that axis uncoupled.
    """

    def __init__(self, shape_zyx: Sequence[int], sigma_voxels_zyx: Sequence[float], *,
                 device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> None:
        self.shape = tuple(int(n) for n in shape_zyx)
        self._axes = _RegularAxes(self.shape, sigma_voxels_zyx, SMOOTHNESS_CELL_PER_SIGMA)
        self._out = torch.empty(math.prod(self.shape), device=device, dtype=dtype)

        self._norm: torch.Tensor | None = None

    def normalise_symmetric(self) -> torch.Tensor:
        """From now on ``apply`` computes ``n_i sum_j k(i, j) n_j v_j`` with ``n = 1 / sqrt(K 1)``.

        Returns ``n`` (N,). This is pydensecrf's ``NORMALIZE_SYMMETRIC``.
        """
        ones = torch.ones_like(self._out)
        self._norm = torch.rsqrt(self.apply(ones) + 1e-20)
        return self._norm

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """Filter ``values`` (N,); returns (N,) kernel sums ``sum_j k(i, j) v_j`` (normalised
        once :meth:`normalise_symmetric` was called).

        The result lives in a buffer of the filter that the next call overwrites.
        """
        if self._norm is not None:
            values = values * self._norm
        out = self._axes.up(self._axes.blur(self._axes.down(values.view(self.shape))), out=self._out)
        out = out.view(-1)
        return out if self._norm is None else out.mul_(self._norm)


class BilateralGridFilter:
    """Gaussian filter over (position, intensity) on a bilateral grid.

    Args:
        intensity: (Z, Y, X) float tensor, the image in the unit of ``sigma_intensity``
            (HU); its device is the filter's device.
        sigma_voxels_zyx: spatial sigma per axis in voxels; 0 leaves that axis uncoupled.
        sigma_intensity: intensity sigma (HU).
    """

    def __init__(self, intensity: torch.Tensor, sigma_voxels_zyx: Sequence[float], sigma_intensity: float) -> None:
        Z, Y, X = (int(n) for n in intensity.shape)
        self.shape = (Z, Y, X)
        device, dtype = intensity.device, intensity.dtype
        sigma_z, sigma_y, sigma_x = (float(s) for s in sigma_voxels_zyx)
        self._axes = _RegularAxes((Z, Y), (sigma_z, sigma_y), SPATIAL_CELL_PER_SIGMA)

        # x axis: scattered, integer cell of r_x voxels.
        r_x = _cell_voxels(sigma_x, SPATIAL_CELL_PER_SIGMA)
        nodes_x = -(-X // r_x) + 1
        # intensity axis: scattered, continuous values, cell of cell_i HU.
        cell_i = INTENSITY_CELL_PER_SIGMA * sigma_intensity
        low, high = torch.aminmax(intensity)
        nodes_i = int(math.floor(float(high - low) / cell_i)) + 2
        u = (intensity - low) / cell_i
        b = torch.floor(u).clamp_(max=nodes_i - 2)
        frac_i = (u - b).view(Z * Y, X)

        self.stage_shape = (Z, Y, nodes_i, nodes_x)
        self._taps = (
            gaussian_taps(compensated_sigma(sigma_intensity, cell_i, discrete=False)),
            gaussian_taps(compensated_sigma(sigma_x, r_x, discrete=True)) if sigma_x > 0 else None,
        )
        self._size = math.prod(self.stage_shape)
        index_dtype = torch.int32 if self._size < 2**31 else torch.int64

        # Voxel n's corner k = (intensity node i0 or i0 + 1, x node x0 or x0 + 1) sits at stage
        # index base[n] + offset[k] with weight (1 - fi or fi) * (1 - fx or fx). Voxel-major
        # (N, 4) layout: the splat scatters it as one flat list, and it is the CSR layout of the
        # slicing matrix as is.
        x = torch.arange(X, device=device, dtype=index_dtype)
        zy = torch.arange(Z * Y, device=device, dtype=index_dtype).view(Z * Y, 1)
        base = (zy * nodes_i + b.view(Z * Y, X).to(index_dtype)) * nodes_x + (x // r_x)  # (ZY, X)
        offsets = torch.tensor([0, 1, nodes_x, nodes_x + 1], device=device, dtype=index_dtype)
        self._index = torch.add(base.view(-1, 1), offsets).view(-1)  # (4 N,)
        frac_x = ((x % r_x).to(dtype) / r_x).view(X, 1)
        corner_x = torch.cat([1 - frac_x, frac_x], dim=1)  # (X, 2)
        weights = torch.empty(Z * Y, X, 2, 2, device=device, dtype=dtype)  # (zy, x, corner i, corner x)
        torch.mul(frac_i.view(Z * Y, X, 1), corner_x, out=weights[:, :, 1])
        torch.sub(corner_x, weights[:, :, 1], out=weights[:, :, 0])  # (1 - fi) * corner_x
        self._weights = weights.view(-1, 4)  # (N, 4)
        # Workspaces reused by every call: fresh allocations this large are page-faulted in
        # anew each time (glibc maps blocks over 32 MB), which cost as much as the arithmetic.
        self._contributions = torch.empty_like(self._weights)
        self._stage = torch.empty(self._size, device=device, dtype=dtype)
        self._refined = torch.empty(self._size, device=device, dtype=dtype)
        self._out = torch.empty(Z * Y * X, device=device, dtype=dtype)
        # Slicing is a sparse (N x stage) matrix with four entries per row: a CSR matrix-vector
        # product reads it once, about 4x less memory traffic than gather + multiply + sum.
        self._slicer = _csr_or_none(self._index, self._weights, self._size)

    def normalise_symmetric(self) -> torch.Tensor:
        """From now on ``apply`` computes ``n_i sum_j k(i, j) n_j v_j`` with ``n = 1 / sqrt(K 1)``.

        Returns ``n`` (N,). This is pydensecrf's ``NORMALIZE_SYMMETRIC``. With ``S`` the
        slicing matrix (the splat is its transpose) the filter is ``S B S^T``, so the
        normalised one is ``S' B S'^T`` with ``S' = diag(n) S``: ``n`` is folded into the
        corner weights once and costs nothing per call.
        """
        norm = torch.rsqrt(self.apply(torch.ones_like(self._out)) + 1e-20)
        self._weights.mul_(norm.view(-1, 1))
        self._slicer = _csr_or_none(self._index, self._weights, self._size)
        return norm

    def _splat(self, values: torch.Tensor) -> torch.Tensor:
        contributions = torch.mul(self._weights, values.view(-1, 1), out=self._contributions).view(-1)
        stage = self._stage.zero_()
        chunks = self._splat_chunks()
        if len(chunks) == 1:
            stage.index_add_(0, self._index, contributions)
        else:
            # PyTorch's CPU index_add_ runs in one thread. Blocks of whole (z, y) rows write to
            # disjoint parts of the stage, so they can be scattered concurrently (ATen releases
            # the GIL); the result is bit-identical to the single call.
            pool = _splat_pool(len(chunks))
            inference = torch.is_inference_mode_enabled()  # thread-local: hand it to the workers
            jobs = [pool.submit(_index_add, stage, self._index[a:b], contributions[a:b], inference)
                    for a, b in chunks]
            for job in jobs:
                job.result()
        return stage.view(self.stage_shape)

    def _splat_chunks(self) -> list[tuple[int, int]]:
        """(start, stop) ranges of the flat corner list, one per thread, on row boundaries."""
        Z, Y, X = self.shape
        workers = torch.get_num_threads() if self._stage.device.type == "cpu" else 1
        if workers <= 1 or Z * Y * X < PARALLEL_SPLAT_MIN_VOXELS or Z * Y < workers:
            return [(0, 4 * Z * Y * X)]
        rows = [round(k * Z * Y / workers) for k in range(workers + 1)]
        return [(4 * X * a, 4 * X * b) for a, b in zip(rows[:-1], rows[1:])]

    def _slice(self, stage: torch.Tensor) -> torch.Tensor:
        flat = stage.reshape(-1)
        if self._slicer is not None:
            return torch.mv(self._slicer, flat, out=self._out)
        corners = flat.index_select(0, self._index).view(-1, 4)
        return torch.sum(corners * self._weights, 1, out=self._out)

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """Filter ``values`` (N,); returns (N,) kernel sums ``sum_j k(i, j) v_j`` (normalised
        once :meth:`normalise_symmetric` was called).

        The result lives in a buffer of the filter that the next call overwrites.
        """
        grid = self._axes.down(self._splat(values))
        grid = self._axes.blur(grid)
        for axis, taps in zip((2, 3), self._taps):
            if taps is not None:
                grid = gaussian_blur(grid, axis, taps)
        return self._slice(self._axes.up(grid, out=self._refined))


def _csr_or_none(index: torch.Tensor, weights: torch.Tensor, columns: int) -> torch.Tensor | None:
    """The slicing matrix (N x columns) in CSR form from flat (4 N,) indices and (N, 4) weights,
    or None where sparse CSR is not supported (devices other than CPU and CUDA)."""
    if index.device.type not in ("cpu", "cuda"):
        return None
    rows = weights.shape[0]
    crow = torch.arange(0, 4 * rows + 1, 4, device=index.device, dtype=index.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta": only mv is used.
        return torch.sparse_csr_tensor(crow, index, weights.view(-1), (rows, columns), check_invariants=False)
