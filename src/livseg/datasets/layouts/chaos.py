"""CHAOS CT: ``CT/<id>/DICOM_anon/*.dcm`` with ``CT/<id>/Ground/*.png`` liver masks.

The root may be the ``CT`` folder, its parent, ``Train_Sets``'s parent, or one patient folder.
Each PNG is one slice mask (liver 255). How they pair with the DICOM slices, as the
organisers' evaluation code (CHAOSmetrics.py) does it: the k-th PNG in sorted file-name
order belongs to the k-th DICOM file in sorted file-name order ("the orientation of the
slices is determined by order of image names, not by position tags"), and PNG pixel
(row, column) is DICOM pixel (row, column), with no flip. livseg then places every slice by
that DICOM file's own position and orientation, so the label lands on the image's grid
whatever order the DICOM reader stacks the slices in (see livseg.datasets.chaos_masks).
Test-set patients have no ``Ground`` folder and become unlabelled cases.
"""

from __future__ import annotations

from pathlib import Path

from livseg.datasets.case import LABEL_CHAOS_PNG, Case
from livseg.datasets.labels import BINARY_MASK_MAP
from livseg.datasets.layouts._files import natural_key

NAME = "chaos"
DESCRIPTION = "CHAOS CT: CT/<id>/DICOM_anon/*.dcm + CT/<id>/Ground/*.png"


def _patient_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    if (root / "DICOM_anon").is_dir():
        return [root]
    for base in (root / "CT", root / "Train_Sets" / "CT", root / "Test_Sets" / "CT", root):
        if base.is_dir():
            patients = [p for p in base.iterdir() if p.is_dir() and (p / "DICOM_anon").is_dir()]
            if patients:
                return sorted(patients, key=lambda p: natural_key(p.name))
    return []


def detect(root: Path) -> bool:
    return bool(_patient_folders(root))


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    cases: list[Case] = []
    problems: list[str] = []
    for patient in _patient_folders(root):
        ground = patient / "Ground"
        pngs = sorted(ground.glob("*.png")) if ground.is_dir() else []
        if ground.is_dir() and not pngs:
            problems.append(f"CT-{patient.name}: {ground} holds no PNG masks")
        cases.append(Case(
            case_id=f"CT-{patient.name}", image=patient / "DICOM_anon",
            label=ground if pngs else None, label_map=dict(BINARY_MASK_MAP), layout=NAME,
            extra={"label_kind": LABEL_CHAOS_PNG}))
    return cases, problems
