"""Synthetic abdominal CT phantoms with liver and tumour labels, deterministic for a seed.

A phantom is a random adult patient drawn in *nominal* millimetres (LPS, see
:mod:`livseg.phantoms.anatomy`), scaled isotropically by ``s`` to fit the field of view,
and painted on the voxel grid:

* **Scale.** ``s = min(1, FOV_x / W, FOV_y / D, FOV_z / 260 mm)`` where W and D are the body's
  width and depth (plus room for the table) and 260 mm is the nominal height that must be seen:
  lung bases and heart base above, the whole liver, kidneys and upper bowel below. A
  512x512 grid at 0.6-0.9 mm holds a (nearly) full-size patient (``s`` 0.85-1); the default
  128x128x64 grid holds a doll-sized one (``s`` 0.2-0.35) that still shows the whole liver and
  every organ around it. Every length scales with ``s`` (organs, tumours, vessels, wall
  thicknesses), so volumes scale with ``s**3``; ``info["anatomy_scale"]`` records it. Above and
  below the 260 mm the trunk simply continues (lungs up to an apex, bowel down to the pelvis).
* **Grid.** When not given, ``size_xyz`` is (128, 128, 64) and ``spacing_mm`` is drawn from the
  seed: in-plane 0.6-0.9 mm (square pixels), slices 1-5 mm, within that range as thick as
  needed for the slices to span the 260 nominal mm at the in-plane scale (so the body fills the
  width of the image) and no thicker than keeps them within 480 nominal mm (a scan of the
  trunk, not of the whole body): a 128x128x64 doll gets about 1.2-2.5 mm slices, a
  512x512x300 adult 1-1.6 mm ones. With a spacing given explicitly the trunk is simply
  continued beyond that range.
* **Storage.** The anatomy is painted on an identity-direction grid; with ``flip_axes`` each
  index axis is reversed with probability 1/2 (direction cosine -1, origin moved to the other
  end), so the anatomy stays where it is in physical space.
* **Determinism.** Independent random streams (grid, anatomy, tumours, contrast, texture,
  noise, flips) are derived from the seed with :class:`numpy.random.SeedSequence`, so the same
  seed gives the same bytes, and ``flip_axes`` or ``liver`` change nothing else.
"""

from __future__ import annotations

from typing import Callable

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.datasets.case import Case
from livseg.errors import ConfigError
from livseg.io import write_volume
from livseg.phantoms.anatomy import Anatomy, draw_anatomy, place_tumours
from livseg.phantoms.body import TABLE_GAP_MM, TABLE_THICKNESS_MM
from livseg.phantoms.fields import Grid
from livseg.phantoms.intensity import render_intensity
from livseg.phantoms.paint import paint_anatomy
from livseg.phantoms.tissues import (
    MAX_TUMOURS,
    PHANTOM_TISSUES,
    Contrast,
    Tissue,
    draw_contrast,
    label_lookup,
    tumour_core_id,
    tumour_rim_id,
)
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)

DEFAULT_SIZE_XYZ = (128, 128, 64)
IN_PLANE_SPACING_MM = (0.6, 0.9)
SLICE_SPACING_MM = (1.0, 5.0)
NOMINAL_VIEW_Z_MM = (-200.0, 60.0)  # nominal z range every phantom shows in full
MAX_DRAWN_VIEW_Z_MM = 480.0  # drawn slice spacings keep the slices within this nominal height
MIN_SIZE = 16
MAX_VOXELS = 512 * 512 * 1200
PHANTOM_FORMATS = ("nii.gz", "nii", "mha", "mhd", "nrrd", "nhdr")

_STREAMS = ("grid", "anatomy", "tumours", "contrast", "texture", "noise", "flips")


