"""The layouts of metric tables; ``livseg.io.tables`` writes them (CSV, JSON, text).

Layouts:

* per-case table: one row per case; columns ``case_id``, then per structure (liver, tumour)
  ``<structure>_assessed``, ``<structure>_empty`` and ``<structure>_<measure>``, then
  ``lesions_*`` and ``tumour_burden_*``; a structure the case did not assess (no tumour model
  ran) has ``<structure>_assessed`` False and every other cell of it empty, as do its
  ``lesions_*`` and ``tumour_burden_*`` cells: not assessed, never a score;
* summary table: one row per (structure, measure) with mean, std, median, min, max, n,
  n_undefined, n_not_assessed (cases that did not assess the structure, left out of the
  statistics) and a note ("not assessed in any case ..." when none did).

Undefined values (None) are empty CSV cells and JSON nulls; floats are written in full
precision (``repr``), so a table can be re-read without loss::

    write_csv([case_row(c) for c in cases], "cases.csv")                # livseg.io.tables
    write_csv(summary_rows(summary), "summary.csv", columns=SUMMARY_COLUMNS)
"""

from __future__ import annotations

from typing import Any, Mapping

from livseg.metrics.case import STRUCTURE_MEASURES
from livseg.metrics.structures import STRUCTURES

SUMMARY_COLUMNS = ("structure", "measure", "mean", "std", "median", "min", "max", "n", "n_undefined",
                   "n_not_assessed", "note")
#: The keys of one structure's block in ``CaseMetrics.as_dict()``, in column order.
STRUCTURE_KEYS = ("empty", *STRUCTURE_MEASURES, "surface_dice_tolerance_mm", "tp", "fp", "fn")
LESION_KEYS = ("n_reference", "n_prediction", "n_detected", "n_matched_prediction", "precision", "recall")
BURDEN_KEYS = ("reference", "prediction", "error")


def is_assessed(block: Any) -> bool:
    """False for the ``{"assessed": false}`` block of a structure that was not assessed."""
    return not (isinstance(block, Mapping) and block.get("assessed") is False)


def case_row(case: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten one case's ``CaseMetrics.as_dict()`` into a single table row (same columns for every case)."""
    row: dict[str, Any] = {"case_id": case["case_id"]}
    for structure in STRUCTURES:
        block = case.get(structure, {})
        assessed = is_assessed(block)
        row[f"{structure}_assessed"] = assessed
        for key in STRUCTURE_KEYS:
            row[f"{structure}_{key}"] = block.get(key) if assessed else None
    for prefix, keys in (("lesions", LESION_KEYS), ("tumour_burden", BURDEN_KEYS)):
        block = case.get(prefix, {})
        assessed = is_assessed(block)
        for key in keys:
            row[f"{prefix}_{key}"] = block.get(key) if assessed else None
    for key, value in case.items():  # anything else the case carries, after the fixed columns
        if key in ("case_id", "files", *STRUCTURES, "lesions", "tumour_burden"):
            continue
        if isinstance(value, Mapping):
            for field, item in value.items():
                row.setdefault(f"{key}_{field}", item)
        else:
            row.setdefault(key, value)
    return row


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows (structure, measure, statistics) of ``livseg.metrics.summarize`` output."""
    rows = []
    for structure, block in summary["structures"].items():
        note = block.get("note")
        if note is None and block.get("n_not_assessed"):
            note = f"not assessed in {block['n_not_assessed']} case(s), left out"
        for measure, stats in block["measures"].items():
            rows.append({"structure": structure, "measure": measure,
                         **{column: stats.get(column) for column in SUMMARY_COLUMNS[2:9]},
                         "n_not_assessed": block.get("n_not_assessed", 0), "note": note})
    return rows
