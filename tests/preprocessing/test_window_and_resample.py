"""``window_and_resample`` (the window computed straight into the SimpleITK image that is
resampled) against the straightforward steps it replaces: crop (a copy), ``clip_and_normalise``,
``resample_onto``. The arrays must be identical, bit for bit, on the real CT and on odd grids."""

from __future__ import annotations

import numpy as np
import pytest

from livseg.preprocessing import clip_and_normalise, crop
from livseg.preprocessing.cropping import CropRecord, body_crop, full_box
from livseg.preprocessing.orientation import reorient
from livseg.preprocessing.pipeline import window_and_resample
from livseg.preprocessing.resampling import resample_onto, target_geometry
from livseg.volume import Geometry, Volume


def straightforward(ct: Volume, box: CropRecord, target: Geometry, window: tuple[float, float],
                    normalisation: str) -> np.ndarray:
    normalised = clip_and_normalise(crop(ct, box), window, normalisation)  # type: ignore[arg-type]
    return resample_onto(normalised, target).array


def _check(ct: Volume, box: CropRecord, spacing: tuple[float, float, float] | None,
           window: tuple[float, float] = (-200.0, 250.0), normalisation: str = "unit") -> np.ndarray:
    target = box.cropped if spacing is None else target_geometry(box.cropped, spacing)
    fast = window_and_resample(ct, box, target, window, normalisation)  # type: ignore[arg-type]
    plain = straightforward(ct, box, target, window, normalisation)
    assert fast.dtype == np.float32 and fast.shape == target.shape_zyx
    assert np.array_equal(fast, plain)
    return fast


@pytest.mark.parametrize("normalisation", ["unit", "symmetric", "zscore"])
def test_equals_the_straightforward_steps_on_the_real_ct(shared_data, normalisation):
    from livseg.io import read_volume

    ct = read_volume(shared_data / "chaos-ct-1" / "image.nii.gz", kind="ct")
    box = body_crop(ct, -500.0)
    _check(ct, box, (2.0, 2.0, 2.0), normalisation=normalisation)
    _check(ct, box, (1.5, 1.5, 3.0), normalisation=normalisation)
    _check(ct, box, None, normalisation=normalisation)
    ras = read_volume(shared_data / "totalseg-example" / "ct.nii.gz", kind="ct")  # RAS, 3 mm, upsampled
    _check(ras, body_crop(ras, -500.0), (2.0, 2.0, 2.0), normalisation=normalisation)
    lps, _ = reorient(ras, "LPS")
    _check(lps, body_crop(lps, -500.0), (2.0, 2.0, 2.0), normalisation=normalisation)


def test_odd_grids_and_dtypes():
    rng = np.random.default_rng(0)
    oblique = (0.8, -0.6, 0.0, 0.6, 0.8, 0.0, 0.0, 0.0, 1.0)  # rotated in-plane, not LPS
    grid = Geometry((30, 20, 9), (0.7, 1.1, 4.0), (10.0, -5.0, 3.0), oblique)
    values = rng.integers(-1100, 1500, size=grid.shape_zyx).astype(np.int16)
    ct = Volume(values, grid, kind="ct")
    box = CropRecord(grid, (1, 2, 3), (8, 19, 27))
    _check(ct, box, (2.0, 2.0, 2.0))
    _check(ct, box, (0.5, 0.5, 1.0))                       # upsampling, past the border voxels
    _check(ct, full_box(grid), (2.0, 2.0, 2.0))
    one_slice = Volume(values[:1], Geometry((30, 20, 1), grid.spacing_mm, grid.origin_mm, oblique), kind="ct")
    _check(one_slice, full_box(one_slice.geometry), (2.0, 2.0, 2.0))
    air = Volume(np.full(grid.shape_zyx, -1024, np.int16), grid, kind="ct")
    assert np.all(_check(air, full_box(grid), (2.0, 2.0, 2.0)) == 0.0)
    floats = Volume(rng.normal(0, 300, size=grid.shape_zyx), grid, kind="ct")  # float64 HU
    _check(floats, box, (2.0, 2.0, 2.0))
    _check(floats, box, (2.0, 2.0, 2.0), normalisation="zscore")
    constant = Volume(np.full(grid.shape_zyx, 40.0, np.float32), grid, kind="ct")
    assert np.all(_check(constant, box, (2.0, 2.0, 2.0), normalisation="zscore") == 0.0)


def test_non_finite_voxels_are_refused_as_before():
    from livseg.errors import InvalidImageError

    grid = Geometry((6, 5, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    values = np.zeros(grid.shape_zyx, np.float32)
    values[1, 2, 3] = np.nan
    with pytest.raises(InvalidImageError):
        window_and_resample(Volume(values, grid, kind="ct"), full_box(grid), target_geometry(grid, (2.0, 2.0, 2.0)),
                            (-200.0, 250.0), "unit")
