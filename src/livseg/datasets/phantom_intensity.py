"""Turn a phantom tissue map into CT intensities: HU per tissue, texture, scanner blur, noise.

Order matters and follows the physics: the tissue HU (plus slow texture) is the object, the
scanner's point spread function blurs it (partial volume: along z in proportion to the slice
thickness, slightly in-plane), then noise is added and the result is rounded to int16 HU.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from livseg.datasets.phantom_anatomy import Anatomy
from livseg.datasets.phantom_fields import Grid, SmoothField
from livseg.datasets.phantom_tissues import HU_MAX, HU_MIN, Contrast, Tissue

_F32 = np.float32
# Scanner point spread (Gaussian sigma): along z a fraction of the slice thickness, in-plane mm.
SLICE_SIGMA_FRACTION = 0.42
IN_PLANE_SIGMA_MM = 0.5
# In-plane correlation of the noise (sigma in voxels): CT noise is not white.
NOISE_CORRELATION_VOXELS = 0.6
_TRUNCATE = 3.0


def render_intensity(tissue: np.ndarray, grid: Grid, anatomy: Anatomy, contrast: Contrast,
                     spacing_mm: tuple[float, float, float], *, texture_rng: np.random.Generator,
                     noise_rng: np.random.Generator) -> np.ndarray:
    """CT (int16 HU, (z, y, x)) of a tissue map (uint8 (z, y, x)) on a grid with ``spacing_mm``
    (x, y, z order, mm)."""
    hu = contrast.hu_lookup[tissue]  # float32 (z, y, x)
    _add_texture(hu, tissue, grid, anatomy, texture_rng)
    hu = partial_volume_blur(hu, spacing_mm)
    hu += correlated_noise(noise_rng, hu.shape, contrast.noise_sigma_hu)
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
    # Dependent lung (posterior, +y) is denser: about +0.25 HU per mm.
    lung = tissue == Tissue.LUNG
    if lung.any():
        gradient = (_F32(0.25) * grid.ys).reshape(1, -1, 1)
        hu += np.where(lung, gradient, _F32(0))


def partial_volume_blur(hu: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Gaussian point spread of the scanner on a (z, y, x) float32 HU array; spacing (x, y, z) mm."""
    sigma_zyx = (SLICE_SIGMA_FRACTION, IN_PLANE_SIGMA_MM / spacing_mm[1], IN_PLANE_SIGMA_MM / spacing_mm[0])
    return ndimage.gaussian_filter(hu, sigma_zyx, mode="nearest", truncate=_TRUNCATE, output=np.float32)


def correlated_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_hu: float) -> np.ndarray:
    """Gaussian noise (float32, ``shape`` (z, y, x)) with in-plane correlation and SD ``sigma_hu``."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise = ndimage.gaussian_filter(noise, (0.0, NOISE_CORRELATION_VOXELS, NOISE_CORRELATION_VOXELS),
                                    mode="wrap", truncate=_TRUNCATE, output=np.float32)
    # Blurring white noise shrinks its SD by the root sum of squares of the kernel weights.
    impulse = np.zeros(2 * int(_TRUNCATE * NOISE_CORRELATION_VOXELS + 0.5) + 1)
    impulse[len(impulse) // 2] = 1.0
    weights = ndimage.gaussian_filter1d(impulse, NOISE_CORRELATION_VOXELS, truncate=_TRUNCATE, mode="constant")
    gain = float(np.sum(weights ** 2))  # per axis; two axes blurred
    noise *= _F32(sigma_hu / gain)
    return noise
