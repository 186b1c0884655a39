"""Preprocessing for inference with bounded memory: livseg.preprocessing's steps, in z-slabs.

``livseg.preprocessing.prepare_image`` (what training uses) windows the whole cropped CT in
float32 before resampling it: for a 512x512x800 CT that is a float32 copy of 0.8 GB.
Here the same steps run on slabs of the *target* grid: for each slab, the source slices it
interpolates from (plus one on each side) are windowed and resampled onto that slab of the
target grid (``livseg.preprocessing.pipeline.window_and_resample``). Linear interpolation only reads the two source slices around a target point, so the
slabs put together equal the one-shot result (to float32 rounding of the interpolation
weights); ``tests/inference/test_prepare.py`` checks it against ``prepare_image``.

The body crop of a large volume is found on a subsampled copy (every s-th voxel along each
axis, s chosen to keep it under :data:`BODY_EXACT_VOXELS`) and widened by s - 1 voxels on
each side, so it contains the exact box (for a body thicker than s voxels); it can be a few
voxels larger where the subsample joins thin structures (the table) to the body. The crop only
saves computation; the grid logic is the same.

Volumes up to :data:`ONE_SHOT_VOXELS` voxels, and z-score normalisation (which needs the
statistics of the whole crop), go through ``prepare_image`` itself.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from livseg.config import PreprocessingConfig
from livseg.io.spacing import require_known_spacing
from livseg.preprocessing.cropping import CropRecord
from livseg.preprocessing.orientation import ReorientRecord, apply_reorient, reorient
from livseg.preprocessing.pipeline import PreprocessRecord, crop_for, prepare_image, window_and_resample
from livseg.preprocessing.resampling import ResampleRecord, target_geometry
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)

#: Volumes with more voxels are prepared slab by slab.
ONE_SHOT_VOXELS = 64_000_000
#: Source voxels read per slab of the slab-wise path (about 18 bytes each while windowing).
SLAB_SOURCE_VOXELS = 16_000_000
#: The body crop thresholds and labels at most about this many voxels (subsampling above).
BODY_EXACT_VOXELS = 32_000_000


def prepare_for_inference(ct: Volume, config: PreprocessingConfig, *, roi: Volume | None = None,
                          one_shot_voxels: int = ONE_SHOT_VOXELS,
                          slab_source_voxels: int = SLAB_SOURCE_VOXELS) -> tuple[Volume, PreprocessRecord]:
    """Reorient, crop, window and resample a CT for a network, as ``prepare_image`` does.

    Args:
        ct: CT in HU, array (z, y, x).
        config: the bundle's preprocessing section.
        roi: liver mask on ``ct``'s grid (needed for ``crop: liver``).
        one_shot_voxels: volumes up to this size go through ``prepare_image`` unchanged.
        slab_source_voxels: source voxels read per slab otherwise.

    Returns:
        (float32 Volume on the prepared grid, record to invert it).
    """
    if ct.array.size <= one_shot_voxels or config.normalisation == "zscore":
        return prepare_image(ct, config, roi=roi)
    if config.spacing_mm is not None:  # the same refusal as prepare_image's
        require_known_spacing(
            ct, what=f"resampling to {'x'.join(f'{s:g}' for s in config.spacing_mm)} mm",
            fix="give the spacing when reading the case, or use a model without a target spacing")
    if config.orientation is not None:
        turned_ct, turned = reorient(ct, config.orientation)
    else:
        turned_ct, turned = ct, ReorientRecord(ct.geometry, ct.geometry)
    box = crop_for(turned_ct, config, roi=None if roi is None else apply_reorient(roi, turned),
                   body_exact_voxels=BODY_EXACT_VOXELS)
    prepared, resampled = _window_and_resample_in_slabs(turned_ct, box, config, slab_source_voxels)
    return prepared, PreprocessRecord(reorient=turned, crop=box, resample=resampled)


def _window_and_resample_in_slabs(ct: Volume, box: CropRecord, config: PreprocessingConfig,
                                  slab_source_voxels: int) -> tuple[Volume, ResampleRecord]:
    cropped_grid = box.cropped
    target = cropped_grid if config.spacing_mm is None else target_geometry(cropped_grid, config.spacing_mm)
    out = np.empty(target.shape_zyx, dtype=np.float32)
    source_z = cropped_grid.shape_zyx[0]
    ratio = target.spacing_mm[2] / cropped_grid.spacing_mm[2]  # source slices per target slice
    slice_voxels = cropped_grid.shape_zyx[1] * cropped_grid.shape_zyx[2]
    rows = max(1, int((slab_source_voxels // slice_voxels - 3) / ratio))
    for k0 in range(0, target.shape_zyx[0], rows):
        k1 = min(target.shape_zyx[0], k0 + rows)
        # Continuous source slice of target slice k (corner-aligned grids): (k + 0.5) * ratio - 0.5.
        low = max(0, math.floor((k0 + 0.5) * ratio - 0.5) - 1)
        high = min(source_z, math.ceil((k1 - 0.5) * ratio - 0.5) + 2)
        start = (box.start_zyx[0] + low, box.start_zyx[1], box.start_zyx[2])
        stop = (box.start_zyx[0] + high, box.stop_zyx[1], box.stop_zyx[2])
        slab_grid = Geometry(size=(target.size[0], target.size[1], k1 - k0), spacing_mm=target.spacing_mm,
                             origin_mm=tuple(target.index_to_physical(np.array([0.0, 0.0, k0]))),  # type: ignore[arg-type]
                             direction=target.direction)
        out[k0:k1] = window_and_resample(ct, CropRecord(ct.geometry, start, stop), slab_grid,  # type: ignore[arg-type]
                                         config.hu_window, config.normalisation)  # normalised intensities: linear
    logger.debug("%s: prepared %s in slabs of %d slices", ct.source, target.describe(), rows)
    return (Volume(out, target, source=ct.source, meta=dict(ct.meta), kind="any",
                   spacing_known=ct.spacing_known),
            ResampleRecord(original=cropped_grid, resampled=target))
