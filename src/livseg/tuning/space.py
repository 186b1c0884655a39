"""The parameters a CRF trial sets, and the space the search draws them from.

Tuned (Dou et al. 2016, eq. 4 and 5): the CRF's ``mu1``, ``mu2``, ``theta_alpha_mm``,
``theta_beta_hu``, ``theta_gamma_mm`` and the branch-fusion weights tau_d (main output first,
then the deep-supervision branches; normalised to sum 1). ``iterations`` and ``hu_window`` are
taken from the model's settings unless the grid file fixes them.

Grid file (YAML; every key optional, a missing one keeps the default grid's values)::

    crf:
      mu1: [2, 5, 10]             # a list of values, or one value
      mu2: [1, 3]
      theta_alpha_mm: [5, 10, 20]
      theta_beta_hu: [10, 20, 40]
      theta_gamma_mm: 3
      iterations: 5               # fixed, not searched
      hu_window: [-200, 300]      # fixed, not searched (null: raw HU)
    fusion_weights:               # tau_d vectors, main output first
      - [1, 0, 0]
      - [0.6, 0.2, 0.2]

The exhaustive grid is the product of the lists in a fixed order (fusion weights outermost, so
trials sharing tau_d are consecutive). The random search draws each CRF parameter from the
range [min, max] of its list (mu uniformly, kernel widths log-uniformly) and tau_d uniformly on
the simplex (Dirichlet(1, ..., 1)) when more than one vector is listed, from a
``numpy.random.default_rng(seed)`` stream: the same seed gives the same trials.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from livseg.crf import CrfParams
from livseg.errors import ConfigError, InputNotFoundError, UnreadableInputError
from livseg.inference.settings import check_fusion_weights
from livseg.schema import build

#: The CRF parameters a search varies, in table order.
TUNED_CRF_PARAMS: tuple[str, ...] = ("mu1", "mu2", "theta_alpha_mm", "theta_beta_hu", "theta_gamma_mm")
#: Kernel widths are searched on a log scale (a width matters by ratio), weights linearly.
LOG_SCALE = frozenset({"theta_alpha_mm", "theta_beta_hu", "theta_gamma_mm"})
#: The default grid: around CrfParams' reasoned defaults (see livseg.crf.params), 108 CRF
#: settings per fusion vector (theta_gamma too: the paper tunes every CRF parameter).
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "mu1": (2.0, 5.0, 10.0),
    "mu2": (1.0, 3.0),
    "theta_alpha_mm": (5.0, 10.0, 20.0),
    "theta_beta_hu": (10.0, 20.0, 40.0),
    "theta_gamma_mm": (1.5, 3.0),
}


def default_fusion_vectors(num_outputs: int) -> tuple[tuple[float, ...], ...]:
    """tau_d candidates of the default grid: the main output alone, then (with branches) the
    main output at 0.6 with the rest shared equally, then all outputs equal."""
    main_alone = (1.0,) + (0.0,) * (num_outputs - 1)
    if num_outputs == 1:
        return (main_alone,)
    rest = 0.4 / (num_outputs - 1)
    return (main_alone, (0.6,) + (rest,) * (num_outputs - 1), (1.0 / num_outputs,) * num_outputs)


@dataclass(frozen=True)
class TrialParams:
    """One setting of the refinement stage.

    Attributes:
        crf: the CRF's parameters, or None for no CRF (the fused probabilities' argmax).
        fusion_weights: tau_d, main output first, summing to 1.
    """

    crf: CrfParams | None
    fusion_weights: tuple[float, ...]

    def row(self) -> dict[str, Any]:
        """Table cells: ``crf`` (on/off), the five tuned values (None without CRF), ``tau``."""
        cells: dict[str, Any] = {"crf": "on" if self.crf is not None else "off"}
        for name in TUNED_CRF_PARAMS:
            cells[name] = None if self.crf is None else float(getattr(self.crf, name))
        cells["tau"] = "/".join(f"{w:.3g}" for w in self.fusion_weights)
        return cells


@dataclass(frozen=True)
class SearchSpace:
    """Values of each tuned CRF parameter, tau_d candidates, and the fixed CRF fields.

    Attributes:
        values: for each name of :data:`TUNED_CRF_PARAMS`, its candidate values.
        fusion_weights: tau_d candidates, each normalised to sum 1, of length ``num_outputs``.
        base: the CRF parameters whose other fields (iterations, hu_window) every trial keeps.
    """

    values: Mapping[str, tuple[float, ...]]
    fusion_weights: tuple[tuple[float, ...], ...]
    base: CrfParams

    @property
    def num_outputs(self) -> int:
        return len(self.fusion_weights[0])

    @property
    def grid_size(self) -> int:
        return len(self.fusion_weights) * math.prod(len(self.values[name]) for name in TUNED_CRF_PARAMS)

    def grid(self) -> list[TrialParams]:
        """Every combination: tau_d outermost, then mu1, mu2, theta_alpha, theta_beta, theta_gamma."""
        combos = itertools.product(*(self.values[name] for name in TUNED_CRF_PARAMS))
        crf_settings = [dataclasses.replace(self.base, **dict(zip(TUNED_CRF_PARAMS, combo))) for combo in combos]
        return [TrialParams(crf, tau) for tau in self.fusion_weights for crf in crf_settings]

    def sample(self, n: int, seed: int) -> list[TrialParams]:
        """``n`` random settings (see the module docstring), deterministic for ``seed``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError("--trials", expected="a positive number of trials", found=repr(n))
        rng = np.random.default_rng(seed)
        trials = []
        for _ in range(n):
            changes = {}
            for name in TUNED_CRF_PARAMS:
                low, high = min(self.values[name]), max(self.values[name])
                if low == high:
                    changes[name] = float(low)
                elif name in LOG_SCALE:
                    changes[name] = float(math.exp(rng.uniform(math.log(low), math.log(high))))
                else:
                    changes[name] = float(rng.uniform(low, high))
            if len(self.fusion_weights) > 1:
                tau = tuple(float(w) for w in rng.dirichlet(np.ones(self.num_outputs)))
            else:
                tau = self.fusion_weights[0]
            trials.append(TrialParams(dataclasses.replace(self.base, **changes), check_fusion_weights(tau)))
        return trials


