"""Finding the cases of a data set on disk, whatever layout it was published in."""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from livseg.datasets.case import Case
from livseg.datasets.labels import LabelMap
from livseg.datasets.layouts import LAYOUTS
from livseg.errors import DatasetError, InputNotFoundError, UnknownNameError

logger = logging.getLogger(__name__)

AUTO = "auto"


@dataclass(frozen=True)
class Dataset:
    """The cases found under one root.

    Attributes:
        name: the root's folder (or CSV file) name.
        layout: the layout the cases were found with (a key of ``LAYOUTS``).
        root: the folder or CSV file given.
        cases: the cases, in natural order of their ids.
        problems: one line per inconsistency found while listing (a label without its image,
            a file listed but missing, ...); ``livseg data check`` reports them as failures.
    """

    name: str
    layout: str
    root: Path
    cases: list[Case]
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cases)

    def case(self, case_id: str) -> Case:
        """The case with this id; UnknownNameError lists the ids otherwise."""
        for case in self.cases:
            if case.case_id == case_id:
                return case
        ids = [c.case_id for c in self.cases]
        shown = ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")
        raise UnknownNameError(case_id, expected=f"a case of {self.root} ({shown})", found="no such case")


def layout_choices() -> str:
    """One line per layout: what it expects on disk."""
    return "; ".join(f"{name} = {module.DESCRIPTION}" for name, module in LAYOUTS.items())


def detect_layouts(root: Path) -> list[str]:
    """Names of every layout whose on-disk signature ``root`` matches (detection order)."""
    return [name for name, module in LAYOUTS.items() if module.detect(root)]


def load_dataset(root: str | os.PathLike[str], layout: str = AUTO, *,
                 label_map: LabelMap | None = None) -> Dataset:
    """List the cases of a data set.

    Args:
        root: the data-set folder (or a CSV file for the ``csv`` layout).
        layout: a key of ``LAYOUTS`` or "auto" to recognise it; several matching layouts are
            an error (pass the one meant).
        label_map: replaces every case's own label map (``--label-map``).

    Returns:
        Dataset; cases carry the layout's label map (e.g. CHAOS 255 -> 1).

    Raises:
        InputNotFoundError: root does not exist. UnknownNameError: unknown layout.
        DatasetError: nothing (or more than one layout) matches, or no case was found.
    """
    root = Path(root)
    if not root.exists():
        raise InputNotFoundError(root, expected="a data-set folder or CSV file", found="nothing at that path")
    if layout == AUTO:
        matches = detect_layouts(root)
        if not matches:
            raise DatasetError(root, expected=f"one of the known layouts ({layout_choices()})",
                               found="none of them", fix="arrange the files as one of these or list them in a CSV")
        if len(matches) > 1:
            raise DatasetError(root, expected="files of one layout", found=f"files of {', '.join(matches)}",
                               fix=f"pass --layout with one of {', '.join(matches)}")
        layout = matches[0]
    elif layout not in LAYOUTS:
        raise UnknownNameError(layout, expected=f"a layout among {', '.join([AUTO, *LAYOUTS])}",
                               found="an unknown layout name")
    module = LAYOUTS[layout]
    cases, problems = module.find_cases(root)
    if not cases:
        raise DatasetError(root, expected=f"at least one case of layout {layout} ({module.DESCRIPTION})",
                           found="no case" + (f"; {problems[0]}" if problems else ""))
    if label_map is not None:
        cases = [dataclasses.replace(c, label_map=dict(label_map.mapping), label_default=label_map.default)
                 for c in cases]
    for problem in problems:
        logger.warning("%s: %s", root, problem)
    name = root.stem if root.is_file() else root.resolve().name
    return Dataset(name=name, layout=layout, root=root, cases=cases, problems=list(problems))
