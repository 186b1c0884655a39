"""CRF and branch-fusion tuning on labelled cases (``livseg tune-crf``; Dou et al. 2016 chose
mu1, mu2, theta_alpha, theta_beta, theta_gamma and tau_d by grid search on training cases).

The network runs once per case; its main and branch probabilities are cached (cropped to the
region that matters, float16, keyed by model checksum, case and settings), so each trial
costs only fusion + CRF + post-processing + metrics, through the predictor's own functions.

Public API::

    tune_crf(model, data, *, cases=None, grid=None, method="grid"|"random"|"halving", trials=None,
             seed=0, metrics=("sliver07_score",), mode=None, cache_dir=None, output="tuned-crf.yaml")
        -> TuneOutcome                      # table, best row, files written
    search(cached_cases, space, *, reference, default, objective, refinement, method, trials, seed)
    SearchSpace / default_space / load_space(grid.yaml) / TrialParams(crf, fusion_weights)
    Objective(measure="sliver07_score", structure="liver")
    cached_cases(bundle, cases, model_sha256=..., cache_dir=...) / CachedCase
    load_tuned_settings(path, bundle.settings) -> InferenceSettings
    apply_tuned_settings(bundle, path) -> ModelBundle       # what the predictor should run
    write_tuned_bundle(bundle, path, out.pt)                 # a bundle `livseg predict --model` reads

Modules: ``cache`` (network stage, cache files), ``space`` (parameters, grid file, sampling),
``trial`` (one setting on one case), ``objective`` (measure and direction), ``search`` (grid,
random, successive halving), ``output`` (table, tuned settings), ``tune`` (all of it).
"""

from __future__ import annotations

from livseg.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "livseg.inference.settings": ("apply_tuned_settings", "load_tuned_settings", "read_tuned_mapping"),
    "livseg.tuning.cache": ("CachedCase", "CacheStats", "cached_cases", "compute_cached_case", "load_cached_case"),
    "livseg.tuning.objective": ("Objective",),
    "livseg.tuning.output": ("write_tuned_bundle",),
    "livseg.tuning.search": ("SEARCHES", "SearchResult", "TrialResult", "search"),
    "livseg.tuning.space": ("SearchSpace", "TrialParams", "default_space", "load_space", "space_from_mapping"),
    "livseg.tuning.trial": ("Refinement", "predict_labels", "run_trial_case"),
    "livseg.tuning.tune": ("TuneOutcome", "default_cache_dir", "tune_crf"),
})


__all__ = [
    "CacheStats", "CachedCase", "Objective", "Refinement", "SEARCHES", "SearchResult", "SearchSpace",
    "TrialParams", "TrialResult", "TuneOutcome", "apply_tuned_settings", "cached_cases", "compute_cached_case",
    "default_cache_dir", "default_space", "load_cached_case", "load_space", "load_tuned_settings",
    "predict_labels", "read_tuned_mapping", "run_trial_case", "search", "space_from_mapping", "tune_crf",
    "write_tuned_bundle",
]
