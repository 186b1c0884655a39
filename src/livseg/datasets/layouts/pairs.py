"""A generic folder of pairs: ``images/NAME.<ext>`` with ``labels/NAME.<ext>``.

NAME matches with or without an nnU-Net channel suffix (``case_0000.nii.gz`` pairs with
``case.nii.gz``); an entry may also be a DICOM series folder. This is what
``livseg data phantom`` writes. Labels must already be 0/1/2 unless ``--label-map`` says
otherwise. Images without a label become unlabelled cases.
"""

from __future__ import annotations

import re
from pathlib import Path

from livseg.datasets.case import Case
from livseg.datasets.layouts._files import is_hidden, natural_key, volume_files, volume_stem

NAME = "pairs"
DESCRIPTION = "folder pairs: images/NAME.<ext> + labels/NAME.<ext> (NIfTI, MetaImage, NRRD, MRC or DICOM folders)"

_CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_0000$")


def _entries(folder: Path) -> dict[str, Path]:
    """NAME -> path for the volume files and sub-folders (DICOM series) of ``folder``."""
    entries = {volume_stem(p): p for p in volume_files(folder)}
    if folder.is_dir():
        for sub in folder.iterdir():
            if sub.is_dir() and not is_hidden(sub):
                entries.setdefault(sub.name, sub)
    return entries


def detect(root: Path) -> bool:
    return root.is_dir() and (root / "images").is_dir() and bool(_entries(root / "images"))


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    images = _entries(root / "images")
    labels = _entries(root / "labels")
    cases: list[Case] = []
    problems: list[str] = []
    used: set[str] = set()
    for name, image in images.items():
        match = _CHANNEL_SUFFIX.match(name)
        case_id = name
        label = labels.get(name)
        if label is None and match:
            case_id = match.group("case")
            label = labels.get(case_id)
        if label is not None:
            used.add(volume_stem(label) if label.is_file() else label.name)
        cases.append(Case(case_id=case_id, image=image, label=label, layout=NAME))
    for name in sorted(set(labels) - used, key=natural_key):
        problems.append(f"{name}: label {labels[name]} has no image of the same name in {root / 'images'}")
    cases.sort(key=lambda c: natural_key(c.case_id))
    return cases, problems
