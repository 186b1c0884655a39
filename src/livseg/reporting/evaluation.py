"""Reading an evaluation folder written by ``livseg evaluate --out DIR``.

``metrics.json`` is read when present (cases, summary, settings); otherwise ``cases.csv`` is
read and the summary rebuilt from it with the same statistics (``livseg.metrics.describe``),
so both give the same report.

Inputs contract (what the report uses to find each case's CT, reference and prediction when no
``--images/--gt/--pred-dir`` option is given), both optional, paths absolute or relative to
the evaluation folder:

* ``cases[i]["files"] = {"image": PATH, "reference": PATH, "prediction": PATH,
  "prediction_nocrf": PATH}`` (any subset), per case;
* ``settings["inputs"] = {"gt": DATASET, "layout": "auto", "pred_dir": DIR, "images": DIR,
  "pred_dir_nocrf": DIR, "label_map": MAP, "gt_label_map": MAP}`` (any subset), for all cases.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livseg.errors import DatasetError, InputNotFoundError, UnreadableInputError
from livseg.metrics.lits import LesionDetection
from livseg.metrics.overlap import ConfusionCounts, dice_global
from livseg.metrics.summary import EMPTY_KINDS, NOT_ASSESSED_NOTE, describe
from livseg.reporting.tables import is_assessed

METRICS_FILE, CASES_FILE = "metrics.json", "cases.csv"
STRUCTURES = ("liver", "tumour")
# Column prefixes of cases.csv (``livseg.reporting.tables.case_row``); the longer one first.
_PREFIXES = ("tumour_burden", "lesions", "liver", "tumour")


@dataclass(frozen=True)
class Evaluation:
    """The tables of one evaluation.

    Attributes:
        folder: the evaluation folder.
        source: the file read (metrics.json or cases.csv).
        cases: one dict per case as in metrics.json: ``case_id``, ``liver`` and ``tumour``
            (measure -> value or None, ``empty``; ``{"assessed": False}`` for a structure the
            prediction did not assess), ``lesions``, ``tumour_burden``.
        summary: as ``livseg.metrics.summarize`` returns it (rebuilt from cases.csv if needed).
        settings: the evaluation's settings (empty when read from cases.csv).
    """

    folder: Path
    source: Path
    cases: list[dict[str, Any]]
    summary: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def case_ids(self) -> list[str]:
        return [str(case["case_id"]) for case in self.cases]

    def values(self, structure: str, measure: str) -> list[float | None]:
        """One value per case (None where undefined)."""
        return [case.get(structure, {}).get(measure) for case in self.cases]

    def recorded_inputs(self) -> dict[str, Any]:
        """``settings["inputs"]`` (see the module docstring), or {}."""
        inputs = self.settings.get("inputs")
        return dict(inputs) if isinstance(inputs, dict) else {}


def is_evaluation_folder(folder: Path) -> bool:
    return (folder / METRICS_FILE).is_file() or (folder / CASES_FILE).is_file()


def read_evaluation(folder: str | Path) -> Evaluation:
    """The evaluation in ``folder`` (metrics.json, else cases.csv).

    Raises:
        InputNotFoundError: no such folder. DatasetError: neither file is there.
        UnreadableInputError: a file is not the table livseg writes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(folder, expected="an evaluation folder", found="no such folder")
    if (folder / METRICS_FILE).is_file():
        return _from_json(folder, folder / METRICS_FILE)
    if (folder / CASES_FILE).is_file():
        return _from_csv(folder, folder / CASES_FILE)
    raise DatasetError(folder, expected=f"{METRICS_FILE} or {CASES_FILE} (written by livseg evaluate --out)",
                       found="neither", fix="run livseg evaluate --pred-dir P --gt DATASET --out DIR first")


