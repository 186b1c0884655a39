"""Turn a phantom tissue map into CT intensities: HU per tissue, texture, scanner blur, noise.

Order matters and follows the physics: the tissue HU (plus slow texture) is the object, the
scanner's point spread function blurs it (partial volume: along z in proportion to the slice
thickness, slightly in-plane), then noise is added and the result is rounded to int16 HU.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from livseg.phantoms.anatomy import Anatomy
from livseg.phantoms.fields import Box, Grid, SmoothField
from livseg.phantoms.tissues import HU_MAX, HU_MIN, Contrast, Tissue

_F32 = np.float32
# Scanner point spread (Gaussian sigma): along z a fraction of the slice thickness, in-plane mm.
SLICE_SIGMA_FRACTION = 0.5  # FWHM 1.18 slices: slice profile plus the slab the point samples miss
IN_PLANE_SIGMA_MM = 0.5
# In-plane correlation of the noise (sigma in voxels): CT noise is not white.
NOISE_CORRELATION_VOXELS = 0.6
_TRUNCATE = 3.0
_NOISE_SLAB = 16  # slices per block of noise


def render_intensity(tissue: np.ndarray, grid: Grid, anatomy: Anatomy, contrast: Contrast,
                     spacing_mm: tuple[float, float, float], *, texture_rng: np.random.Generator,
                     noise_rng: np.random.Generator) -> np.ndarray:
    """CT (int16 HU, (z, y, x)) of a tissue map (uint8 (z, y, x)) on a grid with ``spacing_mm``
    (x, y, z order, mm)."""
    hu = contrast.hu_lookup[tissue]  # float32 (z, y, x)
    _add_texture(hu, tissue, grid, anatomy, texture_rng)
    hu = partial_volume_blur(hu, spacing_mm)
    add_correlated_noise(hu, noise_rng, contrast.noise_sigma_hu)
    np.rint(hu, out=hu)
    np.clip(hu, HU_MIN, HU_MAX, out=hu)
    return hu.astype(np.int16)


def _add_texture(hu: np.ndarray, tissue: np.ndarray, grid: Grid, anatomy: Anatomy,
                 rng: np.random.Generator) -> None:
    """Slow, smooth heterogeneity of liver and bone marrow, and the lungs' gravity gradient."""
    # Fields are drawn over fixed nominal boxes, so the texture does not depend on the grid.
    lo, hi = anatomy.liver.bounds()
    liver_field = SmoothField(rng, lo, hi, node_spacing_mm=25.0, amplitude=4.0)
    spine_lo = (-45.0, anatomy.spine.body_centre_y_mm - 25.0, -1000.0)
    spine_hi = (45.0, anatomy.spine.canal_centre_y_mm + 40.0, 1000.0)
    marrow_field = SmoothField(rng, spine_lo, spine_hi, node_spacing_mm=12.0, amplitude=35.0)
    for field, tissues, (box_lo, box_hi) in (
        (liver_field, (Tissue.LIVER,), (lo, hi)),
        (marrow_field, (Tissue.CANCELLOUS_BONE,), (spine_lo, spine_hi)),
    ):
        box = grid.box(box_lo, box_hi)
        if box is not None:
            add_field_texture(hu, tissue, box, field, tissues)
    # Dependent lung (posterior, +y) is denser: about +0.25 HU per mm. Lungs lie above the
    # lowest point of the diaphragm, so only those slices are visited.
    lowest = float(anatomy.diaphragm.height_mm(grid.xs.reshape(1, -1), grid.ys.reshape(-1, 1)).min())
    box = grid.box((-np.inf, -np.inf, lowest), (np.inf, np.inf, np.inf))
    if box is not None:
        lung = tissue[box.slices] == Tissue.LUNG
        block = hu[box.slices]
        block += np.where(lung, _F32(0.25) * box.y, _F32(0))


def add_field_texture(hu: np.ndarray, tissue: np.ndarray, box: Box, field: SmoothField,
                      tissues: Sequence[int]) -> None:
    """Add ``field`` (HU) to ``hu`` in place where ``tissue`` is one of ``tissues``, on ``box``.

    ``hu`` float32 and ``tissue`` uint8 are (z, y, x) arrays of one grid; ``box`` holds the
    coordinates (mm) the field is evaluated at.
    """
    where = np.isin(tissue[box.slices], np.asarray(tissues, dtype=np.uint8))
    if where.any():
        block = hu[box.slices]
        block += np.where(where, field.on_box(box), _F32(0))


def psf_sigma_mm(spacing_mm: Sequence[float]) -> tuple[float, float, float]:
    """Gaussian sigma (mm, x y z) of the scanner's point spread for a scan of ``spacing_mm``
    (x, y, z): :data:`IN_PLANE_SIGMA_MM` in-plane, :data:`SLICE_SIGMA_FRACTION` of the slice
    thickness along z."""
    return (IN_PLANE_SIGMA_MM, IN_PLANE_SIGMA_MM, SLICE_SIGMA_FRACTION * float(spacing_mm[2]))


