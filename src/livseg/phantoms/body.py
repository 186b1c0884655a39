"""The phantom's body wall and diaphragm: outline, skin, fat, muscle, cavity, table, ribs.

Nominal millimetres throughout (adult size, LPS: +x patient's left, +y posterior, +z superior;
origin at the body centre, z = 0 at the top of the right diaphragm dome).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKIN_MM = 2.5
TABLE_GAP_MM = 10.0  # between the lowest point of the back and the table top
TABLE_THICKNESS_MM = 8.0
RIB_PITCH_MM = 30.0  # vertical distance between neighbouring ribs
RIB_HALF_HEIGHT_MM = 6.0
RIB_HALF_THICKNESS_MM = 4.0
RIB_DROOP_MM = 70.0  # how much lower a rib's anterior end is than its posterior end
RIBS_Z_RANGE_MM = (-150.0, 230.0)
_F32 = np.float32


@dataclass(frozen=True)
class Body:
    """The body outline: an ellipse (flatter at the back) with smooth random irregularity.

    Attributes:
        half_width_mm, half_depth_mm: semi-axes of the outline along x and y.
        back_exponent: super-ellipse exponent of the posterior half (> 2 flattens the back).
        harmonics: (order k, amplitude, phase, z amplitude, z phase) of the radius modulation
            ``1 + sum (amp + z_amp sin(2 pi z / z_period + z_phase)) cos(k theta + phase)``.
        z_period_mm: period of the slow change of the outline along z.
        fat_mm: mean subcutaneous fat thickness (thicker in front, thinner at the back).
        muscle_mm: thickness of the muscle wall inside the fat.
    """

    half_width_mm: float
    half_depth_mm: float
    back_exponent: float
    harmonics: tuple[tuple[int, float, float, float, float], ...]
    z_period_mm: float
    fat_mm: float
    muscle_mm: float

    @property
    def max_modulation(self) -> float:
        return float(sum(abs(h[1]) + abs(h[3]) for h in self.harmonics))

    @property
    def max_half_extent_mm(self) -> tuple[float, float]:
        """Largest reach of the outline from the centre along x and y (mm)."""
        grow = 1.0 + self.max_modulation
        return self.half_width_mm * grow, self.half_depth_mm * grow

    def _polar(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normalised radius rho, angle theta and mm per unit rho at (x, y)."""
        u = np.asarray(x, dtype=_F32) / _F32(self.half_width_mm)
        v = np.asarray(y, dtype=_F32) / _F32(self.half_depth_mm)
        front = np.sqrt(u * u + v * v)
        p = _F32(self.back_exponent)
        back = (np.abs(u) ** p + np.abs(v) ** p) ** (_F32(1.0) / p)
        rho = np.where(v > 0, back, front)
        theta = np.arctan2(v, u)
        radius = np.sqrt(np.asarray(x, dtype=_F32) ** 2 + np.asarray(y, dtype=_F32) ** 2)
        safe = rho > 1e-3
        mm_per_rho = np.where(safe, radius / np.where(safe, rho, 1), _F32(self.half_depth_mm))
        return rho, theta, mm_per_rho

    def depth_mm(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Approximate depth (mm) below the skin surface: > 0 inside the body, < 0 outside.

        Broadcasts x (1, 1, nx), y (1, ny, 1), z (nz, 1, 1) to (nz, ny, nx) float32, or takes
        1D arrays of scattered points.
        """
        rho, theta, mm_per_rho = self._polar(x, y)
        z = np.asarray(z, dtype=np.float64)
        radius = None
        for order, amp, phase, z_amp, z_phase in self.harmonics:
            weight = (amp + z_amp * np.sin(2 * np.pi * z / self.z_period_mm + z_phase)).astype(_F32)
            term = weight * np.cos(_F32(order) * theta + _F32(phase)).astype(_F32)
            radius = term if radius is None else np.add(radius, term, out=radius)
        radius = np.zeros_like(rho) if radius is None else radius
        radius += _F32(1.0)
        radius -= rho
        radius *= mm_per_rho
        return radius

    def fat_thickness_mm(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Subcutaneous fat thickness at (x, y): 1.3x mean in front, 0.7x at the back."""
        _, theta, _ = self._polar(x, y)
        return (_F32(self.fat_mm) * (_F32(1.0) - _F32(0.3) * np.sin(theta))).astype(_F32)

    def wall_mm(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Depth (mm) of the inner surface of the muscle wall: skin + fat + muscle."""
        return self.fat_thickness_mm(x, y) + _F32(SKIN_MM + self.muscle_mm)

    def cavity_depth_mm(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Depth (mm) inside the abdominal / thoracic cavity (> 0 inside it)."""
        return self.depth_mm(x, y, z) - self.wall_mm(x, y)

    def table_top_mm(self) -> float:
        """Nominal y of the table top (posterior of the lowest point of the back)."""
        return self.max_half_extent_mm[1] + TABLE_GAP_MM


def draw_body(rng: np.random.Generator) -> Body:
    harmonics = tuple(
        (order, float(rng.uniform(-limit, limit)), float(rng.uniform(0, 2 * np.pi)),
         float(rng.uniform(-0.5 * limit, 0.5 * limit)), float(rng.uniform(0, 2 * np.pi)))
        for order, limit in ((0, 0.0), (2, 0.04), (3, 0.025), (4, 0.02), (5, 0.01))
    )
    return Body(
        half_width_mm=float(rng.uniform(150.0, 178.0)),
        half_depth_mm=float(rng.uniform(105.0, 122.0)),
        back_exponent=float(rng.uniform(2.4, 3.2)),
        harmonics=harmonics,
        z_period_mm=float(rng.uniform(250.0, 450.0)),
        fat_mm=float(rng.uniform(8.0, 30.0)),
        muscle_mm=float(rng.uniform(9.0, 14.0)),
    )


@dataclass(frozen=True)
class Diaphragm:
    """The diaphragm as the upper envelope of two domes (right higher than left).

    ``height_mm(x, y)`` is the z of its upper surface; lungs and heart lie above it, the liver,
    spleen and stomach below it, separated by ``thickness_mm`` of muscle.
    """

    right_apex: tuple[float, float, float]
    left_apex: tuple[float, float, float]
    curvature_radius_mm: float
    thickness_mm: float

    def height_mm(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        def dome(apex: tuple[float, float, float]) -> np.ndarray:
            dx = np.asarray(x, dtype=_F32) - _F32(apex[0])
            dy = np.asarray(y, dtype=_F32) - _F32(apex[1])
            return _F32(apex[2]) - (dx * dx + _F32(0.7) * dy * dy) / _F32(2 * self.curvature_radius_mm)

        return np.maximum(dome(self.right_apex), dome(self.left_apex))


def draw_diaphragm(rng: np.random.Generator) -> Diaphragm:
    return Diaphragm(
        right_apex=(float(rng.uniform(-80, -60)), float(rng.uniform(0, 15)), 0.0),
        left_apex=(float(rng.uniform(60, 80)), float(rng.uniform(0, 15)), float(rng.uniform(-25, -8))),
        curvature_radius_mm=float(rng.uniform(115, 145)),
        thickness_mm=5.0,
    )


def rib_cross_section(body: Body, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                      depth: np.ndarray) -> np.ndarray:
    """Normalised radius (< 1 inside a rib) of the rib cage at the given points.

    Ribs run in the muscle wall, one every :data:`RIB_PITCH_MM`, sloping down towards the
    front; the anterior cartilage gap is left open and the lowest ribs are shorter.
    ``depth`` is :meth:`Body.depth_mm` at the same points.
    """
    _, theta, _ = body._polar(x, y)
    from_back = np.abs(np.angle(np.exp(1j * (theta - np.pi / 2)))).astype(_F32)  # 0 back, pi front
    shifted = np.asarray(z, dtype=_F32) + _F32(RIB_DROOP_MM / np.pi) * from_back
    phase = shifted / _F32(RIB_PITCH_MM)
    index = np.round(phase)
    dz = (phase - index) * _F32(RIB_PITCH_MM)
    mid_wall = body.fat_thickness_mm(x, y) + _F32(SKIN_MM + 0.5 * body.muscle_mm)
    radial = depth - mid_wall
    q = np.sqrt((dz / _F32(RIB_HALF_HEIGHT_MM)) ** 2 + (radial / _F32(RIB_HALF_THICKNESS_MM)) ** 2)
    # Ribs reach further round the front the higher they are; none in the front midline.
    lowest = RIBS_Z_RANGE_MM[0] / RIB_PITCH_MM
    reach = np.clip(_F32(0.45 * np.pi) + _F32(0.12) * (index - _F32(lowest)), 0, _F32(0.85 * np.pi))
    present = (from_back < reach) & (from_back > _F32(0.25)) & (index * _F32(RIB_PITCH_MM) > _F32(RIBS_Z_RANGE_MM[0]))
    return np.where(present, q, _F32(9.0))