def _from_json(folder: Path, path: Path) -> Evaluation:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(path, expected="the JSON written by livseg evaluate",
                                   found=f"unreadable JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise UnreadableInputError(path, expected="an object with a non-empty 'cases' list",
                                   found=f"keys {sorted(data) if isinstance(data, dict) else type(data).__name__}",
                                   fix="point livseg report at the folder livseg evaluate --out wrote")
    for index, case in enumerate(data["cases"]):
        if not isinstance(case, dict) or "case_id" not in case or not all(
                isinstance(case.get(s), dict) for s in STRUCTURES):
            raise UnreadableInputError(path, expected="cases with case_id, liver and tumour",
                                       found=f"case {index} without them")
    cases = data["cases"]
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else summary_of(cases)
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    return Evaluation(folder=folder, source=path, cases=cases, summary=summary, settings=settings)


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _from_csv(folder: Path, path: Path) -> Evaluation:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableInputError(path, expected="the CSV written by livseg evaluate",
                                   found=f"unreadable CSV ({exc})") from exc
    if not rows or "case_id" not in rows[0]:
        raise UnreadableInputError(path, expected="a header with case_id and one row per case",
                                   found="no rows" if not rows else f"columns {', '.join(list(rows[0])[:5])}, ...")
    cases = []
    for row in rows:
        case: dict[str, Any] = {"case_id": row["case_id"]}
        for column, text in row.items():
            prefix = next((p for p in _PREFIXES if column.startswith(p + "_")), None)
            if prefix is None:
                continue
            key = column[len(prefix) + 1:]
            if key == "assessed":
                case.setdefault(prefix, {})[key] = text.strip().lower() not in ("false", "0", "no")
                continue
            try:
                value: Any = text if key == "empty" else _number(text)
            except ValueError as exc:
                raise UnreadableInputError(path, expected=f"a number in column {column}",
                                           found=repr(text), detail=f"case {row['case_id']}") from exc
            case.setdefault(prefix, {})[key] = value
        for structure in STRUCTURES:  # a structure not assessed: its empty cells are no values
            if case.get(structure, {}).get("assessed") is False:
                case[structure] = {"assessed": False}
                if structure == "tumour":
                    case["lesions"] = {"assessed": False}
                    case["tumour_burden"] = {"assessed": False}
        cases.append(case)
    return Evaluation(folder=folder, source=path, cases=cases, summary=summary_of(cases), settings={})


def summary_of(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts of ``livseg.metrics.summarize`` the report shows, from case dicts.

    As there, a structure counts only the cases that assessed it (``n_assessed``,
    ``n_not_assessed``, ``assessed``, and a ``note`` when none did).
    """
    summary: dict[str, Any] = {"n_cases": len(cases), "structures": {}}
    for structure in STRUCTURES:
        blocks = [case.get(structure, {}) for case in cases if is_assessed(case.get(structure, {}))]
        measures = sorted({key for block in blocks for key, value in block.items()
                           if key not in ("empty", "assessed")})
        counts = None
        if blocks and all(all(block.get(k) is not None for k in ("tp", "fp", "fn")) for block in blocks):
            counts = [ConfusionCounts(tp=int(b["tp"]), fp=int(b["fp"]), fn=int(b["fn"]), tn=0, voxel_volume_mm3=1.0)
                      for b in blocks]
        summary["structures"][structure] = {
            "assessed": bool(blocks),
            "n_assessed": len(blocks),
            "n_not_assessed": len(cases) - len(blocks),
            "n_empty": {kind: sum(1 for b in blocks if b.get("empty") == kind) for kind in EMPTY_KINDS},
            "dice_global": dice_global(counts) if counts is not None else None,
            "measures": {m: describe(b.get(m) for b in blocks) for m in measures},
        }
        if not blocks:
            summary["structures"][structure]["note"] = NOT_ASSESSED_NOTE
    keys = ("n_reference", "n_prediction", "n_detected", "n_matched_prediction")
    lesions = [case.get("lesions", {}) for case in cases if is_assessed(case.get("lesions", {}))]
    if not lesions and cases:
        summary["lesions"] = {"assessed": False, "n_not_assessed": len(cases), "note": NOT_ASSESSED_NOTE}
    elif lesions and all(isinstance(item.get(k), (int, float)) for item in lesions for k in keys):
        pooled = sum((LesionDetection(*(int(item[k]) for k in keys)) for item in lesions),
                     LesionDetection(0, 0, 0, 0))
        summary["lesions"] = {**pooled.as_dict(), "n_not_assessed": len(cases) - len(lesions)}
    return summary
