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
from livseg.datasets.layouts._patients import cases_per_patient, patient_folders

NAME = "chaos"
DESCRIPTION = "CHAOS CT: CT/<id>/DICOM_anon/*.dcm + CT/<id>/Ground/*.png"


def _is_patient(folder: Path) -> bool:
    return (folder / "DICOM_anon").is_dir()


def _patient_folders(root: Path) -> list[Path]:
    return patient_folders(root, _is_patient,
                           bases=(root / "CT", root / "Train_Sets" / "CT", root / "Test_Sets" / "CT"))


def _patient_case(patient: Path) -> tuple[Case | None, list[str]]:
    """The case of one patient folder: its DICOM series and, when there, its PNG mask folder."""
    ground = patient / "Ground"
    pngs = sorted(ground.glob("*.png")) if ground.is_dir() else []
    problems = [f"CT-{patient.name}: {ground} holds no PNG masks"] if ground.is_dir() and not pngs else []
    case = Case(case_id=f"CT-{patient.name}", image=patient / "DICOM_anon",
                label=ground if pngs else None, label_map=dict(BINARY_MASK_MAP), layout=NAME,
                extra={"label_kind": LABEL_CHAOS_PNG})
    return case, problems


def detect(root: Path) -> bool:
    return bool(_patient_folders(root))


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    return cases_per_patient(_patient_folders(root), _patient_case)
