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
independently, batched along z). Their CPU threads follow :mod:`livseg.crf.threads`.
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch

import livseg.crf.threads as threads
from livseg.crf.grid_ops import compensated_sigma, gaussian_blur, gaussian_taps, tent_down, tent_up

Result = TypeVar("Result")

# Grid cell size as a fraction of the kernel's sigma. Linear splatting and slicing make the
# effective kernel width depend on where a voxel falls within its cell (the compensation in
# grid_ops is exact only on average), so coarser cells are faster but less Gaussian.
# Bilateral kernel, 1.0: mean deviation from the exact Gaussian sum 3-4 %, label agreement
# with pydensecrf >= 99.9 % (tests/crf, bench/crf.py); its cost is dominated by the per-voxel
# scatter/gather, which the cell size does not change much.
SPATIAL_CELL_PER_SIGMA = 1.0
INTENSITY_CELL_PER_SIGMA = 1.0
# Smoothness kernel, 0.75: it is all dense and cheap, so it can afford a finer grid (mean
# deviation from the exact Gaussian below 1 %, at most 3 %); finer cells than this cost more
# in the blur (more taps on a larger grid) than they gain.
SMOOTHNESS_CELL_PER_SIGMA = 0.75

# Dense y passes of the bilateral grid as batched matrix products on a CPU (see BilateralGridFilter).
Y_BY_MATMUL = True
# Largest volume (voxels) whose bilateral filter keeps an int64 copy of its corner index for
# the faster scatter_add_ (see BilateralGridFilter.__init__).
SCATTER_INT64_MAX_VOXELS = 1 << 31
# The per-voxel steps of the bilateral filter on a CPU as fused Numba kernels
# (:mod:`livseg.crf.fused_cpu`) when Numba is installed; False keeps the PyTorch path (the GPU's).
FUSED_CPU = True
# Voxels per slab of whole slices for the per-voxel steps of the bilateral filter on a CPU:
# small enough for the slab's stage to stay in cache between scatter, coarsening and gather.
SLAB_VOXELS = 1 << 18


def _splat_rows(stage: torch.Tensor, index: torch.Tensor, weights: torch.Tensor, values: torch.Tensor | None,
                contributions: torch.Tensor) -> None:
    """Scatter ``weights (n, 4) * values (n,)`` (``weights`` alone when ``values`` is None: a
    splat of ones) at ``index (4 n,)`` into ``stage``; ``contributions (n, 4)`` is the workspace."""
    source = weights if values is None else torch.mul(weights, values.view(-1, 1), out=contributions)
    if index.dtype == torch.int64:
        stage.scatter_add_(0, index, source.reshape(-1))
    else:
        stage.index_add_(0, index, source.reshape(-1))


def fused_cpu_available() -> bool:
    """Whether the fused CPU kernels can run (:data:`FUSED_CPU` and Numba importable)."""
    if not FUSED_CPU:
        return False
    try:
        import livseg.crf.fused_cpu  # noqa: F401
    except ImportError:
        return False
    return True