@dataclass(frozen=True)
class Phantom:
    """A rendered phantom: CT, labels and the tissue map it was made from, on one Geometry.

    Attributes:
        ct: int16 HU, array (z, y, x).
        labels: uint8, 0 background, 1 liver (intrahepatic vessels included), 2 tumour.
        tissues: uint8 :class:`~livseg.phantoms.tissues.Tissue` ids (tumour i: ids
            ``tumour_core_id(i)`` and ``tumour_rim_id(i)``).
        info: what was drawn (JSON-friendly): seed, phase, noise, liver HU, scale, flips, tumours.
    """

    ct: Volume
    labels: Volume
    tissues: Volume
    info: dict


def _stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAMS.index(name),)))


def _check_request(seed: int, size_xyz: tuple[int, int, int] | None,
                   spacing_mm: tuple[float, float, float] | None, liver: bool,
                   n_tumours: int | None) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("phantom seed", expected="a non-negative integer", found=repr(seed))
    if size_xyz is not None:
        if (len(tuple(size_xyz)) != 3 or not all(isinstance(n, (int, np.integer)) for n in size_xyz)
                or min(size_xyz) < MIN_SIZE):
            raise ConfigError("phantom size", expected=f"3 integers (x, y, z) of at least {MIN_SIZE}",
                              found=repr(size_xyz))
        if int(np.prod(size_xyz)) > MAX_VOXELS:
            raise ConfigError("phantom size", expected=f"at most {MAX_VOXELS} voxels",
                              found=f"{size_xyz} = {int(np.prod(size_xyz))} voxels")
    if spacing_mm is not None:
        try:
            values = tuple(float(v) for v in spacing_mm)
        except (TypeError, ValueError):
            values = ()
        if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
            raise ConfigError("phantom spacing", expected="3 positive spacings (x, y, z) in mm",
                              found=repr(spacing_mm))
    if n_tumours is not None:
        if isinstance(n_tumours, bool) or not isinstance(n_tumours, (int, np.integer)) \
                or not 0 <= n_tumours <= MAX_TUMOURS:
            raise ConfigError("phantom tumour count", expected=f"an integer from 0 to {MAX_TUMOURS}",
                              found=repr(n_tumours))
        if n_tumours > 0 and not liver:
            raise ConfigError("phantom tumour count", expected="0 tumours when liver=False",
                              found=f"{n_tumours}", fix="tumours need a liver to sit in")


def _needed_view_mm(anatomy: Anatomy) -> np.ndarray:
    """Nominal extent (x, y, z mm) that must fit in the field of view: body, table, view height."""
    half_x, half_y = anatomy.body.max_half_extent_mm
    below_back = TABLE_GAP_MM + TABLE_THICKNESS_MM
    return np.array([2.08 * half_x, 2.08 * half_y + below_back, NOMINAL_VIEW_Z_MM[1] - NOMINAL_VIEW_Z_MM[0]])


def _draw_spacing(rng: np.random.Generator, anatomy: Anatomy, size: tuple[int, int, int]
                  ) -> tuple[float, float, float]:
    """In-plane 0.6-0.9 mm; slices 1-5 mm, spanning 260-480 nominal mm where that range allows."""
    in_plane = round(float(rng.uniform(*IN_PLANE_SPACING_MM)), 4)
    need = _needed_view_mm(anatomy)
    scale_in_plane = min(1.0, size[0] * in_plane / need[0], size[1] * in_plane / need[1])
    thinnest = float(np.clip(need[2] * scale_in_plane / size[2], *SLICE_SPACING_MM))
    thickest = float(np.clip(MAX_DRAWN_VIEW_Z_MM * scale_in_plane / size[2], thinnest, SLICE_SPACING_MM[1]))
    slices = round(float(rng.uniform(thinnest, thickest)), 2)
    return (in_plane, in_plane, slices)


@dataclass(frozen=True)
class _Placement:
    scale: float
    origin_mm: np.ndarray  # LPS of voxel (0, 0, 0) on the canonical (identity) grid
    body_centre_mm: np.ndarray  # LPS of the nominal origin


