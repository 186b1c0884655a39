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
does; ``apply`` accepts values of shape (N,) or (N, C) with ``N = Z * Y * X`` in (z, y, x)
raster order. An axis with ``sigma == 0`` is not coupled at all (2D mode: slices filtered
independently, batched along z).
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch

from livseg.crf.grid_ops import compensated_sigma, gaussian_blur, gaussian_taps, tent_down, tent_up

# Grid cell size as a fraction of the kernel's sigma. 1.0 keeps the filter within a few
# percent of the exact Gaussian (label agreement with pydensecrf >= 99.9 % in tests/crf); larger
# cells are faster and blurrier.
SPATIAL_CELL_PER_SIGMA = 1.0
INTENSITY_CELL_PER_SIGMA = 1.0


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

    def up(self, g: torch.Tensor) -> torch.Tensor:
        for axis in sorted(range(len(self.cells)), key=lambda a: self.cells[a]):
            g = tent_up(g, axis, self.cells[axis], self.lengths[axis])
        return g


class SpatialGaussianFilter:
    """Gaussian filter over voxel positions on a (z, y, x) grid.

    Args:
        shape_zyx: (Z, Y, X) voxels.
        sigma_voxels_zyx: kernel sigma per axis in voxels (``theta_mm / spacing_mm``);
            0 leaves that axis uncoupled.
    """

    def __init__(self, shape_zyx: Sequence[int], sigma_voxels_zyx: Sequence[float]) -> None:
        self.shape = tuple(int(n) for n in shape_zyx)
        self._axes = _RegularAxes(self.shape, sigma_voxels_zyx, SPATIAL_CELL_PER_SIGMA)

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """Filter ``values`` (N,) or (N, C); returns the same shape (unnormalised kernel sums)."""
        extra = tuple(values.shape[1:])
        volume = values.reshape(self.shape + extra)
        out = self._axes.up(self._axes.blur(self._axes.down(volume)))
        return out.reshape(values.shape)


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
        frac_i = (u - b).reshape(-1, 1)  # (N, 1)

        self.stage_shape = (Z, Y, nodes_i, nodes_x)
        self._taps = (
            gaussian_taps(compensated_sigma(sigma_intensity, cell_i, discrete=False)),
            gaussian_taps(compensated_sigma(sigma_x, r_x, discrete=True)) if sigma_x > 0 else None,
        )
        self._size = math.prod(self.stage_shape)
        index_dtype = torch.int32 if self._size + nodes_x + 1 < 2**31 else torch.int64

        # Corner (i, x) of voxel n sits at stage index base[n] + offsets; (N, 4) layouts.
        x = torch.arange(X, device=device, dtype=index_dtype)
        xc = (x // r_x).view(1, 1, X)
        zy = torch.arange(Z * Y, device=device, dtype=index_dtype).view(Z, Y, 1)
        base = (zy * nodes_i + b.to(index_dtype)) * nodes_x + xc  # (Z, Y, X)
        offsets = torch.tensor([0, 1, nodes_x, nodes_x + 1], device=device, dtype=index_dtype)
        self._index = (base.reshape(-1, 1) + offsets).reshape(-1)  # (4 N,)
        frac_x = ((x % r_x).to(dtype) / r_x).view(1, X, 1)
        corner_x = torch.cat([1 - frac_x, frac_x], dim=2)  # (1, X, 2)
        frac_i = frac_i.view(Z * Y, X, 1)
        weights = torch.empty(Z * Y, X, 2, 2, device=device, dtype=dtype)  # (.., corner i, corner x)
        torch.mul(frac_i, corner_x, out=weights[:, :, 1])
        torch.sub(corner_x, weights[:, :, 1], out=weights[:, :, 0])  # (1 - fi) * cx
        self._weights = weights.view(-1, 4)  # (N, 4)
        self._stage = torch.empty(self._size, device=device, dtype=dtype)
        # Slicing is a sparse (N x stage) matrix with four entries per row: a CSR matrix-vector
        # product reads it once, about 4x less memory traffic than gather + multiply + sum.
        self._slicer = _csr_or_none(self._index, self._weights, self._size)

    def _splat(self, values: torch.Tensor) -> torch.Tensor:
        extra = tuple(values.shape[1:])
        if extra:
            stage = values.new_zeros((self._size,) + extra)
            contributions = (self._weights.unsqueeze(2) * values.unsqueeze(1)).reshape((-1,) + extra)
        else:
            stage = self._stage.zero_()
            contributions = (self._weights * values.unsqueeze(1)).reshape(-1)
        stage.index_add_(0, self._index, contributions)
        return stage.reshape(self.stage_shape + extra)

    def _slice(self, stage: torch.Tensor, extra: tuple[int, ...]) -> torch.Tensor:
        flat = stage.reshape((self._size,) + extra)
        if self._slicer is not None:
            if not extra:
                return torch.mv(self._slicer, flat)
            return torch.stack([torch.mv(self._slicer, flat[:, c].contiguous()) for c in range(flat.shape[1])], 1)
        corners = flat.index_select(0, self._index).reshape((-1, 4) + extra)
        weights = self._weights.view((-1, 4) + (1,) * len(extra))
        return (corners * weights).sum(1)

    def apply(self, values: torch.Tensor) -> torch.Tensor:
        """Filter ``values`` (N,) or (N, C); returns the same shape (unnormalised kernel sums)."""
        extra = tuple(values.shape[1:])
        grid = self._axes.down(self._splat(values))
        grid = self._axes.blur(grid)
        for axis, taps in zip((2, 3), self._taps):
            if taps is not None:
                grid = gaussian_blur(grid, axis, taps)
        return self._slice(self._axes.up(grid), extra)


def _csr_or_none(index: torch.Tensor, weights: torch.Tensor, columns: int) -> torch.Tensor | None:
    """The (N x columns) slicing matrix in CSR form, or None where sparse CSR is unsupported."""
    rows = weights.shape[0]
    if index.device.type not in ("cpu", "cuda"):
        return None
    crow = torch.arange(0, 4 * rows + 1, 4, device=index.device, dtype=index.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta": we use only mv.
        return torch.sparse_csr_tensor(crow, index, weights.reshape(-1), (rows, columns),
                                       check_invariants=False)
