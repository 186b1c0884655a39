"""Running the trials: exhaustive grid, random search, or successive halving; the best row.

Every search first evaluates two reference rows on all cases, so the gain is visible:

* ``no-crf``: the model's own fusion weights, no CRF (the fused probabilities' argmax, then
  post-processing), what ``livseg predict --no-crf`` gives;
* ``default``: the model's own fusion weights and CRF parameters, what ``livseg predict`` gives.

Searches (trials numbered from 1, in the order they are run):

* ``grid``: every combination of :class:`~livseg.tuning.space.SearchSpace` on every case;
* ``random``: ``trials`` settings drawn by :meth:`SearchSpace.sample` (seeded) on every case;
* ``halving``: successive halving (Jamieson & Talwalkar 2016) over cases: the ``trials``
  drawn settings are run on the first ``ceil(n / eta^R)`` cases, the best ``1/eta`` of them
  (rounded up) go on to ``eta`` times as many cases, and so on until the survivors have seen
  every case; ``eta = 3`` and ``R = min(floor(log_eta(cases)), floor(log_eta(trials)))``
  extra rungs (none when either is below ``eta``: that is the random search). Each trial's row
  shows the cases it saw. Cost: 27 settings on 9 cases take 27 x 1 + 9 x 3 + 3 x 9 = 81
  case-trials instead of the random search's 243, at the price of judging early on few cases.

The best row is the best mean among the rows evaluated on every case (the references
included; ties go to the earlier row), so a tuned result is never worse on these cases than
what the model already does.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from livseg.errors import ConfigError
from livseg.metrics import StructureMetrics
from livseg.tuning.cache import CachedCase
from livseg.tuning.names import SEARCHES
from livseg.tuning.objective import Objective
from livseg.tuning.space import SearchSpace, TrialParams
from livseg.tuning.trial import Refinement, UnaryMemo, run_trial_case

logger = logging.getLogger(__name__)

HALVING_ETA = 3


@dataclass
class TrialResult:
    """One row of the table.

    Attributes:
        trial_id: "no-crf", "default", or the trial number "1", "2", ...
        params: the setting.
        per_case: case id -> the objective's value (None: undefined) for each case run.
        measures: case id -> every measure of the structure (``StructureMetrics``).
        seconds: time of fusion + CRF + post-processing + metrics, all cases run, s.
    """

    trial_id: str
    params: TrialParams
    per_case: dict[str, float | None] = field(default_factory=dict)
    measures: dict[str, StructureMetrics] = field(default_factory=dict)
    seconds: float = 0.0

    def mean(self, objective: Objective) -> float | None:
        return objective.mean(list(self.per_case.values()))

    def mean_of(self, measure: str, objective: Objective) -> float | None:
        """Mean over the cases run of another measure (absolute for signed ones)."""
        other = Objective(measure, objective.structure)
        return other.mean([other.value(m) for m in self.measures.values()])


@dataclass
class SearchResult:
    """Every row, the best one, and how they were found.

    Attributes:
        rows: the references first, then the trials in the order run.
        best: the best row among those run on every case.
        objective: what was optimised.
        case_ids: the cases, in order.
        search: "grid", "random" or "halving"; ``seed`` for the last two; ``space_size`` is
            the grid's size (the number of trials for grid search).
    """

    rows: list[TrialResult]
    best: TrialResult
    objective: Objective
    case_ids: list[str]
    search: str
    seed: int | None
    space_size: int

    def row(self, trial_id: str) -> TrialResult:
        return next(r for r in self.rows if r.trial_id == trial_id)

    def complete(self, row: TrialResult) -> bool:
        return len(row.per_case) == len(self.case_ids)


class Runner:
    """Evaluates settings on cached cases (memoising the unary per tau_d)."""

    def __init__(self, cases: Sequence[CachedCase], objective: Objective, refinement: Refinement,
                 on_trial: Callable[[TrialResult], None] | None = None) -> None:
        if not cases:
            raise ConfigError("tune-crf cases", expected="at least one labelled case", found="none")
        self.cases = list(cases)
        self.objective = objective
        self.refinement = refinement
        # One unary per case: the grid runs tau_d in its outer loop, so every trial of a tau_d
        # finds its cases' unaries here (memory: 4 C bytes per ROI voxel of every case).
        self.memo = UnaryMemo(size=len(self.cases))
        self.on_trial = on_trial

    def run(self, row: TrialResult, cases: Sequence[CachedCase] | None = None) -> TrialResult:
        """Evaluate ``row.params`` on ``cases`` (default: all) not run yet; returns ``row``."""
        started = time.perf_counter()
        for cached in self.cases if cases is None else cases:
            if cached.case_id in row.per_case:
                continue
            metrics = run_trial_case(cached, row.params, self.refinement, self.objective.structure, self.memo)
            row.measures[cached.case_id] = metrics
            row.per_case[cached.case_id] = self.objective.value(metrics)
        row.seconds += time.perf_counter() - started
        return row

    def finish(self, row: TrialResult) -> TrialResult:
        mean = row.mean(self.objective)
        logger.info("trial %s (%s): mean %s %s on %d cases (%.2f s)", row.trial_id, row.params.row(),
                    self.objective.measure, "undefined" if mean is None else f"{mean:.4f}", len(row.per_case),
                    row.seconds)
        if self.on_trial is not None:
            self.on_trial(row)
        return row


def _best(rows: Sequence[TrialResult], objective: Objective, n_cases: int) -> TrialResult:
    complete = [(objective.sort_key(r.mean(objective)), i, r) for i, r in enumerate(rows) if len(r.per_case) == n_cases]
    return min(complete, key=lambda item: (item[0], item[1]))[2]


def halving_rungs(n_cases: int, n_trials: int, eta: int = HALVING_ETA) -> list[tuple[int, int]]:
    """(cases, trials kept) per rung of successive halving; the last rung uses every case."""
    levels = 0
    while eta ** (levels + 1) <= n_cases and eta ** (levels + 1) <= n_trials:
        levels += 1
    rungs = []
    kept = n_trials
    for r in range(levels + 1):
        cases = n_cases if r == levels else math.ceil(n_cases / eta ** (levels - r))
        rungs.append((cases, kept))
        kept = math.ceil(kept / eta)
    return rungs


def search(cases: Sequence[CachedCase], space: SearchSpace, *, reference: TrialParams, default: TrialParams,
           objective: Objective = Objective(), refinement: Refinement = Refinement(), method: str = "grid",
           trials: int | None = None, seed: int = 0,
           on_trial: Callable[[TrialResult], None] | None = None) -> SearchResult:
    """Run the reference rows and the search; see the module docstring.

    Args:
        cases: cached cases (at least one).
        space: what to search.
        reference: the no-CRF setting (the model's fusion weights, ``crf=None``).
        default: the model's own setting.
        method: "grid", "random" or "halving".
        trials: number of drawn settings (random and halving; required there, refused for grid).
        seed: random stream of the drawn settings.
        on_trial: called with each row once it is final.
    """
    if method not in SEARCHES:
        raise ConfigError("--search", expected=f"one of {', '.join(SEARCHES)}", found=repr(method))
    if method == "grid" and trials is not None:
        raise ConfigError("--trials", expected="no trial budget with the exhaustive grid",
                          found=str(trials), fix="use --search random or --search halving with --trials")
    if method != "grid" and trials is None:
        raise ConfigError(f"--search {method}", expected="a trial budget", found="none", fix="add --trials N")
    runner = Runner(cases, objective, refinement, on_trial)
    rows = [runner.finish(runner.run(TrialResult("no-crf", reference))),
            runner.finish(runner.run(TrialResult("default", default)))]
    settings = space.grid() if method == "grid" else space.sample(int(trials), seed)  # type: ignore[arg-type]
    trial_rows = [TrialResult(str(i + 1), params) for i, params in enumerate(settings)]
    if method == "halving":
        alive = trial_rows
        rungs = halving_rungs(len(runner.cases), len(trial_rows))
        for index, (n_cases, _) in enumerate(rungs):
            subset = runner.cases[:n_cases]
            for row in alive:
                runner.run(row, subset)
            last = index == len(rungs) - 1
            ranked = sorted(alive, key=lambda r: (objective.sort_key(r.mean(objective)), int(r.trial_id)))
            survivors = ranked if last else ranked[:rungs[index + 1][1]]
            kept = {id(row) for row in survivors}
            for row in ranked:
                if last or id(row) not in kept:
                    runner.finish(row)
            logger.info("halving rung %d: %d settings on %d cases", index, len(alive), n_cases)
            alive = survivors
    else:
        for row in trial_rows:
            runner.finish(runner.run(row))
    rows.extend(trial_rows)
    best = _best(rows, objective, len(runner.cases))
    return SearchResult(rows=rows, best=best, objective=objective, case_ids=[c.case_id for c in runner.cases],
                        search=method, seed=None if method == "grid" else seed, space_size=space.grid_size)
