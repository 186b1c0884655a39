"""Metric tables as CSV and JSON (written atomically) and as plain text for the terminal.

Layouts:

* per-case table: one row per case; columns ``case_id``, then ``<structure>_<measure>`` for
  liver and tumour (with ``<structure>_empty``), then ``lesions_*`` and ``tumour_burden_*``;
* summary table: one row per (structure, measure) with mean, std, median, min, max, n,
  n_undefined.

Undefined values (None) are empty CSV cells and JSON nulls; floats are written in full
precision (``repr``), so a table can be re-read without loss.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from livseg.io.atomic import atomic_path

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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str],
              columns: Sequence[str] | None = None) -> Path:
    """Write ``rows`` as CSV (header = ``columns`` or the union of keys in first-seen order)."""
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(column)) for column in columns])
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} in a metrics table")  # a bug, never data
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


def to_json(obj: Any) -> str:
    """Strict JSON text (no NaN/Infinity) with 2-space indent."""
    return json.dumps(_json_safe(obj), indent=2, allow_nan=False)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as strict JSON, atomically."""
    path = Path(path)
    text = to_json(obj) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def format_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, digits: int = 4) -> str:
    """Plain-text table with aligned columns; None shows as "-", floats with ``digits`` decimals."""
    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    body = [[show(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(line, widths)))
              for line in body]
    return "\n".join(lines)