def _place(rng: np.random.Generator, anatomy: Anatomy, size: tuple[int, int, int],
           spacing: tuple[float, float, float]) -> _Placement:
    """Scale and position the patient in the field of view (see the module docstring)."""
    fov = np.asarray(size, dtype=float) * np.asarray(spacing)
    need = _needed_view_mm(anatomy)
    below_back = TABLE_GAP_MM + TABLE_THICKNESS_MM  # room for the table behind the back
    scale = float(min(1.0, *(fov / need)))
    spare = fov / scale - need  # nominal mm left over per axis, >= 0
    view_centre_z = 0.5 * (NOMINAL_VIEW_Z_MM[0] + NOMINAL_VIEW_Z_MM[1])
    # Nominal point shown at the centre of the field of view.
    shown = np.array([rng.uniform(-0.3, 0.3) * spare[0],
                      0.5 * below_back + rng.uniform(-0.3, 0.3) * spare[1],
                      view_centre_z + float(np.clip(rng.uniform(-0.3, 0.3) * spare[2], -60, 60))])
    fov_centre = np.array([rng.uniform(-25, 25), rng.uniform(-40, 20), rng.uniform(-600, -100)]).round(2)
    body_centre = fov_centre - scale * shown
    origin = fov_centre - 0.5 * (np.asarray(size) - 1) * np.asarray(spacing)
    return _Placement(scale=scale, origin_mm=origin, body_centre_mm=body_centre)


def _nominal_grid(placement: _Placement, size: tuple[int, int, int],
                  spacing: tuple[float, float, float]) -> Grid:
    axes = [((placement.origin_mm[a] + spacing[a] * np.arange(size[a])) - placement.body_centre_mm[a])
            / placement.scale for a in range(3)]
    return Grid(xs=axes[0].astype(np.float32), ys=axes[1].astype(np.float32), zs=axes[2].astype(np.float32))


def flip_storage(arrays: list[np.ndarray], geometry: Geometry, flips: tuple[bool, bool, bool]
          ) -> tuple[list[np.ndarray], Geometry]:
    """Reverse the flagged index axes (x, y, z) of every array and of the geometry."""
    axes_zyx = tuple(2 - a for a in range(3) if flips[a])
    if not axes_zyx:
        return arrays, geometry
    flipped = [np.ascontiguousarray(np.flip(array, axis=axes_zyx)) for array in arrays]
    direction = geometry.direction_matrix.copy()
    origin = np.asarray(geometry.origin_mm, dtype=float)
    for axis in range(3):
        if flips[axis]:
            origin = origin + direction[:, axis] * geometry.spacing_mm[axis] * (geometry.size[axis] - 1)
            direction[:, axis] *= -1
    return flipped, Geometry(size=geometry.size, spacing_mm=geometry.spacing_mm,
                             origin_mm=tuple(origin), direction=tuple(direction.ravel()))


