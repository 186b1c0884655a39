"""``tune_crf``: cache the network's probabilities of labelled cases, search, write the results."""

from __future__ import annotations

import datetime
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from livseg.version import __version__
from livseg.datasets import Case, load_dataset
from livseg.datasets.fetch import cache_root
from livseg.errors import DatasetError, UnknownNameError
from livseg.inference import load_bundle, resolve_fusion_weights, resolve_model
from livseg.inference.segmenter import check_device
from livseg.io.atomic import split_suffix
from livseg.tuning.cache import CacheStats, cached_cases, model_file, sha256_of_path
from livseg.tuning.objective import Objective
from livseg.tuning.output import (score_summary, tuned_inference_mapping, write_table, write_tuned_bundle,
                                  write_tuned_settings)
from livseg.tuning.search import SearchResult, TrialResult, search
from livseg.tuning.space import SearchSpace, TrialParams, default_space, load_space
from livseg.tuning.trial import Refinement

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = "tuned-crf.yaml"
CACHE_SUBDIR = "crf-cache"


def default_cache_dir() -> Path:
    """``<livseg cache>/crf-cache`` ($LIVSEG_CACHE_DIR, else the platform's user cache folder)."""
    return cache_root() / CACHE_SUBDIR


def select_cases(cases: Sequence[Case], selection: str | None, *, where: str) -> list[Case]:
    """The labelled cases to tune on: all (None), the first N ("3"), or by id ("a,b").

    Raises:
        DatasetError: no labelled case, an id without a label, or N < 1.
        UnknownNameError: an id that is not in the data set.
    """
    labelled = [c for c in cases if c.has_label]
    if selection is None or not str(selection).strip():
        chosen = labelled
    elif str(selection).strip().isdigit():
        count = int(str(selection).strip())
        if count < 1:
            raise DatasetError(where, expected="--cases N with N >= 1", found=str(selection))
        chosen = labelled[:count]
    else:
        by_id = {c.case_id: c for c in cases}
        chosen = []
        for case_id in (part.strip() for part in str(selection).split(",") if part.strip()):
            if case_id not in by_id:
                shown = ", ".join(list(by_id)[:20])
                raise UnknownNameError(case_id, expected=f"a case of {where} ({shown})", found="no such case")
            if not by_id[case_id].has_label:
                raise DatasetError(case_id, expected="a reference label to tune on", found="none",
                                   fix="pick labelled cases")
            chosen.append(by_id[case_id])
    if not chosen:
        raise DatasetError(where, expected="at least one case with a reference label", found="none",
                           fix="tune-crf measures each trial against the reference labels")
    return chosen


@dataclass
class TuneOutcome:
    """What :func:`tune_crf` did and wrote.

    Attributes:
        result: the table and the best row.
        cache: which cases ran the network and which were read from the cache.
        settings_path, csv_path, json_path: the files written; ``bundle_path`` when asked.
        summary: best, no-CRF and default means and the gains.
        cache_seconds, search_seconds: wall time of the two phases.
        extra_measures: the other measures shown in the table.
    """

    result: SearchResult
    cache: CacheStats
    settings_path: Path
    csv_path: Path
    json_path: Path
    bundle_path: Path | None
    summary: dict[str, Any]
    cache_seconds: float
    search_seconds: float
    extra_measures: tuple[str, ...]


