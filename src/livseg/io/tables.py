"""Tables: CSV and strict JSON written atomically, and aligned plain text for the terminal.

The one place livseg writes a table. A table is a sequence of rows (mappings of column name to
value) and a column order::

    write_csv(rows, "cases.csv", columns=["case_id", "liver_dice"])   # None -> empty cell
    write_json({"rows": rows}, "metrics.json")                         # NaN/Infinity refused
    print(format_table(rows, ["case_id", "liver_dice"], digits=3))     # None -> "-"

CSV cells hold floats in full precision (``repr``) unless the caller gives another
``float_format``, so a table can be re-read without loss; JSON is strict (no NaN/Infinity,
which would be a bug upstream, never data) with numpy scalars turned into Python numbers.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from livseg.io.atomic import atomic_path


def _csv_cell(value: Any, float_format: Callable[[float], str]) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return float_format(value)
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str],
              columns: Sequence[str] | None = None, *, float_format: Callable[[float], str] = repr,
              line_end: str = "\r\n") -> Path:
    """Write ``rows`` as CSV, atomically; a missing or None value is an empty cell.

    Args:
        rows: one mapping per row.
        path: the CSV file (its folder is created).
        columns: the header, in order; None: the union of the rows' keys in first-seen order.
        float_format: text of a float cell (default ``repr``: full precision).
        line_end: the row terminator (the csv module's "\r\n" by default).
    """
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator=line_end)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_csv_cell(row.get(column), float_format) for column in columns])
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r} in a table")  # a bug, never data
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
    """Write ``obj`` as strict JSON, atomically (nothing is written if it holds NaN)."""
    path = Path(path)
    text = to_json(obj) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def format_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, digits: int = 4, left: int = 1,
                 rule: bool = False) -> str:
    """Plain-text table with aligned columns, one line per row under a header line.

    Args:
        rows: one mapping per line; a missing key or None shows as "-", a float with
            ``digits`` decimals, anything else as ``str``.
        columns: the keys to show, in order (also the header).
        left: how many leading columns are left-aligned (names, text); the others (numbers)
            are right-aligned. Header cells are left-aligned.
        rule: a line of dashes under the header.

    Returns:
        The lines joined by newlines, trailing blanks removed.
    """
    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    body = [[show(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    if rule:
        lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths)))
              for line in body]
    return "\n".join(line.rstrip() for line in lines)
