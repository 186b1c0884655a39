"""Expert organ masks of 3D-IRCADb-01 patients (no CT): discovery, names, the hold-out, reading.

The shared folder ``ircadb-masks/patient-NN/`` holds one ``<organ>.nii.gz`` per organ (voxels
0/1, the patient's own grid, identity direction) and ``masks.json``. Organ sets and file names
differ between patients; :data:`ORGAN_ALIASES` maps every file name to one canonical organ,
and :func:`organ_of` also accepts numbered variants (``livertumor01``, ``portalvein1``).

Hold-out: :data:`HELD_OUT_PATIENTS` (4 of the 16) are never used for training, neither as
anatomy for synthesis nor as tumour shapes for insertion. They were chosen to span slice
thickness (2.0, 2.0, 1.6 and 4.0 mm), a cyst (09, 19) and many small tumours (19), while the
training set keeps the only patients with lungs, spleen, kidneys, stomach and pancreas masks
(03, 05) and the patient with three separate tumour masks (08).

Reading is lazy: a :class:`MaskPatient` only lists files; :func:`read_masks` reads the organs
asked for, cropped to a box of slices when one is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from livseg.errors import ConfigError, DatasetError
from livseg.volume import Geometry

HELD_OUT_PATIENTS: tuple[str, ...] = ("patient-04", "patient-09", "patient-16", "patient-19")

# Canonical organ -> file stems (lower case, numbered variants matched by :func:`organ_of`).
ORGAN_ALIASES: dict[str, tuple[str, ...]] = {
    "body": ("skin",),
    "liver": ("liver",),
    "tumour": ("livertumor", "livertumors", "livertumeur"),
    "cyst": ("liverkyste", "livercyst", "liverkyst"),
    "resection": ("metastasectomie",),
    "portal_vein": ("portalvein",),
    "venous": ("venacava", "venoussystem"),
    "artery": ("artery", "aorta"),
    "bone": ("bone",),
    "lung": ("lungs", "leftlung", "rightlung", "lung"),
    "kidney": ("kidneys", "leftkidney", "rightkidney", "kidney"),
    "spleen": ("spleen",),
    "gallbladder": ("gallbladder",),
    "stomach": ("stomach",),
    "pancreas": ("pancreas",),
    "adrenal": ("leftsurrenalgland", "rightsurrenalgland", "surrenalgland"),
    "biliary": ("biliarysystem",),
    "stones": ("stones",),
    "metal": ("metal",),
    "other": ("leftsurretumor", "rightsurretumor", "surretumor"),
}
_STEM_TO_ORGAN = {stem: organ for organ, stems in ORGAN_ALIASES.items() for stem in stems}


def organ_of(stem: str) -> str:
    """Canonical organ of a mask file stem (``livertumor02`` -> "tumour"); "other" if unknown."""
    name = stem.lower()
    if name in _STEM_TO_ORGAN:
        return _STEM_TO_ORGAN[name]
    trimmed = re.sub(r"\d+$", "", name)
    return _STEM_TO_ORGAN.get(trimmed, "other")


@dataclass(frozen=True)
class MaskPatient:
    """One patient folder of the mask set: its id and its mask files per canonical organ.

    Attributes:
        patient_id: folder name, e.g. "patient-08".
        folder: the folder.
        files: canonical organ -> the mask files of that organ (sorted).
    """

    patient_id: str
    folder: Path
    files: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    @property
    def held_out(self) -> bool:
        return self.patient_id in HELD_OUT_PATIENTS


def _patient(folder: Path) -> MaskPatient:
    files: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.nii.gz")):
        files.setdefault(organ_of(path.name[: -len(".nii.gz")]), []).append(path)
    return MaskPatient(patient_id=folder.name, folder=folder, files={k: tuple(v) for k, v in files.items()})


def default_mask_root(explicit: str | Path | None = None) -> Path:
    """The mask set's folder: ``explicit``, else ``<shared data>/ircadb-masks``."""
    if explicit is not None:
        root = Path(explicit)
    else:
        from livseg.datasets.shared import shared_data_root

        shared = shared_data_root()
        if shared is None:
            raise DatasetError(None, expected="the shared data folder with ircadb-masks/",
                               found="no shared data folder",
                               fix="set LIVSEG_SHARED_DATA, or give the mask folder explicitly")
        root = shared / "ircadb-masks"
    if not root.is_dir():
        raise DatasetError(root, expected="a folder of patient-NN/ mask sets (3D-IRCADb-01 masks)",
                           found="no such folder")
    return root


