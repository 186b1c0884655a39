"""The trial table (terminal, CSV, JSON) and the tuned settings file the predictor reads.

Tuned settings file (YAML, written atomically)::

    inference:                      # the keys of a model bundle's "inference" settings
      fusion_weights: [0.6, 0.2, 0.2]
      crf:
        enabled: true
        mode: 3d
        margin_mm: 10.0
        params: {mu1: 5.0, mu2: 3.0, theta_alpha_mm: 10.0, theta_beta_hu: 20.0, theta_gamma_mm: 3.0,
                 iterations: 5, hu_window: [-200.0, 300.0]}
    tuning:                         # provenance: not read by the predictor
      model: ..., model_sha256: ..., data: ..., layout: ..., cases: [...], metric: ...,
      search: ..., best_trial: ..., best_score: ..., no_crf_score: ..., default_score: ...,
      date: 2025-01-01T12:00:00+00:00, livseg_version: ..., command: ...

``inference`` is exactly what ``livseg.inference.settings.settings_from_mapping`` reads, so
``livseg.inference.settings.apply_tuned_settings`` gives a bundle whose predictor uses the tuned
values (``livseg predict --crf-config``), and :func:`write_tuned_bundle` saves such a bundle for
``livseg predict --model``. Files written by livseg 0.1.0 (flat ``crf``) are read too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from livseg.inference import ModelBundle, save_bundle
from livseg.inference.settings import apply_tuned_settings
from livseg.io.atomic import atomic_path
from livseg.io.tables import format_table, write_csv, write_json
from livseg.schema import to_mapping
from livseg.tuning.objective import Objective
from livseg.tuning.search import SearchResult, TrialResult
from livseg.tuning.space import TUNED_CRF_PARAMS

PARAM_COLUMNS = ("crf", *TUNED_CRF_PARAMS, "tau")


def case_column(case_id: str) -> str:
    return f"case:{case_id}"


def table_rows(result: SearchResult, extra_measures: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One flat dict per row: trial, parameters, mean objective, other means, per-case values,
    number of cases run, seconds, and ``best`` (True on the best row)."""
    objective = result.objective
    rows = []
    for row in result.rows:
        cells: dict[str, Any] = {"trial": row.trial_id, **row.params.row()}
        cells[f"mean_{objective.measure}"] = row.mean(objective)
        for measure in extra_measures:
            cells[f"mean_{measure}"] = row.mean_of(measure, objective)
        for case_id in result.case_ids:
            cells[case_column(case_id)] = row.per_case.get(case_id)
        cells["n_cases"] = len(row.per_case)
        cells["seconds"] = row.seconds
        cells["best"] = row is result.best
        rows.append(cells)
    return rows


def table_columns(result: SearchResult, extra_measures: Sequence[str] = ()) -> list[str]:
    return ["trial", *PARAM_COLUMNS, f"mean_{result.objective.measure}",
            *(f"mean_{m}" for m in extra_measures), *(case_column(c) for c in result.case_ids),
            "n_cases", "seconds", "best"]


def format_result_table(result: SearchResult, extra_measures: Sequence[str] = ()) -> str:
    """The table as aligned text (undefined values as "-", the best row marked "*")."""
    rows = table_rows(result, extra_measures)
    for cells in rows:
        cells["best"] = "*" if cells["best"] else ""
    return format_table(rows, table_columns(result, extra_measures), digits=3)


def write_table(result: SearchResult, csv_path: str | os.PathLike[str], json_path: str | os.PathLike[str],
                extra_measures: Sequence[str] = (), provenance: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write the table as CSV and as JSON (rows plus the objective, search and provenance)."""
    rows = table_rows(result, extra_measures)
    columns = table_columns(result, extra_measures)
    csv_file = write_csv(rows, csv_path, columns)
    document = {
        "objective": {"measure": result.objective.measure, "structure": result.objective.structure,
                      "direction": result.objective.direction},
        "search": {"method": result.search, "seed": result.seed, "grid_size": result.space_size,
                   "trials_run": len(result.rows) - 2},
        "cases": result.case_ids,
        "best_trial": result.best.trial_id,
        "columns": columns,
        "rows": rows,
        "provenance": dict(provenance or {}),
    }
    return csv_file, write_json(document, json_path)


def tuned_inference_mapping(best: TrialResult, *, mode: str, margin_mm: float) -> dict[str, Any]:
    """The ``inference`` section for the best row, nested like ``InferenceSettings``.

    ``crf.params`` holds the best CRF parameters; when no CRF won, ``crf.enabled`` is false and
    the bundle's own parameters stay.
    """
    params = best.params
    crf: dict[str, Any] = {"enabled": params.crf is not None, "mode": mode, "margin_mm": float(margin_mm)}
    if params.crf is not None:
        crf["params"] = to_mapping(params.crf)
    return {"fusion_weights": [float(w) for w in params.fusion_weights], "crf": crf}


def write_tuned_settings(path: str | os.PathLike[str], inference: Mapping[str, Any],
                         tuning: Mapping[str, Any]) -> Path:
    """Write the tuned settings YAML atomically (``inference`` then ``tuning``)."""
    path = Path(path)
    header = ("# CRF and branch-fusion settings chosen by `livseg tune-crf`.\n"
              "# 'inference' holds model-bundle inference settings; 'tuning' records how they were found.\n")
    text = header + yaml.safe_dump({"inference": dict(inference), "tuning": dict(tuning)}, sort_keys=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_tuned_bundle(bundle: ModelBundle, settings_path: str | os.PathLike[str],
                       out: str | os.PathLike[str]) -> Path:
    """Save ``bundle`` with the tuned settings as a new bundle (.pt or .safetensors), atomically."""
    return save_bundle(apply_tuned_settings(bundle, settings_path), out)


def score_summary(result: SearchResult) -> dict[str, Any]:
    """Means of the reference rows and the best row, and the gains over them."""
    objective: Objective = result.objective
    no_crf = result.row("no-crf").mean(objective)
    default = result.row("default").mean(objective)
    best = result.best.mean(objective)

    def gain(base: float | None) -> float | None:
        if best is None or base is None:
            return None
        return best - base if objective.maximise else base - best

    return {"best_trial": result.best.trial_id, "best_score": best, "no_crf_score": no_crf,
            "default_score": default, "gain_over_no_crf": gain(no_crf), "gain_over_default": gain(default)}
