"""A label map ready to be compared with a reference: 0/1/2 values, on the reference's grid.

``livseg evaluate`` and ``livseg report`` both take label files that may use another data
set's values (``--label-map``) or sit on another grid (``--resample-pred``, or a prediction
written in another axis order). Both read their files themselves (reading is the caller's)
and hand the Volumes to the two functions here:

    labels = as_labels(volume, label_map)                  # mapped, else checked 0/1/2
    labels = onto_reference(labels, reference, resample=True)

Grids are never changed silently: the same voxels in another axis order are re-ordered
exactly; anything else is resampled (nearest neighbour, background outside the prediction's
extent) only when the caller allows it, else GeometryMismatchError naming both volumes.
"""

from __future__ import annotations

import logging

from livseg.datasets.labels import LabelMap, apply_label_map
from livseg.datasets.reading import on_image_grid
from livseg.errors import GeometryMismatchError
from livseg.metrics.structures import check_label_map
from livseg.preprocessing.resampling import resample_onto
from livseg.volume import Volume

logger = logging.getLogger(__name__)


def as_labels(volume: Volume, label_map: LabelMap | None = None) -> Volume:
    """``volume`` (z, y, x) as livseg labels 0 background / 1 liver / 2 tumour, kind "label".

    Args:
        volume: a label map as read (kind "label").
        label_map: the data set's values -> livseg labels; None: the values must already
            be 0/1/2 (checked).

    Raises:
        InvalidImageError: values outside 0/1/2 (no map), or values the map does not cover.
    """
    if label_map is None:
        check_label_map(volume)
        return volume if volume.kind == "label" else volume.with_array(volume.array, kind="label")
    mapped = apply_label_map(volume.array, label_map.mapping, label_map.default, subject=volume.source)
    return volume.with_array(mapped, kind="label")


def onto_reference(labels: Volume, reference: Volume, *, resample: bool = True,
                   fix: str | None = None) -> Volume:
    """``labels`` on exactly ``reference``'s grid.

    The same grid: ``labels`` itself. The same voxels in another axis order (or, for an
    unknown spacing, the same size and direction): re-ordered / re-gridded exactly, without
    interpolation (``livseg.datasets.reading.on_image_grid``). Otherwise, with ``resample``:
    resampled by nearest neighbour in physical LPS space (label values never interpolated),
    output voxels outside ``labels``' extent 0 (background); the result's ``meta`` then
    holds ``resampled_onto`` (the reference's source). Without ``resample``:
    GeometryMismatchError naming both, with ``fix``.

    The input is not modified.
    """
    if labels.geometry.same_grid(reference.geometry):
        return labels
    if not resample:
        reference.require_same_grid(labels, fix=fix)
    try:
        return on_image_grid(labels, reference)
    except GeometryMismatchError:
        pass
    logger.info("resampling %s onto the grid of %s (nearest neighbour)", labels.source, reference.source)
    nearest = labels if labels.kind == "label" else labels.with_array(labels.array, kind="label")
    out = resample_onto(nearest, reference.geometry, outside=0,
                        source=f"{labels.source} (resampled onto {reference.source})")
    out.meta["resampled_onto"] = reference.source
    return out


__all__ = ["as_labels", "onto_reference"]