def mask_patients(root: str | Path | None = None, *, patients: Sequence[str] = (),
                  include_held_out: bool = False) -> list[MaskPatient]:
    """The mask patients under ``root`` (default :func:`default_mask_root`), sorted by id.

    Args:
        patients: only these ids ("patient-08" or "08"); empty: all.
        include_held_out: keep :data:`HELD_OUT_PATIENTS` (never for training).
    """
    root = default_mask_root(root)
    found = {p.name: p for p in sorted(root.glob("patient-*")) if (p / "liver.nii.gz").is_file()}
    wanted = [p if p.startswith("patient-") else f"patient-{int(p):02d}" for p in patients]
    missing = [p for p in wanted if p not in found]
    if missing:
        raise ConfigError("mask patients", expected=f"ids among {', '.join(found)}", found=f"{missing}")
    names = wanted or list(found)
    chosen = [_patient(found[n]) for n in names if include_held_out or n not in HELD_OUT_PATIENTS]
    if not chosen:
        raise DatasetError(root, expected="mask patients with a liver mask (after the hold-out)",
                           found=f"none of {names or 'no folders'}")
    return chosen


def patient_geometry(patient: MaskPatient) -> Geometry:
    """The patient's grid, from ``masks.json`` when present (no image read), else the liver mask."""
    facts = patient.folder / "masks.json"
    if facts.is_file():
        meta = json.loads(facts.read_text(encoding="utf-8"))
        if "origin_mm" in meta:
            return Geometry(size=tuple(meta["size_xyz"]), spacing_mm=tuple(meta["spacing_mm"]),
                            origin_mm=tuple(meta["origin_mm"]))
    return _read_one(patient.files["liver"][0])[1]


def _read_one(path: Path) -> tuple[np.ndarray, Geometry]:
    from livseg.io import read_volume

    volume = read_volume(path)  # 0/1 masks: structural checks only (the label histogram costs)
    if not np.allclose(volume.geometry.direction_matrix, np.eye(3)):
        raise DatasetError(path, expected="a mask with identity direction (as the IRCADb mask files)",
                           found=f"orientation {volume.geometry.orientation}")
    return volume.array > 0, volume.geometry


@dataclass(frozen=True)
class MaskSet:
    """The masks of one patient read on (a box of) its grid.

    Attributes:
        patient_id: e.g. "patient-08".
        geometry: the grid of the arrays (identity direction; a box of the patient's grid).
        organs: canonical organ -> list of bool (z, y, x) arrays, one per mask file.
    """

    patient_id: str
    geometry: Geometry
    organs: dict[str, list[np.ndarray]]

    def union(self, organ: str) -> np.ndarray | None:
        """All masks of ``organ`` together (bool (z, y, x)), or None when the patient has none."""
        arrays = self.organs.get(organ)
        if not arrays:
            return None
        out = arrays[0].copy()
        for array in arrays[1:]:
            out |= array
        return out


def read_masks(patient: MaskPatient, organs: Iterable[str] | None = None) -> MaskSet:
    """Read ``organs`` (canonical names; default all the patient has) on the patient's grid."""
    names = list(patient.files) if organs is None else [o for o in organs if o in patient.files]
    arrays: dict[str, list[np.ndarray]] = {}
    geometry: Geometry | None = None
    for organ in names:
        for path in patient.files[organ]:
            array, grid = _read_one(path)
            if geometry is None:
                geometry = grid
            elif not grid.same_grid(geometry):
                raise DatasetError(path, expected=f"the grid of the other masks ({geometry.describe()})",
                                   found=grid.describe())
            arrays.setdefault(organ, []).append(array)
    if geometry is None:
        geometry = patient_geometry(patient)
    return MaskSet(patient_id=patient.patient_id, geometry=geometry, organs=arrays)
