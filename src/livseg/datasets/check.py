"""Validating cases: image readable, label present, label on the image grid, label values allowed."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from livseg.datasets.case import Case
from livseg.datasets.dataset import Dataset
from livseg.datasets.labels import label_counts
from livseg.datasets.reading import read_case_image, read_case_label
from livseg.errors import LivsegError

logger = logging.getLogger(__name__)

OK, FAILED = "ok", "FAILED"


@dataclass(frozen=True)
class CaseReport:
    """What checking one case found.

    Attributes:
        case_id: the case.
        status: "ok" or "FAILED".
        size: (x, y, z) voxels of the image, when readable.
        spacing_mm: (x, y, z) mm of the image, when readable.
        spacing_known: False when the spacing is a placeholder.
        orientation: three-letter code, e.g. "LPS".
        labels: livseg label name -> voxel count, when a label was read.
        message: the error (FAILED) or a note (unlabelled, spacing unknown).
    """

    case_id: str
    status: str
    size: tuple[int, int, int] | None = None
    spacing_mm: tuple[float, float, float] | None = None
    spacing_known: bool = True
    orientation: str | None = None
    labels: dict[str, int] = field(default_factory=dict)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_dict(self) -> dict:
        return asdict(self)


def check_case(case: Case, *, allow_unlabeled: bool = False) -> CaseReport:
    """Read the case's image and label and report; never raises for a bad case."""
    try:
        image = read_case_image(case)
    except LivsegError as exc:
        return CaseReport(case.case_id, FAILED, message=f"image: {exc}")
    facts = dict(size=image.geometry.size, spacing_mm=tuple(round(s, 6) for s in image.spacing_mm),
                 spacing_known=image.spacing_known, orientation=image.geometry.orientation)
    note = "" if facts["spacing_known"] else "spacing unknown (placeholder)"
    if case.label is None:
        if allow_unlabeled:
            return CaseReport(case.case_id, OK, message="; ".join(filter(None, ["no label", note])), **facts)
        return CaseReport(case.case_id, FAILED,
                          message="no label (pass --allow-unlabeled to accept unlabelled cases)", **facts)
    try:
        label = read_case_label(case, image=image)
    except LivsegError as exc:
        return CaseReport(case.case_id, FAILED, message=f"label: {exc}", **facts)
    return CaseReport(case.case_id, OK, labels=label_counts(label.array), message=note, **facts)


def check_dataset(dataset: Dataset, *, allow_unlabeled: bool = False) -> list[CaseReport]:
    """One report per case, then one FAILED report per listing problem (named by its case)."""
    reports = []
    for case in dataset.cases:
        logger.info("checking %s", case.case_id)
        reports.append(check_case(case, allow_unlabeled=allow_unlabeled))
    for problem in dataset.problems:
        subject, _, message = problem.partition(": ")
        reports.append(CaseReport(subject, FAILED, message=message or problem))
    return reports
