"""Insert synthetic liver lesions into a real CT (TumorCP-style augmentation).

``insert_lesions(ct, labels, seed)`` paints 1-4 lesions (or as asked) into the liver of a real
CT and sets their voxels to label 2 (tumour):

* **Kinds**: "hypo" and "hyper" (darker / brighter than the liver), "rim" (rim-enhancing:
  dark core, bright outer 25 %), "cyst" (water, 0-20 HU, no texture). HU offsets from the local
  liver come from the phantoms' tumour table for the phase the liver HU suggests
  (:func:`~.tissues.tumour_kind_ranges`; < 70 HU non-contrast, < 95 HU arterial, else portal
  venous), with fixed fallbacks for kinds that table has not for that phase.
* **Shapes**: "ellipsoid" (semi-axes 0.7-1.3 of each other), "lobulated" (a smooth union of
  2-4 ellipsoids, :func:`~.fields.soft_union`), "mask" (a real tumour of the IRCADb mask set,
  training patients only, :func:`tumour_templates`); each randomly rotated and scaled so that
  its volume is that of a sphere of the drawn ``diameter_mm`` (5-80 mm, log-uniform).
* **Placement**: the centre lies at least 1.1 radii deep in the liver (80 %) or 0.5 radii
  (20 %: lesions that reach the liver's edge); lesion voxels outside the liver are cut, so a
  lesion is always inside the liver. Lesions too big for the liver shrink to fit or are left out.
* **Blending**: occupancy per voxel from 2-4 sub-samples per axis (partial volume), blurred by
  the scanner's point spread (:func:`~.intensity.psf_sigma_mm`); the lesion replaces the CT in
  proportion, and fresh correlated noise (:func:`~.intensity.add_correlated_noise`) of the
  local noise SD (estimated in the liver around the lesion) tops the noise back up, so the
  lesion is as noisy as its surroundings. Voxels the blurred occupancy does not reach keep
  their exact value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage

from livseg.datasets.case import TUMOUR
from livseg.errors import ConfigError
from livseg.phantoms.fields import Ellipsoid, soft_union
from livseg.phantoms.intensity import add_correlated_noise, psf_sigma_mm
from livseg.phantoms.mask_paint import inner_depth_mm
from livseg.phantoms.tissues import HU_MAX, HU_MIN, tumour_kind_ranges
from livseg.volume import Volume

LESION_KINDS = ("hypo", "hyper", "rim", "cyst")
LESION_SHAPES = ("ellipsoid", "lobulated", "mask")
DIAMETER_RANGE_MM = (5.0, 80.0)
CYST_HU_RANGE = (0.0, 20.0)
_FALLBACK_RANGES = {"hypo": ((-50.0, -20.0), None), "hyper": ((20.0, 45.0), None),
                    "rim": ((-50.0, -25.0), (10.0, 25.0))}
_STREAMS = ("count", "lesion", "noise")
_F32 = np.float32


@dataclass(frozen=True)
class TumourTemplate:
    """A real tumour shape: bool (z, y, x) mask cropped to its box, voxel size (z, y, x; mm)."""

    mask: np.ndarray
    spacing_zyx: tuple[float, float, float]
    source: str

    @property
    def volume_mm3(self) -> float:
        return float(self.mask.sum()) * float(np.prod(self.spacing_zyx))


@dataclass(frozen=True)
class Insertion:
    """A CT with inserted lesions.

    Attributes:
        ct: int16 HU on the input's grid.
        labels: uint8 0/1/2 on the input's grid (2 where a lesion was inserted).
        changed: bool (z, y, x), the voxels whose CT value may differ from the input.
        lesions: one JSON-friendly dict per inserted lesion.
    """

    ct: Volume
    labels: Volume
    changed: np.ndarray
    lesions: list[dict]


def _stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(2000 + _STREAMS.index(name),)))


@lru_cache(maxsize=4)
def _templates(root: str | None, patients: tuple[str, ...]) -> tuple[TumourTemplate, ...]:
    from livseg.phantoms.masks import mask_patients, read_masks

    found = []
    for patient in mask_patients(root, patients=patients):
        masks = read_masks(patient, organs=("tumour",))
        spacing = tuple(float(masks.geometry.spacing_mm[a]) for a in (2, 1, 0))
        for array in masks.organs.get("tumour", []):
            components, _ = ndimage.label(array)
            for number, box in enumerate(ndimage.find_objects(components), start=1):
                if box is None:
                    continue
                mask = components[box] == number
                volume = float(mask.sum()) * float(np.prod(spacing))
                if (6.0 * volume / np.pi) ** (1 / 3) >= 5.0:
                    found.append(TumourTemplate(np.ascontiguousarray(mask), spacing, f"{patient.patient_id}#{number}"))
    return tuple(found)


def tumour_templates(root: str | Path | None = None, patients: Sequence[str] = ()) -> tuple[TumourTemplate, ...]:
    """Real tumour shapes: every connected tumour component (at least 5 mm across) of the mask
    set's training patients (:data:`~.masks.HELD_OUT_PATIENTS` excluded); cached per process."""
    return _templates(None if root is None else str(root), tuple(patients))


