"""Paint a drawn patient (:class:`~livseg.phantoms.anatomy.Anatomy`) as a tissue map.

Structures are painted in a fixed order; each one may only replace the tissues it is allowed
to displace (the liver pushes bowel aside, bone displaces everything), and each is evaluated
only inside its own bounding box.
"""

from __future__ import annotations

import numpy as np

from livseg.phantoms.anatomy import (
    LUNG_APEX_Z_MM,
    MEDIASTINUM,
    Anatomy,
    BowelLoop,
)
from livseg.phantoms.body import (
    RIB_DROOP_MM,
    RIB_HALF_HEIGHT_MM,
    RIBS_Z_RANGE_MM,
    SKIN_MM,
    TABLE_THICKNESS_MM,
    rib_cross_section,
)
from livseg.phantoms.fields import Box, Grid, Segment, paint
from livseg.phantoms.tissues import LIVER_TISSUES, Tissue, tumour_core_id, tumour_rim_id

_F32 = np.float32
_Z_CHUNK = 24  # slices per block when painting the whole body (bounds memory use)

_ABDOMINAL_SOFT = (Tissue.VISCERAL_FAT, Tissue.BOWEL_WALL, Tissue.BOWEL_FLUID, Tissue.GAS,
                   Tissue.ORAL_CONTRAST)
_STOMACH = (Tissue.STOMACH_WALL, Tissue.STOMACH_FLUID)
_VESSEL_MAY_DISPLACE = (*_ABDOMINAL_SOFT, *_STOMACH, Tissue.LIVER, Tissue.LUNG, Tissue.MUSCLE,
                        Tissue.MYOCARDIUM, Tissue.HEART_BLOOD, Tissue.SPLEEN)


def paint_anatomy(anatomy: Anatomy, grid: Grid, *, liver: bool) -> np.ndarray:
    """The tissue map of ``anatomy`` on ``grid``: uint8 (z, y, x) of :class:`Tissue` ids.

    With ``liver=False`` the liver, its vessels, the gallbladder and the tumours are left out
    (their space stays abdominal fat or whatever else lies there).
    """
    tissue = np.zeros(grid.shape_zyx, dtype=np.uint8)
    _paint_wall_and_thorax(tissue, grid, anatomy)
    _paint_heart(tissue, grid, anatomy)
    for segment in anatomy.lung_vessels:
        _paint_tube(tissue, grid, segment, Tissue.LUNG_VESSEL, allowed=(Tissue.LUNG,))
    for loop in anatomy.bowel:
        _paint_bowel_loop(tissue, grid, anatomy, loop)
    _paint_stomach_and_spleen(tissue, grid, anatomy)
    if liver:
        _paint_liver(tissue, grid, anatomy)
    _paint_great_vessels(tissue, grid, anatomy)
    _paint_kidneys(tissue, grid, anatomy)
    _paint_back_muscles(tissue, grid, anatomy)
    _paint_spine(tissue, grid, anatomy)
    if liver:
        for segment in anatomy.portal_branches:
            _paint_tube(tissue, grid, segment, Tissue.PORTAL_VEIN, allowed=(Tissue.LIVER,))
        for segment in anatomy.hepatic_veins:
            _paint_tube(tissue, grid, segment, Tissue.HEPATIC_VEIN, allowed=(Tissue.LIVER,))
        _paint_tumours(tissue, grid, anatomy)
    return tissue


def _abdomen(anatomy: Anatomy, box: Box) -> np.ndarray:
    """Inside the cavity and below the diaphragm, on ``box`` (bool (nz, ny, nx))."""
    below = box.z < anatomy.diaphragm.height_mm(box.x, box.y) - _F32(anatomy.diaphragm.thickness_mm)
    return below & (anatomy.body.cavity_depth_mm(box.x, box.y, box.z) > 0)