def prepare_cpu_kernels() -> None:
    """Load the fused CPU kernels in a background thread when they will be used (a CPU CRF
    follows): their first use in a process costs about 0.7 s (Numba's import and LLVM set-up),
    which then overlaps the caller's own work (reading, the network). Does nothing without
    Numba or with :data:`FUSED_CPU` off."""
    if fused_cpu_available():
        import livseg.crf.fused_cpu as fused_cpu

        fused_cpu.warm_up_in_background()


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

    def _down_order(self) -> list[int]:
        # The axis with the largest cell first (later passes then touch less data); among
        # equal cells the last (contiguous, slowest to coarsen) axis after the others.
        return sorted((a for a in range(len(self.cells)) if self.cells[a] > 1),
                      key=lambda a: (-self.cells[a], a == len(self.cells) - 1))

    def down(self, x: torch.Tensor) -> torch.Tensor:
        for axis in self._down_order():
            x = tent_down(x, axis, self.cells[axis])
        return x

    def blur(self, g: torch.Tensor) -> torch.Tensor:
        for axis, taps in enumerate(self.taps):
            if taps is not None:
                g = gaussian_blur(g, axis, taps)
        return g

    def up(self, g: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Refine every axis back to full length (the reverse order of :meth:`down`, so the
        contiguous axis is refined while the data is still small); the last pass writes into
        ``out``."""
        order = self._down_order()[::-1]
        for position, axis in enumerate(order):
            last = position == len(order) - 1
            g = tent_up(g, axis, self.cells[axis], self.lengths[axis], out=out if last else None)
        return g

    def response_to_ones(self, axis: int, *, device: torch.device | None, dtype: torch.dtype) -> torch.Tensor:
        """(L,) the filter along one axis applied to ones: the filter is separable, so its
        response to a constant volume is the outer product of these."""
        ones = torch.ones(1, self.lengths[axis], 1, device=device, dtype=dtype)
        g = tent_down(ones, 1, self.cells[axis])
        if self.taps[axis] is not None:
            g = gaussian_blur(g, 1, self.taps[axis])
        return tent_up(g, 1, self.cells[axis], self.lengths[axis]).reshape(-1)


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
        self._scaled = torch.empty_like(self._out)
        self._norm: torch.Tensor | None = None

    def normalise_symmetric(self) -> torch.Tensor:
        """From now on ``apply`` computes ``n_i sum_j k(i, j) n_j v_j`` with ``n = 1 / sqrt(K 1)``.

        Returns ``n`` (N,). This is pydensecrf's ``NORMALIZE_SYMMETRIC``.
        """
        # K 1 of a separable filter is the outer product of its 1D responses to ones: no
        # full-volume pass (the same values as ``apply(ones)`` up to rounding).
        Z, Y, X = self.shape
        kwargs = {"device": self._out.device, "dtype": self._out.dtype}
        response = [self._axes.response_to_ones(a, **kwargs) for a in range(3)]
        total = (response[0].view(Z, 1, 1) * response[1].view(1, Y, 1)) * response[2].view(1, 1, X)
        self._norm = torch.rsqrt(total.add_(1e-20)).view(-1)
        return self._norm

    def apply(self, values: torch.Tensor, *, into: torch.Tensor | None = None, alpha: float = 1.0) -> torch.Tensor:
        """Filter ``values`` (N,); returns (N,) kernel sums ``sum_j k(i, j) v_j`` (normalised
        once :meth:`normalise_symmetric` was called).

        The result lives in a buffer of the filter that the next call overwrites; with
        ``into`` (N,) it is instead added to ``into`` times ``alpha``, and ``into`` is returned.
        """
        if self._norm is not None:
            values = torch.mul(values, self._norm, out=self._scaled)
        out = self._axes.up(self._axes.blur(self._axes.down(values.view(self.shape))), out=self._out)
        out = out.reshape(-1)
        if into is not None:
            if self._norm is None:
                return into.add_(out, alpha=alpha)
            return into.addcmul_(out, self._norm, value=alpha)
        return out if self._norm is None else out.mul_(self._norm)


class BilateralGridFilter:
    """Gaussian filter over (position, intensity) on a bilateral grid.

    Args:
        intensity: (Z, Y, X) float tensor, the image in the unit of ``sigma_intensity``
            (HU); its device is the filter's device.
        sigma_voxels_zyx: spatial sigma per axis in voxels; 0 leaves that axis uncoupled.
        sigma_intensity: intensity sigma (HU).
        intensity_origin: when given, intensity nodes sit at ``origin + k * cell`` (so that
            separately filtered blocks of a volume share one intensity grid); by default the
            first node is the image minimum.

    Layout. The x and intensity axes are scattered into a "stage" of shape
    (Z, Y, intensity nodes, x nodes), four corners per voxel; y is then coarsened densely, then
    z (unless uncoupled); the coarse grid is blurred, and the way back is the exact transpose.
    The corner indices and weights (32 bytes per voxel) are computed once. The per-voxel steps
    (scatter, y coarsening, y refinement, gather) run slab by slab over whole slices,
    :data:`SLAB_VOXELS` voxels at a time on a CPU, so that a slab's stage stays in cache between
    them (faster than whole-volume passes); on a GPU the whole volume is one slab.
    (Rebuilding the corners per slab from 12 stored bytes per voxel was tried and was slower:
    PyTorch's broadcasts over a trailing axis of 2 or 4 are not vectorised.) Measured timings
    of these choices: ``bench/RESULTS.md``.
    """

    def __init__(self, intensity: torch.Tensor, sigma_voxels_zyx: Sequence[float], sigma_intensity: float,
                 *, intensity_origin: float | None = None) -> None:
        Z, Y, X = (int(n) for n in intensity.shape)
        self.shape = (Z, Y, X)
        device, dtype = intensity.device, intensity.dtype
        sigma_z, sigma_y, sigma_x = (float(s) for s in sigma_voxels_zyx)
        # z and y axes: dense, integer cells; no blur along an uncoupled axis (sigma 0).
        self._cells_zy = (_cell_voxels(sigma_z, SPATIAL_CELL_PER_SIGMA), _cell_voxels(sigma_y, SPATIAL_CELL_PER_SIGMA))
        self._taps_zy = tuple(gaussian_taps(compensated_sigma(s, r, discrete=True)) if s > 0 else None
                              for s, r in zip((sigma_z, sigma_y), self._cells_zy))
        r_y = self._cells_zy[1]
        # y rows of the stage, padded to whole cells (the padding rows are never scattered
        # into, so they stay zero and change nothing), and the y nodes of the coarse grid.
        nodes_y = -(-Y // r_y) + 1 if r_y > 1 else Y
        rows_y = (nodes_y - 1) * r_y if r_y > 1 else Y

        # x axis: scattered, integer cell of r_x voxels.
        r_x = _cell_voxels(sigma_x, SPATIAL_CELL_PER_SIGMA)
        nodes_x = -(-X // r_x) + 1
        # intensity axis: scattered, continuous values, cell of cell_i HU.
        cell_i = INTENSITY_CELL_PER_SIGMA * sigma_intensity
        low, high = torch.aminmax(intensity)
        if intensity_origin is not None:  # align the intensity nodes with another block's
            low = torch.clamp(low, max=intensity_origin)
            low = low - torch.remainder(low - intensity_origin, cell_i)
        nodes_i = int(math.floor(float(high - low) / cell_i)) + 2
        u = (intensity - low) / cell_i
        b = torch.floor(u).clamp_(max=nodes_i - 2)

        self.stage_shape = (Z, Y, nodes_i, nodes_x)
        self._taps = (
            gaussian_taps(compensated_sigma(sigma_intensity, cell_i, discrete=False)),
            gaussian_taps(compensated_sigma(sigma_x, r_x, discrete=True)) if sigma_x > 0 else None,
        )
        self._per_slice = rows_y * nodes_i * nodes_x  # stage cells of one z slice
        self._fused = device.type == "cpu" and fused_cpu_available()
        if self._fused:
            self._init_fused(u, b, r_y, nodes_y, nodes_i, r_x, nodes_x)
            return
        slab = Z if device.type != "cpu" else max(1, min(Z, SLAB_VOXELS // (Y * X)))
        self._slabs = [(z, min(Z, z + slab)) for z in range(0, Z, slab)]
        index_dtype = torch.int32 if slab * self._per_slice < 2**31 else torch.int64

        # Voxel n's corner k = (intensity node i0 or i0 + 1, x node x0 or x0 + 1) sits at stage
        # index base[n] + offsets[k], counted from the start of the voxel's slab, with weight
        # (1 - fi or fi) * (1 - fx or fx). Voxel-major (N, 4) layout: the splat scatters it as
        # one flat list, and it is the CSR layout of the slicing matrix as is.
        x = torch.arange(X, device=device, dtype=index_dtype)
        z = torch.arange(Z, device=device, dtype=index_dtype).view(Z, 1, 1)
        y = torch.arange(Y, device=device, dtype=index_dtype).view(1, Y, 1)
        slab_row = (z % slab) * rows_y + y  # (Z, Y, 1): the (z, y) row within its slab
        base = ((slab_row * nodes_i + b.to(index_dtype)) * nodes_x + (x // r_x)).view(-1)
        # One strided column write per corner (a broadcast over the trailing axis of 4 is
        # not vectorised, hence slower).
        index = torch.empty(base.numel(), 4, device=device, dtype=index_dtype)
        for k, offset in enumerate((0, 1, nodes_x, nodes_x + 1)):
            torch.add(base, offset, out=index[:, k])
        self._index = index.view(-1)  # (4 N,), the CSR column indices of the slice
        # scatter_add_ (int64 indices only) splats about twice as fast as index_add_ on a CPU
        # while the index stays in cache; for large volumes writing and reading the 32 bytes
        # per voxel of the int64 copy costs as much.
        self._scatter_index = self._index.to(torch.int64) if Z * Y * X <= SCATTER_INT64_MAX_VOXELS else None
        frac_x = (x % r_x).to(dtype) / r_x  # (X,): weight of x node x0 + 1
        frac_i = (u - b).view(Z * Y, X)  # weight of intensity node i0 + 1
        # (zy, x, corner), corners in the order of the offsets above: one strided write per
        # corner, broadcasting along rows only (the broadcast over a trailing axis of 2 that
        # this replaced was slower).
        weights = torch.empty(Z * Y, X, 4, device=device, dtype=dtype)
        torch.mul(frac_i, frac_x, out=weights[:, :, 3])  # fi fx
        torch.sub(frac_i, weights[:, :, 3], out=weights[:, :, 2])  # fi (1 - fx)
        torch.sub(frac_x, weights[:, :, 3], out=weights[:, :, 1])  # (1 - fi) fx
        torch.sub(1 - frac_x, weights[:, :, 2], out=weights[:, :, 0])  # (1 - fi) (1 - fx)
        self._weights = weights.view(-1, 4)  # (N, 4)

        # Workspaces reused by every call (fresh allocations this large would be page-faulted
        # in anew each time, which costs as much as the arithmetic).
        self._contributions = torch.empty(slab * Y * X, 4, device=device, dtype=dtype)
        self._crow = torch.arange(0, 4 * slab * Y * X + 1, 4, device=device, dtype=index_dtype)
        self._stage = torch.empty(slab * self._per_slice, device=device, dtype=dtype)
        self._refined = torch.empty(slab * self._per_slice, device=device, dtype=dtype)
        self._coarse_y = torch.empty(Z, nodes_y, nodes_i, nodes_x, device=device, dtype=dtype)
        self._out = torch.empty(Z * Y * X, device=device, dtype=dtype)
        # The dense y passes as batched matrix products with the (2, r_y) tent phases on a CPU:
        # one call instead of 2 r_y strided additions (faster per slab). Elsewhere the
        # strided additions (grid_ops), so that a GPU never runs them in reduced precision (TF32).
        self._rows_y = rows_y
        self._y_by_matmul = Y_BY_MATMUL and device.type == "cpu" and r_y > 1
        if self._y_by_matmul:
            phase = torch.arange(r_y, device=device, dtype=dtype) / r_y
            self._tent_y = torch.stack([1 - phase, phase])  # (2, r_y): weights of nodes c, c + 1
            self._tent_y_t = self._tent_y.t().contiguous()
            self._pairs = torch.empty(slab * (nodes_y - 1), 2, nodes_i * nodes_x, device=device, dtype=dtype)

    def _init_fused(self, u: torch.Tensor, b: torch.Tensor, r_y: int, nodes_y: int, nodes_i: int, r_x: int,
                    nodes_x: int) -> None:
        """The fused CPU path's per-voxel data (:mod:`livseg.crf.fused_cpu`): each voxel's lower
        (intensity, x) corner (int32) and intensity fraction (float32), 8 bytes per voxel; y node
        and fraction per row, x fraction per column; the (z, y-coarse) grid."""
        Z, Y, X = self.shape
        x = torch.arange(X, dtype=torch.int32)
        corner = b.to(torch.int32).view(Z * Y, X) * nodes_x + (x // r_x)
        self._corner = corner.reshape(-1).numpy()
        self._fi = (u - b).to(torch.float32).reshape(-1).numpy()
        y = torch.arange(Y, dtype=torch.int32)
        self._y0 = (y // r_y).numpy()
        self._fy = ((y % r_y).to(torch.float32) / r_y).numpy()
        self._fx = ((x % r_x).to(torch.float32) / r_x).numpy()
        self._cell_x = r_x
        self._cells_y = np.append(np.arange(0, Y, r_y, dtype=np.int64), np.int64(Y))
        self._coarse_y = torch.empty(Z, nodes_y, nodes_i, nodes_x, dtype=torch.float32)
        self._out = torch.empty(Z * Y * X, dtype=torch.float32)
        self._norm: torch.Tensor | None = None

    def _filter_fused(self, values: torch.Tensor | None, into: torch.Tensor | None, alpha: float) -> torch.Tensor:
        """One pass of the fused CPU path: splat onto the (z, y-coarse) grid, dense z steps and
        blur, slice back (times the symmetric normalisation once it is set). The kernels use
        the calling thread's intra-op thread count (one: serial, beside other threads)."""
        import livseg.crf.fused_cpu as fused_cpu

        workers = torch.get_num_threads()
        norm = None if self._norm is None else self._norm.numpy()
        fused_cpu.splat(None if values is None else values.contiguous().numpy(), norm, self._corner, self._fi,
                        self._y0, self._fy, self._fx, self._cell_x, self._cells_y, self._coarse_y.numpy(),
                        threads=workers)
        grid = self._blur_grid().contiguous()
        out = self._out if into is None else into
        fused_cpu.slice_into(grid.numpy(), norm, self._corner, self._fi, self._y0, self._fy, self._fx, out.numpy(),
                             accumulate=into is not None, alpha=alpha, threads=workers)
        return out

    def normalise_symmetric(self, side: ThreadPoolExecutor | None = None) -> torch.Tensor:
        """From now on ``apply`` computes ``n_i sum_j k(i, j) n_j v_j`` with ``n = 1 / sqrt(K 1)``.

        Returns ``n`` (N,). This is pydensecrf's ``NORMALIZE_SYMMETRIC``. With ``S`` the
        slicing matrix (the splat is its transpose) the filter is ``S B S^T``, so the
        normalised one is ``S' B S'^T`` with ``S' = diag(n) S``: ``n`` is folded into the
        corner weights once and costs nothing per call. ``side``: as for :meth:`apply_beside`.
        """
        # K 1: a splat of ones is the weights alone
        total = self._filter(None, None, 1.0, side, None)[0]
        norm = torch.rsqrt(total.add_(1e-20))
        if self._fused:  # applied to the values in the splat and to the sums in the slice
            self._norm = norm.clone()
        else:
            self._weights.mul_(norm.view(-1, 1))
        return norm

    def _splat(self, values: torch.Tensor | None, z0: int, z1: int,
               rows: tuple[int, int] | None = None, *, zero: bool = True) -> torch.Tensor:
        """Scatter slab ``[z0, z1)`` of ``values`` (N,; None for ones) into the stage buffer
        (zeroed first unless ``zero`` is False); returns the stage's (z1 - z0, Y, I, X') view.

        ``rows``: only the voxels ``[a, b)`` of the slab (on (z, y) row boundaries, see
        :meth:`_row_chunks`), whose stage rows no other range touches.
        """
        _, Y, X = self.shape
        n0, n1 = z0 * Y * X, z1 * Y * X
        index = (self._index if self._scatter_index is None else self._scatter_index)[4 * n0:4 * n1]
        weights, contributions = self._weights[n0:n1], self._contributions[:n1 - n0]
        part = None if values is None else values[n0:n1]
        stage = self._stage[:(z1 - z0) * self._per_slice]
        if zero:
            stage.zero_()

        def job(a: int, b: int) -> Callable[[], None]:
            return lambda: _splat_rows(stage, index[4 * a:4 * b], weights[a:b], None if part is None else part[a:b],
                                       contributions[a:b])

        chunks = [rows] if rows is not None else self._row_chunks(z1 - z0)
        if len(chunks) == 1:
            job(*chunks[0])()
        else:
            # PyTorch's CPU scatter_add_ of a 1D tensor runs in one thread. Blocks of whole
            # (z, y) rows write to disjoint parts of the stage, so they can be scattered
            # concurrently (ATen releases the GIL); the result is bit-identical to one call.
            threads.run_all(threads.SPLAT, [job(a, b) for a, b in chunks])
        return stage.view(z1 - z0, self._rows_y, *self.stage_shape[2:])

    def _slice(self, refined: torch.Tensor, z0: int, z1: int, into: torch.Tensor | None = None,
               alpha: float = 1.0, rows: tuple[int, int] | None = None) -> None:
        """Gather slab ``[z0, z1)`` of the output from its refined stage (flat): into the
        filter's output buffer, or ``into[n] += alpha * result[n]`` when ``into`` is given.
        ``rows``: only the slab's voxels ``[a, b)``."""
        _, Y, X = self.shape
        n0, n1 = z0 * Y * X, z1 * Y * X
        if rows is not None:
            n0, n1 = n0 + rows[0], n0 + rows[1]
        weights, index = self._weights[n0:n1], self._index[4 * n0:4 * n1]
        out = self._out[n0:n1] if into is None else into[n0:n1]
        if refined.device.type in ("cpu", "cuda"):
            # The slicing matrix has four entries per row: as CSR, one matrix-vector product
            # reads it once (a gather, a multiply and a sum would each make a pass).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "sparse CSR support is in beta": only mv is used
                slicer = torch.sparse_csr_tensor(self._crow[:n1 - n0 + 1], index, weights.reshape(-1),
                                                 (n1 - n0, refined.numel()), check_invariants=False)
            if into is None:
                torch.mv(slicer, refined, out=out)
            else:
                out.addmv_(slicer, refined, alpha=alpha)
        else:
            sliced = torch.sum(refined.index_select(0, index).view(-1, 4) * weights, 1)
            if into is None:
                out.copy_(sliced)
            else:
                out.add_(sliced, alpha=alpha)

    def _row_chunks(self, slices: int, workers: int | None = None) -> list[tuple[int, int]]:
        """(start, stop) voxel ranges of a slab of ``slices`` slices on (z, y) row boundaries
        (so that their stage rows are disjoint), one per worker (default:
        :func:`livseg.crf.threads.row_workers`), or the whole slab when it is too small to share."""
        _, Y, X = self.shape
        if workers is None:
            workers = threads.row_workers(self._stage.device)
        if workers <= 1 or slices * Y * X < threads.PARALLEL_SPLAT_MIN_VOXELS or slices * Y < workers:
            return [(0, slices * Y * X)]
        rows = [round(k * slices * Y / workers) for k in range(workers + 1)]
        return [(X * a, X * b) for a, b in zip(rows[:-1], rows[1:])]

    def _y_down(self, stage: torch.Tensor, z0: int, z1: int) -> None:
        """Coarsen a slab's stage (z1 - z0, rows_y, I, X') along y into the coarse grid."""
        coarse = self._coarse_y[z0:z1]
        r_y = self._cells_zy[1]
        if not self._y_by_matmul:
            tent_down(stage, 1, r_y, out=coarse)
            return
        slices, nodes_y = coarse.shape[:2]
        plane = coarse.shape[2] * coarse.shape[3]
        # (2, r) @ (cells, r, plane): each cell's contributions to its lower and upper node
        pairs = torch.matmul(self._tent_y, stage.reshape(slices * (nodes_y - 1), r_y, plane),
                             out=self._pairs[:slices * (nodes_y - 1)]).view(slices, nodes_y - 1, 2, plane)
        coarse = coarse.view(slices, nodes_y, plane)
        coarse[:, :-1].copy_(pairs[:, :, 0])
        coarse[:, -1].zero_()
        coarse[:, 1:].add_(pairs[:, :, 1])

    def _y_up(self, grid: torch.Tensor, z0: int, z1: int) -> torch.Tensor:
        """Refine slab ``[z0, z1)`` of the blurred grid (Z, nodes_y, I, X') along y; flat stage."""
        slices = z1 - z0
        refined = self._refined[:slices * self._per_slice]
        r_y = self._cells_zy[1]
        if not self._y_by_matmul:
            return tent_up(grid[z0:z1], 1, r_y, self._rows_y, out=refined).reshape(-1)
        nodes_y = grid.shape[1]
        plane = grid.shape[2] * grid.shape[3]
        block = grid[z0:z1].reshape(slices, nodes_y, plane)
        # overlapping view: cell c's pair of nodes (c, c + 1)
        pairs = block.as_strided((slices, nodes_y - 1, 2, plane),
                                 (block.stride(0), plane, plane, 1), block.storage_offset())
        torch.matmul(self._tent_y_t, pairs, out=refined.view(slices, nodes_y - 1, r_y, plane))
        return refined

    def apply(self, values: torch.Tensor | None, *, into: torch.Tensor | None = None,
              alpha: float = 1.0) -> torch.Tensor:
        """Filter ``values`` (N,; None stands for ones); returns (N,) kernel sums
        ``sum_j k(i, j) v_j`` (normalised once :meth:`normalise_symmetric` was called).

        The result lives in a buffer of the filter that the next call overwrites; with
        ``into`` (N,) it is instead added to ``into`` times ``alpha`` (no extra pass), and
        ``into`` is returned.
        """
        return self._filter(values, into, alpha, None, None)[0]

    def apply_beside(self, values: torch.Tensor | None, side: ThreadPoolExecutor, beside: Callable[[], Result], *,
                     into: torch.Tensor | None = None, alpha: float = 1.0) -> tuple[torch.Tensor, Result]:
        """:meth:`apply` sharing its per-voxel steps with a second thread.

        Args:
            values, into, alpha: as for :meth:`apply`.
            side: a single-thread executor. For a filter of one slab (up to
                :data:`SLAB_VOXELS` voxels) its thread scatters half of the rows, runs
                ``beside`` (other work, such as the CRF's spatial kernel) while this thread
                does the dense grid steps, and gathers its half of the rows; for larger
                filters it runs ``beside`` alone, beside the whole filter.
            beside: the side work; it must not touch this filter.

        Returns:
            (what :meth:`apply` returns, what ``beside`` returned). Same values as :meth:`apply`
            to the last bit: the rows are split, the arithmetic is not reordered.
        """
        out, result = self._filter(values, into, alpha, side, beside)
        return out, result  # type: ignore[return-value]

    def _filter(self, values: torch.Tensor | None, into: torch.Tensor | None, alpha: float,
                side: ThreadPoolExecutor | None, beside: Callable[[], Result] | None
                ) -> tuple[torch.Tensor, Result | None]:
        if self._fused:  # the side work (if any) in the side thread while this one runs the pass
            pending = (side.submit(threads.carrying_inference_mode(beside)) if side is not None and beside is not None
                       else None)
            out = self._filter_fused(values, into, alpha)
            return out, (pending.result() if pending is not None else None if beside is None else beside())
        if side is not None and len(self._slabs) == 1 and len(self._row_chunks(self.shape[0], 2)) == 2:
            return self._filter_shared(values, into, alpha, side, beside)
        pending = (side.submit(threads.carrying_inference_mode(beside)) if side is not None and beside is not None
                   else None)
        for z0, z1 in self._slabs:
            self._y_down(self._splat(values, z0, z1), z0, z1)
        grid = self._blur_grid()
        for z0, z1 in self._slabs:
            self._slice(self._y_up(grid, z0, z1), z0, z1, into, alpha)
        if pending is not None:
            return (self._out if into is None else into), pending.result()
        return (self._out if into is None else into), None if beside is None else beside()

    def _blur_grid(self) -> torch.Tensor:
        """The coarse grid (after the y passes) coarsened along z, blurred, refined along z."""
        r_z = self._cells_zy[0]
        grid = tent_down(self._coarse_y, 0, r_z)
        for axis, taps in enumerate(self._taps_zy + self._taps):
            if taps is not None:
                grid = gaussian_blur(grid, axis, taps)
        return tent_up(grid, 0, r_z, self.shape[0])

    def _filter_shared(self, values: torch.Tensor | None, into: torch.Tensor | None, alpha: float,
                       side: ThreadPoolExecutor, beside: Callable[[], Result] | None
                       ) -> tuple[torch.Tensor, Result | None]:
        """One slab, two threads (:func:`livseg.crf.threads.share_with_side_thread`). The side
        thread scatters the second half of the rows, runs ``beside``, then gathers the second
        half; this thread scatters the first half, does the dense grid steps and gathers the
        first half. Each thread then has about half of the pass's work (the spatial kernel as
        ``beside``), and the side thread is woken once per pass."""
        Z = self.shape[0]
        first, second = self._row_chunks(Z, 2)
        self._stage.zero_()

        def dense_steps() -> torch.Tensor:
            stage = self._stage[:Z * self._per_slice].view(Z, self._rows_y, *self.stage_shape[2:])
            self._y_down(stage, 0, Z)
            return self._y_up(self._blur_grid(), 0, Z)  # the refined stage, flat

        result = threads.share_with_side_thread(
            side,
            side_first=lambda: self._splat(values, 0, Z, second, zero=False),
            side_work=(lambda: None) if beside is None else beside,
            main_first=lambda: self._splat(values, 0, Z, first, zero=False),
            middle=dense_steps,
            side_last=lambda refined: self._slice(refined, 0, Z, into, alpha, second),
            main_last=lambda refined: self._slice(refined, 0, Z, into, alpha, first))
        return (self._out if into is None else into), result
