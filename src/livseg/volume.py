"""Volume and Geometry: a voxel array together with the grid it lives on.

Conventions (the whole project follows them):

* **Array axis order is (z, y, x)**: ``array[k, j, i]`` is the voxel at index ``(i, j, k)``.
  This is the order SimpleITK's ``GetArrayFromImage`` returns and PyTorch's ``(D, H, W)``.
* **Geometry tuples are in (x, y, z) order**, as ITK stores them: ``size`` (voxels),
  ``spacing_mm``, ``origin_mm`` (the physical position of voxel (0, 0, 0)'s centre).
* **Physical space is ITK's LPS**: +x towards the patient's Left, +y Posterior, +z Superior.
  ``direction`` is the 3x3 matrix, row-major (as ``sitk.Image.GetDirection()``), whose
  *columns* are the unit vectors of the index axes i, j, k in LPS.
* The index -> physical map is ``p = origin + direction @ (spacing * index)``, which is the
  4x4 ``affine_lps``. ``affine_ras`` is the same map in RAS (NIfTI/nibabel) coordinates.
* ``orientation`` is a three-letter code naming the direction each index axis *points to*
  (identity direction is ``"LPS"``; a NIfTI stored in radiological RAS order is ``"RAS"``), the
  convention of ITK's ``DICOMOrientImageFilter`` and of nibabel's ``aff2axcodes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence, get_args

import numpy as np

from livseg.errors import GeometryMismatchError, InvalidImageError, UnknownNameError

# Tolerances for "same grid": physical quantities in mm, direction cosines unitless.
SPACING_TOL_MM = 1e-4
ORIGIN_TOL_MM = 1e-3
DIRECTION_TOL = 1e-5

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))  # (positive, negative) per LPS axis


#: What a volume holds. It decides how the volume is resampled (labels: nearest neighbour,
#: dtype kept; CT and anything else: linear, float32) and how it is checked and written.
Kind = Literal["any", "ct", "label"]
KINDS: tuple[str, ...] = get_args(Kind)


def require_kind(kind: str) -> Kind:
    """``kind`` when it is one of :data:`KINDS`; UnknownNameError listing them otherwise."""
    if kind not in KINDS:
        raise UnknownNameError("kind", expected="one of " + ", ".join(KINDS), found=repr(kind))
    return kind  # type: ignore[return-value]


def _triple(values: Sequence[float], name: str, cast: type = float) -> tuple:
    values = tuple(cast(v) for v in values)
    if len(values) != 3:
        raise InvalidImageError(None, expected=f"3 values for {name}", found=f"{len(values)}")
    return values


def spacing_triple(spacing_mm: Sequence[float], *, subject: object = None,
                   fix: str | None = None) -> tuple[float, float, float]:
    """The one check of a voxel spacing: three positive, finite numbers (x, y, z) in mm.

    Every :class:`Geometry` passes it on construction, so a spacing taken from a Volume's
    grid needs no further check; functions that take a bare ``spacing_mm`` beside an array
    (data entering the package) call this.

    Raises:
        InvalidImageError: naming ``subject``, when ``spacing_mm`` is not three positive numbers.
    """
    try:
        values = tuple(float(v) for v in spacing_mm)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(np.isfinite(values)) or min(values) <= 0:
        raise InvalidImageError(subject, expected="three positive voxel sizes (x, y, z) in mm",
                                found=f"spacing {spacing_mm!r}", fix=fix)
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class Geometry:
    """The voxel grid of a 3D volume in physical (LPS, mm) space.

    Attributes:
        size: number of voxels along (x, y, z).
        spacing_mm: voxel size along (x, y, z) in mm; all > 0.
        origin_mm: LPS position (mm) of the centre of voxel (0, 0, 0).
        direction: 9 numbers, row-major 3x3; column c is the unit LPS vector of index axis c.
    """

    size: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _triple(self.size, "size", int))
        object.__setattr__(self, "spacing_mm", spacing_triple(_triple(self.spacing_mm, "spacing_mm")))
        object.__setattr__(self, "origin_mm", _triple(self.origin_mm, "origin_mm"))
        direction = tuple(float(v) for v in np.asarray(self.direction, dtype=float).ravel())
        if len(direction) != 9:
            raise InvalidImageError(None, expected="9 direction cosines", found=f"{len(direction)}")
        object.__setattr__(self, "direction", direction)
        if min(self.size) < 1:
            raise InvalidImageError(None, expected="at least one voxel along each axis",
                                    found=f"size {self.size}")
        matrix = self.direction_matrix
        if not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-4):
            raise InvalidImageError(None, expected="an orthonormal direction matrix",
                                    found=f"direction {self.direction}")

    # --- derived views -------------------------------------------------------------------
    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """The numpy array shape (z, y, x) that fits this grid."""
        return (self.size[2], self.size[1], self.size[0])

    @property
    def direction_matrix(self) -> np.ndarray:
        """Direction as a 3x3 float array (columns: index axes i, j, k in LPS)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    @property
    def extent_mm(self) -> tuple[float, float, float]:
        """Physical length covered along each index axis (x, y, z), voxel edges included."""
        return tuple(float(n * s) for n, s in zip(self.size, self.spacing_mm))  # type: ignore[return-value]

    @property
    def orientation(self) -> str:
        """Three-letter code of where index axes i, j, k point, e.g. ``"LPS"`` or ``"RAS"``.

        For oblique grids the code names the closest axis-aligned orientation, chosen as ITK's
        ``DICOMOrientImageFilter.GetOrientationFromDirectionCosines`` does: repeatedly take the
        largest remaining |direction cosine| (ties: the later LPS axis, then the later index
        axis), give that index axis the letter of that LPS axis, and remove both. The result
        is always a valid code (each LPS axis used once), unlike a per-axis argmax.
        """
        matrix = self.direction_matrix
        entries = sorted(
            ((abs(matrix[row, col]), row, col) for row in range(3) for col in range(3)),
            reverse=True,
        )
        letters = [""] * 3
        used_rows: set[int] = set()
        used_cols: set[int] = set()
        for _, row, col in entries:
            if row in used_rows or col in used_cols:
                continue
            positive, negative = _AXIS_LETTERS[row]
            letters[col] = positive if matrix[row, col] > 0 else negative
            used_rows.add(row)
            used_cols.add(col)
        return "".join(letters)

    @property
    def is_oblique(self) -> bool:
        """True when some index axis is not aligned with an LPS axis."""
        return not np.allclose(np.abs(self.direction_matrix).max(axis=0), 1.0, atol=DIRECTION_TOL)

    # --- affine maps ---------------------------------------------------------------------
    @property
    def affine_lps(self) -> np.ndarray:
        """4x4 map from homogeneous voxel index (i, j, k, 1) to LPS mm."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction_matrix * np.asarray(self.spacing_mm)[None, :]
        affine[:3, 3] = self.origin_mm
        return affine

    @property
    def affine_ras(self) -> np.ndarray:
        """4x4 map from voxel index (i, j, k, 1) to RAS mm (the NIfTI / nibabel convention)."""
        return _LPS_TO_RAS @ self.affine_lps

    @classmethod
    def from_affine(
        cls, affine: np.ndarray, size: Sequence[int], *, space: str = "LPS"
    ) -> "Geometry":
        """Build a Geometry from a 4x4 index->world affine in ``space`` ("LPS" or "RAS").

        Spacing is the column norms of the 3x3 part; the affine must have no shear.
        """
        affine = np.asarray(affine, dtype=float)
        if affine.shape != (4, 4):
            raise InvalidImageError(None, expected="a 4x4 affine", found=f"shape {affine.shape}")
        if space.upper() == "RAS":
            affine = _LPS_TO_RAS @ affine
        elif space.upper() != "LPS":
            raise InvalidImageError(None, expected="space 'LPS' or 'RAS'", found=repr(space))
        linear = affine[:3, :3]
        spacing = np.linalg.norm(linear, axis=0)
        if np.any(spacing <= 0):
            raise InvalidImageError(None, expected="an invertible affine", found="a zero column")
        direction = linear / spacing[None, :]
        return cls(
            size=tuple(int(s) for s in size),  # type: ignore[arg-type]
            spacing_mm=tuple(spacing),  # type: ignore[arg-type]
            origin_mm=tuple(affine[:3, 3]),  # type: ignore[arg-type]
            direction=tuple(direction.ravel()),
        )

    def index_to_physical(self, index_xyz: np.ndarray) -> np.ndarray:
        """Map continuous indices ``(..., 3)`` in (i, j, k) order to LPS mm ``(..., 3)``."""
        index_xyz = np.asarray(index_xyz, dtype=float)
        linear = self.direction_matrix * np.asarray(self.spacing_mm)[None, :]
        return index_xyz @ linear.T + np.asarray(self.origin_mm)

    def physical_to_index(self, point_lps: np.ndarray) -> np.ndarray:
        """Map LPS mm points ``(..., 3)`` to continuous indices in (i, j, k) order."""
        point_lps = np.asarray(point_lps, dtype=float)
        linear = self.direction_matrix * np.asarray(self.spacing_mm)[None, :]
        return (point_lps - np.asarray(self.origin_mm)) @ np.linalg.inv(linear).T

    # --- comparison ----------------------------------------------------------------------
    def differences(self, other: "Geometry") -> list[str]:
        """Human-readable list of what differs between two grids (empty when the same)."""
        found = []
        if self.size != other.size:
            found.append(f"size {self.size} vs {other.size}")
        if not np.allclose(self.spacing_mm, other.spacing_mm, atol=SPACING_TOL_MM, rtol=0):
            found.append(f"spacing {_fmt(self.spacing_mm)} vs {_fmt(other.spacing_mm)} mm")
        if not np.allclose(self.origin_mm, other.origin_mm, atol=ORIGIN_TOL_MM, rtol=0):
            found.append(f"origin {_fmt(self.origin_mm)} vs {_fmt(other.origin_mm)} mm")
        if not np.allclose(self.direction, other.direction, atol=DIRECTION_TOL, rtol=0):
            found.append(f"direction {self.orientation} vs {other.orientation}")
        return found

    def same_grid(self, other: "Geometry") -> bool:
        return not self.differences(other)

    def require_same_grid(self, other: "Geometry", *, subject: str, fix: str | None = None) -> None:
        """Raise GeometryMismatchError naming ``subject`` when the grids differ."""
        diffs = self.differences(other)
        if diffs:
            raise GeometryMismatchError(
                subject,
                expected="the same voxel grid",
                found="; ".join(diffs),
                fix=fix,
            )

    def describe(self) -> str:
        """One line: size, spacing, orientation."""
        return (f"{self.size[0]}x{self.size[1]}x{self.size[2]} voxels, "
                f"{_fmt(self.spacing_mm)} mm, {self.orientation}")


def _fmt(values: Sequence[float]) -> str:
    return "x".join(f"{v:.4g}" for v in values)


#: Facts that are typed fields of Volume, never keys of its ``meta``.
_FIELD_KEYS = frozenset({"kind", "spacing_known"})


@dataclass(frozen=True)
class Volume:
    """A 3D array on a Geometry.

    Attributes:
        array: numpy array of shape (z, y, x) = ``geometry.shape_zyx``; CT volumes hold HU,
            label volumes hold integer labels (0 background, 1 liver, 2 tumour).
        geometry: the voxel grid.
        source: where it came from (a path or a description), used in error messages.
        meta: free-form facts recorded on reading (format, DICOM series UID, warnings).
        kind: what the array holds: ``"ct"`` (HU), ``"label"`` (integer labels) or ``"any"``
            (probabilities, normalised intensities, ...). Resampling reads it: labels are
            always interpolated by nearest neighbour, everything else linearly.
        spacing_known: False when the file did not record the voxel size and
            ``geometry.spacing_mm`` is a placeholder in index units (never a real 1 mm);
            anything that measures in mm refuses such a volume
            (``livseg.io.require_known_spacing``).
    """

    array: np.ndarray
    geometry: Geometry
    source: str = "<memory>"
    meta: dict = field(default_factory=dict, compare=False)
    kind: Kind = "any"
    spacing_known: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray):
            object.__setattr__(self, "array", np.asarray(self.array))
        require_kind(self.kind)
        stale = sorted(_FIELD_KEYS.intersection(self.meta))
        if stale:
            raise InvalidImageError(self.source, expected="kind and spacing_known as Volume fields",
                                    found=f"meta keys {stale}", fix="pass Volume(..., kind=..., spacing_known=...)")
        if not isinstance(self.spacing_known, bool):
            raise InvalidImageError(self.source, expected="spacing_known True or False",
                                    found=repr(self.spacing_known))
        if self.array.ndim != 3:
            raise InvalidImageError(self.source, expected="a 3D array (z, y, x)",
                                    found=f"{self.array.ndim}D array of shape {self.array.shape}")
        if tuple(self.array.shape) != self.geometry.shape_zyx:
            raise InvalidImageError(
                self.source,
                expected=f"array shape (z, y, x) {self.geometry.shape_zyx} to match size {self.geometry.size}",
                found=f"shape {tuple(self.array.shape)}",
            )

    def __repr__(self) -> str:
        """Grid, dtype and kind; never the voxels."""
        spacing = "unknown spacing (index units)" if not self.spacing_known else None
        grid = self.geometry.describe() if spacing is None else (
            f"{self.geometry.size[0]}x{self.geometry.size[1]}x{self.geometry.size[2]} voxels, {spacing}, "
            f"{self.geometry.orientation}")
        return f"Volume({self.source!r}, {self.kind}, {self.array.dtype}, {grid})"

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return self.geometry.spacing_mm

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    def with_array(self, array: np.ndarray, *, source: str | None = None, kind: Kind | None = None) -> "Volume":
        """A new Volume on the same grid holding ``array`` (must have the same shape).

        ``kind`` (default: this volume's) names what the new array holds, e.g. ``"label"``
        for a mask made from a CT; ``spacing_known`` and ``meta`` are carried over.
        """
        return Volume(array=array, geometry=self.geometry,
                      source=self.source if source is None else source, meta=dict(self.meta),
                      kind=self.kind if kind is None else kind, spacing_known=self.spacing_known)

    def on_grid(self, array: np.ndarray, geometry: Geometry, *, source: str | None = None,
                meta: dict | None = None) -> "Volume":
        """A new Volume of the same kind and spacing knowledge holding ``array`` on ``geometry``.

        For steps that change the grid (crop, reorient, resample): what the data is does
        not change with the grid it is on.
        """
        return Volume(array=array, geometry=geometry, source=self.source if source is None else source,
                      meta=dict(self.meta) if meta is None else meta, kind=self.kind,
                      spacing_known=self.spacing_known)

    def require_same_grid(self, other: "Volume", *, fix: str | None = None) -> None:
        """Raise GeometryMismatchError when ``other`` is on a different grid; the message names
        ``other`` first, then this volume, and gives each difference in that same order."""
        other.geometry.require_same_grid(self.geometry, subject=f"{other.source} vs {self.source}", fix=fix)
