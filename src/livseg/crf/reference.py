"""The same CRF computed by pydensecrf (Krähenbühl's C++ code), for checks and benchmarks only.

pydensecrf is not a dependency of livseg: install ``pydensecrf2`` (the ``dev`` extra; it builds
from source) to use this module. The mapping to pydensecrf's parameters:

* features are positions divided by a per-axis sigma in voxels, ``theta_mm / spacing_mm``,
  and intensity divided by ``theta_beta_hu`` (after the same HU window), so anisotropic
  spacing is handled the same way;
* ``addPairwiseEnergy(features, compat=mu)`` is Potts with weight ``mu``, diagonal kernel,
  symmetric normalisation (pydensecrf's defaults);
* the unary is ``-log(max(p, PROBABILITY_FLOOR))`` as in :mod:`livseg.crf.mean_field`;
* 2D mode runs one ``DenseCRF`` per transverse slice.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from livseg.crf.mean_field import MODES, PROBABILITY_FLOOR, Mode, _check_spacing
from livseg.crf.params import CrfParams
from livseg.errors import ConfigError, InvalidImageError


def pydensecrf_available() -> bool:
    """True when the ``pydensecrf`` module (from pydensecrf2) can be imported."""
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return False
    return True


def reference_dense_crf(
    probabilities: np.ndarray,
    image_hu: np.ndarray,
    spacing_mm: Sequence[float],
    params: CrfParams | None = None,
    *,
    mode: Mode = "3d",
) -> np.ndarray:
    """pydensecrf's mean-field marginals (C, Z, Y, X) float32 for the model of :func:`livseg.crf.dense_crf`.

    Args:
        probabilities: (C, Z, Y, X) class probabilities.
        image_hu: (Z, Y, X) HU.
        spacing_mm: (x, y, z) mm.
        params: as for :func:`livseg.crf.dense_crf`.
        mode: ``"3d"`` or ``"2d"`` (one CRF per transverse slice).
    """
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import create_pairwise_bilateral, create_pairwise_gaussian
    except ImportError as exc:
        raise ConfigError("pydensecrf", expected="an installed reference CRF",
                          found="no module named pydensecrf",
                          fix="pip install pydensecrf2 (needs a C++ compiler)") from exc
    params = CrfParams() if params is None else params
    if mode not in MODES:
        raise ConfigError("mode", expected=f"one of {', '.join(MODES)}", found=repr(mode))
    sx, sy, sz = _check_spacing(spacing_mm)
    prob = np.asarray(probabilities, dtype=np.float32)
    image = np.asarray(image_hu, dtype=np.float32)
    if prob.ndim != 4 or image.shape != prob.shape[1:]:
        raise InvalidImageError("probabilities / image_hu", expected="(C, Z, Y, X) and (Z, Y, X)",
                                found=f"{prob.shape} and {image.shape}")
    if params.hu_window is not None:
        image = np.clip(image, *params.hu_window)
    classes = prob.shape[0]

    def run(p: np.ndarray, img: np.ndarray, spacing_axes: tuple[float, ...]) -> np.ndarray:
        shape = img.shape
        crf = dcrf.DenseCRF(int(np.prod(shape)), classes)
        unary = -np.log(np.clip(p, PROBABILITY_FLOOR, None)).reshape(classes, -1)
        crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
        if params.mu1 > 0:
            sdims = tuple(params.theta_alpha_mm / s for s in spacing_axes)
            features = create_pairwise_bilateral(sdims=sdims, schan=(params.theta_beta_hu,),
                                                 img=img[..., None], chdim=img.ndim)
            crf.addPairwiseEnergy(np.ascontiguousarray(features, dtype=np.float32), compat=float(params.mu1))
        if params.mu2 > 0:
            sdims = tuple(params.theta_gamma_mm / s for s in spacing_axes)
            features = create_pairwise_gaussian(sdims=sdims, shape=shape)
            crf.addPairwiseEnergy(np.ascontiguousarray(features, dtype=np.float32), compat=float(params.mu2))
        marginals = np.asarray(crf.inference(params.iterations), dtype=np.float32)
        return marginals.reshape((classes,) + shape)

    if mode == "3d":
        return run(prob, image, (sz, sy, sx))
    return np.stack([run(prob[:, k], image[k], (sy, sx)) for k in range(image.shape[0])], axis=1)
