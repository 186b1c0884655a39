"""Nearest-neighbour resampling of a label map onto another grid (for ``--resample-pred``)."""

from __future__ import annotations

import SimpleITK as sitk

from livseg.io.sitk_bridge import sitk_from_volume, volume_from_sitk
from livseg.volume import Volume


def resample_labels_onto(labels: Volume, reference: Volume) -> Volume:
    """``labels`` resampled (nearest neighbour, in physical LPS space) onto ``reference``'s grid.

    Voxels of the reference grid that fall outside ``labels``' extent become 0 (background).
    Label values are never interpolated. The input is not modified.
    """
    image = sitk_from_volume(labels)
    geometry = reference.geometry
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(n) for n in geometry.size])
    resampler.SetOutputSpacing(geometry.spacing_mm)
    resampler.SetOutputOrigin(geometry.origin_mm)
    resampler.SetOutputDirection(geometry.direction)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(0)
    resampler.SetOutputPixelType(image.GetPixelID())
    resampled = resampler.Execute(image)
    return volume_from_sitk(resampled, source=f"{labels.source} (resampled onto {reference.source})",
                            meta={**labels.meta, "resampled_onto": reference.source})
