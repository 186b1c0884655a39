"""The trial table (terminal, CSV, JSON) and the tuned settings file the predictor reads.

Tuned settings file (YAML, written atomically)::

    inference:                      # the keys of a model bundle's "inference" settings
      fusion_weights: [0.6, 0.2, 0.2]
      crf: {enabled: true, mode: 3d, margin_mm: 10.0, mu1: 5.0, mu2: 3.0, theta_alpha_mm: 10.0,
            theta_beta_hu: 20.0, theta_gamma_mm: 3.0, iterations: 5, hu_window: [-200.0, 300.0]}
    tuning:                         # provenance: not read by the predictor
      model: ..., model_sha256: ..., data: ..., layout: ..., cases: [...], metric: ...,
      search: ..., best_trial: ..., best_score: ..., no_crf_score: ..., default_score: ...,
      date: 2025-01-01T12:00:00+00:00, livseg_version: ..., command: ...

``inference`` is exactly what ``livseg.inference.settings.settings_from_mapping`` reads, so
:func:`apply_tuned_settings` gives a bundle whose predictor uses the tuned values, and
:func:`write_tuned_bundle` saves such a bundle for ``livseg predict --model``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from livseg.errors import ConfigError, InputNotFoundError, UnreadableInputError
from livseg.inference import InferenceSettings, ModelBundle, save_bundle
from livseg.inference.settings import settings_from_mapping
from livseg.io.atomic import atomic_path
from livseg.reporting.tables import format_table, write_csv, write_json
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
    """The ``inference`` section for the best row (``enabled: false`` when no CRF won)."""
    params = best.params
    crf: dict[str, Any] = {"enabled": params.crf is not None, "mode": mode, "margin_mm": float(margin_mm)}
    if params.crf is not None:
        values = dataclasses.asdict(params.crf)
        if values.get("hu_window") is not None:
            values["hu_window"] = [float(v) for v in values["hu_window"]]
        crf.update({k: (float(v) if isinstance(v, float) else v) for k, v in values.items()})
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


def read_tuned_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``inference`` mapping of a tuned settings file.

    Raises:
        InputNotFoundError, UnreadableInputError: no such file, or not YAML.
        ConfigError: no ``inference`` mapping in it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(path, expected="a tuned settings YAML file (livseg tune-crf -o)",
                                 found="nothing at that path")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UnreadableInputError(path, expected="a YAML file",
                                   found=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("inference"), Mapping):
        found = "keys " + ", ".join(map(str, document)) if isinstance(document, Mapping) else type(document).__name__
        raise ConfigError(path, expected="a mapping with an 'inference' section", found=found,
                          fix="write it with livseg tune-crf")
    return dict(document["inference"])


def load_tuned_settings(path: str | os.PathLike[str], defaults: InferenceSettings) -> InferenceSettings:
    """``defaults`` (a bundle's settings) with the tuned file's ``inference`` values applied."""
    return settings_from_mapping(read_tuned_mapping(path), defaults=defaults)


def apply_tuned_settings(bundle: ModelBundle, path: str | os.PathLike[str]) -> ModelBundle:
    """A bundle sharing ``bundle``'s network, with the tuned settings of ``path``.

    Raises:
        ConfigError: the file's fusion weights do not fit the network's outputs.
    """
    settings = load_tuned_settings(path, bundle.settings)
    weights = settings.fusion_weights
    if weights is not None and len(weights) != 1 + bundle.num_branches:
        raise ConfigError(path, expected=f"{1 + bundle.num_branches} fusion weights for model {bundle.name}",
                          found=f"{len(weights)}", fix="tune with the same model")
    return dataclasses.replace(bundle, settings=settings)


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
