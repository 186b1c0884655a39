"""On-disk data-set layouts: each module offers ``NAME``, ``DESCRIPTION``, ``detect(root)`` and
``find_cases(root) -> (cases, problems)``. ``LAYOUTS`` is the registry, in detection order."""

from __future__ import annotations

from types import ModuleType

from livseg.datasets.layouts import chaos, csv_list, ircadb, lits, msd, pairs, shared_data, sliver07

LAYOUTS: dict[str, ModuleType] = {
    module.NAME: module for module in (msd, chaos, ircadb, sliver07, lits, pairs, shared_data, csv_list)
}

__all__ = ["LAYOUTS"]
