"""Dense CRF refinement of segmentation probabilities (livseg.crf).

The fully connected CRF of Krähenbühl & Koltun (2011) with the pairwise term of the 3D DSN
paper (Dou et al. 2016, eq. 5): a bilateral kernel over position (mm) and intensity (HU) plus a
spatial smoothness kernel, Potts compatibility, unary ``-log p``, mean-field inference; in 3D
or on each transverse slice (2D, as in the paper).

Why a hand-written filter: no maintained dense-CRF package runs on both CPU and GPU with wheels
for current Python. pydensecrf / pydensecrf2 (C++, CPU only, single-threaded) must be built from
source on Python 3.11, SimpleCRF needs patching for numpy 2 and mixes up the axes of 3D volumes
unless shape[0] == shape[2], and the PyTorch ports either need a compiled C++/CUDA extension
for the permutohedral lattice or replace the fully connected kernel by a local window. The
high-dimensional Gaussian filtering is therefore done here with a bilateral grid written in
PyTorch (:mod:`livseg.crf.filters`): one code path for CPU and GPU, checked against
pydensecrf2 in ``tests/crf`` (>= 99 % identical labels) and timed against it in
``bench/crf.py``.

Public API::

    CrfParams(mu1, mu2, theta_alpha_mm, theta_beta_hu, theta_gamma_mm, iterations, hu_window)
    dense_crf(probabilities (C,Z,Y,X), image_hu (Z,Y,X), spacing_mm (x,y,z), params, *, mode, device)
    crf_labels(...)            -> (Z,Y,X) uint8 labels
    crop_to_roi(mask, margin_mm, spacing_mm) -> (z, y, x) slices
    dense_crf_in_roi(probabilities, image_hu, spacing_mm, roi_mask, margin_mm, params, *, mode, device)
"""

from __future__ import annotations

from livseg.crf.mean_field import MODES, PROBABILITY_FLOOR, crf_labels, dense_crf
from livseg.crf.params import CrfParams
from livseg.crf.roi import crop_to_roi, dense_crf_in_roi

__all__ = [
    "CrfParams",
    "MODES",
    "PROBABILITY_FLOOR",
    "crf_labels",
    "crop_to_roi",
    "dense_crf",
    "dense_crf_in_roi",
]