def partial_volume_blur(hu: np.ndarray, spacing_mm: Sequence[float],
                        grid_spacing_mm: Sequence[float] | None = None) -> np.ndarray:
    """Gaussian point spread of the scanner on a (z, y, x) float32 HU array.

    Args:
        hu: the object (HU) on a grid of ``grid_spacing_mm``.
        spacing_mm: voxel size (x, y, z; mm) of the scan being simulated; sets the sigma
            (:func:`psf_sigma_mm`).
        grid_spacing_mm: voxel size (x, y, z; mm) of ``hu``'s grid when it is finer than the
            scan (painting at a fine grid, then resampling); default ``spacing_mm``.
    """
    grid = spacing_mm if grid_spacing_mm is None else grid_spacing_mm
    sigma_xyz = psf_sigma_mm(spacing_mm)
    sigma_zyx = tuple(sigma_xyz[a] / float(grid[a]) for a in (2, 1, 0))
    return ndimage.gaussian_filter(hu, sigma_zyx, mode="nearest", truncate=_TRUNCATE, output=np.float32)


def add_correlated_noise(hu: np.ndarray, rng: np.random.Generator, sigma_hu: float) -> None:
    """Add Gaussian noise of SD ``sigma_hu``, correlated in-plane, to ``hu`` (z, y, x) in place.

    Works slab by slab (the correlation is in-plane only), so no second full-size array is made.
    """
    sigma = (0.0, NOISE_CORRELATION_VOXELS, NOISE_CORRELATION_VOXELS)
    scale = _F32(sigma_hu / _in_plane_noise_gain())
    for start in range(0, hu.shape[0], _NOISE_SLAB):
        slab = hu[start:start + _NOISE_SLAB]
        noise = rng.standard_normal(slab.shape, dtype=np.float32)
        noise = ndimage.gaussian_filter(noise, sigma, mode="wrap", truncate=_TRUNCATE, output=np.float32)
        noise *= scale
        slab += noise


def _in_plane_noise_gain() -> float:
    """Factor by which the in-plane correlation blur shrinks the SD of white noise: the root sum
    of squares of the discrete kernel weights, for each of the two blurred axes."""
    radius = int(_TRUNCATE * NOISE_CORRELATION_VOXELS + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    weights = ndimage.gaussian_filter1d(impulse, NOISE_CORRELATION_VOXELS, truncate=_TRUNCATE, mode="constant")
    return float(np.sum(weights ** 2))  # sqrt(sum w^2) per axis, two axes


def add_streaks(hu: np.ndarray, rng: np.random.Generator, spacing_mm: Sequence[float], *,
                slice_fraction: float, sources: np.ndarray | None = None,
                amplitude_hu: tuple[float, float] = (15.0, 60.0), only_sources: bool = False) -> int:
    """Add streak artefacts to ``hu`` (float32 (z, y, x)) in place; returns the streaked slices.

    In a share ``slice_fraction`` of the axial slices, 2-6 thin straight lines (Gaussian
    cross-section 0.6-1.5 mm wide) cross the slice through a source point, each brighter or
    darker by ``amplitude_hu`` and fading over 60-200 mm from the source: the beam-hardening
    and photon-starvation streaks between dense objects. Sources are drawn among the voxels of
    ``sources`` (bool (z, y, x), e.g. bone or metal) in that slice, else anywhere in it (or,
    with ``only_sources``, the slice is left alone).
    """
    nz, ny, nx = hu.shape
    sx, sy = float(spacing_mm[0]), float(spacing_mm[1])
    chosen = np.flatnonzero(rng.uniform(size=nz) < slice_fraction)
    ys = (np.arange(ny, dtype=np.float32) * _F32(sy)).reshape(-1, 1)
    xs = (np.arange(nx, dtype=np.float32) * _F32(sx)).reshape(1, -1)
    for k in chosen:
        candidates = np.argwhere(sources[k]) if sources is not None else np.empty((0, 2))
        if only_sources and not len(candidates):
            continue
        for _ in range(int(rng.integers(2, 7))):
            if len(candidates):
                j, i = candidates[int(rng.integers(len(candidates)))]
            else:
                j, i = rng.integers(ny), rng.integers(nx)
            angle = rng.uniform(0.0, np.pi)
            cos, sin = _F32(np.cos(angle)), _F32(np.sin(angle))
            dy, dx = ys - _F32(j * sy), xs - _F32(i * sx)
            across = dx * sin - dy * cos  # mm from the line
            along = np.abs(dx * cos + dy * sin)  # mm along it from the source
            width = _F32(rng.uniform(0.6, 1.5))
            fade = _F32(rng.uniform(60.0, 200.0))
            sign = 1.0 if rng.uniform() < 0.5 else -1.0
            amplitude = _F32(sign * rng.uniform(*amplitude_hu))
            hu[k] += amplitude * np.exp(-0.5 * (across / width) ** 2 - along / fade)
    return int(len(chosen))
