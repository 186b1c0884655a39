"""Axial, coronal and sagittal slices through the liver, for the report's overlays.

The volumes are first cropped to the liver's bounding box (reference and predictions together,
plus a margin in mm) and then re-ordered exactly (axis permutations and flips, no
interpolation) so that index axes point to L, P, S. The three slices then follow the
radiological display convention:

=========  ===================================  =====================================
view       rows (top -> bottom)                 columns (left -> right)
=========  ===================================  =====================================
axial      anterior -> posterior (y)            patient right -> patient left (x)
coronal    superior -> inferior (z, reversed)   patient right -> patient left (x)
sagittal   superior -> inferior (z, reversed)   anterior -> posterior (y)
=========  ===================================  =====================================

Each view keeps the physical size of its pixels (``pixel_mm``, row height and column width in
mm) so figures can draw them at their true aspect ratio. Oblique grids are shown along their
nearest axis-aligned orientation (``OrthoViews.oblique`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import ndimage

from livseg.preprocessing.cropping import CropRecord, crop, full_box, label_crop
from livseg.preprocessing.orientation import reorient
from livseg.volume import Volume

#: Soft-tissue window (width, level) in HU.
SOFT_TISSUE_WINDOW_HU = (400.0, 40.0)
DEFAULT_MARGIN_MM = 15.0
VIEW_NAMES = ("axial", "coronal", "sagittal")


def soft_tissue_window(hu: np.ndarray, width: float = SOFT_TISSUE_WINDOW_HU[0],
                       level: float = SOFT_TISSUE_WINDOW_HU[1]) -> np.ndarray:
    """HU mapped linearly to [0, 1]: ``level - width/2`` -> 0, ``level + width/2`` -> 1, clipped.

    Returns a new float32 array of the same shape; the input is not modified.
    """
    low = level - width / 2.0
    return np.clip((np.asarray(hu, dtype=np.float32) - low) / float(width), 0.0, 1.0)


@dataclass(frozen=True)
class View:
    """One 2D slice, ready to draw.

    Attributes:
        name: "axial", "coronal" or "sagittal".
        ct: HU, array (rows, columns) in the display order of the module docstring.
        labels: source name -> label values 0/1/2, arrays (rows, columns) like ``ct``.
        pixel_mm: (row height, column width) in mm.
        edges: patient directions at the (top, bottom, left, right) edges, e.g. ("A", "P", "R", "L").
        index: the slice's index along its normal axis in the cropped, LPS-ordered grid.
    """

    name: str
    ct: np.ndarray
    labels: dict[str, np.ndarray]
    pixel_mm: tuple[float, float]
    edges: tuple[str, str, str, str]
    index: int

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) of the slice in mm."""
        rows, columns = self.ct.shape
        return columns * self.pixel_mm[1], rows * self.pixel_mm[0]


@dataclass(frozen=True)
class OrthoViews:
    """The three views of one case.

    Attributes:
        views: axial, coronal, sagittal.
        centre_lps_mm: LPS position (mm) where the three slices cross.
        centre_of: what the centre is the centre of mass of ("reference liver",
            "prediction liver", ...), or "crop centre" when every liver mask is empty.
        crop: the box on the original grid the views were cut from.
        oblique: True when the grid is oblique (views along the nearest axes).
    """

    views: tuple[View, View, View]
    centre_lps_mm: tuple[float, float, float]
    centre_of: str
    crop: CropRecord
    oblique: bool


def _liver(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels) > 0


def liver_crop(labels: Mapping[str, Volume], margin_mm: float = DEFAULT_MARGIN_MM) -> CropRecord:
    """Bounding box of the liver (labels > 0) of every label volume together, plus ``margin_mm``.

    All volumes must share one grid; the whole grid when every liver mask is empty.
    """
    volumes = list(labels.values())
    first = volumes[0]
    union = np.zeros(first.geometry.shape_zyx, dtype=bool)
    for volume in volumes:
        first.require_same_grid(volume)
        union |= _liver(volume.array)
    if not union.any():
        return full_box(first.geometry)
    return label_crop(first.with_array(union.astype(np.uint8)), margin_mm=margin_mm)


