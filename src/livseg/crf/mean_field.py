"""Mean-field inference of the fully connected CRF (Krähenbühl & Koltun 2011; Dou et al. 2016 eq. 5).

The update follows pydensecrf's ``DenseCRF::inference`` so that both give the same labels::

    Q   = softmax(-U)
    Q  <- softmax(-U + mu1 * Kb(Q) + mu2 * Ks(Q))       (Potts compatibility)
    K(Q)_i = n_i * sum_j k(i, j) n_j Q_j,  n_i = 1 / sqrt(sum_j k(i, j))   (symmetric normalisation)

with ``U = -log p`` (p floored at :data:`PROBABILITY_FLOOR`), ``Kb`` the bilateral kernel
(position in mm, intensity in HU) and ``Ks`` the spatial one.

Two labels need only one filtered channel per kernel: the softmax of two logits is the sigmoid
of their difference, and by linearity ``K(q) - K(1 - q) = K(2q - 1)``. The symmetric
normalisation is folded into the bilateral grid's corner weights (see
:meth:`livseg.crf.filters.BilateralGridFilter.normalise_symmetric`).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable, Literal, Sequence, TypeVar

import numpy as np
import torch

import livseg.crf.filters as filters
import livseg.crf.threads as threads
from livseg.crf.filters import BilateralGridFilter, SpatialGaussianFilter
from livseg.crf.params import CrfParams
from livseg.errors import ConfigError, InvalidImageError
from livseg.volume import spacing_triple

logger = logging.getLogger(__name__)

#: Probabilities are floored here before the log (as pydensecrf's ``unary_from_softmax``).
PROBABILITY_FLOOR = 1e-5
#: Largest allowed deviation of sum_c p_c from 1.
SUM_TOLERANCE = 1e-3

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)
Mode = Literal["2d", "3d"]
MODES = ("2d", "3d")


def _as_tensor(data: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data.detach().to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(data), dtype=torch.float32, device=device)


def _check_spacing(spacing_mm: Sequence[float]) -> tuple[float, float, float]:
    return spacing_triple(spacing_mm, subject="spacing_mm", fix="take it from Volume.spacing_mm")


def _check_inputs(probabilities: torch.Tensor, image: torch.Tensor) -> None:
    if probabilities.dim() != 4 or probabilities.shape[0] < 2:
        raise InvalidImageError("probabilities", expected="shape (C, Z, Y, X) with C >= 2 classes",
                                found=f"shape {tuple(probabilities.shape)}")
    if tuple(image.shape) != tuple(probabilities.shape[1:]):
        raise InvalidImageError("image_hu", expected=f"shape (Z, Y, X) = {tuple(probabilities.shape[1:])} "
                                "like the probabilities", found=f"shape {tuple(image.shape)}",
                                fix="crop the image and the probabilities to the same region")
    # One pass per check: minimum and maximum together, and NaN propagates into both.
    if not all(math.isfinite(float(v)) for v in torch.aminmax(image)):
        raise InvalidImageError("image_hu", expected="finite HU values", found="NaN or infinite voxels")
    low, high = (float(v) for v in torch.aminmax(probabilities))
    if not (math.isfinite(low) and math.isfinite(high)) or low < -1e-6 or high > 1 + 1e-6:
        raise InvalidImageError("probabilities", expected="values in [0, 1]",
                                found=f"range [{low:.4g}, {high:.4g}]",
                                fix="pass softmax probabilities, not logits")
    sum_low, sum_high = (float(v) for v in torch.aminmax(probabilities.sum(0)))
    deviation = max(abs(sum_low - 1), abs(sum_high - 1))
    if deviation > SUM_TOLERANCE:
        raise InvalidImageError("probabilities", expected="class probabilities summing to 1 per voxel",
                                found=f"sums off by up to {deviation:.3g}",
                                fix="pass softmax probabilities over all classes, background included")


def _sigmas_voxels(theta_mm: float, spacing_xyz: tuple[float, float, float], mode: Mode) -> tuple[float, float, float]:
    """Kernel sigma per array axis (z, y, x) in voxels; z is 0 (uncoupled) in 2D mode."""
    sx, sy, sz = spacing_xyz
    return (0.0 if mode == "2d" else theta_mm / sz, theta_mm / sy, theta_mm / sx)


def dense_crf(
    probabilities: ArrayLike,
    image_hu: np.ndarray | torch.Tensor,
    spacing_mm: Sequence[float],
    params: CrfParams | None = None,
    *,
    mode: Mode = "3d",
    device: torch.device | str | None = None,
) -> ArrayLike:
    """Refine class probabilities with the fully connected CRF.

    Args:
        probabilities: (C, Z, Y, X) class probabilities (e.g. the fused network softmax),
            summing to 1 over C; numpy array or torch tensor.
        image_hu: (Z, Y, X) CT intensities in HU on the same grid.
        spacing_mm: voxel spacing (x, y, z) in mm, as ``Volume.spacing_mm``.
        params: kernel weights and widths; ``CrfParams()`` when None.
        mode: ``"3d"`` (one CRF over the volume) or ``"2d"`` (each transverse slice on its own,
            as in Dou et al. 2016; slices are processed together as a batch).
        device: where to compute; default: the probabilities' device (CPU for numpy).

    Returns:
        Refined probabilities (C, Z, Y, X), float32: a numpy array for numpy input, else a
        tensor on ``device``.
    """
    params = CrfParams() if params is None else params
    if mode not in MODES:
        raise ConfigError("mode", expected=f"one of {', '.join(MODES)}", found=repr(mode))
    spacing = _check_spacing(spacing_mm)
    as_numpy = not isinstance(probabilities, torch.Tensor)
    if device is None:
        device = probabilities.device if isinstance(probabilities, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)

    with torch.inference_mode():
        prob = _as_tensor(probabilities, device)
        image = _as_tensor(image_hu, device)
        _check_inputs(prob, image)
        started = time.perf_counter()
        result = _mean_field(prob, image, spacing, params, mode)
        logger.debug("dense CRF (%s, %d classes, %s voxels, %s): %.2f s", mode, prob.shape[0],
                     "x".join(str(n) for n in prob.shape[1:]), device, time.perf_counter() - started)
    return result.cpu().numpy() if as_numpy else result


def crf_labels(
    probabilities: ArrayLike,
    image_hu: np.ndarray | torch.Tensor,
    spacing_mm: Sequence[float],
    params: CrfParams | None = None,
    *,
    mode: Mode = "3d",
    device: torch.device | str | None = None,
) -> ArrayLike:
    """Labels (Z, Y, X) of the CRF-refined probabilities (argmax over classes), uint8.

    Same arguments as :func:`dense_crf`; numpy in gives numpy out.
    """
    refined = dense_crf(probabilities, image_hu, spacing_mm, params, mode=mode, device=device)
    if isinstance(refined, np.ndarray):
        return refined.argmax(0).astype(np.uint8)
    return refined.argmax(0).to(torch.uint8)


def _mean_field(prob: torch.Tensor, image: torch.Tensor, spacing: tuple[float, float, float],
                params: CrfParams, mode: Mode) -> torch.Tensor:
    intensity = image if params.hu_window is None else image.clamp(*params.hu_window)
    Z, Y, X = intensity.shape
    out = torch.empty(prob.shape, device=prob.device, dtype=torch.float32)
    slab = max(1, filters.SLAB_VOXELS // (Y * X))
    # Small inputs on the PyTorch path run with one intra-op thread and a side thread; the
    # fused CPU kernels are faster on all threads (measured: bench/RESULTS.md).
    fused = prob.device.type == "cpu" and filters.fused_cpu_available()
    if not fused and threads.runs_single_threaded(Z * Y * X, prob.device):
        # Small inputs (a slice): one intra-op thread is faster than several; the caller's
        # setting is restored afterwards. The spatial kernel runs beside the bilateral one in
        # a second thread instead.
        with threads.single_threaded():
            _mean_field_block(prob, intensity, spacing, params, mode, None, out, kernels_side_by_side=True)
        return out
    if mode == "3d" or prob.device.type != "cpu" or Z <= slab:
        _mean_field_block(prob, intensity, spacing, params, mode, None, out)
        return out
    # 2D mode on a CPU: the slices are independent CRFs, so whole mean-field runs go slab by slab
    # and each slab's working set stays in cache across the iterations (less CPU time than
    # whole-volume passes). All slabs share one intensity grid.
    origin = float(intensity.min())
    starts = range(0, Z, slab)
    workers = min(torch.get_num_threads(), len(starts))
    if workers <= 1:
        for z in starts:
            _mean_field_block(prob[:, z:z + slab], intensity[z:z + slab], spacing, params, mode, origin,
                              out[:, z:z + slab])
        return out
    # Several threads: one slab per thread, each single-threaded inside. A slab's operations
    # are too small for PyTorch's intra-op threads to pay off (measured: bench/RESULTS.md).

    def slab_job(z: int) -> Callable[[], None]:
        def run() -> None:
            with threads.single_threaded():
                _mean_field_block(prob[:, z:z + slab], intensity[z:z + slab], spacing, params, mode, origin,
                                  out[:, z:z + slab])

        return run

    threads.run_all(threads.BLOCK, [slab_job(z) for z in starts], workers)
    return out


def _mean_field_block(prob: torch.Tensor, intensity: torch.Tensor, spacing: tuple[float, float, float],
                      params: CrfParams, mode: Mode, intensity_origin: float | None, out: torch.Tensor,
                      kernels_side_by_side: bool = False) -> None:
    """Mean field on one block of whole slices; the marginals (C, z, Y, X) are written into ``out``.

    With ``kernels_side_by_side`` (CPU, single-threaded callers) a second thread builds the
    spatial kernel and applies it during each bilateral pass, and shares that pass's scatter
    and gather (:meth:`BilateralGridFilter.apply_beside`; the scatter and gather are most of a
    bilateral pass, which costs several spatial passes). Both threads only read the current
    marginals; the spatial result is added once both are done. The gain is well short of
    half the time: the threads share the memory bandwidth, and each hand-off wakes a
    sleeping thread (measured timings: ``bench/RESULTS.md``).
    """
    classes, Z, Y, X = prob.shape
    logits = torch.log(prob.clamp(min=PROBABILITY_FLOOR)).reshape(classes, -1)  # -U, (C, N)
    if params.iterations == 0 or (params.mu1 == 0 and params.mu2 == 0):
        out.copy_(torch.softmax(logits, 0).view(prob.shape))
        return

    def spatial_kernel() -> SpatialGaussianFilter:
        spatial = SpatialGaussianFilter((Z, Y, X), _sigmas_voxels(params.theta_gamma_mm, spacing, mode),
                                        device=prob.device, dtype=prob.dtype)
        spatial.normalise_symmetric()
        return spatial

    side = threads.side_pool() if kernels_side_by_side and prob.device.type == "cpu" and params.mu1 > 0 else None
    spatial_ready = None
    if params.mu2 > 0:
        spatial_ready = (side.submit(threads.carrying_inference_mode(spatial_kernel)).result if side is not None
                         else spatial_kernel)
    kernels: list[tuple[float, BilateralGridFilter | SpatialGaussianFilter]] = []  # (weight, normalised filter)
    if params.mu1 > 0:
        bilateral = BilateralGridFilter(intensity, _sigmas_voxels(params.theta_alpha_mm, spacing, mode),
                                        params.theta_beta_hu, intensity_origin=intensity_origin)
        bilateral.normalise_symmetric(side)
        kernels.append((params.mu1, bilateral))
    if spatial_ready is not None:
        kernels.append((params.mu2, spatial_ready()))

    if classes == 2:
        # The softmax of two logits is the sigmoid of their difference, and by linearity
        # logit(fg) - logit(bg) = d + sum_k mu_k (K_k(q) - K_k(1 - q)) = d + sum_k mu_k K_k(s)
        # with s = 2q - 1: one filtered channel per kernel and iteration. Tracking s directly,
        # s = 2 sigmoid(m) - 1 = tanh(m / 2), so the loop works on half messages.
        # The filters add their results straight into the message (no extra pass).
        half_difference = (logits[1] - logits[0]).mul_(0.5)
        signed = torch.tanh(half_difference)
        message = torch.empty_like(half_difference)
        for _ in range(params.iterations):
            message.copy_(half_difference)
            if side is None:
                for weight, kernel in kernels:
                    kernel.apply(signed, into=message, alpha=0.5 * weight)
            else:  # the bilateral kernel (first) in this thread, the spatial one (if any) beside it
                _, side_sums = bilateral.apply_beside(
                    signed, side, lambda: [(weight, kernel.apply(signed)) for weight, kernel in kernels[1:]],
                    into=message, alpha=0.5 * params.mu1)
                for weight, sums in side_sums:
                    message.add_(sums, alpha=0.5 * weight)
            torch.tanh(message, out=signed)
        foreground, background = out[1], out[0]  # each a contiguous block of slices
        torch.mul(signed.view(foreground.shape), 0.5, out=foreground).add_(0.5)
        torch.neg(foreground, out=background).add_(1)
        return

    # C labels: one filtered channel per label (rows of the (C, N) layout stay contiguous).
    q = torch.softmax(logits, 0)
    for _ in range(params.iterations):
        message = logits.clone()
        for weight, kernel in kernels:
            for label in range(classes):
                kernel.apply(q[label], into=message[label], alpha=weight)
        q = torch.softmax(message, 0)
    out.copy_(q.view(prob.shape))