def _paint_wall_and_thorax(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    body, diaphragm = anatomy.body, anatomy.diaphragm
    x = grid.xs.reshape(1, 1, -1)
    y = grid.ys.reshape(1, -1, 1)
    fat = body.fat_thickness_mm(x, y)
    wall = body.wall_mm(x, y)
    dome = diaphragm.height_mm(x, y)
    mx, my, sx, sy = MEDIASTINUM
    mediastinum = ((x - _F32(mx)) / _F32(sx)) ** 2 + ((y - _F32(my)) / _F32(sy)) ** 2 < 1
    table_top = body.table_top_mm() - _F32(30.0 / 220.0 ** 2) * x * x
    table = (y >= table_top) & (y < table_top + _F32(TABLE_THICKNESS_MM)) & (np.abs(x) < 220)
    rib_lo = RIBS_Z_RANGE_MM[0] - RIB_HALF_HEIGHT_MM
    rib_hi = RIBS_Z_RANGE_MM[1] + RIB_DROOP_MM
    for start in range(0, len(grid.zs), _Z_CHUNK):
        zs = grid.zs[start:start + _Z_CHUNK]
        box = Box((slice(start, start + len(zs)), slice(None), slice(None)), zs.reshape(-1, 1, 1), y, x)
        block = tissue[box.slices]
        depth = body.depth_mm(x, y, box.z)
        np.copyto(block, np.uint8(Tissue.TABLE), where=table & (depth <= 0))
        np.copyto(block, np.uint8(Tissue.SKIN), where=depth > 0)
        np.copyto(block, np.uint8(Tissue.SUBCUTANEOUS_FAT), where=depth > _F32(SKIN_MM))
        np.copyto(block, np.uint8(Tissue.MUSCLE), where=depth > fat + _F32(SKIN_MM))
        cavity = depth > wall
        np.copyto(block, np.uint8(Tissue.VISCERAL_FAT), where=cavity)
        above = box.z > dome
        lung = cavity & above & ~mediastinum & (box.z < _F32(LUNG_APEX_Z_MM))
        np.copyto(block, np.uint8(Tissue.LUNG), where=lung)
        band = cavity & ~above & (box.z > dome - _F32(diaphragm.thickness_mm))
        np.copyto(block, np.uint8(Tissue.MUSCLE), where=band)
        if zs[-1] >= rib_lo and zs[0] <= rib_hi:
            # Ribs lie in the muscle wall: evaluate them only there.
            k, j, i = np.nonzero((depth > fat + _F32(SKIN_MM)) & ~cavity)
            q = rib_cross_section(body, grid.xs[i], grid.ys[j], zs[k], depth[k, j, i])
            rib = q < 1
            block[k[rib], j[rib], i[rib]] = np.where(q[rib] > _F32(0.6), np.uint8(Tissue.CORTICAL_BONE),
                                                     np.uint8(Tissue.CANCELLOUS_BONE))


def _paint_heart(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    box = grid.box(*anatomy.heart.bounds())
    if box is None:
        return
    above = box.z > anatomy.diaphragm.height_mm(box.x, box.y)
    paint(tissue, box, (anatomy.heart.q(box.x, box.y, box.z) < 1) & above, Tissue.MYOCARDIUM,
          allowed=(Tissue.LUNG, Tissue.VISCERAL_FAT))
    for chamber in anatomy.heart_chambers:
        paint(tissue, box, chamber.q(box.x, box.y, box.z) < 1, Tissue.HEART_BLOOD, allowed=(Tissue.MYOCARDIUM,))


def _paint_tube(tissue: np.ndarray, grid: Grid, segment: Segment, value: int,
                allowed: tuple[int, ...]) -> None:
    box = grid.box(*segment.bounds())
    if box is not None:
        paint(tissue, box, segment.distance(box.x, box.y, box.z) < segment.radius_mm, value, allowed=allowed)


def _paint_bowel_loop(tissue: np.ndarray, grid: Grid, anatomy: Anatomy, loop: BowelLoop) -> None:
    content = {"fluid": Tissue.BOWEL_FLUID, "contrast": Tissue.ORAL_CONTRAST, "gas": Tissue.GAS}[loop.content]
    below_level = Tissue.BOWEL_FLUID if loop.content == "gas" else content
    for segment in loop.segments:
        box = grid.box(*segment.bounds())
        if box is None:
            continue
        distance = segment.distance(box.x, box.y, box.z)
        region = _abdomen(anatomy, box)
        paint(tissue, box, region & (distance < segment.radius_mm), Tissue.BOWEL_WALL,
              allowed=(Tissue.VISCERAL_FAT,))
        lumen = distance < segment.radius_mm - loop.wall_mm
        if loop.gas_level_y_mm is None:
            paint(tissue, box, lumen, content, allowed=(Tissue.BOWEL_WALL,))
        else:
            anterior = box.y < _F32(loop.gas_level_y_mm)
            paint(tissue, box, lumen & anterior, Tissue.GAS, allowed=(Tissue.BOWEL_WALL,))
            paint(tissue, box, lumen & ~anterior, below_level, allowed=(Tissue.BOWEL_WALL,))


def _paint_stomach_and_spleen(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    box = grid.box(*anatomy.stomach.bounds())
    if box is not None:
        outer, inner = anatomy.stomach.q_box(box, 4.0)
        region = _abdomen(anatomy, box)
        paint(tissue, box, region & (outer < 1), Tissue.STOMACH_WALL, allowed=_ABDOMINAL_SOFT)
        lumen = inner < 1
        anterior = box.y < _F32(anatomy.stomach_gas_level_y_mm)
        paint(tissue, box, lumen & anterior, Tissue.GAS, allowed=(Tissue.STOMACH_WALL,))
        paint(tissue, box, lumen & ~anterior, Tissue.STOMACH_FLUID, allowed=(Tissue.STOMACH_WALL,))
    box = grid.box(*anatomy.spleen.bounds())
    if box is not None:
        (q,) = anatomy.spleen.q_box(box)
        paint(tissue, box, _abdomen(anatomy, box) & (q < 1), Tissue.SPLEEN, allowed=(*_ABDOMINAL_SOFT, *_STOMACH))


def _paint_liver(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    box = grid.box(*anatomy.liver.bounds())
    if box is not None:
        (q,) = anatomy.liver.q_box(box)
        paint(tissue, box, _abdomen(anatomy, box) & (q < 1), Tissue.LIVER,
              allowed=(*_ABDOMINAL_SOFT, *_STOMACH, Tissue.SPLEEN))
    gallbladder = anatomy.gallbladder
    box = grid.box(*gallbladder.bounds()) if gallbladder is not None else None
    if gallbladder is not None and box is not None:
        paint(tissue, box, _abdomen(anatomy, box) & (gallbladder.q(box.x, box.y, box.z) < 1),
              Tissue.GALLBLADDER, allowed=(Tissue.LIVER, *_ABDOMINAL_SOFT))


def _paint_great_vessels(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    for segment in anatomy.aorta:
        _paint_tube(tissue, grid, segment, Tissue.AORTA, allowed=_VESSEL_MAY_DISPLACE)
    _paint_tube(tissue, grid, anatomy.ivc, Tissue.IVC, allowed=_VESSEL_MAY_DISPLACE)
    _paint_tube(tissue, grid, anatomy.portal_trunk, Tissue.PORTAL_VEIN, allowed=(Tissue.LIVER,))
    _paint_tube(tissue, grid, anatomy.portal_trunk, Tissue.PORTAL_TRUNK, allowed=(*_ABDOMINAL_SOFT, *_STOMACH))


def _paint_kidneys(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    for kidney, sinus in zip(anatomy.kidneys, anatomy.renal_sinuses):
        box = grid.box(*kidney.bounds())
        if box is None:
            continue
        region = anatomy.body.cavity_depth_mm(box.x, box.y, box.z) > 0
        paint(tissue, box, region & (kidney.q(box.x, box.y, box.z) < 1), Tissue.KIDNEY_CORTEX,
              allowed=(*_ABDOMINAL_SOFT, *_STOMACH, Tissue.LIVER, Tissue.SPLEEN))
        paint(tissue, box, kidney.shrunk(7.0).q(box.x, box.y, box.z) < 1, Tissue.KIDNEY_MEDULLA,
              allowed=(Tissue.KIDNEY_CORTEX,))
        paint(tissue, box, sinus.q(box.x, box.y, box.z) < 1, Tissue.VISCERAL_FAT,
              allowed=(Tissue.KIDNEY_CORTEX, Tissue.KIDNEY_MEDULLA))


def _paint_back_muscles(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    spine_y = anatomy.spine.body_centre_y_mm
    for side in (-1.0, 1.0):
        centre_x = side * 32.0
        box = grid.box((centre_x - 27, spine_y + 24, -np.inf), (centre_x + 27, spine_y + 66, np.inf))
        if box is not None:
            inside = ((box.x - _F32(centre_x)) / _F32(26.0)) ** 2 + ((box.y - _F32(spine_y + 45)) / _F32(20.0)) ** 2 < 1
            paint(tissue, box, np.broadcast_to(inside, box.shape), Tissue.MUSCLE,
                  allowed=(Tissue.VISCERAL_FAT, Tissue.LUNG))
        box = grid.box((side * 30 - 60, spine_y - 30, -np.inf), (side * 30 + 60, spine_y + 30, -100.0))
        if box is not None:
            radius = np.clip(_F32(6.0) + _F32(0.15) * (_F32(-100.0) - box.z), 6.0, 26.0)
            centre = _F32(side) * (_F32(28.0) + _F32(0.1) * (_F32(-100.0) - box.z))
            inside = ((box.x - centre) ** 2 + (box.y - _F32(spine_y + 5)) ** 2) < radius ** 2
            paint(tissue, box, inside, Tissue.MUSCLE, allowed=_ABDOMINAL_SOFT)


def _paint_spine(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    spine = anatomy.spine
    ax, ay = spine.semi_axes_mm
    yc, canal = spine.body_centre_y_mm, spine.canal_centre_y_mm
    box = grid.box((-45.0, yc - ay - 1, -np.inf), (45.0, canal + 36, np.inf))
    if box is None:
        return
    x, y, z = box.x, box.y, box.z
    level = np.mod(z - _F32(spine.phase_mm), _F32(spine.pitch_mm))  # (nz, 1, 1) mm into a level
    disc = level < _F32(spine.disc_mm)
    endplate = (level < _F32(spine.disc_mm + 1.5)) | (level > _F32(spine.pitch_mm - 1.5))
    q_body = np.sqrt((x / _F32(ax)) ** 2 + ((y - _F32(yc)) / _F32(ay)) ** 2)
    block = tissue[box.slices]
    vertebra = np.broadcast_to(q_body < 1, box.shape)
    cortex = (q_body > _F32(0.85)) | endplate
    np.copyto(block, np.uint8(Tissue.CANCELLOUS_BONE), where=vertebra)
    np.copyto(block, np.uint8(Tissue.CORTICAL_BONE), where=vertebra & cortex)
    np.copyto(block, np.uint8(Tissue.DISC), where=vertebra & disc)
    # Posterior elements, with a gap (the facet joints) half a level away from the discs.
    gap = np.mod(level - _F32(0.5 * spine.pitch_mm), _F32(spine.pitch_mm)) < _F32(spine.disc_mm)
    r = np.sqrt(x * x + (y - _F32(canal)) ** 2)
    arch = (r >= 9) & (r < 15) & (y > _F32(canal - 4))
    spinous = (np.abs(x) < 4) & (y > _F32(canal + 13)) & (y < _F32(canal + 34))
    transverse = (np.abs(y - _F32(canal - 2)) < 5) & (np.abs(x) > 12) & (np.abs(x) < 40)
    elements = (arch | spinous | transverse) & ~gap
    marrow = ((np.abs(r - _F32(12)) < 1.5) | (spinous & (np.abs(x) < 2))
              | (transverse & (np.abs(y - _F32(canal - 2)) < 2.5)))
    np.copyto(block, np.uint8(Tissue.CORTICAL_BONE), where=elements)
    np.copyto(block, np.uint8(Tissue.CANCELLOUS_BONE), where=elements & marrow)
    np.copyto(block, np.uint8(Tissue.SPINAL_CANAL), where=np.broadcast_to(r < 9, box.shape))


def _paint_tumours(tissue: np.ndarray, grid: Grid, anatomy: Anatomy) -> None:
    for index, tumour in enumerate(anatomy.tumours):
        box = grid.box(*tumour.shape.bounds())
        if box is None:
            continue
        (q,) = tumour.shape.q_box(box)
        paint(tissue, box, q < 1, tumour_rim_id(index), allowed=LIVER_TISSUES)
        paint(tissue, box, q < 0.8, tumour_core_id(index), allowed=(tumour_rim_id(index),))
