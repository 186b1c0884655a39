"""The cohort table of a predict run: one row per case from ``OUT/manifest.jsonl`` (the latest
record of each case wins, so reruns and parallel parts fold into one table). ``qc`` is the
automatic quality flag (ok or review, :mod:`livseg.inference.quality`): sort by ``qc_score``
to look at the likeliest bad masks first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from livseg.batch.manifest import MANIFEST_NAME, read_records
from livseg.errors import InputNotFoundError

#: Columns of ``cohort.csv``, in order.
COHORT_COLUMNS = ("case_id", "status", "qc", "qc_score", "qc_reasons", "liver_ml", "tumour_ml", "tumour_count",
                  "tumour_burden_pct", "liver_hu_mean", "seconds", "model", "model_sha256", "output", "error",
                  "time")


def cohort_rows(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One row per case (sorted by case id) from the latest manifest record of each.

    Raises:
        InputNotFoundError: the folder has no manifest.
    """
    if not (Path(folder) / MANIFEST_NAME).is_file():
        raise InputNotFoundError(Path(folder) / MANIFEST_NAME, expected="the manifest of a livseg predict run",
                                 found="no such file", fix="run livseg predict INPUTS -o FOLDER first")
    latest: dict[str, dict[str, Any]] = {}
    for record in read_records(folder):
        if record.get("status") == "skipped" and record.get("case_id") in latest:
            continue  # a rerun that kept the case: the record that made it says more
        latest[str(record.get("case_id"))] = record
    rows = []
    for case_id in sorted(latest):
        record = latest[case_id]
        stats = record.get("statistics") or {}
        volumes = record.get("volumes_ml") or {}
        seconds = record.get("seconds") or {}
        qc = record.get("qc") or {}
        rows.append({
            "case_id": case_id, "status": record.get("status"), "qc": qc.get("qc"), "qc_score": qc.get("score"),
            "qc_reasons": "; ".join(qc.get("reasons") or []) or None, "liver_ml": volumes.get("liver"),
            "tumour_ml": volumes.get("tumour"), "tumour_count": stats.get("tumour_count"),
            "tumour_burden_pct": stats.get("tumour_burden_pct"),
            "liver_hu_mean": (stats.get("liver_hu") or {}).get("mean"),
            "seconds": round(sum(seconds.values()), 3) if seconds else None,
            "model": (record.get("model") or {}).get("name"), "model_sha256": (record.get("model") or {}).get("sha256"),
            "output": record.get("output"), "error": record.get("error"), "time": record.get("time"),
        })
    return rows
