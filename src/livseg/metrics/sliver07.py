"""SLiver07 scores: each error measure mapped to 0-100 against a human rater's typical error.

Source: T. Heimann, B. van Ginneken, M. Styner et al., "Comparison and evaluation of methods
for liver segmentation from CT datasets", IEEE Transactions on Medical Imaging 28(8):1251-1265,
2009, and the challenge's evaluation page
(http://mbi.dkfz-heidelberg.de/grand-challenge2007/sites/eval.htm): every measure is scaled to a
score from 0 to 100, a perfect segmentation scores 100, a result as good as an independent
human observer scores 75, the scale is linear and clipped at 0, and a case's score is the mean
of its five scores. Hence, for an error e and the human reference value h::

    score = max(0, 100 - 25 * e / h)

with |RVD| (the challenge scores the *absolute* relative volume difference).

The human reference values below are those of Heimann et al. 2009. Third-party code disagrees on
some of them (one open-source implementation uses VOE 4.7 %, VD 6.4 % and RMSD 1.7 mm), so they
are kept in this one table: correct them here if a primary source says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from livseg.errors import UnknownNameError

#: Human-rater reference error per measure (the value that scores 75 points).
HUMAN_REFERENCE: dict[str, float] = {
    "voe_pct": 6.4,    # volumetric overlap error, %
    "rvd_pct": 4.7,    # |relative volume difference|, %
    "assd_mm": 1.0,    # average symmetric surface distance (AvgD), mm
    "rmssd_mm": 1.8,   # RMS symmetric surface distance (RMSD), mm
    "mssd_mm": 19.0,   # maximum symmetric surface distance (MaxD), mm
}


def measure_score(measure: str, value: float | None) -> float:
    """Score (0-100) of one measure; ``None`` (undefined: one mask empty) scores 0."""
    if measure not in HUMAN_REFERENCE:
        raise UnknownNameError(measure, expected=f"one of {sorted(HUMAN_REFERENCE)}",
                               found="an unknown SLiver07 measure")
    if value is None:
        return 0.0
    return max(0.0, 100.0 - 25.0 * abs(float(value)) / HUMAN_REFERENCE[measure])


@dataclass(frozen=True)
class Sliver07Scores:
    """The five SLiver07 scores of a case (0-100 each) and their mean ``score``."""

    voe: float
    rvd: float
    assd: float
    rmssd: float
    mssd: float

    @property
    def score(self) -> float:
        return (self.voe + self.rvd + self.assd + self.rmssd + self.mssd) / 5.0

    def as_dict(self) -> dict:
        return {**asdict(self), "score": self.score}


def sliver07_scores(*, voe_pct: float | None, rvd_pct: float | None, assd_mm: float | None,
                    rmssd_mm: float | None, mssd_mm: float | None) -> Sliver07Scores:
    """SLiver07 scores of one case from its five error measures (None = undefined = 0 points)."""
    return Sliver07Scores(
        voe=measure_score("voe_pct", voe_pct),
        rvd=measure_score("rvd_pct", rvd_pct),
        assd=measure_score("assd_mm", assd_mm),
        rmssd=measure_score("rmssd_mm", rmssd_mm),
        mssd=measure_score("mssd_mm", mssd_mm),
    )
