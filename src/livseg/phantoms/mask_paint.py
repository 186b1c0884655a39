"""Paint a tissue map on real organ masks (:class:`~livseg.phantoms.masks.MaskSet`).

The masks label organs, not the tissue between them. What they leave out is drawn here:

* **Body wall.** ``skin`` is the filled body. Depth below its surface (in-plane, mm) splits it
  into skin (2 mm), subcutaneous fat (5-35 mm, a smooth random thickness), a muscle wall
  (6-16 mm) and the cavity inside.
* **Diaphragm and thorax.** The diaphragm follows the top of the liver (and, where there is no
  liver, a smoothed surface 10-25 mm lower); cavity above it is lung (the lung masks where the
  patient has them) around a heart (ellipsoid, myocardium and blood) left of the midline.
* **Spine and back.** Bone masks: cortex = the outer 1-2 mm shell, cancellous bone inside;
  the spinal canal = holes the bone encloses in a slice; cavity behind the front of the
  vertebral bodies (within 60 mm of the midline) is paraspinal and psoas muscle.
* **Bowel.** Unlabelled abdominal cavity below the diaphragm is fat and bowel: loops where a
  smooth random field exceeds a threshold, a wall band at the threshold, content (fluid, gas,
  sometimes oral contrast) from a second field.
* **Organs** from the masks, then the liver, its lesions and vessels; vessels are intrahepatic
  ids (labelled liver) inside the liver region and extrahepatic ones outside it.

The liver region is the liver mask with the tumour masks (IRCADb's liver masks include them);
every voxel in it gets a liver-labelled tissue or a tumour id and no voxel outside it does, so
the label map follows the masks exactly. Cysts are painted as :attr:`Tissue.CYST` (water
density) and labelled liver; the resection zone (``metastasectomie``) is fluid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from livseg.phantoms.fields import Box, Grid, SmoothField
from livseg.phantoms.masks import MaskSet
from livseg.phantoms.tissues import LIVER_TISSUES, MAX_TUMOURS, Tissue, tumour_core_id, tumour_rim_id

_F32 = np.float32
SKIN_MM = 2.0
DIAPHRAGM_MM = 5.0

# Extrahepatic tissue of each intrahepatic one (and the reverse), for the liver-region rule.
_OUTSIDE_LIVER = {
    Tissue.PORTAL_VEIN: Tissue.PORTAL_TRUNK, Tissue.HEPATIC_VEIN: Tissue.IVC,
    Tissue.HEPATIC_ARTERY: Tissue.AORTA, Tissue.BILE_DUCT: Tissue.GALLBLADDER,
    Tissue.CYST: Tissue.BOWEL_FLUID, Tissue.RESECTION: Tissue.BOWEL_FLUID, Tissue.LIVER: Tissue.VISCERAL_FAT,
}
_INSIDE_LIVER = {
    Tissue.PORTAL_TRUNK: Tissue.PORTAL_VEIN, Tissue.IVC: Tissue.HEPATIC_VEIN, Tissue.AORTA: Tissue.HEPATIC_ARTERY,
    Tissue.GALLBLADDER: Tissue.BILE_DUCT,
}


@dataclass(frozen=True)
class PaintedMasks:
    """A tissue map painted on masks.

    Attributes:
        tissue: uint8 (z, y, x) :class:`Tissue` ids (tumour i: core/rim ids), on the masks' grid.
        n_tumours: tumour ids used (connected tumour components, at most MAX_TUMOURS).
        oral_contrast: whether bowel holds positive oral contrast.
        has_metal: whether a metal mask was painted.
    """

    tissue: np.ndarray
    n_tumours: int
    oral_contrast: bool
    has_metal: bool


def physical_grid(masks: MaskSet) -> Grid:
    """Voxel-centre coordinates (mm, LPS; identity direction) of the masks' grid."""
    g = masks.geometry
    axes = [(g.origin_mm[a] + g.spacing_mm[a] * np.arange(g.size[a])).astype(np.float32) for a in range(3)]
    return Grid(xs=axes[0], ys=axes[1], zs=axes[2])