class _Shape:
    """A lesion shape in mm about its centre: ``inside(points (3, N) x y z mm, shrink)``."""

    def __init__(self, kind: str, rng: np.random.Generator, radius_mm: float,
                 template: TumourTemplate | None) -> None:
        self.kind = kind
        self.rotation = _random_rotation(rng)
        self.template = template
        if kind == "ellipsoid":
            ratios = rng.uniform(0.7, 1.3, size=3)
            self.parts = [Ellipsoid((0.0, 0.0, 0.0), tuple(ratios / np.cbrt(ratios.prod())))]  # type: ignore[arg-type]
        elif kind == "lobulated":
            count = int(rng.integers(2, 5))
            self.parts = [Ellipsoid(tuple(rng.normal(0.0, 0.45, size=3) if i else np.zeros(3)),  # type: ignore[arg-type]
                                    tuple(rng.uniform(0.45, 0.9, size=3))) for i in range(count)]
        else:
            assert template is not None
            smooth = ndimage.gaussian_filter(np.pad(template.mask, 2).astype(np.float32), 0.7)
            self.smooth = smooth
            self.centre_index = np.argwhere(template.mask).mean(axis=0) + 2.0
        self.scale = 1.0
        self.scale = radius_mm / self._unit_radius()

    def _unit_radius(self) -> float:
        """Radius (mm) of the sphere with this shape's volume at scale 1."""
        if self.kind == "mask":
            assert self.template is not None
            return float(np.cbrt(3.0 * self.template.volume_mm3 / (4.0 * np.pi)))
        axes = -2.5 + (np.arange(60) + 0.5) * (5.0 / 60)  # cell centres: 60 cells of 5/60
        x, y, z = np.meshgrid(axes, axes, axes, indexing="ij")
        inside = self._inside_local(np.stack([x.ravel(), y.ravel(), z.ravel()]), 1.0)
        volume = inside.mean() * 5.0 ** 3
        return float(np.cbrt(3.0 * volume / (4.0 * np.pi)))

    def _inside_local(self, points: np.ndarray, shrink: float) -> np.ndarray:
        p = points.astype(np.float32) / _F32(shrink)
        if self.kind == "mask":
            assert self.template is not None
            spacing = np.asarray(self.template.spacing_zyx, float)
            index = np.stack([p[2 - a] / spacing[a] + self.centre_index[a] for a in range(3)])
            return ndimage.map_coordinates(self.smooth, index, order=1, mode="constant", cval=0.0) > 0.5
        qs = [part.q(p[0], p[1], p[2]) for part in self.parts]
        return (soft_union(qs) if len(qs) > 1 else qs[0]) < 1

    def inside(self, points_mm: np.ndarray, shrink: float = 1.0) -> np.ndarray:
        """Which of ``points_mm`` (3, N; x y z mm about the centre) lie in the lesion."""
        return self._inside_local(self.rotation.T @ points_mm / self.scale, shrink)

    def extent_mm(self) -> float:
        """Half-width (mm) of a box sure to hold the lesion."""
        if self.kind == "mask":
            assert self.template is not None
            half = 0.5 * np.asarray(self.template.mask.shape) * np.asarray(self.template.spacing_zyx)
            return float(np.linalg.norm(half)) * self.scale + 2.0
        return 2.6 * self.scale


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _phase_of(liver_hu: float) -> str:
    return "non-contrast" if liver_hu < 70 else "arterial" if liver_hu < 95 else "portal-venous"


