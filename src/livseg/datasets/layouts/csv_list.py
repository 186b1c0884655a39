"""A CSV list of cases: columns ``image,label[,case_id]``; paths relative to the CSV's folder.

An empty ``label`` cell makes an unlabelled case; a missing ``case_id`` column uses the
image's file name without its suffix.
"""

from __future__ import annotations

import csv
from pathlib import Path

from livseg.datasets.case import Case
from livseg.datasets.layouts._files import check_listed_files, volume_stem
from livseg.errors import DatasetError

NAME = "csv"
DESCRIPTION = "a CSV file with columns image,label[,case_id] (paths relative to the CSV)"


def detect(root: Path) -> bool:
    return root.is_file() and root.suffix.lower() == ".csv"


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    try:
        with root.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(root, expected="a readable UTF-8 CSV file", found=str(exc)) from exc
    if "image" not in fields or "label" not in fields:
        raise DatasetError(root, expected="a header row with columns image,label[,case_id]",
                           found=f"columns {fields}" if fields else "an empty file")
    base = root.parent
    cases: list[Case] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue
        if not row.get("image"):
            problems.append(f"{root} line {line}: empty image cell")
            continue
        image = (base / row["image"]).resolve()
        label = (base / row["label"]).resolve() if row.get("label") else None
        case_id = row.get("case_id") or volume_stem(image)
        if case_id in seen:
            problems.append(f"{case_id}: listed twice ({root} lines {seen[case_id]} and {line})")
            continue
        seen[case_id] = line
        image_exists, label, missing = check_listed_files(case_id, image, label, f"({root} line {line})")
        problems.extend(missing)
        if not image_exists:
            continue
        cases.append(Case(case_id=case_id, image=image, label=label, layout=NAME))
    return cases, problems