def full_box(grid: Grid) -> Box:
    box = grid.box((-np.inf,) * 3, (np.inf,) * 3)
    assert box is not None
    return box


def mask_box(grid: Grid, mask: np.ndarray, margin_mm: float = 0.0) -> Box | None:
    """The grid box around ``mask``'s voxels (grown by ``margin_mm``); None when it is empty."""
    where = np.argwhere(mask)
    if not len(where):
        return None
    lo, hi = where.min(axis=0), where.max(axis=0)
    axes = (grid.zs, grid.ys, grid.xs)
    lo_xyz = [float(axes[a][lo[a]]) - margin_mm for a in (2, 1, 0)]
    hi_xyz = [float(axes[a][hi[a]]) + margin_mm for a in (2, 1, 0)]
    return grid.box(lo_xyz, hi_xyz)


def inner_depth_mm(mask: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """Distance (mm, float32, (z, y, x)) from each voxel of ``mask`` to the nearest voxel outside
    it (0 outside), computed on the mask's bounding box with a one-voxel border."""
    depth = np.zeros(mask.shape, dtype=np.float32)
    where = np.argwhere(mask)
    if not len(where):
        return depth
    lo, hi = where.min(axis=0), where.max(axis=0) + 1
    crop = tuple(slice(a, b) for a, b in zip(lo, hi))
    padded = np.pad(mask[crop], 1)
    inner = ndimage.distance_transform_edt(padded, sampling=spacing_zyx)[1:-1, 1:-1, 1:-1]
    depth[crop] = inner.astype(np.float32)
    return depth


def _eroded_in_plane(mask: np.ndarray, shell_mm: float, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """``mask`` without its in-plane outer shell of about ``shell_mm`` (at least one voxel)."""
    iterations = max(1, int(round(shell_mm / min(spacing_zyx[1:]))))
    cross = ndimage.generate_binary_structure(2, 1)[None]
    return ndimage.binary_erosion(mask, structure=cross, iterations=iterations)


def _surface_depth_in_plane(body: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """Per axial slice, distance (mm) from each body voxel to the nearest non-body voxel."""
    depth = np.zeros(body.shape, dtype=np.float32)
    for k in range(body.shape[0]):
        if body[k].any():
            depth[k] = ndimage.distance_transform_edt(np.pad(body[k], 1), sampling=spacing_zyx[1:])[1:-1, 1:-1]
    return depth


def _diaphragm_height(liver: np.ndarray, grid: Grid, rng: np.random.Generator,
                      spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """(ny, nx) height (z mm) of the diaphragm: the liver's top where it has one, else a
    smoothed surface below the liver's highest point."""
    ny, nx = liver.shape[1:]
    columns = liver.any(axis=0)
    if not columns.any():
        return np.full((ny, nx), float(grid.zs[-1]) + 1.0, dtype=np.float32)
    top_index = liver.shape[0] - 1 - np.argmax(liver[::-1], axis=0)
    top = grid.zs[top_index]
    fill = float(top[columns].max()) - float(rng.uniform(10.0, 25.0))
    surface = np.where(columns, top, np.float32(fill)).astype(np.float32)
    sigma = (15.0 / spacing_zyx[1], 15.0 / spacing_zyx[2])
    smooth = ndimage.gaussian_filter(surface, sigma, mode="nearest")
    return np.where(columns, top, np.minimum(smooth, fill + 5.0)).astype(np.float32)


def _organ(masks: MaskSet, name: str) -> np.ndarray | None:
    return masks.union(name)


def paint_masks(masks: MaskSet, rng: np.random.Generator) -> PaintedMasks:
    """The tissue map of a patient's masks (see the module docstring); deterministic for ``rng``."""
    body = _organ(masks, "body")
    liver = _organ(masks, "liver")
    if body is None or liver is None:
        raise ValueError(f"{masks.patient_id}: masks need a body ('skin') and a liver")
    tumours = _organ(masks, "tumour")
    region = liver | tumours if tumours is not None else liver
    body = body | region
    g = masks.geometry
    spacing_zyx = (float(g.spacing_mm[2]), float(g.spacing_mm[1]), float(g.spacing_mm[0]))
    grid = physical_grid(masks)
    box = full_box(grid)
    tissue = np.zeros(body.shape, dtype=np.uint8)

    # Body wall: skin, subcutaneous fat, muscle, cavity.
    depth = _surface_depth_in_plane(body, spacing_zyx)
    lo = (float(grid.xs[0]), float(grid.ys[0]), float(grid.zs[0]))
    hi = (float(grid.xs[-1]), float(grid.ys[-1]), float(grid.zs[-1]))
    fat_mm = _F32(rng.uniform(8.0, 25.0)) + SmoothField(rng, lo, hi, node_spacing_mm=60.0,
                                                        amplitude=float(rng.uniform(2.0, 7.0))).on_box(box)
    np.clip(fat_mm, 5.0, 35.0, out=fat_mm)
    wall_mm = fat_mm + np.clip(_F32(rng.uniform(8.0, 13.0)) + SmoothField(
        rng, lo, hi, node_spacing_mm=50.0, amplitude=2.0).on_box(box), 6.0, 16.0)
    tissue[body] = Tissue.SUBCUTANEOUS_FAT
    tissue[body & (depth < SKIN_MM)] = Tissue.SKIN
    tissue[body & (depth >= fat_mm) & (depth < wall_mm)] = Tissue.MUSCLE
    cavity = body & (depth >= wall_mm)
    del fat_mm, depth
    tissue[cavity] = Tissue.VISCERAL_FAT
    wall = body & ~cavity  # the body wall stays wall, whatever mask reaches into it (but organs)

    # Diaphragm, lungs, heart.
    dome = _diaphragm_height(region, grid, rng, spacing_zyx)  # (ny, nx)
    z = grid.zs.reshape(-1, 1, 1)
    above = z > dome[None]
    tissue[cavity & above & (z <= dome[None] + _F32(DIAPHRAGM_MM))] = Tissue.MUSCLE
    thorax = cavity & (z > dome[None] + _F32(DIAPHRAGM_MM))
    lungs = _organ(masks, "lung")
    body_x = grid.xs[np.nonzero(body.any(axis=(0, 1)))[0]]
    body_y = grid.ys[np.nonzero(body.any(axis=(0, 2)))[0]]
    centre_x, width = 0.5 * float(body_x[0] + body_x[-1]), float(body_x[-1] - body_x[0])
    front_y, depth_y = float(body_y[0]), float(body_y[-1] - body_y[0])
    heart_x = centre_x + width * float(rng.uniform(0.06, 0.14))
    heart_y = front_y + depth_y * float(rng.uniform(0.3, 0.4))
    semi_x, semi_y = width * float(rng.uniform(0.16, 0.22)), depth_y * float(rng.uniform(0.2, 0.26))
    in_plane = (((box.x - _F32(heart_x)) / _F32(semi_x)) ** 2 + ((box.y - _F32(heart_y)) / _F32(semi_y)) ** 2)
    heart_bottom = float(np.median(dome[np.abs(grid.ys - heart_y).argmin()]))
    heart_z = ((box.z - _F32(heart_bottom + 45.0)) / _F32(55.0)) ** 2
    heart = thorax & (in_plane + heart_z < 1)
    if lungs is not None:
        tissue[thorax] = Tissue.VISCERAL_FAT  # mediastinum
        tissue[lungs & body] = Tissue.LUNG
        heart &= ~lungs
    else:
        tissue[thorax] = Tissue.LUNG
    tissue[heart] = Tissue.MYOCARDIUM
    tissue[heart & (in_plane + heart_z < 0.55)] = Tissue.HEART_BLOOD
    del heart, in_plane, heart_z

    # Bowel in the unlabelled abdomen.
    abdomen = cavity & ~above & (tissue == Tissue.VISCERAL_FAT)
    bowel_field = SmoothField(rng, lo, hi, node_spacing_mm=float(rng.uniform(14.0, 22.0)), amplitude=1.0).on_box(box)
    threshold = _F32(rng.uniform(-0.4, 0.2))
    bowel = abdomen & (bowel_field > threshold)
    lumen = bowel & (bowel_field > threshold + _F32(0.18))
    del bowel_field
    content = SmoothField(rng, lo, hi, node_spacing_mm=30.0, amplitude=1.0).on_box(box)
    oral_contrast = bool(rng.uniform() < 0.3)
    tissue[bowel] = Tissue.BOWEL_WALL
    tissue[lumen] = Tissue.BOWEL_FLUID
    if oral_contrast:
        tissue[lumen & (content < _F32(-0.4))] = Tissue.ORAL_CONTRAST
    anterior = (box.y - _F32(front_y)) / _F32(depth_y)  # 0 at the front of the body, 1 at the back
    tissue[lumen & (content + _F32(0.8) * (_F32(0.5) - anterior) > _F32(rng.uniform(1.1, 1.6)))] = Tissue.GAS
    del content, bowel, lumen

    # Back: muscle behind the front of the vertebral bodies, near the midline.
    bone = _organ(masks, "bone")
    if bone is not None:
        near_midline = np.abs(grid.xs - _F32(centre_x)) < 30.0
        spine = bone & near_midline[None, None, :] & (grid.ys[None, :, None] > _F32(front_y + 0.4 * depth_y))
        has_spine = spine.any(axis=(1, 2))
        spine_front = np.where(has_spine, grid.ys[np.argmax(spine.any(axis=2), axis=1)], np.inf)
        back_y = _F32(front_y + depth_y)
        reach = back_y - spine_front.reshape(-1, 1, 1).astype(np.float32) + _F32(12.0)
        back = ((box.x - _F32(centre_x)) / _F32(rng.uniform(55.0, 75.0))) ** 2 + ((box.y - back_y) / reach) ** 2 < 1
        tissue[cavity & back & ~above] = Tissue.MUSCLE
        del spine, back

    # Organs from the masks (later ones win).
    for name, value in (("spleen", Tissue.SPLEEN), ("pancreas", Tissue.PANCREAS), ("adrenal", Tissue.ADRENAL),
                        ("other", Tissue.SOFT_TISSUE)):
        mask = _organ(masks, name)
        if mask is not None:
            tissue[mask & body] = value
    kidney = _organ(masks, "kidney")
    if kidney is not None:
        tissue[kidney] = Tissue.KIDNEY_CORTEX
        tissue[inner_depth_mm(kidney, spacing_zyx) > rng.uniform(5.0, 8.0)] = Tissue.KIDNEY_MEDULLA
    stomach = _organ(masks, "stomach")
    if stomach is not None:
        tissue[stomach] = Tissue.STOMACH_WALL
        inside = inner_depth_mm(stomach, spacing_zyx) > 3.5
        ys = grid.ys[np.nonzero(stomach.any(axis=(0, 2)))[0]]
        level = _F32(ys[0] + rng.uniform(0.15, 0.5) * (ys[-1] - ys[0]))
        tissue[inside] = Tissue.STOMACH_FLUID
        tissue[inside & (box.y < level)] = Tissue.GAS
    for name, value in (("gallbladder", Tissue.GALLBLADDER), ("stones", Tissue.STONE)):
        mask = _organ(masks, name)
        if mask is not None:
            tissue[mask] = value
    if bone is not None:
        tissue[bone] = Tissue.CANCELLOUS_BONE
        tissue[bone & ~_eroded_in_plane(bone, float(rng.uniform(1.0, 2.0)), spacing_zyx)] = Tissue.CORTICAL_BONE
        _paint_spinal_canal(tissue, bone, grid, centre_x)

    # Liver, its lesions and vessels; then the liver-region rule.
    tissue[region] = Tissue.LIVER
    for name, value in (("resection", Tissue.RESECTION), ("cyst", Tissue.CYST), ("biliary", Tissue.BILE_DUCT),
                        ("portal_vein", Tissue.PORTAL_VEIN), ("venous", Tissue.HEPATIC_VEIN),
                        ("artery", Tissue.HEPATIC_ARTERY)):
        mask = _organ(masks, name)
        if mask is not None:
            tissue[mask & body] = value
    n_tumours = _paint_tumours(tissue, masks, spacing_zyx, rng)
    _liver_region_rule(tissue, region)
    tissue[~body] = Tissue.AIR
    tissue[wall & ~region & np.isin(tissue, (Tissue.BOWEL_WALL, Tissue.BOWEL_FLUID, Tissue.GAS,
                                             Tissue.ORAL_CONTRAST, Tissue.LUNG))] = Tissue.MUSCLE
    metal = _organ(masks, "metal")
    if metal is not None:
        tissue[metal & ~region] = Tissue.METAL
    return PaintedMasks(tissue=tissue, n_tumours=n_tumours, oral_contrast=oral_contrast,
                        has_metal=metal is not None and bool(metal.any()))


def _paint_spinal_canal(tissue: np.ndarray, bone: np.ndarray, grid: Grid, centre_x: float) -> None:
    """Holes that the bone encloses near the midline, slice by slice: the spinal canal."""
    columns = np.nonzero(np.abs(grid.xs - _F32(centre_x)) < 40.0)[0]
    if not len(columns):
        return
    x0, x1 = int(columns[0]), int(columns[-1]) + 1
    for k in np.nonzero(bone[:, :, x0:x1].any(axis=(1, 2)))[0]:
        block = bone[k, :, x0:x1]
        canal = ndimage.binary_fill_holes(block) & ~block
        if canal.any():
            tissue[k, :, x0:x1][canal] = Tissue.SPINAL_CANAL


def _paint_tumours(tissue: np.ndarray, masks: MaskSet, spacing_zyx: tuple[float, float, float],
                   rng: np.random.Generator) -> int:
    """Each connected tumour component gets its own core/rim ids (rim: the outer 1.5-4 mm)."""
    index = 0
    for mask in masks.organs.get("tumour", []):
        components, count = ndimage.label(mask)
        if not count:
            continue
        depth = inner_depth_mm(mask, spacing_zyx)
        for number, found in enumerate(ndimage.find_objects(components), start=1):
            if found is None:
                continue
            which = components[found] == number
            ids = min(index, MAX_TUMOURS - 1)
            rim_mm = float(rng.uniform(1.5, 4.0))
            block = tissue[found]
            block[which] = tumour_rim_id(ids)
            block[which & (depth[found] > rim_mm)] = tumour_core_id(ids)
            index += 1
    return min(index, MAX_TUMOURS)


def _liver_region_rule(tissue: np.ndarray, region: np.ndarray) -> None:
    """Inside ``region`` only liver-labelled tissues or tumours; outside it none of them."""
    is_tumour = tissue >= tumour_core_id(0)
    liver_like = np.isin(tissue, np.asarray(LIVER_TISSUES, dtype=np.uint8))
    _remap(tissue, region & ~liver_like & ~is_tumour, Tissue.LIVER, _INSIDE_LIVER)
    _remap(tissue, ~region & (liver_like | is_tumour), Tissue.VISCERAL_FAT, _OUTSIDE_LIVER)


def _remap(tissue: np.ndarray, where: np.ndarray, default: int, table: dict[int, int]) -> None:
    """Tissue ids at ``where`` replaced in place: by ``table[id]``, else by ``default``."""
    if not where.any():
        return
    values = tissue[where]
    mapped = np.full(values.shape, default, dtype=np.uint8)
    for source, target in table.items():
        mapped[values == source] = target
    tissue[where] = mapped