def render_phantom(seed: int, *, size_xyz: tuple[int, int, int] | None = None,
                   spacing_mm: tuple[float, float, float] | None = None, liver: bool = True,
                   n_tumours: int | None = None, flip_axes: bool = True) -> Phantom:
    """Like :func:`generate_phantom`, but also returns the tissue map and what was drawn."""
    _check_request(seed, size_xyz, spacing_mm, liver, n_tumours)
    started = time.perf_counter()
    seed = int(seed)
    anatomy = draw_anatomy(_stream(seed, "anatomy"))
    size = tuple(int(n) for n in (size_xyz or DEFAULT_SIZE_XYZ))
    grid_rng = _stream(seed, "grid")
    drawn_spacing = _draw_spacing(grid_rng, anatomy, size)  # type: ignore[arg-type]
    spacing = tuple(float(v) for v in (spacing_mm or drawn_spacing))
    placement = _place(grid_rng, anatomy, size, spacing)  # type: ignore[arg-type]
    tumour_rng = _stream(seed, "tumours")
    drawn_count = int(tumour_rng.integers(0, 7))
    count = (drawn_count if n_tumours is None else int(n_tumours)) if liver else 0
    min_diameter = 2.0 * max(spacing) / placement.scale
    anatomy = place_tumours(tumour_rng, anatomy, count, min_diameter_mm=min_diameter)
    contrast = draw_contrast(_stream(seed, "contrast"), len(anatomy.tumours))
    grid = _nominal_grid(placement, size, spacing)  # type: ignore[arg-type]
    tissue = paint_anatomy(anatomy, grid, liver=liver)
    ct = render_intensity(tissue, grid, anatomy, contrast, spacing,  # type: ignore[arg-type]
                          texture_rng=_stream(seed, "texture"), noise_rng=_stream(seed, "noise"))
    labels = label_lookup()[tissue]
    flips = tuple(bool(f) for f in _stream(seed, "flips").uniform(size=3) < 0.5)
    if not flip_axes:
        flips = (False, False, False)
    geometry = Geometry(size=size, spacing_mm=spacing, origin_mm=tuple(placement.origin_mm))  # type: ignore[arg-type]
    tissue_counts = np.bincount(tissue.ravel(), minlength=256)
    (ct, labels, tissue), geometry = flip_storage([ct, labels, tissue], geometry, flips)  # type: ignore[assignment]
    info = _describe(seed, anatomy, contrast, placement, flips, tissue_counts, geometry)
    source = f"phantom(seed={seed})"
    elapsed = time.perf_counter() - started
    logger.debug("phantom seed %d: %s in %.2f s", seed, geometry.describe(), elapsed)
    return Phantom(
        ct=Volume(ct, geometry, source=source, meta={"phantom": info}, kind="ct"),
        labels=Volume(labels, geometry, source=f"{source} labels", meta={"phantom": info}, kind="label"),
        tissues=Volume(tissue, geometry, source=f"{source} tissues", meta={"phantom": info}, kind="label"),
        info=info,
    )


def generate_phantom(seed: int, *, size_xyz: tuple[int, int, int] | None = None,
                     spacing_mm: tuple[float, float, float] | None = None, liver: bool = True,
                     n_tumours: int | None = None, flip_axes: bool = True) -> tuple[Volume, Volume]:
    """A synthetic abdominal CT and its labels, deterministic for ``seed``.

    Args:
        seed: non-negative integer; the same seed (and arguments) gives the same bytes.
        size_xyz: voxels along (x, y, z); default (128, 128, 64).
        spacing_mm: voxel size (x, y, z) in mm; default drawn from the seed (in-plane
            0.6-0.9 mm, slices 1-5 mm; see the module docstring).
        liver: False leaves the liver (and gallbladder, hepatic vessels, tumours) out.
        n_tumours: number of liver tumours (0-12); default drawn from the seed (0-6). Fewer
            are placed only if the liver has no free room left.
        flip_axes: reverse index axes at random in storage (the anatomy stays put physically).

    Returns:
        (ct, labels): ct int16 HU, labels uint8 (0 background, 1 liver, 2 tumour), both arrays
        (z, y, x) on exactly the same Geometry; ``ct.meta["phantom"]`` describes the draw.
    """
    phantom = render_phantom(seed, size_xyz=size_xyz, spacing_mm=spacing_mm, liver=liver,
                             n_tumours=n_tumours, flip_axes=flip_axes)
    return phantom.ct, phantom.labels


