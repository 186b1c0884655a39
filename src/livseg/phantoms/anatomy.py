"""A random patient for the phantom: organ shapes drawn in nominal mm, then painted on a grid.

Nominal frame: an adult-sized patient in LPS millimetres (+x patient's left, +y posterior,
+z superior), origin at the body centre, z = 0 at the top of the right diaphragm dome. The
draw is independent of any voxel grid: the same random patient can be painted on any grid
(the only grid-dependent choice is the smallest tumour diameter, see :func:`place_tumours`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from livseg.phantoms.body import (
    Body,
    Diaphragm,
    draw_body,
    draw_diaphragm,
)
from livseg.phantoms.fields import Box, Ellipsoid, Segment, SmoothField, soft_union

Vec3 = tuple[float, float, float]
_F32 = np.float32

TUMOUR_DIAMETER_MM = (5.0, 60.0)  # drawn log-uniformly, in nominal mm
MAX_EDGE_FRACTION = 0.35  # share of tumours placed across the liver surface
LUNG_APEX_Z_MM = 230.0
# In-plane ellipse (centre x, centre y, semi x, semi y) of the mediastinum: no lung inside.
MEDIASTINUM = (5.0, -20.0, 45.0, 95.0)


@dataclass(frozen=True)
class Blob:
    """A soft union of ellipsoids, optionally warped by a smooth random displacement field.

    ``q < 1`` inside. ``shrink_mm`` evaluates the same blob with every semi-axis shortened, which
    gives the inside of a wall of that thickness on the same warp.
    """

    lobes: tuple[Ellipsoid, ...]
    displacement: tuple[SmoothField, SmoothField, SmoothField] | None = None
    reach_mm: float = 0.0

    def bounds(self, margin_mm: float = 0.0) -> tuple[Vec3, Vec3]:
        los, his = zip(*(lobe.bounds(self.reach_mm + margin_mm) for lobe in self.lobes))
        return tuple(np.min(los, axis=0)), tuple(np.max(his, axis=0))  # type: ignore[return-value]

    def _q(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, shrink_mm: float) -> np.ndarray:
        lobes = [lobe.shrunk(shrink_mm) if shrink_mm else lobe for lobe in self.lobes]
        qs = [lobe.q(x, y, z) for lobe in lobes]
        return qs[0] if len(qs) == 1 else soft_union(qs)

    def q_box(self, box: Box, *shrinks_mm: float) -> list[np.ndarray]:
        """q on every voxel of ``box`` (float32 (nz, ny, nx)), then for each shrink."""
        x, y, z = box.x, box.y, box.z
        if self.displacement is not None:
            fx, fy, fz = self.displacement
            x = x + fx.on_box(box)
            y = y + fy.on_box(box)
            z = z + fz.on_box(box)
        return [self._q(x, y, z, shrink) for shrink in (0.0, *shrinks_mm)]

    def q_points(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """q at scattered points (1D arrays of equal length)."""
        if self.displacement is not None:
            fx, fy, fz = self.displacement
            x, y, z = x + fx.at(x, y, z), y + fy.at(x, y, z), z + fz.at(x, y, z)
        return self._q(np.asarray(x, _F32), np.asarray(y, _F32), np.asarray(z, _F32), 0.0)


def _warped(rng: np.random.Generator, lobes: list[Ellipsoid], *, amplitude_mm: float,
            node_spacing_mm: float) -> Blob:
    lo, hi = Blob(tuple(lobes)).bounds()
    fields = tuple(SmoothField(rng, lo, hi, node_spacing_mm=node_spacing_mm, amplitude=amplitude_mm)
                   for _ in range(3))
    return Blob(tuple(lobes), fields, reach_mm=2.5 * amplitude_mm)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Spine:
    """Vertebral column: elliptic vertebral bodies with discs, canal and posterior elements."""

    body_centre_y_mm: float
    semi_axes_mm: tuple[float, float]
    pitch_mm: float
    disc_mm: float
    phase_mm: float

    @property
    def canal_centre_y_mm(self) -> float:
        return self.body_centre_y_mm + self.semi_axes_mm[1] + 11.0


@dataclass(frozen=True)
class BowelLoop:
    """A tube (chain of segments) with a wall; content tissue; gas anterior to ``gas_level_y``."""

    segments: tuple[Segment, ...]
    wall_mm: float
    content: str  # "fluid", "contrast" or "gas"
    gas_level_y_mm: float | None


@dataclass(frozen=True)
class Tumour:
    """A tumour: warped ellipsoid (nominal mm) and whether it was placed across the liver edge."""

    shape: Blob
    centre_mm: Vec3
    diameter_mm: float
    at_edge: bool


@dataclass(frozen=True)
class Anatomy:
    """Everything about one random patient, in nominal mm (see the module docstring)."""

    body: Body
    diaphragm: Diaphragm
    spine: Spine
    liver: Blob
    gallbladder: Ellipsoid | None
    spleen: Blob
    stomach: Blob
    stomach_gas_level_y_mm: float
    kidneys: tuple[Ellipsoid, ...]
    renal_sinuses: tuple[Ellipsoid, ...]
    heart: Ellipsoid
    heart_chambers: tuple[Ellipsoid, ...]
    aorta: tuple[Segment, ...]
    ivc: Segment
    portal_trunk: Segment
    portal_branches: tuple[Segment, ...]
    hepatic_veins: tuple[Segment, ...]
    lung_vessels: tuple[Segment, ...]
    bowel: tuple[BowelLoop, ...]
    oral_contrast: bool
    tumours: tuple[Tumour, ...] = field(default=())


def _jitter(rng: np.random.Generator, point: Vec3, sd_mm: float) -> Vec3:
    return tuple(float(v) for v in np.asarray(point) + rng.normal(0.0, sd_mm, 3))  # type: ignore[return-value]


def _scaled(rng: np.random.Generator, semi: Vec3, low: float, high: float) -> Vec3:
    return tuple(float(s * rng.uniform(low, high)) for s in semi)  # type: ignore[return-value]


def _turn(rng: np.random.Generator, direction: np.ndarray, angle_deg: float) -> np.ndarray:
    """``direction`` rotated by ``angle_deg`` towards a random perpendicular."""
    unit = direction / np.linalg.norm(direction)
    other = rng.normal(size=3)
    perpendicular = other - (other @ unit) * unit
    perpendicular /= np.linalg.norm(perpendicular)
    angle = np.deg2rad(angle_deg)
    return np.cos(angle) * unit + np.sin(angle) * perpendicular


def _vessel_tree(rng: np.random.Generator, start: np.ndarray, direction: np.ndarray, *,
                 length_mm: float, radius_mm: float, depth: int) -> list[Segment]:
    """A binary tree of tapering tube segments (portal or hepatic venous branches)."""
    end = start + direction / np.linalg.norm(direction) * length_mm
    segments = [Segment(tuple(start), tuple(end), radius_mm)]  # type: ignore[arg-type]
    if depth > 0:
        for _ in range(2):
            segments += _vessel_tree(
                rng, end, _turn(rng, direction, rng.uniform(25.0, 50.0)),
                length_mm=length_mm * rng.uniform(0.6, 0.85), radius_mm=radius_mm * 0.72,
                depth=depth - 1)
    return segments


def _random_walk(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, *, steps: int,
                 step_mm: float, radius_mm: float) -> tuple[Segment, ...]:
    """A smooth random path of ``steps`` segments inside the box [lo, hi] (reflecting)."""
    point = rng.uniform(lo, hi)
    direction = rng.normal(size=3)
    segments = []
    for _ in range(steps):
        direction = direction / np.linalg.norm(direction) + 0.7 * rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        end = point + direction * step_mm
        outside = (end < lo) | (end > hi)
        direction[outside] *= -1
        end = np.clip(point + direction * step_mm, lo, hi)
        segments.append(Segment(tuple(point), tuple(end), radius_mm))  # type: ignore[arg-type]
        point = end
    return tuple(segments)


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw a random patient (no tumours yet; see :func:`place_tumours`)."""
    body = draw_body(rng)
    diaphragm = draw_diaphragm(rng)
    # Organ positions follow the size of the cavity (not of the fat around it).
    kx = float(np.clip((body.half_width_mm - body.fat_mm - body.muscle_mm) / 128.0, 0.88, 1.12))
    ky = float(np.clip((body.half_depth_mm - body.fat_mm - body.muscle_mm) / 82.0, 0.88, 1.12))

    def at(x: float, y: float, z: float, sd: float = 4.0) -> Vec3:
        return _jitter(rng, (x * kx, y * ky, z), sd)

    spine_y = body.half_depth_mm - 78.0
    spine = Spine(body_centre_y_mm=spine_y, semi_axes_mm=(float(rng.uniform(20, 25)), float(rng.uniform(16, 20))),
                  pitch_mm=float(rng.uniform(32, 37)), disc_mm=float(rng.uniform(7, 10)),
                  phase_mm=float(rng.uniform(0, 37)))

    size = float(rng.uniform(0.9, 1.1))
    liver_lobes = [
        Ellipsoid(at(-68, 0, -60), _scaled(rng, (72 * size, 85 * size, 72 * size), 0.92, 1.08),
                  taper=float(rng.uniform(0.15, 0.35))),
        Ellipsoid(at(-92, 15, -112), _scaled(rng, (38 * size, 50 * size, 40 * size), 0.85, 1.15),
                  taper=float(rng.uniform(0.2, 0.5))),
        Ellipsoid(at(15, -45, -48), _scaled(rng, (62 * size, 32 * size, 36 * size), 0.7, 1.25),
                  yaw_deg=float(rng.uniform(-20, 5))),
        Ellipsoid(at(-22, 25, -62), _scaled(rng, (20, 24, 32), 0.85, 1.15)),
    ]
    liver = _warped(rng, liver_lobes, amplitude_mm=float(rng.uniform(6, 12)), node_spacing_mm=45.0)
    gallbladder = (Ellipsoid(at(-42, -40, -112), _scaled(rng, (15, 16, 34), 0.75, 1.2),
                             yaw_deg=float(rng.uniform(0, 60)))
                   if rng.uniform() < 0.85 else None)
    spleen = _warped(rng, [Ellipsoid(at(92, 48, -45), _scaled(rng, (22, 50, 55), 0.8, 1.2),
                                     yaw_deg=float(rng.uniform(-50, -30)))],
                     amplitude_mm=5.0, node_spacing_mm=35.0)
    stomach = _warped(rng, [Ellipsoid(at(55, -5, -55), _scaled(rng, (42, 38, 48), 0.8, 1.15), yaw_deg=30.0),
                            Ellipsoid(at(18, -48, -95), _scaled(rng, (45, 24, 28), 0.8, 1.2),
                                      yaw_deg=float(rng.uniform(-30, -10)))],
                      amplitude_mm=6.0, node_spacing_mm=40.0)
    stomach_gas_level = float(-48 * ky + rng.uniform(-15, 15))
    kidney_semi = _scaled(rng, (27, 25, 52), 0.88, 1.12)
    kidneys, sinuses = [], []
    for side, z_centre in ((-1, -120.0), (1, -105.0)):
        centre = at(side * 68, 0, z_centre, sd=5.0)
        centre = (centre[0], spine_y + 12.0 + float(rng.normal(0, 3)), centre[2])
        yaw = -side * float(rng.uniform(15, 35))
        kidneys.append(Ellipsoid(centre, _scaled(rng, kidney_semi, 0.95, 1.05), yaw_deg=yaw))
        sinuses.append(Ellipsoid((centre[0] - side * 15.0, centre[1] - 8.0, centre[2]), (10.0, 9.0, 26.0),
                                 yaw_deg=yaw))
    heart_xy = at(25, -35, 0, sd=5.0)
    floor = float(diaphragm.height_mm(np.array(heart_xy[0]), np.array(heart_xy[1])))
    heart_semi = _scaled(rng, (62, 48, 55), 0.9, 1.1)
    heart_centre = (heart_xy[0], heart_xy[1], floor + 0.7 * heart_semi[2])
    yaw = float(rng.uniform(25, 45))
    heart = Ellipsoid(heart_centre, heart_semi, yaw_deg=yaw)
    chambers = (
        Ellipsoid((heart_centre[0] + 15, heart_centre[1] + 10, heart_centre[2]), (28.0, 22.0, 35.0), yaw_deg=yaw),
        Ellipsoid((heart_centre[0] - 18, heart_centre[1] - 20, heart_centre[2] - 5), (30.0, 17.0, 30.0), yaw_deg=yaw),
    )
    vessel_y = spine_y - spine.semi_axes_mm[1]
    aorta = (
        Segment((14 * kx, vessel_y - 13, -2000.0), (14 * kx, vessel_y - 13, -20.0), 11.0),
        Segment((14 * kx, vessel_y - 13, -20.0), (24 * kx, vessel_y + 5, 40.0), 11.0),
        Segment((24 * kx, vessel_y + 5, 40.0), (24 * kx, vessel_y + 5, 2000.0), 11.0),
    )
    ivc = Segment((-24 * kx, vessel_y - 14, -2000.0), (-24 * kx, vessel_y - 14, floor + 10.0), 13.0)
    hilum = np.asarray(at(-30, 0, -85))
    portal_trunk = Segment((-4 * kx, vessel_y - 40, -150.0), tuple(hilum), 7.5)  # type: ignore[arg-type]
    portal = (_vessel_tree(rng, hilum, np.array([-60.0, 10.0, 30.0]), length_mm=35.0, radius_mm=6.0, depth=3)
              + _vessel_tree(rng, hilum, np.array([50.0, -40.0, 35.0]), length_mm=40.0, radius_mm=5.5, depth=3))
    confluence = np.array([-24 * kx, vessel_y - 14, -8.0])
    hepatic = []
    for target in ((-100.0, 0.0, -60.0), (-45.0, -60.0, -55.0), (15.0, -55.0, -35.0)):
        direction = np.array([target[0] * kx, target[1] * ky, target[2]]) - confluence
        hepatic += _vessel_tree(rng, confluence, direction, length_mm=float(rng.uniform(40, 55)),
                                radius_mm=5.5, depth=2)
    lung_vessels = []
    for side in (-1.0, 1.0):
        hilum_lung = np.array([side * 50.0 * kx, 5.0, 65.0])
        for target in ((side * 120.0, -40.0, -30.0), (side * 110.0, 70.0, -50.0), (side * 100.0, 10.0, 160.0)):
            direction = np.array([target[0] * kx, target[1] * ky, target[2]]) - hilum_lung
            lung_vessels += _vessel_tree(rng, hilum_lung, direction, length_mm=float(rng.uniform(45, 60)),
                                         radius_mm=3.5, depth=3)
    oral_contrast = bool(rng.uniform() < 0.4)
    bowel = _draw_bowel(rng, kx, ky, oral_contrast)
    return Anatomy(body=body, diaphragm=diaphragm, spine=spine, liver=liver, gallbladder=gallbladder,
                   spleen=spleen, stomach=stomach, stomach_gas_level_y_mm=stomach_gas_level,
                   kidneys=tuple(kidneys), renal_sinuses=tuple(sinuses), heart=heart,
                   heart_chambers=chambers, aorta=aorta, ivc=ivc, portal_trunk=portal_trunk,
                   portal_branches=tuple(portal), hepatic_veins=tuple(hepatic),
                   lung_vessels=tuple(lung_vessels), bowel=bowel,
                   oral_contrast=oral_contrast)