def table_paths(settings_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``NAME-trials.csv`` and ``NAME-trials.json`` beside ``NAME.yaml``."""
    settings_path = Path(settings_path)
    stem, _ = split_suffix(settings_path)
    return settings_path.with_name(f"{stem}-trials.csv"), settings_path.with_name(f"{stem}-trials.json")


def tune_crf(model: str | os.PathLike[str], data: str | os.PathLike[str], *, layout: str = "auto",
             cases: str | None = None, grid: str | os.PathLike[str] | None = None, method: str = "grid",
             trials: int | None = None, seed: int = 0, metrics: Sequence[str] = ("sliver07_score",),
             structure: str = "liver", mode: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
             output: str | os.PathLike[str] = DEFAULT_OUTPUT, device: str = "cpu", postprocess: bool = True,
             bundle_out: str | os.PathLike[str] | None = None, command: str | None = None,
             on_case: Callable[[str, bool], None] | None = None,
             on_trial: Callable[[TrialResult], None] | None = None) -> TuneOutcome:
    """Tune the CRF and fusion weights of ``model`` on the labelled cases of ``data``.

    Args:
        model: packaged model name, checkpoint, bundle or run folder (as ``livseg predict``).
        data: a data-set folder (any layout ``livseg.datasets`` knows); ``layout`` as there.
        cases: "N" (the first N labelled cases) or "id,id"; None: every labelled case.
        grid: a grid YAML file (:mod:`livseg.tuning.space`); None: the default grid.
        method, trials, seed: the search (:mod:`livseg.tuning.search`).
        metrics: the measure to optimise, then further measures shown in the table.
        structure: "liver" or "tumour".
        mode: "2d" or "3d" CRF; None: the model's setting.
        cache_dir: where the probabilities are cached (None: :func:`default_cache_dir`).
        output: the tuned settings YAML; the table goes beside it (:func:`table_paths`).
        device: where the network and the CRF run.
        postprocess: apply the model's post-processing before measuring (as the predictor).
        bundle_out: also save the model with the tuned settings as a new bundle here.
        command: the command line, recorded in the outputs.
    """
    if not metrics:
        metrics = ("sliver07_score",)
    objective = Objective(metrics[0], structure)
    extra = tuple(dict.fromkeys(m for m in metrics[1:] if m != objective.measure))
    for measure in extra:
        Objective(measure, structure)  # refuse unknown names before any work
    torch_device = check_device(device)
    name, path = resolve_model(model)
    bundle = load_bundle(path, name=name)
    model_sha256 = sha256_of_path(model_file(path))
    num_outputs = 1 + bundle.num_branches
    crf_settings = bundle.settings.crf
    space: SearchSpace = (default_space(num_outputs, crf_settings.params) if grid is None
                          else load_space(grid, num_outputs=num_outputs, base=crf_settings.params))
    dataset = load_dataset(data, layout)
    chosen = select_cases(dataset.cases, cases, where=str(data))
    cache_folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    refinement = Refinement(mode=mode or crf_settings.mode, device=str(torch_device),
                            postprocess=bundle.settings.postprocess if postprocess else None,
                            liver_rule=bundle.settings.postprocess)

    started = time.perf_counter()
    cached, stats = cached_cases(bundle, chosen, model_sha256=model_sha256, cache_dir=cache_folder,
                                 device=torch_device, on_case=on_case)
    cache_seconds = time.perf_counter() - started
    logger.info("cache: %d cases computed, %d reused (%.1f s)", len(stats.computed), len(stats.reused), cache_seconds)

    model_tau = resolve_fusion_weights(bundle.settings.fusion_weights, bundle.num_branches)
    started = time.perf_counter()
    result = search(cached, space, reference=TrialParams(None, model_tau),
                    default=TrialParams(crf_settings.params, model_tau), objective=objective,
                    refinement=refinement, method=method, trials=trials, seed=seed, on_trial=on_trial)
    search_seconds = time.perf_counter() - started

    summary = score_summary(result)
    csv_path, json_path = table_paths(output)
    provenance = {
        "model": str(path), "model_name": name, "model_sha256": model_sha256,
        "data": str(data), "layout": dataset.layout, "cases": result.case_ids,
        "metric": objective.measure, "structure": objective.structure, "direction": objective.direction,
        "extra_measures": list(extra), "search": method, "trials": len(result.rows) - 2,
        "grid_size": space.grid_size, "seed": None if method == "grid" else seed,
        "mode": refinement.mode, "postprocess": postprocess, "device": str(torch_device),
        **summary,
        "cache_seconds": cache_seconds, "search_seconds": search_seconds,
        "table_csv": str(csv_path), "table_json": str(json_path),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "livseg_version": __version__, "torch_version": str(torch.__version__),
        "command": command,
    }
    write_table(result, csv_path, json_path, extra, provenance)
    inference = tuned_inference_mapping(result.best, mode=refinement.mode, margin_mm=crf_settings.margin_mm)
    settings_path = write_tuned_settings(output, inference, provenance)
    bundle_path = None
    if bundle_out is not None:
        bundle_path = write_tuned_bundle(bundle, settings_path, bundle_out)
    return TuneOutcome(result=result, cache=stats, settings_path=settings_path, csv_path=csv_path,
                       json_path=json_path, bundle_path=bundle_path, summary=summary, cache_seconds=cache_seconds,
                       search_seconds=search_seconds, extra_measures=extra)
