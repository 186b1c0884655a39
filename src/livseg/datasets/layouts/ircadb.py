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
from livseg.datasets.layouts._patients import cases_per_patient, patient_folders

NAME = "ircadb"
DESCRIPTION = "3D-IRCADb: 3Dircadb1.N/PATIENT_DICOM + MASKS_DICOM/liver + MASKS_DICOM/livertumor*"

_FOLDER = re.compile(r"^3Dircadb\d*\.\d+$", re.IGNORECASE)


def _is_patient(folder: Path) -> bool:
    return bool(_FOLDER.match(folder.name))


def _root_is_patient(root: Path) -> bool:
    """A root named like a patient folder, or holding the patient's (possibly zipped) DICOM."""
    return _is_patient(root) or (root / "PATIENT_DICOM").exists() or (root / "PATIENT_DICOM.zip").exists()


def _patient_folders(root: Path) -> list[Path]:
    return patient_folders(root, _is_patient, root_is_patient=_root_is_patient)


def _patient_case(patient: Path) -> tuple[Case | None, list[str]]:
    """The case of one patient folder: its DICOM series, liver mask and tumour masks."""
    image = patient / "PATIENT_DICOM"
    masks = patient / "MASKS_DICOM"
    if not image.is_dir():
        zipped = " (unzip PATIENT_DICOM.zip there first)" if (patient / "PATIENT_DICOM.zip").exists() else ""
        return None, [f"{patient.name}: no PATIENT_DICOM folder{zipped}"]
    problems: list[str] = []
    liver = masks / "liver"
    tumours = sorted((p for p in masks.glob("livertumor*") if p.is_dir()),
                     key=lambda p: natural_key(p.name)) if masks.is_dir() else []
    if not liver.is_dir():
        zipped = " (unzip MASKS_DICOM.zip there first)" if (patient / "MASKS_DICOM.zip").exists() else ""
        problems.append(f"{patient.name}: no MASKS_DICOM/liver folder{zipped}")
    case = Case(case_id=patient.name, image=image, label=liver if liver.is_dir() else None,
                label_map=dict(BINARY_MASK_MAP), layout=NAME,
                extra={"label_kind": LABEL_IRCADB_MASKS, "tumour_masks": tuple(tumours)})
    return case, problems


def detect(root: Path) -> bool:
    return bool(_patient_folders(root))


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    return cases_per_patient(_patient_folders(root), _patient_case)
