"""Small synthetic CRF inputs shared by the tests in tests/crf (real computations, no mocks)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def organ_case(shape_zyx=(12, 40, 44), spacing_xyz=(0.8, 0.8, 2.5), seed=0, noise_hu=12.0, organ_hu=110.0):
    """(image HU (Z,Y,X) float32, truth (Z,Y,X) uint8) of an ellipsoidal 'organ' in soft tissue.

    Background 30 HU with a -100 HU fat band, the organ at ``organ_hu``, Gaussian noise; the
    organ's radii are in mm, so anisotropic spacing gives an anisotropic voxel shape.
    """
    rng = np.random.default_rng(seed)
    Z, Y, X = shape_zyx
    sx, sy, sz = spacing_xyz
    z, y, x = np.meshgrid((np.arange(Z) - Z / 2 + 0.5) * sz, (np.arange(Y) - Y / 2 + 0.5) * sy,
                          (np.arange(X) - X / 2 + 0.5) * sx, indexing="ij")
    radius_z = 0.35 * Z * sz
    organ = (x / (0.3 * X * sx)) ** 2 + (y / (0.3 * Y * sy)) ** 2 + (z / radius_z) ** 2 <= 1.0
    image = np.full(shape_zyx, 30.0, dtype=np.float32)
    image[np.abs(x) > 0.42 * X * sx] = -100.0
    image[organ] = organ_hu
    image += rng.normal(0.0, noise_hu, shape_zyx).astype(np.float32)
    return image.astype(np.float32), organ.astype(np.uint8)


def noisy_probabilities(truth: np.ndarray, seed=1, noise=1.6, slope=5.0, classes=2) -> np.ndarray:
    """(C, Z, Y, X) float32 probabilities: a softened truth plus white logit noise.

    For ``classes == 2`` channel 1 is the truth's foreground; for ``classes == 3`` the truth's
    labels 1 and 2 get channels 1 and 2.
    """
    rng = np.random.default_rng(seed)
    logits = []
    for label in range(classes):
        soft = ndimage.gaussian_filter((truth == label).astype(np.float32), 1.0)
        logits.append(slope * soft + rng.normal(0.0, noise, truth.shape))
    logits = np.stack(logits)
    logits -= logits.max(0, keepdims=True)
    prob = np.exp(logits)
    return (prob / prob.sum(0, keepdims=True)).astype(np.float32)
