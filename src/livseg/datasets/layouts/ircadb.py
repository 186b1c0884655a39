"""3D-IRCADb-01: ``3Dircadb1.N/PATIENT_DICOM`` with ``MASKS_DICOM/liver`` and ``MASKS_DICOM/livertumor*``.

Every mask is a DICOM series on the patient's grid (0 outside, 255 inside). The liver mask
gives label 1; every ``livertumor*`` mask (``livertumor01``, ``livertumors``, ...) is merged
into label 2. The archives ship ``PATIENT_DICOM.zip`` / ``MASKS_DICOM.zip``: unzip them first.
"""

from __future__ import annotations

import re
from pathlib import Path

from livseg.datasets.case import LABEL_IRCADB_MASKS, Case
from livseg.datasets.labels import BINARY_MASK_MAP
from livseg.datasets.layouts._files import natural_key

NAME = "ircadb"
DESCRIPTION = "3D-IRCADb: 3Dircadb1.N/PATIENT_DICOM + MASKS_DICOM/liver + MASKS_DICOM/livertumor*"

_FOLDER = re.compile(r"^3Dircadb\d*\.\d+$", re.IGNORECASE)


def _patient_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    if _FOLDER.match(root.name) or (root / "PATIENT_DICOM").exists() or (root / "PATIENT_DICOM.zip").exists():
        return [root]
    found = [p for p in root.iterdir() if p.is_dir() and _FOLDER.match(p.name)]
    return sorted(found, key=lambda p: natural_key(p.name))


def detect(root: Path) -> bool:
    return bool(_patient_folders(root))


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    cases: list[Case] = []
    problems: list[str] = []
    for patient in _patient_folders(root):
        image = patient / "PATIENT_DICOM"
        masks = patient / "MASKS_DICOM"
        if not image.is_dir():
            zipped = " (unzip PATIENT_DICOM.zip there first)" if (patient / "PATIENT_DICOM.zip").exists() else ""
            problems.append(f"{patient.name}: no PATIENT_DICOM folder{zipped}")
            continue
        liver = masks / "liver"
        tumours = sorted((p for p in masks.glob("livertumor*") if p.is_dir()),
                         key=lambda p: natural_key(p.name)) if masks.is_dir() else []
        if not liver.is_dir():
            zipped = " (unzip MASKS_DICOM.zip there first)" if (patient / "MASKS_DICOM.zip").exists() else ""
            problems.append(f"{patient.name}: no MASKS_DICOM/liver folder{zipped}")
        cases.append(Case(
            case_id=patient.name, image=image, label=liver if liver.is_dir() else None,
            label_map=dict(BINARY_MASK_MAP), layout=NAME,
            extra={"label_kind": LABEL_IRCADB_MASKS, "tumour_masks": tuple(tumours)}))
    return cases, problems
