"""LiTS: ``volume-N.nii`` with ``segmentation-N.nii`` (also ``.nii.gz``), anywhere below the root.

The challenge ships them in batch folders ("Training Batch 1", "volume_pt1", "segmentations");
pairs are made by the number N. ``test-volume-N.nii`` files become unlabelled cases.
Labels are already 0 background, 1 liver, 2 tumour.
"""

from __future__ import annotations

import re
from pathlib import Path

from livseg.datasets.case import Case
from livseg.datasets.layouts._files import files_by_kind_and_number, natural_key

NAME = "lits"
DESCRIPTION = "LiTS: volume-N.nii[.gz] + segmentation-N.nii[.gz] (subfolders allowed)"
MAX_DEPTH = 3

_PATTERN = re.compile(r"^(test-volume|volume|segmentation)-(\d+)\.nii(\.gz)?$", re.IGNORECASE)


def _scan(root: Path) -> dict[str, dict[int, list[Path]]]:
    return files_by_kind_and_number(root, _PATTERN, ("volume", "segmentation", "test-volume"),
                                    max_depth=MAX_DEPTH, number=int)


def detect(root: Path) -> bool:
    if not root.is_dir():
        return False
    found = _scan(root)
    return bool(found["volume"] or found["test-volume"])


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    found = _scan(root)
    cases: list[Case] = []
    problems: list[str] = []
    for kind in ("volume", "segmentation", "test-volume"):
        for number, paths in found[kind].items():
            if len(paths) > 1:
                problems.append(f"{kind}-{number}: {len(paths)} files ({', '.join(str(p) for p in paths)}); "
                                "keep one copy")
    for number in sorted(found["volume"]):
        labels = found["segmentation"].get(number)
        cases.append(Case(case_id=f"volume-{number}", image=found["volume"][number][0],
                          label=labels[0] if labels else None, layout=NAME))
        if not labels:
            problems.append(f"volume-{number}: no segmentation-{number}.nii[.gz] found under {root}")
    for number in sorted(set(found["segmentation"]) - set(found["volume"])):
        problems.append(f"segmentation-{number}: no volume-{number}.nii[.gz] found under {root}")
    for number in sorted(found["test-volume"]):
        cases.append(Case(case_id=f"test-volume-{number}", image=found["test-volume"][number][0],
                          label=None, layout=NAME, extra={"split": "test"}))
    cases.sort(key=lambda c: natural_key(c.case_id))
    return cases, problems
