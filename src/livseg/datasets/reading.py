"""Reading a case: its CT as a Volume, and its reference label as 0/1/2 on exactly the CT's grid.

Unknown spacing stays visible: a volume whose reader says so (``Volume.spacing_known`` is
False, e.g. MRC files with a zero voxel size, or a NIfTI whose ``NAME.json`` sidecar holds
``{"spacing_known": false}`` as ``livseg data fetch lits-sample`` writes; ``livseg.io``
honours the sidecar) is returned with the file's placeholder spacing, unless the caller
passes ``spacing_mm``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from livseg.datasets.case import (LABEL_CHAOS_PNG, LABEL_IRCADB_MASKS, LABEL_VOLUME, TUMOUR,
                                  Case)
from livseg.datasets.chaos_masks import read_chaos_masks
from livseg.datasets.labels import apply_label_map
from livseg.datasets.layouts._files import volume_stem
from livseg.errors import DatasetError, GeometryMismatchError
from livseg.io import read_volume
from livseg.io.spacing import with_spacing
from livseg.io.sitk_bridge import sitk_from_volume, volume_from_sitk
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)


def read_case_image(case: Case, *, spacing_mm: Sequence[float] | None = None) -> Volume:
    """The case's CT as a Volume (array (z, y, x), HU, the file's geometry).

    Args:
        case: the case.
        spacing_mm: (x, y, z) voxel size in mm for an image whose spacing is unknown (MRC
            with zero voxel size, the fetched LiTS sample). For an image that records its
            spacing it must agree with the file (``livseg.io`` rule).

    Returns:
        Volume; ``spacing_known`` is False when the spacing is a placeholder.
    """
    volume = read_volume(case.image, kind="ct", series_uid=case.extra.get("series_uid"))
    if spacing_mm is not None:
        return with_spacing(volume, spacing_mm)
    if not volume.spacing_known:
        logger.warning("%s: voxel spacing unknown; %s is a placeholder in index units "
                       "(give spacing_mm to measure in mm)", case.image, volume.spacing_mm)
    return volume


def _reoriented(label: Volume, grid: Geometry) -> Volume | None:
    """``label`` with its axes permuted/flipped to ``grid``'s orientation (ITK DICOMOrient), or None."""
    if label.geometry.is_oblique or grid.is_oblique or label.geometry.orientation == grid.orientation:
        return None
    image = sitk.DICOMOrient(sitk_from_volume(label), grid.orientation)
    return volume_from_sitk(image, source=label.source,
                            meta={**label.meta, "reoriented_from": label.geometry.orientation},
                            kind=label.kind, spacing_known=label.spacing_known)


def on_image_grid(label: Volume, image: Volume) -> Volume:
    """``label`` on exactly ``image``'s grid, or GeometryMismatchError naming both files.

    The same voxels stored in another axis order (e.g. a TotalSegmentator map written "LAS"
    for a DICOM series read "LPS") are re-ordered exactly, without resampling. A label whose
    spacing is unknown pairs with its image voxel by voxel when the sizes agree.
    """
    if label.geometry.same_grid(image.geometry):
        return label
    if not label.spacing_known or not image.spacing_known:
        if label.geometry.size == image.geometry.size and label.geometry.direction == image.geometry.direction:
            return label.on_grid(label.array, image.geometry)
    reoriented = _reoriented(label, image.geometry)
    if reoriented is not None and reoriented.geometry.same_grid(image.geometry):
        return reoriented.on_grid(reoriented.array, image.geometry)
    raise GeometryMismatchError(
        f"{label.source} vs {image.source}", expected="the label on the image's voxel grid",
        found="; ".join(label.geometry.differences(image.geometry)),
        fix="pair the label with its own image, or resample it onto the image grid with nearest neighbour")


def _mapped(case: Case, array: np.ndarray, source: Path) -> np.ndarray:
    return apply_label_map(array, case.label_map, case.label_default, subject=str(source))


def read_case_label(case: Case, *, image: Volume | None = None) -> Volume:
    """The case's reference label: uint8 0 background / 1 liver / 2 tumour on the image's grid.

    Args:
        case: a case with a label.
        image: the case's image if already read (only its grid is used); read otherwise.

    Raises:
        DatasetError: the case has no label. GeometryMismatchError: the label is on another
        grid (names both files). InvalidImageError: values the label map does not cover.
    """
    if case.label is None:
        raise DatasetError(case.case_id, expected="a reference label", found="none for this case",
                           fix="pair the image with its label file, or use the case for prediction only")
    if image is None:
        image = read_case_image(case)
    kind = case.label_kind
    if kind == LABEL_VOLUME:
        label = on_image_grid(read_volume(case.label, kind="label"), image)
        array = _mapped(case, label.array, case.label)
        meta = dict(label.meta)
    elif kind == LABEL_CHAOS_PNG:
        raw = read_chaos_masks(case.image, case.label, image.geometry)
        array = _mapped(case, raw, case.label)
        meta = {"format": ".png"}
    elif kind == LABEL_IRCADB_MASKS:
        liver = on_image_grid(read_volume(case.label, kind="label"), image)
        array = _mapped(case, liver.array, case.label)
        for tumour_path in case.extra.get("tumour_masks", ()):
            tumour = on_image_grid(read_volume(Path(tumour_path), kind="label"), image)
            array[_mapped(case, tumour.array, Path(tumour_path)) != 0] = TUMOUR
        meta = {"format": "dicom", "tumour_masks": [str(p) for p in case.extra.get("tumour_masks", ())]}
    else:
        raise DatasetError(case.case_id, expected=f"a label kind among {LABEL_VOLUME}, {LABEL_CHAOS_PNG}, "
                           f"{LABEL_IRCADB_MASKS}", found=repr(kind))
    meta["case_id"] = case.case_id
    return Volume(array.astype(np.uint8, copy=False), image.geometry, source=str(case.label), meta=meta,
                  kind="label", spacing_known=image.spacing_known)
