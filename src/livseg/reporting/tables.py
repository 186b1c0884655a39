"""The layouts of metric tables; ``livseg.io.tables`` writes them (CSV, JSON, text).

Layouts:

* per-case table: one row per case; columns ``case_id``, then ``<structure>_<measure>`` for
  liver and tumour (with ``<structure>_empty``), then ``lesions_*`` and ``tumour_burden_*``;
* summary table: one row per (structure, measure) with mean, std, median, min, max, n,
  n_undefined.

Undefined values (None) are empty CSV cells and JSON nulls; floats are written in full
precision (``repr``), so a table can be re-read without loss::

    write_csv([case_row(c) for c in cases], "cases.csv")                # livseg.io.tables
    write_csv(summary_rows(summary), "summary.csv", columns=SUMMARY_COLUMNS)
"""

from __future__ import annotations

from typing import Any, Mapping

SUMMARY_COLUMNS = ("structure", "measure", "mean", "std", "median", "min", "max", "n", "n_undefined")


def case_row(case: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten one case's ``CaseMetrics.as_dict()`` into a single table row."""
    row: dict[str, Any] = {"case_id": case["case_id"]}
    for key, value in case.items():
        if key == "case_id":
            continue
        if isinstance(value, Mapping):
            for field, item in value.items():
                row[f"{key}_{field}"] = item
        else:
            row[key] = value
    return row


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows (structure, measure, statistics) of ``livseg.metrics.summarize`` output."""
    rows = []
    for structure, block in summary["structures"].items():
        for measure, stats in block["measures"].items():
            rows.append({"structure": structure, "measure": measure,
                         **{column: stats.get(column) for column in SUMMARY_COLUMNS[2:]}})
    return rows
