"""Geometric building blocks of the phantom: the nominal grid, boxes, smooth random fields, shapes.

All shapes live in *nominal* millimetres (an adult-sized patient, LPS axes, origin at the body
centre); the grid holds the nominal coordinate of every voxel centre, so a shape is evaluated
by broadcasting three 1D coordinate axes, only inside the shape's bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Box:
    """A sub-block of the grid: array slices (z, y, x) and broadcastable nominal coordinates.

    ``z`` has shape (nz, 1, 1), ``y`` (1, ny, 1), ``x`` (1, 1, nx), all float32 mm.
    """

    slices: tuple[slice, slice, slice]
    z: np.ndarray
    y: np.ndarray
    x: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.z.shape[0], self.y.shape[1], self.x.shape[2])


@dataclass(frozen=True)
class Grid:
    """Voxel-centre coordinates (nominal mm, increasing) of the phantom's canonical grid.

    Attributes:
        xs, ys, zs: 1D float32 arrays of lengths nx, ny, nz.
    """

    xs: np.ndarray
    ys: np.ndarray
    zs: np.ndarray

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return (len(self.zs), len(self.ys), len(self.xs))

    def box(self, lo_xyz: Sequence[float], hi_xyz: Sequence[float]) -> Box | None:
        """The voxels whose centres lie in [lo, hi] (nominal mm, x y z order); None when empty."""
        bounds = []
        for axis, lo, hi in zip((self.xs, self.ys, self.zs), lo_xyz, hi_xyz):
            start = int(np.searchsorted(axis, lo, side="left"))
            stop = int(np.searchsorted(axis, hi, side="right"))
            if stop <= start:
                return None
            bounds.append((start, stop))
        (i0, i1), (j0, j1), (k0, k1) = bounds
        return Box(
            slices=(slice(k0, k1), slice(j0, j1), slice(i0, i1)),
            z=self.zs[k0:k1].reshape(-1, 1, 1),
            y=self.ys[j0:j1].reshape(1, -1, 1),
            x=self.xs[i0:i1].reshape(1, 1, -1),
        )


class SmoothField:
    """A smooth random scalar field: Gaussian bumps on a regular lattice of nodes.

    The value at p is ``sum_n c_n exp(-|p - node_n|^2 / (2 s^2))`` with ``s`` the node spacing
    (mm), which is smooth at the scale of the spacing and has a standard deviation of about
    ``amplitude``. Defined in continuous nominal mm, so it does not depend on any voxel grid.
    """

    def __init__(self, rng: np.random.Generator, lo_xyz: Sequence[float], hi_xyz: Sequence[float],
                 *, node_spacing_mm: float, amplitude: float) -> None:
        self.spacing_mm = float(node_spacing_mm)
        self.nodes = []
        for lo, hi in zip(lo_xyz, hi_xyz):
            count = int(np.ceil((hi - lo) / node_spacing_mm)) + 3
            start = 0.5 * (lo + hi) - 0.5 * (count - 1) * node_spacing_mm
            self.nodes.append(start + node_spacing_mm * np.arange(count))
        # sum_n exp(-d^2/s^2) over a lattice of step s is about sqrt(pi) per axis.
        gain = float(np.pi ** 0.75)
        shape = (len(self.nodes[2]), len(self.nodes[1]), len(self.nodes[0]))
        self.coefficients = rng.normal(0.0, amplitude / gain, size=shape)

    def _weights(self, axis: int, coords: np.ndarray) -> np.ndarray:
        offsets = (np.asarray(coords, dtype=np.float64).reshape(-1, 1) - self.nodes[axis][None, :])
        return np.exp(-0.5 * (offsets / self.spacing_mm) ** 2)

    def on_box(self, box: Box) -> np.ndarray:
        """Field values on every voxel of ``box``: float32 array of shape (nz, ny, nx)."""
        wz = self._weights(2, box.z.ravel()).astype(np.float32)  # (nz, a)
        wy = self._weights(1, box.y.ravel()).astype(np.float32)  # (ny, b)
        wx = self._weights(0, box.x.ravel()).astype(np.float32)  # (nx, c)
        a, b, c = self.coefficients.shape
        nz, ny = len(wz), len(wy)
        # Three 2D matrix products, one per axis (separable sum).
        field = (wz @ self.coefficients.astype(np.float32).reshape(a, b * c)).reshape(nz, b, c)
        field = (wy @ field.transpose(1, 0, 2).reshape(b, nz * c)).reshape(ny, nz, c)
        field = np.ascontiguousarray(field.transpose(1, 0, 2)).reshape(nz * ny, c)
        return (field @ wx.T).reshape(nz, ny, -1)

    def at(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Field values at scattered points (1D arrays of equal length)."""
        wz, wy, wx = self._weights(2, z), self._weights(1, y), self._weights(0, x)
        a, b, c = self.coefficients.shape
        partial = (wx @ self.coefficients.reshape(a * b, c).T).reshape(-1, a, b)  # (p, a, b)
        return ((partial * wy[:, None, :]).sum(axis=2) * wz).sum(axis=1)


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid in nominal mm, rotated by ``yaw_deg`` about the z axis.

    ``taper`` widens it towards the top and narrows it towards the bottom: at height ``dz``
    above the centre the x and y semi-axes are multiplied by ``1 + taper * dz / c`` (c the z
    semi-axis), which gives a pear shape. ``q(x, y, z)`` is the normalised radius: < 1 inside.
    """

    centre: Vec3
    semi_axes: Vec3
    yaw_deg: float = 0.0
    taper: float = 0.0

    def q(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        # In-place arithmetic: these arrays can hold tens of millions of voxels.
        f32 = np.float32
        dx = np.subtract(x, f32(self.centre[0]), dtype=f32)
        dy = np.subtract(y, f32(self.centre[1]), dtype=f32)
        dz = np.subtract(z, f32(self.centre[2]), dtype=f32)
        if self.yaw_deg:
            angle = np.deg2rad(self.yaw_deg)
            cos, sin = f32(np.cos(angle)), f32(np.sin(angle))
            dx, dy = np.add(cos * dx, sin * dy), np.subtract(cos * dy, sin * dx)
        if self.taper:
            widening = np.maximum(f32(1.0) + f32(self.taper / self.semi_axes[2]) * dz, f32(0.3))
            dx, dy = dx / widening, dy / widening
        terms = []
        for delta, semi in ((dx, self.semi_axes[0]), (dy, self.semi_axes[1]), (dz, self.semi_axes[2])):
            delta *= f32(1.0 / semi)
            terms.append(np.square(delta, out=delta))
        total = np.empty(np.broadcast_shapes(*(t.shape for t in terms)), dtype=f32)
        np.add(terms[0], terms[1], out=total)
        total += terms[2]
        return np.sqrt(total, out=total)

    def shrunk(self, margin_mm: float) -> "Ellipsoid":
        """The same ellipsoid with every semi-axis shortened by ``margin_mm`` (a wall's inside)."""
        semi = tuple(max(s - margin_mm, 0.5) for s in self.semi_axes)
        return Ellipsoid(self.centre, semi, self.yaw_deg, self.taper)  # type: ignore[arg-type]

    def bounds(self, margin_mm: float = 0.0) -> tuple[Vec3, Vec3]:
        """A box (lo, hi) that contains the ellipsoid, grown by ``margin_mm``."""
        a, b, c = self.semi_axes
        if self.yaw_deg:
            a = b = max(a, b)
        widest = 1.0 + abs(self.taper)
        rx, ry, rz = a * widest + margin_mm, b * widest + margin_mm, c + margin_mm
        cx, cy, cz = self.centre
        return (cx - rx, cy - ry, cz - rz), (cx + rx, cy + ry, cz + rz)


def soft_union(qs: Sequence[np.ndarray], sharpness: float = 0.12) -> np.ndarray:
    """Smooth minimum of normalised radii: the union of shapes with rounded junctions.

    ``min(q) - k log(sum exp(-(q_i - min q) / k))``. The correction (at most ``k log n``) is
    evaluated only where it matters: where a second shape is within ``10 k`` of the nearest one
    (elsewhere it is below 5e-5 k) and ``min(q) < 1 + k log n`` (elsewhere the result is >= 1,
    outside, whatever the correction, and ``min(q)`` is returned).
    """
    qs = np.broadcast_arrays(*[np.asarray(q, dtype=np.float32) for q in qs])
    lowest = qs[0].copy()
    for q in qs[1:]:
        np.minimum(lowest, q, out=lowest)
    k = np.float32(sharpness)
    candidates = np.nonzero(lowest < 1 + k * np.float32(np.log(len(qs))))
    base = lowest[candidates]
    close = np.zeros(base.shape, dtype=np.int8)
    for q in qs:
        close += (q[candidates] - base) < 10 * k
    near = tuple(index[close > 1] for index in candidates)
    base = lowest[near]
    total = np.zeros_like(base)
    for q in qs:
        total += np.exp(-(q[near] - base) / k)
    lowest[near] = base - k * np.log(total)
    return lowest


@dataclass(frozen=True)
class Segment:
    """A straight tube piece (capsule) from ``start`` to ``end`` with radius ``radius_mm``."""

    start: Vec3
    end: Vec3
    radius_mm: float

    def bounds(self, margin_mm: float = 0.0) -> tuple[Vec3, Vec3]:
        reach = self.radius_mm + margin_mm
        lo = tuple(min(a, b) - reach for a, b in zip(self.start, self.end))
        hi = tuple(max(a, b) + reach for a, b in zip(self.start, self.end))
        return lo, hi  # type: ignore[return-value]

    def distance(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Distance (mm) from each point to the segment's axis."""
        start = np.asarray(self.start, dtype=np.float32)
        axis = np.asarray(self.end, dtype=np.float32) - start
        length2 = float(axis @ axis)
        px, py, pz = x - start[0], y - start[1], z - start[2]
        if length2 > 0:
            t = np.clip((px * axis[0] + py * axis[1] + pz * axis[2]) / np.float32(length2), 0, 1)
            px, py, pz = px - t * axis[0], py - t * axis[1], pz - t * axis[2]
        return np.sqrt(px * px + py * py + pz * pz)


def paint(tissue: np.ndarray, box: Box, inside: np.ndarray, value: int,
          allowed: Sequence[int] | None = None) -> None:
    """Set ``tissue[box]`` to ``value`` where ``inside`` holds (and the old tissue is ``allowed``)."""
    block = tissue[box.slices]
    if allowed is not None:
        inside = inside & np.isin(block, np.asarray(allowed, dtype=tissue.dtype))
    np.copyto(block, np.uint8(value), where=inside)
