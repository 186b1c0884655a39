"""What a CRF trial is judged by: one measure of one structure, maximised or minimised.

Measures are those of :data:`livseg.metrics.STRUCTURE_MEASURES` (``sliver07_score``, ``dice``,
``assd_mm``, ...). Scores and overlaps are maximised; errors and distances are minimised;
``rvd_pct`` (signed) is judged by its absolute value. A trial's value is the mean over cases;
a case whose measure is undefined (one mask empty, see ``livseg.metrics.case``) makes the
trial's mean undefined (None), which ranks below every defined value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from livseg.errors import UnknownNameError
from livseg.metrics.names import STRUCTURE_MEASURES, STRUCTURES

if TYPE_CHECKING:
    from livseg.metrics.case import StructureMetrics

#: Measures where larger is better; every other measure is minimised.
MAXIMISED = frozenset({"dice", "jaccard", "surface_dice", "sliver07_score", "sliver07_voe", "sliver07_rvd",
                       "sliver07_assd", "sliver07_rmssd", "sliver07_mssd"})
#: Signed measures judged by their magnitude.
ABSOLUTE = frozenset({"rvd_pct"})
#: Measures that only count voxels or volumes and cannot be optimised meaningfully.
NOT_OBJECTIVES = frozenset({"reference_volume_ml", "prediction_volume_ml"})
TUNABLE_MEASURES: tuple[str, ...] = tuple(m for m in STRUCTURE_MEASURES if m not in NOT_OBJECTIVES)
DEFAULT_MEASURE = "sliver07_score"
DEFAULT_STRUCTURE = "liver"


@dataclass(frozen=True)
class Objective:
    """A measure of a structure and the direction that is better.

    Attributes:
        measure: a name of :data:`TUNABLE_MEASURES`.
        structure: "liver" (labels 1 and 2) or "tumour" (label 2).
    """

    measure: str = DEFAULT_MEASURE
    structure: str = DEFAULT_STRUCTURE

    def __post_init__(self) -> None:
        if self.measure not in TUNABLE_MEASURES:
            raise UnknownNameError(self.measure, expected="a measure among " + ", ".join(TUNABLE_MEASURES),
                                   found="an unknown measure")
        if self.structure not in STRUCTURES:
            raise UnknownNameError(self.structure, expected=f"a structure among {', '.join(STRUCTURES)}",
                                   found="an unknown structure")

    @property
    def maximise(self) -> bool:
        return self.measure in MAXIMISED

    @property
    def direction(self) -> str:
        return "maximise" if self.maximise else "minimise"

    def value(self, metrics: StructureMetrics) -> float | None:
        """The case's value of the measure (absolute for signed ones); None when undefined."""
        value = metrics.value(self.measure)
        if value is None:
            return None
        value = float(value)
        return abs(value) if self.measure in ABSOLUTE else value

    def mean(self, values: Sequence[float | None]) -> float | None:
        """Mean over cases; None when any case is undefined or there is none."""
        if not values or any(v is None for v in values):
            return None
        return math.fsum(values) / len(values)  # type: ignore[arg-type]

    def sort_key(self, value: float | None) -> float:
        """Smaller is better: use as ``sorted(..., key=...)``; undefined values come last."""
        if value is None:
            return math.inf
        return -value if self.maximise else value

    def better(self, a: float | None, b: float | None) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return self.sort_key(a) < self.sort_key(b)