def _draw_bowel(rng: np.random.Generator, kx: float, ky: float, oral_contrast: bool) -> tuple[BowelLoop, ...]:
    loops = []
    colon_path = [(-95, 0, -380), (-100, 10, -170), (-88, -30, -125), (-40, -72, -140), (30, -70, -130),
                  (90, -20, -95), (102, 15, -160), (95, 10, -380)]
    points = [np.asarray(_jitter(rng, (x * kx, y * ky, z), 6.0)) for x, y, z in colon_path]
    colon_radius = float(rng.uniform(17, 24))
    colon = tuple(Segment(tuple(a), tuple(b), colon_radius)  # type: ignore[arg-type]
                  for a, b in zip(points[:-1], points[1:]))
    loops.append(BowelLoop(colon, wall_mm=3.0, content="gas", gas_level_y_mm=float(rng.uniform(-40, 10))))
    lo = np.array([-95 * kx, -92 * ky, -390.0])
    hi = np.array([95 * kx, 5 * ky, -130.0])
    contents = ["fluid", "gas"] + (["contrast", "contrast"] if oral_contrast else ["fluid"])
    for _ in range(int(rng.integers(7, 11))):
        segments = _random_walk(rng, lo, hi, steps=int(rng.integers(8, 14)), step_mm=22.0,
                                radius_mm=float(rng.uniform(9, 14)))
        content = contents[int(rng.integers(len(contents)))]
        level = float(np.mean([s.start[1] for s in segments])) if content != "gas" else None
        loops.append(BowelLoop(segments, wall_mm=2.5, content=content,
                               gas_level_y_mm=level if rng.uniform() < 0.3 else None))
    return tuple(loops)


