"""One case through the predict pipeline (read -> ``Segmenter.predict`` -> write), and the local
loop over many cases. Every engine (today the local loop) calls :func:`predict_case`, so a case
is segmented the same way whichever engine runs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from livseg.batch.inputs import InputCase, OutputPlan, require_dicom_input
from livseg.errors import LivsegError
from livseg.inference import Segmenter, StageTimer
from livseg.io import write_like

logger = logging.getLogger(__name__)


@dataclass
class CaseResult:
    """What happened to one case.

    Attributes:
        case_id: the case.
        ok: written without error.
        seconds: seconds per stage (read, preprocess, network, ..., write).
        liver_ml: liver volume (labels 1 and 2) in mL; None when the case failed.
        tumour_ml: tumour volume (label 2) in mL; None when the case failed.
        output: the label file written.
        error: the one-line error of a failed case.
        exit_code: the error's exit code (0 when ok).
        internal: the error is not one of livseg's own (a bug to report, with --debug's traceback).
    """

    case_id: str
    ok: bool
    seconds: dict[str, float] = field(default_factory=dict)
    liver_ml: float | None = None
    tumour_ml: float | None = None
    output: Path | None = None
    error: str | None = None
    exit_code: int = 0
    internal: bool = False


def predict_case(segmenter: Segmenter, case: InputCase, plan: OutputPlan, *, save_probabilities: bool = False,
                 series_uid: str | None = None, spacing_mm: Sequence[float] | None = None) -> CaseResult:
    """Read ``case``, segment it, and write its labels (and probabilities) where ``plan`` says.

    Args:
        series_uid, spacing_mm: how to read the case (see :meth:`InputCase.read`).

    Raises:
        LivsegError: the case cannot be read, segmented or written (nothing is left half-written).
    """
    require_dicom_input(case, plan.output_format)
    timer = StageTimer()
    with timer("read"):
        volume = case.read(series_uid=series_uid, spacing_mm=spacing_mm)
    prediction = segmenter.predict(volume, probabilities=save_probabilities)
    timer.merge(prediction.timings)
    out = plan.labels_path(case.case_id)
    with timer("write"):
        if plan.output_format == "dicom-seg":
            from livseg.io.dicom_seg import write_dicom_seg

            write_dicom_seg(prediction.labels, volume, out)
        else:
            write_like(prediction.labels.array, volume, out, kind="label")
        for name, probability in (prediction.probabilities or {}).items():
            write_like(probability.array, volume, plan.probability_path(case.case_id, name), kind="any")
    voxel_ml = volume.geometry.voxel_volume_mm3 / 1000.0
    counts = np.bincount(prediction.labels.array.ravel(), minlength=3)
    return CaseResult(case.case_id, True, seconds=dict(timer.seconds), liver_ml=float(counts[1] + counts[2]) * voxel_ml,
                      tumour_ml=float(counts[2]) * voxel_ml, output=out)


def failed_case(case: InputCase, exc: BaseException) -> CaseResult:
    """The record of a case that raised ``exc`` (a LivsegError's own message, else the type and text)."""
    if isinstance(exc, LivsegError):
        return CaseResult(case.case_id, False, error=str(exc), exit_code=exc.exit_code)
    message = " ".join(str(exc).split()) or type(exc).__name__
    return CaseResult(case.case_id, False, error=f"{type(exc).__name__}: {message}", exit_code=1,
                      internal=True)


def run_local(segmenter: Segmenter, cases: Sequence[InputCase], plan: OutputPlan, *, save_probabilities: bool = False,
              series_uid: str | None = None, spacing_mm: Sequence[float] | None = None, keep_going: bool = True,
              on_result: Callable[[InputCase, CaseResult], None] | None = None) -> list[CaseResult]:
    """Every case in this process, in order.

    Args:
        save_probabilities, series_uid, spacing_mm: as for :func:`predict_case`.
        keep_going: a failing case is recorded and the others go on; False re-raises its error.
        on_result: called after each case (progress, messages).

    Returns:
        One result per case, in the order of ``cases``.
    """
    results = []
    for case in cases:
        try:
            result = predict_case(segmenter, case, plan, save_probabilities=save_probabilities,
                                  series_uid=series_uid, spacing_mm=spacing_mm)
        except Exception as exc:  # one broken case must not stop the batch
            if not keep_going:
                raise
            logger.debug("case %s failed", case.case_id, exc_info=True)
            result = failed_case(case, exc)
        results.append(result)
        if on_result is not None:
            on_result(case, result)
    return results
