"""Post-processing of 0/1/2 label maps (0 background, 1 liver, 2 tumour).

Pure functions: each returns a new array or Volume and never changes its input. Public API::

    postprocess(labels: Volume, config: PostprocessConfig) -> Volume
    keep_liver_components(labels, spacing_mm, *, connectivity, min_fraction, min_volume_ml)
    fill_holes_3d(labels) / fill_holes_2d(labels, *, axis)
    remove_tumours_outside_liver(labels, *, connectivity)
    remove_small_tumours(labels, spacing_mm, *, min_volume_mm3, connectivity)

Connected components and hole filling use scipy.ndimage, working inside the bounding box of
the structure (exact, see ``labels.bounding_box``) so a whole 512x512x300 CT stays cheap.
"""

from __future__ import annotations

from livseg.postprocessing.components import keep_liver_components
from livseg.postprocessing.holes import fill_holes_2d, fill_holes_3d
from livseg.postprocessing.pipeline import PostprocessConfig, axial_axis, postprocess
from livseg.postprocessing.tumours import remove_small_tumours, remove_tumours_outside_liver

__all__ = [
    "PostprocessConfig",
    "axial_axis",
    "fill_holes_2d",
    "fill_holes_3d",
    "keep_liver_components",
    "postprocess",
    "remove_small_tumours",
    "remove_tumours_outside_liver",
]