def in_liver_points(anatomy: Anatomy, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points (n, 3) nominal mm: liver q (warped) and whether the point is liver tissue.

    Liver tissue: inside the warped liver, below the diaphragm, inside the cavity, and not in
    the gallbladder, a kidney or the inferior vena cava.
    """
    x, y, z = (points[:, axis].astype(_F32) for axis in range(3))
    q = anatomy.liver.q_points(x, y, z)
    inside = q < 1
    inside &= z < anatomy.diaphragm.height_mm(x, y) - _F32(anatomy.diaphragm.thickness_mm)
    inside &= anatomy.body.cavity_depth_mm(x, y, z) > 0
    for organ in (anatomy.gallbladder, *anatomy.kidneys):
        if organ is not None:
            inside &= organ.q(x, y, z) > 1
    inside &= anatomy.ivc.distance(x, y, z) > anatomy.ivc.radius_mm
    return q, inside


def place_tumours(rng: np.random.Generator, anatomy: Anatomy, count: int, *,
                  min_diameter_mm: float) -> Anatomy:
    """Add up to ``count`` non-overlapping tumours inside the liver (some across its edge).

    Diameters are drawn log-uniformly in :data:`TUMOUR_DIAMETER_MM` and raised to
    ``min_diameter_mm`` (nominal mm) so that each tumour covers voxels of the grid it will be
    painted on. Fewer tumours are placed only when no free spot is found.
    """
    lo, hi = anatomy.liver.bounds()
    candidates = rng.uniform(lo, hi, size=(8192, 3))
    q, inside = in_liver_points(anatomy, candidates)
    deep = candidates[inside & (q < 0.6)]
    edge = candidates[inside & (q > 0.85) & (q < 0.97)]
    tumours: list[Tumour] = []
    for _ in range(count):
        diameter = float(np.exp(rng.uniform(*np.log(TUMOUR_DIAMETER_MM))))
        diameter = max(diameter, min_diameter_mm)
        at_edge = bool(rng.uniform() < MAX_EDGE_FRACTION)
        semi = _scaled(rng, (diameter / 2,) * 3, 0.85, 1.15)  # type: ignore[arg-type]
        yaw = float(rng.uniform(0, 180))
        pool = edge if at_edge and len(edge) else deep
        order = rng.permutation(len(pool))
        chosen = None
        for index in order[:400]:
            centre = pool[index]
            if all(np.linalg.norm(centre - np.asarray(t.centre_mm)) > 1.1 * (diameter + t.diameter_mm) / 2
                   for t in tumours):
                chosen = centre
                break
        if chosen is None:
            continue
        centre = tuple(float(v) for v in chosen)
        shape = _warped(rng, [Ellipsoid(centre, semi, yaw_deg=yaw)],  # type: ignore[arg-type]
                        amplitude_mm=0.08 * diameter, node_spacing_mm=0.6 * diameter)
        tumours.append(Tumour(shape=shape, centre_mm=centre, diameter_mm=diameter,  # type: ignore[arg-type]
                              at_edge=at_edge and pool is edge))
    return replace(anatomy, tumours=tuple(tumours))