def _noise_sd(ct: np.ndarray, where: np.ndarray) -> float:
    """Noise SD (HU) from the in-plane high-pass (voxel minus its 3x3 mean) where ``where``."""
    if where.sum() < 50:
        return 10.0
    values = ct.astype(np.float32)
    residual = values - ndimage.uniform_filter(values, size=(1, 3, 3), mode="nearest")
    r = residual[where]
    mad = float(np.median(np.abs(r - np.median(r))))
    return float(np.clip(1.4826 * mad / np.sqrt(8.0 / 9.0), 2.0, 60.0))


def insert_lesions(ct: Volume, labels: Volume, seed: int, *, n: int | None = None,
                   diameters_mm: Sequence[float] | None = None, kinds: Sequence[str] | None = None,
                   shapes: Sequence[str] | None = None, templates: Sequence[TumourTemplate] | None = None,
                   edge_share: float = 0.2) -> Insertion:
    """Insert lesions into ``ct``'s liver (``labels`` >= 1); deterministic for ``seed``.

    Args:
        ct: a real CT (HU), any grid.
        labels: 0/1/2 labels on ``ct``'s grid; the liver is labels 1 and 2.
        seed: non-negative integer.
        n: number of lesions (default: 1-4 drawn); ``diameters_mm``, ``kinds``, ``shapes``
            fix those of lesion i (cycled when shorter than ``n``).
        diameters_mm: equivalent-sphere diameters (mm); default drawn log-uniformly in 5-80 mm.
        kinds: from :data:`LESION_KINDS`; default drawn (hypo 40 %, rim 25 %, hyper 20 %, cyst 15 %).
        shapes: from :data:`LESION_SHAPES`; default drawn ("mask" only when templates exist).
        templates: real tumour shapes for "mask" (default: :func:`tumour_templates` when the
            shared mask set is there, else none).
        edge_share: share of lesions placed so that they may reach the liver's edge.

    Returns:
        :class:`Insertion`.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("lesion seed", expected="a non-negative integer", found=repr(seed))
    ct.geometry.require_same_grid(labels.geometry, subject="lesion insertion labels")
    for values, allowed, name in ((kinds, LESION_KINDS, "kind"), (shapes, LESION_SHAPES, "shape")):
        bad = [v for v in (values or ()) if v not in allowed]
        if bad:
            raise ConfigError(f"lesion {name}", expected="one of " + ", ".join(allowed), found=repr(bad))
    if diameters_mm is not None and any(not DIAMETER_RANGE_MM[0] <= d <= DIAMETER_RANGE_MM[1] for d in diameters_mm):
        raise ConfigError("lesion diameter", expected=f"{DIAMETER_RANGE_MM[0]:g}-{DIAMETER_RANGE_MM[1]:g} mm",
                          found=repr(list(diameters_mm)))
    count = int(_stream(seed, "count").integers(1, 5)) if n is None else int(n)
    if templates is None and (shapes is None or "mask" in shapes):
        try:
            templates = tumour_templates()
        except Exception:  # no shared mask set: no real shapes
            templates = ()
    templates = tuple(templates or ())
    out_ct = ct.array.astype(np.float32)
    out_labels = labels.array.copy()
    changed = np.zeros(ct.array.shape, dtype=bool)
    liver = labels.array >= 1
    lesions: list[dict] = []
    if not liver.any() or count == 0:
        return _result(ct, labels, out_ct, out_labels, changed, lesions)
    spacing_xyz = np.asarray(ct.geometry.spacing_mm, float)
    spacing_zyx = tuple(float(v) for v in spacing_xyz[::-1])
    depth = inner_depth_mm(liver, spacing_zyx)  # type: ignore[arg-type]
    rng = _stream(seed, "lesion")
    noise_rng = _stream(seed, "noise")
    for index in range(count):
        kind = kinds[index % len(kinds)] if kinds else LESION_KINDS[int(rng.choice(4, p=[0.4, 0.2, 0.25, 0.15]))]
        allowed_shapes = [s for s in LESION_SHAPES if s != "mask" or templates]
        shape_name = shapes[index % len(shapes)] if shapes else allowed_shapes[int(rng.integers(len(allowed_shapes)))]
        if shape_name == "mask" and not templates:
            raise ConfigError("lesion shape", expected="real tumour templates for shape 'mask'",
                              found="none (no shared ircadb-masks)", fix="give templates or another shape")
        diameter = (float(diameters_mm[index % len(diameters_mm)]) if diameters_mm else
                    float(np.exp(rng.uniform(np.log(DIAMETER_RANGE_MM[0]), np.log(DIAMETER_RANGE_MM[1])))))
        at_edge = bool(rng.uniform() < edge_share)
        margin = 0.5 if at_edge else 1.1
        deepest = float(depth.max())
        if deepest < margin * DIAMETER_RANGE_MM[0] / 2:
            break
        diameter = min(diameter, 2.0 * deepest / margin)
        candidates = np.argwhere(depth >= margin * diameter / 2)
        centre = candidates[int(rng.integers(len(candidates)))]
        template = templates[int(rng.integers(len(templates)))] if shape_name == "mask" else None
        shape = _Shape(shape_name, rng, diameter / 2, template)
        described = _paint_one(out_ct, out_labels, changed, liver, centre, shape, kind, spacing_xyz,
                               rng, noise_rng)
        described.update({"shape": shape_name, "diameter_mm": round(diameter, 2), "at_edge": at_edge,
                          "centre_lps_mm": [round(float(v), 2) for v in
                                            ct.geometry.index_to_physical(np.asarray(centre[::-1], float))],
                          "template": template.source if template is not None else None})
        lesions.append(described)
    return _result(ct, labels, out_ct, out_labels, changed, lesions)


def _result(ct: Volume, labels: Volume, out_ct: np.ndarray, out_labels: np.ndarray, changed: np.ndarray,
            lesions: list[dict]) -> Insertion:
    np.rint(out_ct, out=out_ct)
    np.clip(out_ct, HU_MIN, HU_MAX, out=out_ct)
    result = out_ct.astype(ct.array.dtype if np.issubdtype(ct.array.dtype, np.integer) else np.int16)
    result[~changed] = ct.array[~changed]
    meta = {"lesions": lesions}
    return Insertion(ct=Volume(result, ct.geometry, source=f"{ct.source} + lesions", meta=ct.meta | meta, kind="ct"),
                     labels=Volume(out_labels, labels.geometry, source=f"{labels.source} + lesions",
                                   meta=labels.meta | meta, kind="label"),
                     changed=changed, lesions=lesions)


def _paint_one(out_ct: np.ndarray, out_labels: np.ndarray, changed: np.ndarray, liver: np.ndarray,
               centre: np.ndarray, shape: _Shape, kind: str, spacing_xyz: np.ndarray,
               rng: np.random.Generator, noise_rng: np.random.Generator) -> dict:
    sigma_zyx = np.asarray(psf_sigma_mm(spacing_xyz))[::-1] / spacing_xyz[::-1]
    reach = shape.extent_mm()
    half = np.ceil(reach / spacing_xyz[::-1] + 3.0 * sigma_zyx + 1).astype(int)  # (z, y, x) voxels
    lo = np.maximum(centre - half, 0)
    hi = np.minimum(centre + half + 1, np.asarray(out_ct.shape))
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    shape_zyx = tuple(int(b - a) for a, b in zip(lo, hi))
    # Sub-voxel samples: 2-4 per axis (about 0.5 mm apart).
    sub = [int(np.clip(np.ceil(spacing_xyz[a] / 0.6), 2, 4)) for a in range(3)]
    occupancy = np.zeros(shape_zyx, dtype=np.float32)
    core = np.zeros(shape_zyx, dtype=np.float32)
    kz, ky, kx = np.meshgrid(*(np.arange(n) for n in shape_zyx), indexing="ij")
    offsets = [((np.arange(sub[a]) + 0.5) / sub[a] - 0.5) for a in range(3)]
    rim_shrink = float(rng.uniform(0.7, 0.8))
    for ox in offsets[0]:
        for oy in offsets[1]:
            for oz in offsets[2]:
                points = np.stack([((kx + lo[2] - centre[2]) + ox) * spacing_xyz[0],
                                   ((ky + lo[1] - centre[1]) + oy) * spacing_xyz[1],
                                   ((kz + lo[0] - centre[0]) + oz) * spacing_xyz[2]]).reshape(3, -1)
                occupancy += shape.inside(points).reshape(shape_zyx)
                if kind == "rim":
                    core += shape.inside(points, rim_shrink).reshape(shape_zyx)
    samples = float(np.prod(sub))
    occupancy /= samples
    core = core / samples if kind == "rim" else occupancy
    inside_liver = liver[box]
    occupancy *= inside_liver
    core *= inside_liver
    lesion = (occupancy >= 0.5) & inside_liver
    # Local liver: liver voxels (not tumour) in the box around the lesion.
    block = out_ct[box]
    surrounding = inside_liver & (out_labels[box] == 1) & ~lesion
    liver_hu = float(np.median(block[surrounding])) if surrounding.sum() > 20 else float(np.median(block[inside_liver]))
    noise = _noise_sd(block, surrounding if surrounding.sum() > 50 else inside_liver)
    if kind == "cyst":
        core_hu = rim_hu = float(rng.uniform(*CYST_HU_RANGE))
    else:
        phase = _phase_of(liver_hu)
        ranges = tumour_kind_ranges(phase).get(kind, _FALLBACK_RANGES[kind])
        core_hu = liver_hu + float(rng.uniform(*ranges[0]))
        rim_hu = liver_hu + float(rng.uniform(*ranges[1])) if ranges[1] is not None else core_hu
    value = core * _F32(core_hu) + (occupancy - core) * _F32(rim_hu)  # HU x occupancy
    if kind != "cyst":
        texture = ndimage.gaussian_filter(rng.standard_normal(shape_zyx).astype(np.float32), 2.0)
        texture *= _F32(rng.uniform(3.0, 8.0) / max(float(texture.std()), 1e-6))
        value += occupancy * texture
    alpha = ndimage.gaussian_filter(occupancy, sigma_zyx, truncate=3.0)
    value = ndimage.gaussian_filter(value, sigma_zyx, truncate=3.0)
    alpha[alpha < 1e-4] = 0.0
    touched = alpha > 0
    fresh = np.zeros(shape_zyx, dtype=np.float32)
    add_correlated_noise(fresh, noise_rng, noise)
    top_up = np.sqrt(np.clip(1.0 - (1.0 - alpha) ** 2, 0.0, 1.0))
    blended = block * (1.0 - alpha) + value + top_up * fresh
    block[touched] = blended[touched]
    changed[box] |= touched
    out_labels[box][lesion] = TUMOUR
    voxel_mm3 = float(np.prod(spacing_xyz))
    return {"kind": kind, "core_hu": round(core_hu, 1), "rim_hu": round(rim_hu, 1),
            "liver_hu": round(liver_hu, 1), "noise_sd_hu": round(noise, 1),
            "voxels": int(lesion.sum()), "volume_ml": round(float(lesion.sum()) * voxel_mm3 / 1000.0, 3)}
