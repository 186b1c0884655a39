"""One call that prepares a case for a network: reorient -> crop -> HU window -> resample.

The record it returns undoes the geometric steps in reverse order (resample back onto the
cropped grid, put the crop back into the reoriented grid, undo the reorientation), so a
prediction made on the prepared grid lands exactly on the input's grid.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from livseg.config import PreprocessingConfig
from livseg.errors import ConfigError
from livseg.io.sitk_bridge import array_from_sitk
from livseg.io.spacing import require_known_spacing
from livseg.preprocessing.cropping import (CropRecord, body_crop, crop, full_box, label_crop, subsampled_body_crop,
                                           uncrop)
from livseg.preprocessing.intensity import Normalisation, window_into
from livseg.preprocessing.orientation import ReorientRecord, apply_reorient, invert_reorient, reorient
from livseg.preprocessing.resampling import (ResampleRecord, invert_resampling, resample_image_onto,
                                             resample_to_spacing, target_geometry)
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreprocessRecord:
    """The geometric steps applied to a case, in order: reorient, crop, resample."""

    reorient: ReorientRecord
    crop: CropRecord
    resample: ResampleRecord

    @property
    def original(self) -> Geometry:
        return self.reorient.original

    @property
    def prepared(self) -> Geometry:
        return self.resample.resampled

    def invert(self, volume: Volume, *, fill: float = 0) -> Volume:
        """Map a volume on the prepared grid back onto the original grid exactly.

        Args:
            volume: on ``self.prepared``, array (z, y, x); its kind chooses the
                interpolation (labels: nearest neighbour; probabilities/intensities: linear).
            fill: value outside the crop box (0 = background / zero probability).
        """
        on_crop = invert_resampling(volume, self.resample)
        return invert_reorient(uncrop(on_crop, self.crop, fill=fill), self.reorient)


@dataclass(frozen=True)
class PreparedCase:
    """A case ready for a network.

    Attributes:
        image: float32 normalised intensities on the prepared grid, array (z, y, x).
        label: uint8 labels 0/1/2 on the same grid (None when the case has no reference).
        record: how to map results back onto the original grid.
    """

    image: Volume
    label: Volume | None
    record: PreprocessRecord


def crop_for(ct: Volume, config: PreprocessingConfig, *, roi: Volume | None = None,
             body_exact_voxels: int | None = None) -> CropRecord:
    """The crop ``config.crop`` asks for, on ``ct``'s grid: the whole grid, the body box, or the
    box of ``roi`` (a liver mask on ``ct``'s grid) plus ``config.crop_margin_mm``.

    A body box of a volume above ``body_exact_voxels`` voxels is found on a subsample
    (:func:`livseg.preprocessing.cropping.subsampled_body_crop`, widened to hold the exact
    box); None: always on every voxel.
    """
    if config.crop == "none":
        return full_box(ct.geometry)
    if config.crop == "liver":
        if roi is None:
            raise ConfigError("preprocessing.crop", expected="a liver mask for crop 'liver'",
                              found="none given", fix="pass the liver label or use crop 'body'")
        ct.require_same_grid(roi, fix="the liver mask must be on the CT's grid")
        return label_crop(roi, config.crop_margin_mm)
    if config.crop != "body":
        raise ConfigError("preprocessing.crop", expected="'none', 'body' or 'liver'", found=repr(config.crop))
    if body_exact_voxels is None:
        return body_crop(ct, config.body_threshold_hu)
    stride = max(1, math.ceil((ct.array.size / body_exact_voxels) ** (1 / 3)))
    if stride == 1:
        return body_crop(ct, config.body_threshold_hu)
    return subsampled_body_crop(ct, config.body_threshold_hu, stride)


def prepare_image(ct: Volume, config: PreprocessingConfig, *, roi: Volume | None = None
                  ) -> tuple[Volume, PreprocessRecord]:
    """Crop, window/normalise and resample a CT.

    Args:
        ct: CT in HU, array (z, y, x).
        config: the preprocessing section of a config.
        roi: liver mask on ``ct``'s grid, needed for ``crop: liver``.

    Returns:
        (float32 Volume on the prepared grid, record to invert it).
    """
    spacing_unknown = not ct.spacing_known
    if config.spacing_mm is not None:
        require_known_spacing(
            ct, what=f"resampling to {'x'.join(f'{s:g}' for s in config.spacing_mm)} mm",
            fix="give the spacing when reading the case, or set preprocessing.spacing_mm=null "
                "to use the voxel grid as it is")
    if spacing_unknown:
        logger.warning("%s: voxel spacing unknown; using the voxel grid as it is (sizes in mm, "
                       "crop margins and the network's field of view in mm are not meaningful)", ct.source)
    if config.orientation is not None:
        ct, turned = reorient(ct, config.orientation)
    else:
        turned = ReorientRecord(ct.geometry, ct.geometry)
    if roi is not None:
        roi = apply_reorient(roi, turned)
    box = crop_for(ct, config, roi=roi)
    cropped_grid = box.cropped
    target = cropped_grid if config.spacing_mm is None else target_geometry(cropped_grid, config.spacing_mm)
    if config.spacing_mm is None:
        logger.info("%s: keeping the voxel grid as it is (%s); no target spacing configured",
                    ct.source, cropped_grid.describe())
    array = window_and_resample(ct, box, target, config.hu_window, config.normalisation)
    prepared = Volume(array, target, source=ct.source, meta=dict(ct.meta), kind="any",
                      spacing_known=ct.spacing_known)
    record = ResampleRecord(original=cropped_grid, resampled=target)
    return prepared, PreprocessRecord(reorient=turned, crop=box, resample=record)


def window_and_resample(ct: Volume, box: CropRecord, target: Geometry, hu_window: tuple[float, float],
                        normalisation: Normalisation) -> np.ndarray:
    """``clip_and_normalise(crop(ct, box))`` resampled (linearly) onto ``target``, with one
    copy of the box instead of three.

    The straightforward way copies the box (int16), converts it to float32, and SimpleITK
    copies that into an image of its own; here the window is computed from a view of the
    box straight into the pixel buffer of the SimpleITK image that is resampled. The
    numbers are the same float32 operations on the same voxels, so the result is identical
    (``tests/preprocessing/test_window_and_resample.py``).

    Args:
        ct: CT in HU, array (z, y, x).
        box: a box on ``ct``'s grid.
        target: the output grid (``box.cropped`` itself: no resampling).
        hu_window, normalisation: as for :func:`clip_and_normalise`.

    Returns:
        float32 (z, y, x) array of ``target``'s shape.
    """
    ct.geometry.require_same_grid(box.original, subject=ct.source)
    source = np.asarray(ct.array)[box.slices]
    cropped = box.cropped
    if cropped.same_grid(target):
        out = np.empty(source.shape, dtype=np.float32)
        window_into(out, source, hu_window, normalisation, subject=ct.source)
        return out
    image = sitk.Image([int(s) for s in cropped.size], sitk.sitkFloat32)
    image.SetSpacing(cropped.spacing_mm)  # the geometry first: nothing may copy the buffer after we write it
    image.SetOrigin(cropped.origin_mm)
    image.SetDirection(cropped.direction)
    window_into(array_from_sitk(image, copy=False), source, hu_window, normalisation, subject=ct.source)
    return resample_image_onto(image, target, nearest=False)


def prepare_case(ct: Volume, label: Volume | None, config: PreprocessingConfig) -> PreparedCase:
    """Prepare a CT and its reference label (0/1/2 on the CT's grid) the same way."""
    if label is not None:
        ct.require_same_grid(label, fix="the label must be on the CT's voxel grid")
    image, record = prepare_image(ct, config, roi=label)
    prepared_label = None
    if label is not None:
        turned = apply_reorient(label.with_array(np.asarray(label.array, dtype=np.uint8), kind="label"),
                                record.reorient)
        cropped = crop(turned, record.crop)
        if record.resample.is_identity:
            prepared_label = cropped
        else:
            prepared_label, _ = resample_to_spacing(cropped, record.resample.resampled.spacing_mm)
    return PreparedCase(image=image, label=prepared_label, record=record)
