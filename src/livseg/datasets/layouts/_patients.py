"""The skeleton of layouts with one folder per patient (CHAOS, 3D-IRCADb).

Such a layout names what makes a folder a patient folder and how one patient folder becomes a
:class:`~livseg.datasets.case.Case`; finding the patient folders under a root (the root
itself, or the patient sub-folders of the first base folder that has any) and collecting the
cases and problems is the same for all of them, and lives here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Sequence

from livseg.datasets.case import Case
from livseg.datasets.layouts._files import natural_key

#: One patient folder -> its case (None when the folder cannot make one) and the problems seen.
PatientCase = Callable[[Path], tuple[Case | None, list[str]]]


def patient_folders(root: Path, is_patient: Callable[[Path], bool], *,
                    root_is_patient: Callable[[Path], bool] | None = None,
                    bases: Sequence[Path] = ()) -> list[Path]:
    """The patient folders of a data set rooted at ``root``, in natural name order.

    Args:
        root: the folder the user named (a data set, or one patient folder).
        is_patient: whether a sub-folder is a patient folder.
        root_is_patient: whether ``root`` itself is one patient folder (default ``is_patient``).
        bases: folders below ``root`` that may hold the patient folders, searched in order
            before ``root`` itself; the first that holds any patient folder wins.

    Returns:
        ``[root]`` when ``root`` is a patient folder, else the patient sub-folders of the first
        base (then ``root``) that has any; ``[]`` when ``root`` is not a folder or none has any.
    """
    if not root.is_dir():
        return []
    if (root_is_patient or is_patient)(root):
        return [root]
    for base in (*bases, root):
        if base.is_dir():
            patients = [p for p in base.iterdir() if p.is_dir() and is_patient(p)]
            if patients:
                return sorted(patients, key=lambda p: natural_key(p.name))
    return []


def cases_per_patient(patients: Iterable[Path], case_of: PatientCase) -> tuple[list[Case], list[str]]:
    """One case per patient folder, in the folders' order, and every problem met on the way."""
    cases: list[Case] = []
    problems: list[str] = []
    for patient in patients:
        case, found = case_of(patient)
        problems.extend(found)
        if case is not None:
            cases.append(case)
    return cases, problems