def default_space(num_outputs: int, base: CrfParams | None = None) -> SearchSpace:
    """The default grid (:data:`DEFAULT_GRID`, :func:`default_fusion_vectors`)."""
    return SearchSpace(values=dict(DEFAULT_GRID), fusion_weights=default_fusion_vectors(num_outputs),
                       base=base or CrfParams())


@dataclass(frozen=True)
class CrfGrid:
    """The grid file's ``crf`` section: each tuned parameter's candidates (one value or a list;
    missing: the default grid's), and the fixed CrfParams fields (missing: the model's).

    The nesting is CrfParams' own: each key is a CrfParams field.
    """

    mu1: float | tuple[float, ...] = DEFAULT_GRID["mu1"]
    mu2: float | tuple[float, ...] = DEFAULT_GRID["mu2"]
    theta_alpha_mm: float | tuple[float, ...] = DEFAULT_GRID["theta_alpha_mm"]
    theta_beta_hu: float | tuple[float, ...] = DEFAULT_GRID["theta_beta_hu"]
    theta_gamma_mm: float | tuple[float, ...] = DEFAULT_GRID["theta_gamma_mm"]
    iterations: int = CrfParams.iterations
    hu_window: tuple[float, float] | None = CrfParams.hu_window


@dataclass(frozen=True)
class GridFile:
    """A grid file (the module docstring): the ``crf`` section and the tau_d candidates
    (None: :func:`default_fusion_vectors`)."""

    crf: CrfGrid = field(default_factory=CrfGrid)
    fusion_weights: tuple[tuple[float, ...], ...] | None = None


def _candidates(name: str, raw: float | tuple[float, ...], where: str) -> tuple[float, ...]:
    """The candidate values of one tuned parameter: finite, at least one, duplicates removed."""
    values = raw if isinstance(raw, tuple) else (raw,)
    if not values:
        raise ConfigError(where, detail=f"crf.{name}", expected="at least one value", found="an empty list")
    for value in values:
        if not math.isfinite(value):
            raise ConfigError(where, detail=f"crf.{name}", expected="finite numbers", found=repr(value))
    return tuple(dict.fromkeys(values))  # order kept


def space_from_mapping(mapping: Any, *, num_outputs: int, base: CrfParams, where: str = "grid") -> SearchSpace:
    """A SearchSpace from a grid mapping (the YAML file's contents); missing keys keep defaults.

    Raises:
        ConfigError: unknown keys, non-numbers, values CrfParams refuses (e.g. a width <= 0),
            or tau_d vectors of the wrong length.
    """
    mapping = {} if mapping is None else mapping
    if isinstance(mapping, Mapping) and mapping.get("crf", {}) is None:
        mapping = {k: v for k, v in mapping.items() if k != "crf"}  # "crf:" with nothing under it
    defaults = GridFile(crf=CrfGrid(iterations=base.iterations, hu_window=base.hu_window))
    grid = build(GridFile, mapping, source=where, defaults=defaults)
    try:
        base = dataclasses.replace(base, iterations=grid.crf.iterations, hu_window=grid.crf.hu_window)
    except ConfigError as exc:
        raise ConfigError(where, detail=str(exc), expected=None) from None
    values = {name: _candidates(name, getattr(grid.crf, name), where) for name in TUNED_CRF_PARAMS}
    for name, candidates in values.items():
        for value in (min(candidates), max(candidates)):
            try:
                dataclasses.replace(base, **{name: value})
            except ConfigError as exc:
                raise ConfigError(where, detail=str(exc)) from None
    if grid.fusion_weights is None:
        return SearchSpace(values=values, fusion_weights=default_fusion_vectors(num_outputs), base=base)
    if not grid.fusion_weights:
        raise ConfigError(where, detail="fusion_weights", expected="a list of tau_d vectors, e.g. [[1, 0, 0]]",
                          found="an empty list")
    fusion = []
    for vector in grid.fusion_weights:
        if len(vector) != num_outputs:
            raise ConfigError(where, detail="fusion_weights",
                              expected=f"{num_outputs} weights per vector (main output, then "
                                       f"{num_outputs - 1} branches)", found=f"{list(vector)}")
        fusion.append(check_fusion_weights(vector))
    return SearchSpace(values=values, fusion_weights=tuple(dict.fromkeys(fusion)), base=base)


def load_space(path: str | os.PathLike[str], *, num_outputs: int, base: CrfParams) -> SearchSpace:
    """A SearchSpace from a grid YAML file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(path, expected="a grid YAML file", found="nothing at that path")
    try:
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UnreadableInputError(path, expected="a YAML grid file",
                                   found=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    return space_from_mapping(mapping, num_outputs=num_outputs, base=base, where=str(path))


def fixed_trial(crf: CrfParams | None, fusion_weights: Sequence[float]) -> TrialParams:
    """A TrialParams with checked, normalised fusion weights."""
    return TrialParams(crf, check_fusion_weights(fusion_weights))
