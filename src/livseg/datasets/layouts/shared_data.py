"""The project's shared real-data folder (``../shared/data``): the known cases of
``livseg.datasets.shared``, so ``livseg data check ../shared/data`` works."""

from __future__ import annotations

from pathlib import Path

from livseg.datasets.case import Case

NAME = "shared"
DESCRIPTION = "livseg's shared real-data folder (chaos-ct-1/, totalseg-example/, dcmqi-ct-3slice/)"


def detect(root: Path) -> bool:
    from livseg.datasets.shared import shared_cases

    return root.is_dir() and bool(shared_cases(root))


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    from livseg.datasets.shared import shared_cases

    return shared_cases(root), []