def _centre_index(masks: Mapping[str, np.ndarray], order: tuple[str, ...],
                  shape_zyx: tuple[int, int, int]) -> tuple[tuple[int, int, int], str]:
    for name in order:
        mask = masks.get(name)
        if mask is not None and mask.any():
            centre = ndimage.center_of_mass(mask)
            return tuple(int(round(c)) for c in centre), f"{name} liver"  # type: ignore[return-value]
    return tuple(n // 2 for n in shape_zyx), "crop centre"  # type: ignore[return-value]


@dataclass(frozen=True)
class LpsCrop:
    """The case cut to the liver's box and re-ordered exactly so that index axes point to L, P, S.

    Attributes:
        ct: HU, Volume with array (z, y, x); index x grows to patient left, y to posterior,
            z to superior (exact permutation and flips of the cropped input, no interpolation).
        labels: source name -> 0/1/2 label array (z, y, x) like ``ct.array``.
        box: the crop on the original grid.
        centre_zyx: (k, j, i) index in ``ct`` of the first non-empty liver mask's centre of mass
            (the crop's centre when every liver mask is empty).
        centre_of: what ``centre_zyx`` is the centre of ("reference liver", ..., "crop centre").
        oblique: True when the input grid is oblique (axes are the nearest axis-aligned ones).
    """

    ct: Volume
    labels: dict[str, np.ndarray]
    box: CropRecord
    centre_zyx: tuple[int, int, int]
    centre_of: str
    oblique: bool


def crop_to_lps(ct: Volume, labels: Mapping[str, Volume], *, margin_mm: float = DEFAULT_MARGIN_MM,
                centre_order: tuple[str, ...] = ("reference", "prediction")) -> LpsCrop:
    """The liver's bounding box (all label volumes together, plus ``margin_mm``) in LPS index order.

    Args:
        ct: CT in HU, array (z, y, x), any orientation.
        labels: source name ("reference", "prediction", ...) -> 0/1/2 label map on ``ct``'s grid.
        margin_mm: margin around the liver's bounding box, mm.
        centre_order: which sources' liver to centre on, in order of preference.

    Raises:
        GeometryMismatchError: a label volume is not on the CT's grid.
    """
    for volume in labels.values():
        ct.require_same_grid(volume)
    box = liver_crop(labels, margin_mm) if labels else full_box(ct.geometry)
    ct_lps, _ = reorient(crop(ct, box), "LPS")
    label_lps = {name: reorient(crop(volume, box), "LPS")[0].array for name, volume in labels.items()}
    masks = {name: _liver(array) for name, array in label_lps.items()}
    centre, centre_of = _centre_index(masks, centre_order, ct_lps.geometry.shape_zyx)
    return LpsCrop(ct=ct_lps, labels=label_lps, box=box, centre_zyx=centre, centre_of=centre_of,
                   oblique=ct.geometry.is_oblique)


def display_slice(array: np.ndarray, view: str, index: int) -> np.ndarray:
    """One slice of an LPS-ordered array (z, y, x) in the display order of the module docstring.

    Args:
        array: (z, y, x), index axes pointing to L, P, S (``LpsCrop``).
        view: "axial" (``index`` = z), "coronal" (``index`` = y) or "sagittal" (``index`` = x).

    Returns:
        A new array: axial (y, x); coronal (z reversed, x); sagittal (z reversed, y).
    """
    if view == "axial":
        return np.array(array[index])
    if view == "coronal":
        return np.array(array[::-1, index, :])
    if view == "sagittal":
        return np.array(array[::-1, :, index])
    raise ValueError(f"unknown view {view!r}: expected one of {VIEW_NAMES}")


def views_of(lps: LpsCrop) -> OrthoViews:
    """The three slices through ``lps.centre_zyx`` (see ``ortho_views``)."""
    k, j, i = lps.centre_zyx
    sx, sy, sz = lps.ct.geometry.spacing_mm
    layout = {"axial": ((sy, sx), ("A", "P", "R", "L"), k),
              "coronal": ((sz, sx), ("S", "I", "R", "L"), j),
              "sagittal": ((sz, sy), ("S", "I", "A", "P"), i)}
    views = tuple(View(name=name, ct=display_slice(lps.ct.array, name, layout[name][2]),
                       labels={s: display_slice(a, name, layout[name][2]) for s, a in lps.labels.items()},
                       pixel_mm=layout[name][0], edges=layout[name][1], index=int(layout[name][2]))
                  for name in VIEW_NAMES)
    centre = lps.ct.geometry.index_to_physical(np.array([i, j, k], dtype=float))
    return OrthoViews(views=views, centre_lps_mm=tuple(float(c) for c in centre),  # type: ignore[arg-type]
                      centre_of=lps.centre_of, crop=lps.box, oblique=lps.oblique)


def ortho_views(ct: Volume, labels: Mapping[str, Volume], *, margin_mm: float = DEFAULT_MARGIN_MM,
                centre_order: tuple[str, ...] = ("reference", "prediction")) -> OrthoViews:
    """Three orthogonal slices through the centre of mass of the first non-empty liver mask.

    Args:
        ct: CT in HU, array (z, y, x), any orientation.
        labels: source name ("reference", "prediction", ...) -> 0/1/2 label map on ``ct``'s grid.
        margin_mm: margin around the liver's bounding box, mm.
        centre_order: which sources' liver to centre on, in order of preference.

    Raises:
        GeometryMismatchError: a label volume is not on the CT's grid.
    """
    return views_of(crop_to_lps(ct, labels, margin_mm=margin_mm, centre_order=centre_order))
