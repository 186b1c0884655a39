"""SLiver07: ``liver-orig0NN.mhd`` with ``liver-seg0NN.mhd`` (MetaImage), in the root or one level below.

Reference masks are binary (liver 1; 255 is accepted as liver too). Test scans without a
``liver-seg`` file become unlabelled cases.
"""

from __future__ import annotations

import re
from pathlib import Path

from livseg.datasets.case import Case
from livseg.datasets.labels import BINARY_MASK_MAP
from livseg.datasets.layouts._files import files_by_kind_and_number, natural_key

NAME = "sliver07"
DESCRIPTION = "SLiver07: liver-orig0NN.mhd + liver-seg0NN.mhd"
MAX_DEPTH = 1

_PATTERN = re.compile(r"^liver-(orig|seg)(\d+)\.(mhd|mha)$", re.IGNORECASE)


def _scan(root: Path) -> dict[str, dict[str, list[Path]]]:
    return files_by_kind_and_number(root, _PATTERN, ("orig", "seg"), max_depth=MAX_DEPTH, number=str)


def detect(root: Path) -> bool:
    return root.is_dir() and bool(_scan(root)["orig"])


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    found = _scan(root)
    cases: list[Case] = []
    problems: list[str] = []
    for number, paths in sorted(found["orig"].items(), key=lambda kv: natural_key(kv[0])):
        if len(paths) > 1:
            problems.append(f"liver-orig{number}: {len(paths)} copies ({', '.join(map(str, paths))})")
        labels = found["seg"].get(number)
        cases.append(Case(case_id=f"liver-orig{number}", image=paths[0],
                          label=labels[0] if labels else None,
                          label_map=dict(BINARY_MASK_MAP), layout=NAME))
    for number in sorted(set(found["seg"]) - set(found["orig"]), key=natural_key):
        problems.append(f"liver-seg{number}: no liver-orig{number}.mhd beside it")
    return cases, problems
