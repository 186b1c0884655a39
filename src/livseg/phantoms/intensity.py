"""Turn a phantom tissue map into CT intensities: HU per tissue, texture, scanner blur, noise.

Order matters and follows the physics: the tissue HU (plus slow texture) is the object, the
scanner's point spread function blurs it (partial volume: along z in proportion to the slice
thickness, slightly in-plane), then noise is added and the result is rounded to int16 HU.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from livseg.phantoms.anatomy import Anatomy
from livseg.phantoms.fields import Grid, SmoothField
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
        if box is None:
            continue
        where = np.isin(tissue[box.slices], np.asarray(tissues, dtype=np.uint8))
        if where.any():
            block = hu[box.slices]
            block += np.where(where, field.on_box(box), _F32(0))
    # Dependent lung (posterior, +y) is denser: about +0.25 HU per mm. Lungs lie above the
    # lowest point of the diaphragm, so only those slices are visited.
    lowest = float(anatomy.diaphragm.height_mm(grid.xs.reshape(1, -1), grid.ys.reshape(-1, 1)).min())
    box = grid.box((-np.inf, -np.inf, lowest), (np.inf, np.inf, np.inf))
    if box is not None:
        lung = tissue[box.slices] == Tissue.LUNG
        block = hu[box.slices]
        block += np.where(lung, _F32(0.25) * box.y, _F32(0))


def partial_volume_blur(hu: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Gaussian point spread of the scanner on a (z, y, x) float32 HU array; spacing (x, y, z) mm.

    Sigma along z is :data:`SLICE_SIGMA_FRACTION` of the slice thickness, in-plane
    :data:`IN_PLANE_SIGMA_MM`.
    """
    sigma_zyx = (SLICE_SIGMA_FRACTION, IN_PLANE_SIGMA_MM / spacing_mm[1], IN_PLANE_SIGMA_MM / spacing_mm[0])
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
