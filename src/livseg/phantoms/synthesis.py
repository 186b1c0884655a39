"""Realistic CT painted on the real organ layouts of the 3D-IRCADb-01 mask set.

``synthesise_case(patient, seed)`` turns one patient's expert masks (:mod:`.masks`) into a CT
(int16 HU) and labels (uint8 0 background, 1 liver, 2 tumour) on a new random grid:

1. **Grid.** In-plane spacing 0.6-1.0 mm (square pixels), slices 1-5 mm (or ``spacing_mm``);
   a square in-plane field of view around the body (5-30 mm margin, shifted up to 10 mm); the
   z range is the masks' own, or cut (``fov``) through the liver dome (10-45 % of the liver's
   height lost at the top), through the pelvis (bottom raised to 0-60 % of the way up to the
   liver's lower tip), or both. The origin sits on the masks' voxel lattice.
2. **Painting.** The masks are cropped to what the grid sees and, when the grid is at least
   twice as coarse, decimated, then painted as a tissue map (:mod:`.mask_paint`) at that
   finer grid.
3. **Intensity.** HU per tissue and phase (:func:`~.tissues.draw_contrast`, non-contrast /
   arterial / portal venous, vessels enhancing by phase), smooth texture fields (liver,
   spleen, marrow, muscle, fat; lungs denser posteriorly); or, with ``intensity="random"``,
   a random HU per tissue class (SynthSeg-style domain randomisation) with a random bias field.
4. **Partial volume.** The scanner's point spread for the target spacing is applied on the
   fine grid (:func:`~.intensity.partial_volume_blur`), which is then sampled linearly at the
   target voxels; labels are sampled by nearest neighbour from the tissue map.
5. **Deformation.** With ``deform``, target points map into the masks through a random
   affine (rotation up to 10 degrees about z and 4 about x and y, scale 0.9-1.1 per axis,
   about the liver centre) and a smooth elastic displacement (2-6 mm, 40-80 mm wavelength).
6. **Scanner.** Correlated noise (5-25 HU, :func:`~.intensity.add_correlated_noise`) and
   streaks (:func:`~.intensity.add_streaks`), stronger through metal; rounding to int16 and
   random index-axis flips in storage (:func:`~.generator.flip_storage`).

Labels: cysts are labelled **liver (1)**, not tumour. livseg's label 2 is the LiTS "tumour"
class, lesions of tumour tissue (primary and metastatic) that tumour burden and lesion
detection count; IRCADb's experts delineate cysts separately from tumours, and counting
benign cysts as tumour would inflate both measures. A cyst is still painted (water density,
no enhancement), so the network learns that such a lesion is not tumour by itself.

Deterministic: every random draw comes from a stream derived from ``seed``
(:class:`numpy.random.SeedSequence`), so the same seed and options give the same bytes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
from scipy import ndimage

from livseg.errors import ConfigError
from livseg.phantoms.fields import Box, Grid, SmoothField
from livseg.phantoms.generator import flip_storage
from livseg.phantoms.intensity import (
    add_correlated_noise,
    add_field_texture,
    add_streaks,
    partial_volume_blur,
    psf_sigma_mm,
)
from livseg.phantoms.mask_paint import full_box, mask_box, paint_masks, physical_grid
from livseg.phantoms.masks import MaskPatient, MaskSet, mask_patients, read_masks
from livseg.phantoms.tissues import (
    HU_MAX,
    HU_MIN,
    PHASES,
    Tissue,
    draw_contrast,
    label_lookup,
    with_extra_tissues,
)
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)

IN_PLANE_SPACING_MM = (0.6, 1.0)
SLICE_SPACING_MM = (1.0, 5.0)
FOV_MODES = ("random", "none", "dome", "pelvis", "both")
FOV_PROBABILITIES = {"none": 0.3, "dome": 0.3, "pelvis": 0.3, "both": 0.1}
INTENSITY_MODES = ("ct", "random")
RANDOM_HU_RANGE = (-1000.0, 1500.0)
CYST_LABEL = 1  # cysts are liver, not tumour (module docstring)

_STREAMS = ("grid", "fov", "deform", "paint", "contrast", "texture", "noise", "streaks", "flips", "random",
            "bias", "choice", "extra")
_F32 = np.float32
_Z_CHUNK = 16


@dataclass(frozen=True)
class SynthCase:
    """A synthesised case: CT, labels and tissue map on one Geometry, and what was drawn.

    Attributes:
        ct: int16 HU, array (z, y, x).
        labels: uint8, 0 background, 1 liver (vessels and cysts included), 2 tumour.
        tissues: uint8 tissue ids sampled at the CT's voxels (nearest).
        info: JSON-friendly: patient, seed, phase, intensity mode, spacing, fov cut, deformation.
    """

    ct: Volume
    labels: Volume
    tissues: Volume
    info: dict


def _stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1000 + _STREAMS.index(name),)))


def _check(seed: int, phase: str | None, intensity: str, fov: str,
           spacing_mm: Sequence[float] | None) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("synthesis seed", expected="a non-negative integer", found=repr(seed))
    if phase is not None and phase not in PHASES:
        raise ConfigError("synthesis phase", expected="one of " + ", ".join(PHASES), found=repr(phase))
    if intensity not in INTENSITY_MODES:
        raise ConfigError("synthesis intensity", expected="one of " + ", ".join(INTENSITY_MODES), found=repr(intensity))
    if fov not in FOV_MODES:
        raise ConfigError("synthesis fov", expected="one of " + ", ".join(FOV_MODES), found=repr(fov))
    if spacing_mm is not None and (len(tuple(spacing_mm)) != 3 or min(float(v) for v in spacing_mm) <= 0):
        raise ConfigError("synthesis spacing", expected="3 positive spacings (x, y, z) in mm", found=repr(spacing_mm))


def _extent(mask: np.ndarray, axis_zyx: int) -> tuple[int, int]:
    other = tuple(a for a in range(3) if a != axis_zyx)
    hits = np.nonzero(mask.any(axis=other))[0]
    return int(hits[0]), int(hits[-1])


@dataclass(frozen=True)
class _Target:
    geometry: Geometry  # identity direction, before flips
    fov_cut: str
    z_range_mm: tuple[float, float]


def _target_grid(masks: MaskSet, spacing: tuple[float, float, float], fov: str,
                 rng_grid: np.random.Generator, rng_fov: np.random.Generator) -> _Target:
    g = masks.geometry
    body, liver = masks.union("body"), masks.union("liver")
    assert body is not None and liver is not None
    origin, step = np.asarray(g.origin_mm, float), np.asarray(g.spacing_mm, float)
    x0, x1 = _extent(body, 2)
    y0, y1 = _extent(body, 1)
    z0, z1 = _extent(body, 0)
    l0, l1 = _extent(liver, 0)
    z_lo, z_hi = origin[2] + step[2] * z0, origin[2] + step[2] * z1
    liver_lo, liver_hi = origin[2] + step[2] * l0, origin[2] + step[2] * l1
    mode = fov
    if fov == "random":
        names = list(FOV_PROBABILITIES)
        mode = names[int(rng_fov.choice(len(names), p=list(FOV_PROBABILITIES.values())))]
    dome_cut, pelvis_cut = rng_fov.uniform(0.1, 0.45), rng_fov.uniform(0.0, 0.6)
    if mode in ("dome", "both"):
        z_hi = liver_hi - dome_cut * (liver_hi - liver_lo)
    if mode in ("pelvis", "both"):
        z_lo = z_lo + pelvis_cut * max(liver_lo - z_lo, 0.0)
    margin = rng_grid.uniform(5.0, 30.0)
    shift = rng_grid.uniform(-10.0, 10.0, size=2)
    lo_xy = origin[:2] + step[:2] * np.array([x0, y0])
    hi_xy = origin[:2] + step[:2] * np.array([x1, y1])
    side = float(max(hi_xy - lo_xy)) + 2.0 * margin
    n_xy = int(np.ceil(side / spacing[0])) + 1
    n_z = max(int(np.floor((z_hi - z_lo) / spacing[2] + 1e-6)) + 1, 2)
    centre = 0.5 * (lo_xy + hi_xy) + shift
    start = np.array([centre[0] - 0.5 * (n_xy - 1) * spacing[0], centre[1] - 0.5 * (n_xy - 1) * spacing[1], z_lo])
    start = origin + np.round((start - origin) / step) * step  # on the masks' voxel lattice
    geometry = Geometry(size=(n_xy, n_xy, n_z), spacing_mm=spacing, origin_mm=tuple(float(v) for v in start))
    return _Target(geometry=geometry, fov_cut=mode, z_range_mm=(float(start[2]), float(start[2] + (n_z - 1) * spacing[2])))


@dataclass(frozen=True)
class _Warp:
    """Target point p (mm) -> source point c + A (p - c) + u(p)."""

    centre: np.ndarray
    matrix: np.ndarray
    fields: tuple[SmoothField, SmoothField, SmoothField] | None
    description: dict

    def reach_mm(self, lo: np.ndarray, hi: np.ndarray) -> float:
        corners = np.array(np.meshgrid(*zip(lo, hi), indexing="ij")).reshape(3, -1).T
        moved = (corners - self.centre) @ self.matrix.T + self.centre
        elastic = 0.0 if self.fields is None else 3.0 * max(f.coefficients.std() * np.pi ** 0.75 for f in self.fields)
        return float(np.abs(moved - corners).max()) + elastic


def _draw_warp(rng: np.random.Generator, deform: bool, centre: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> _Warp:
    if not deform:
        return _Warp(centre, np.eye(3), None, {"deformed": False})
    angles = np.deg2rad([rng.uniform(-4, 4), rng.uniform(-4, 4), rng.uniform(-10, 10)])
    scale = rng.uniform(0.9, 1.1, size=3)
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    forward = rz @ ry @ rx @ np.diag(scale)  # how the anatomy moves
    matrix = np.linalg.inv(forward)  # target -> source
    amplitude = float(rng.uniform(2.0, 6.0))
    wavelength = float(rng.uniform(40.0, 80.0))
    fields = tuple(SmoothField(rng, lo, hi, node_spacing_mm=wavelength, amplitude=amplitude) for _ in range(3))
    return _Warp(centre, matrix, fields, {  # type: ignore[arg-type]
        "deformed": True, "rotation_deg": [round(float(np.rad2deg(a)), 2) for a in angles],
        "scale": [round(float(s), 4) for s in scale], "elastic_mm": round(amplitude, 2),
        "elastic_wavelength_mm": round(wavelength, 1)})


def _crop(masks: MaskSet, target: _Target, warp: _Warp, step: tuple[int, int, int]) -> MaskSet:
    """The masks cut to what the target grid can see (plus the warp's reach and blur margin),
    every ``step`` (x, y, z) voxel."""
    g = masks.geometry
    tg = target.geometry
    lo = np.asarray(tg.origin_mm, float)
    hi = lo + (np.asarray(tg.size) - 1) * np.asarray(tg.spacing_mm)
    margin = warp.reach_mm(lo, hi) + 3.0 * max(psf_sigma_mm(tg.spacing_mm)) + 2.0 * max(g.spacing_mm)
    origin, spacing = np.asarray(g.origin_mm, float), np.asarray(g.spacing_mm, float)
    first = np.clip(np.floor((lo - margin - origin) / spacing), 0, np.asarray(g.size) - 1).astype(int)
    last = np.clip(np.ceil((hi + margin - origin) / spacing), 0, np.asarray(g.size) - 1).astype(int)
    body = masks.union("body")
    assert body is not None
    # Never beyond the body's box in-plane: outside it is air anyway.
    for axis_xyz, axis_zyx in ((0, 2), (1, 1)):
        b0, b1 = _extent(body, axis_zyx)
        first[axis_xyz], last[axis_xyz] = max(first[axis_xyz], b0 - 2), min(last[axis_xyz], b1 + 2)
    first = np.maximum(first, 0)
    box = tuple(slice(int(first[a]), int(last[a]) + 1, int(step[a])) for a in (2, 1, 0))
    organs = {name: [np.ascontiguousarray(a[box]) for a in arrays] for name, arrays in masks.organs.items()}
    shape = next(iter(organs.values()))[0].shape
    geometry = Geometry(size=(shape[2], shape[1], shape[0]),
                        spacing_mm=tuple(float(spacing[a] * step[a]) for a in range(3)),
                        origin_mm=tuple(float(origin[a] + spacing[a] * first[a]) for a in range(3)))
    return MaskSet(patient_id=masks.patient_id, geometry=geometry, organs=organs)


def _intensity(tissue: np.ndarray, grid: Grid, box: Box, phase: str | None, mode: str, n_tumours: int,
               seed: int) -> tuple[np.ndarray, dict]:
    """Object HU (float32 (z, y, x)) on the painting grid, and its description."""
    contrast = draw_contrast(_stream(seed, "contrast"), n_tumours, phase)
    contrast = with_extra_tissues(contrast, _stream(seed, "extra"))
    lookup = contrast.hu_lookup
    rng = _stream(seed, "texture")
    amplitudes = {"liver": rng.uniform(3.0, 8.0), "spleen": rng.uniform(3.0, 6.0) * (3.0 if contrast.phase == "arterial" else 1.0),
                  "marrow": 35.0, "muscle": 5.0, "fat": 8.0}
    if mode == "random":
        rr = _stream(seed, "random")
        lookup = rr.uniform(*RANDOM_HU_RANGE, size=256).astype(np.float32)
        amplitudes = {k: float(rr.uniform(0.0, 60.0)) for k in amplitudes}
    hu = lookup[tissue]
    lo = (float(grid.xs[0]), float(grid.ys[0]), float(grid.zs[0]))
    hi = (float(grid.xs[-1]), float(grid.ys[-1]), float(grid.zs[-1]))
    for name, tissues, node in (("liver", (Tissue.LIVER,), 25.0), ("spleen", (Tissue.SPLEEN,), 15.0),
                                ("marrow", (Tissue.CANCELLOUS_BONE,), 12.0), ("muscle", (Tissue.MUSCLE,), 40.0),
                                ("fat", (Tissue.SUBCUTANEOUS_FAT, Tissue.VISCERAL_FAT), 40.0)):
        where = np.isin(tissue, np.asarray(tissues, dtype=np.uint8))
        region = mask_box(grid, where, margin_mm=1.0)
        field = SmoothField(rng, lo, hi, node_spacing_mm=node, amplitude=float(amplitudes[name]))
        if region is not None:
            add_field_texture(hu, tissue, region, field, tissues)
    lung = tissue == Tissue.LUNG
    if lung.any():
        hu += np.where(lung, _F32(0.25) * (box.y - grid.ys[0]), _F32(0))
    if mode == "random":
        rb = _stream(seed, "bias")
        bias = SmoothField(rb, lo, hi, node_spacing_mm=80.0, amplitude=float(rb.uniform(0.0, 60.0)))
        hu += bias.on_box(box)
    info = {"phase": contrast.phase, "intensity": mode, "noise_sigma_hu": round(contrast.noise_sigma_hu, 2),
            "liver_hu": round(float(lookup[Tissue.LIVER]), 1),
            "tissue_hu": {t.name.lower(): round(float(lookup[t]), 1) for t in Tissue},
            "tumours": [{"kind": t.kind, "core_hu": round(t.core_hu, 1), "rim_hu": round(t.rim_hu, 1)}
                        for t in contrast.tumours]}
    return hu, info | {"_noise": contrast.noise_sigma_hu}


def _sample(hu: np.ndarray, tissue: np.ndarray, paint: Geometry, target: Geometry, warp: _Warp,
            air_hu: float) -> tuple[np.ndarray, np.ndarray]:
    """(HU float32, tissue uint8) at every target voxel, slab by slab."""
    nx, ny, nz = target.size
    tx, ty, tz = (np.asarray(target.origin_mm[a]) + target.spacing_mm[a] * np.arange(n)
                  for a, n in enumerate((nx, ny, nz)))
    out_hu = np.empty((nz, ny, nx), dtype=np.float32)
    out_tissue = np.empty((nz, ny, nx), dtype=np.uint8)
    origin, spacing = np.asarray(paint.origin_mm, float), np.asarray(paint.spacing_mm, float)
    for start in range(0, nz, _Z_CHUNK):
        zs = tz[start:start + _Z_CHUNK]
        shape = (len(zs), ny, nx)
        px = np.broadcast_to(tx.reshape(1, 1, -1), shape)
        py = np.broadcast_to(ty.reshape(1, -1, 1), shape)
        pz = np.broadcast_to(zs.reshape(-1, 1, 1), shape)
        if warp.fields is None:
            source = (px, py, pz)
        else:
            box = Box(slices=(slice(None),) * 3, z=zs.reshape(-1, 1, 1).astype(np.float32),
                      y=ty.reshape(1, -1, 1).astype(np.float32), x=tx.reshape(1, 1, -1).astype(np.float32))
            d = [p - c for p, c in zip((px, py, pz), warp.centre)]
            m = warp.matrix
            source = tuple(warp.centre[a] + m[a, 0] * d[0] + m[a, 1] * d[1] + m[a, 2] * d[2]
                           + warp.fields[a].on_box(box) for a in range(3))
        coords = np.stack([(source[a] - origin[a]) / spacing[a] for a in (2, 1, 0)]).astype(np.float32)
        out_hu[start:start + len(zs)] = ndimage.map_coordinates(hu, coords, order=1, mode="constant", cval=air_hu,
                                                                prefilter=False)
        out_tissue[start:start + len(zs)] = ndimage.map_coordinates(tissue, np.rint(coords), order=0,
                                                                    mode="constant", cval=0, prefilter=False)
    return out_hu, out_tissue


def _resolve_patient(patient: MaskPatient | str | Path) -> MaskPatient:
    if isinstance(patient, MaskPatient):
        return patient
    path = Path(patient)
    if path.is_dir():
        return mask_patients(path.parent, patients=[path.name], include_held_out=True)[0]
    return mask_patients(None, patients=[str(patient)], include_held_out=True)[0]


def synthesise_case(patient: MaskPatient | str | Path, seed: int, *, phase: str | None = None,
                    intensity: Literal["ct", "random"] = "ct", spacing_mm: Sequence[float] | None = None,
                    deform: bool = True, fov: str = "random", flip_axes: bool = True,
                    masks: MaskSet | None = None) -> SynthCase:
    """A CT with liver/tumour labels painted on one patient's masks (module docstring).

    Args:
        patient: a :class:`MaskPatient`, its folder, or its id ("patient-08") in the shared set.
        seed: non-negative integer; the same seed and options give the same bytes.
        phase: "non-contrast", "arterial" or "portal-venous"; None draws it (20/30/50 %).
        intensity: "ct" (HU per tissue and phase) or "random" (domain randomisation).
        spacing_mm: voxel size (x, y, z; mm); None draws it (0.6-1.0 mm in-plane, 1-5 mm slices).
        deform: random affine and elastic deformation of the anatomy.
        fov: "random", "none", "dome", "pelvis" or "both" (where the z range is cut).
        flip_axes: reverse index axes at random in storage (the anatomy stays put physically).
        masks: the patient's masks already read (:func:`read_masks`), to save reading them again.

    Returns:
        :class:`SynthCase`; arrays (z, y, x) on one Geometry, CT int16 HU, labels uint8 0/1/2.
    """
    _check(seed, phase, intensity, fov, spacing_mm)
    started = time.perf_counter()
    seed = int(seed)
    patient = _resolve_patient(patient)
    masks = masks if masks is not None else read_masks(patient)
    native = np.asarray(masks.geometry.spacing_mm, float)
    rng_grid = _stream(seed, "grid")
    drawn = (round(float(rng_grid.uniform(*IN_PLANE_SPACING_MM)), 3),) * 2 + (round(float(rng_grid.uniform(*SLICE_SPACING_MM)), 2),)
    spacing = tuple(float(v) for v in (spacing_mm if spacing_mm is not None else drawn))
    target = _target_grid(masks, spacing, fov, rng_grid, _stream(seed, "fov"))  # type: ignore[arg-type]
    liver = masks.union("liver")
    assert liver is not None
    g = masks.geometry
    centre = np.asarray(g.origin_mm) + np.asarray(g.spacing_mm) * np.argwhere(liver).mean(axis=0)[::-1]
    lo = np.asarray(target.geometry.origin_mm, float)
    hi = lo + (np.asarray(target.geometry.size) - 1) * np.asarray(spacing)
    warp = _draw_warp(_stream(seed, "deform"), deform, centre, lo - 50.0, hi + 50.0)
    step = tuple(max(1, int(np.floor(spacing[a] / (2.0 * native[a]) + 1e-6))) for a in range(3))
    cropped = _crop(masks, target, warp, step)  # type: ignore[arg-type]
    painted = paint_masks(cropped, _stream(seed, "paint"))
    grid = physical_grid(cropped)
    box = full_box(grid)
    hu, described = _intensity(painted.tissue, grid, box, phase, intensity, painted.n_tumours, seed)
    noise_sigma = described.pop("_noise")
    hu = partial_volume_blur(hu, spacing, grid_spacing_mm=cropped.geometry.spacing_mm)
    air = float(described["tissue_hu"]["air"])
    ct, tissue = _sample(hu, painted.tissue, cropped.geometry, target.geometry, warp, air)
    del hu
    add_correlated_noise(ct, _stream(seed, "noise"), noise_sigma)
    streak_rng = _stream(seed, "streaks")
    dense = np.isin(tissue, np.asarray((Tissue.CORTICAL_BONE, Tissue.METAL), dtype=np.uint8))
    streaked = add_streaks(ct, streak_rng, spacing, slice_fraction=float(streak_rng.uniform(0.0, 0.3)), sources=dense)
    if painted.has_metal:
        metal = tissue == Tissue.METAL
        streaked += add_streaks(ct, streak_rng, spacing, slice_fraction=1.0, sources=metal, only_sources=True,
                                amplitude_hu=(80.0, 300.0))
    np.rint(ct, out=ct)
    np.clip(ct, HU_MIN, HU_MAX, out=ct)
    ct16 = ct.astype(np.int16)
    labels = label_lookup()[tissue]
    flips = tuple(bool(f) for f in _stream(seed, "flips").uniform(size=3) < 0.5)
    if not flip_axes:
        flips = (False, False, False)
    (ct16, labels, tissue), geometry = flip_storage([ct16, labels, tissue], target.geometry, flips)  # type: ignore[arg-type]
    info = {
        "patient": patient.patient_id, "seed": seed, **described,
        "spacing_mm": list(spacing), "size_xyz": list(geometry.size), "fov_cut": target.fov_cut,
        "z_range_mm": [round(v, 2) for v in target.z_range_mm], "paint_step_xyz": list(step),
        "flipped_axes": "".join(axis for axis, flip in zip("xyz", flips) if flip),
        "orientation": geometry.orientation, "oral_contrast": painted.oral_contrast,
        "streaked_slices": int(streaked), "deformation": warp.description,
        "tumour_components": painted.n_tumours,
    }
    source = f"synth({patient.patient_id}, seed={seed})"
    logger.debug("%s: %s in %.2f s", source, geometry.describe(), time.perf_counter() - started)
    return SynthCase(
        ct=Volume(ct16, geometry, source=source, meta={"synthesis": info}, kind="ct"),
        labels=Volume(labels, geometry, source=f"{source} labels", meta={"synthesis": info}, kind="label"),
        tissues=Volume(tissue, geometry, source=f"{source} tissues", meta={"synthesis": info}, kind="label"),
        info=info,
    )


def synthesis_plan(n: int, seed: int, patients: Sequence[MaskPatient]) -> list[tuple[str, MaskPatient, int]]:
    """(case id, patient, case seed) of the ``n`` cases of a set: case i uses patient
    ``i mod len(patients)`` (sorted ids) and seed :func:`~.generator.phantom_seed`(seed, i)."""
    from livseg.phantoms.generator import phantom_seed

    if not patients:
        raise ConfigError("synthesis patients", expected="at least one mask patient", found="none")
    return [(f"synth-{i:03d}-{patients[i % len(patients)].patient_id}", patients[i % len(patients)],
             phantom_seed(seed, i)) for i in range(int(n))]


def write_synthesised(out_dir: str | Path, *, n: int, seed: int, root: str | Path | None = None,
                      patients: Sequence[str] = (), include_held_out: bool = False,
                      random_share: float = 0.0, fmt: str = "nii.gz",
                      on_case: Callable[[object], None] | None = None, **options) -> list:
    """Write ``n`` synthesised cases as OUT/images/<id>.<fmt> and OUT/labels/<id>.<fmt>.

    Case i of the set uses :func:`synthesis_plan`; a share ``random_share`` of the cases (those
    whose seed draws below it) is domain-randomised. ``options`` go to :func:`synthesise_case`.

    Returns:
        One :class:`~livseg.datasets.case.Case` per case (layout "pairs").
    """
    from livseg.datasets.case import Case
    from livseg.io import write_volume

    chosen = mask_patients(root, patients=patients, include_held_out=include_held_out)
    out_dir = Path(out_dir)
    cases = []
    for case_id, patient, case_seed in synthesis_plan(n, seed, chosen):
        mode = random_intensity(case_seed, random_share)
        case = synthesise_case(patient, case_seed, intensity=mode, **options)
        image = write_volume(case.ct, out_dir / "images" / f"{case_id}.{fmt}", kind="ct")
        label = write_volume(case.labels, out_dir / "labels" / f"{case_id}.{fmt}", kind="label")
        cases.append(Case(case_id=case_id, image=image, label=label, layout="pairs",
                          extra={"seed": case_seed, "patient": patient.patient_id, "phase": case.info["phase"],
                                 "intensity": mode}))
        if on_case is not None:
            on_case(cases[-1])
    return cases


def random_intensity(case_seed: int, share: float) -> Literal["ct", "random"]:
    """"random" for a share ``share`` of case seeds (a draw of its own stream), else "ct"."""
    if share <= 0:
        return "ct"
    return "random" if _stream(case_seed, "choice").uniform() < share else "ct"