def _describe(seed: int, anatomy: Anatomy, contrast: Contrast, placement: _Placement,
              flips: tuple[bool, bool, bool], tissue_counts: np.ndarray, geometry: Geometry) -> dict:
    scale = placement.scale

    def physical(point: tuple[float, float, float]) -> list[float]:
        return [round(float(v), 3) for v in placement.body_centre_mm + scale * np.asarray(point)]

    tumours = []
    for index, (tumour, look) in enumerate(zip(anatomy.tumours, contrast.tumours)):
        voxels = int(tissue_counts[tumour_core_id(index)] + tissue_counts[tumour_rim_id(index)])
        tumours.append({
            "centre_lps_mm": physical(tumour.centre_mm),
            "diameter_mm": round(scale * tumour.diameter_mm, 3),
            "semi_axes_mm": [round(scale * s, 3) for s in tumour.shape.lobes[0].semi_axes],
            "kind": look.kind,
            "core_hu": round(look.core_hu, 1),
            "rim_hu": round(look.rim_hu, 1),
            "at_edge": tumour.at_edge,
            "voxels": voxels,
        })
    return {
        "seed": seed,
        "phase": contrast.phase,
        "noise_sigma_hu": round(contrast.noise_sigma_hu, 2),
        "liver_hu": round(contrast.liver_hu, 1),
        "anatomy_scale": round(scale, 5),
        "body_centre_lps_mm": physical((0.0, 0.0, 0.0)),
        "flipped_axes": "".join(axis for axis, flip in zip("xyz", flips) if flip),
        "orientation": geometry.orientation,
        "oral_contrast": anatomy.oral_contrast,
        "tumours": tumours,
        "tissue_hu": {t.name.lower(): round(float(contrast.hu_lookup[t]), 1) for t in PHANTOM_TISSUES},
    }


def phantom_seed(seed: int, index: int) -> int:
    """The seed of phantom ``index`` in a set made from ``seed`` (stable across versions)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint32)[0])


def write_phantoms(out_dir: Path, *, n: int, seed: int, size_xyz: tuple[int, int, int] | None = None,
                   fmt: str = "nii.gz", spacing_mm: tuple[float, float, float] | None = None,
                   on_phantom: Callable[[Case], None] | None = None) -> list[Case]:
    """Write ``n`` phantoms as OUT/images/phantom-NNN.<fmt> and OUT/labels/phantom-NNN.<fmt>.

    Phantom i uses seed :func:`phantom_seed`(seed, i). Every file is written atomically.
    ``spacing_mm`` (x, y, z) fixes the voxel spacing; with a grid large enough for a whole
    abdomen (e.g. 240 x 240 x 110 at 1.6 x 1.6 x 3 mm) the anatomy keeps its real size instead
    of being scaled down to fit. ``on_phantom`` is called with each case once written (progress).

    Returns:
        One :class:`Case` per phantom (layout "pairs", case_id "phantom-NNN", labels already
        0/1/2); ``extra`` holds the phantom seed, phase and anatomy scale.
    """
    fmt = str(fmt).lstrip(".").lower()
    if fmt not in PHANTOM_FORMATS:
        raise ConfigError("phantom format", expected="one of " + ", ".join(PHANTOM_FORMATS), found=repr(fmt))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError("phantom count", expected="a non-negative integer", found=repr(n))
    _check_request(seed, size_xyz, spacing_mm, True, None)
    out_dir = Path(out_dir)
    cases = []
    for index in range(int(n)):
        case_id = f"phantom-{index:03d}"
        case_seed = phantom_seed(seed, index)
        ct, labels = generate_phantom(case_seed, size_xyz=size_xyz, spacing_mm=spacing_mm)
        image_path = write_volume(ct, out_dir / "images" / f"{case_id}.{fmt}", kind="ct")
        label_path = write_volume(labels, out_dir / "labels" / f"{case_id}.{fmt}", kind="label")
        info = ct.meta["phantom"]
        cases.append(Case(case_id=case_id, image=image_path, label=label_path, layout="pairs",
                          extra={"seed": case_seed, "phase": info["phase"],
                                 "anatomy_scale": info["anatomy_scale"]}))
        if on_phantom is not None:
            on_phantom(cases[-1])
    return cases
