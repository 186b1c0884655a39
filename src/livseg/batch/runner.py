"""One case through the predict pipeline (read -> ``Segmenter.predict`` -> write), and the local
loop over many cases. Every engine (today the local loop) calls :func:`predict_case`, so a case
is segmented the same way whichever engine runs it.

Provenance: after the mask (and probabilities) of a case, :func:`predict_case` writes a JSON
sidecar beside it, ``<stem>.livseg.json`` (``case1.nii.gz`` -> ``case1.livseg.json``,
``seg.dcm`` -> ``seg.livseg.json``, ``case1.seg.nrrd`` and ``case1.rtstruct.dcm`` ->
``case1.livseg.json``; :func:`provenance_path`), atomically, so that a mask can be
traced as nnU-Net's plans beside its predictions allow::

    {"format": "livseg-prediction", "format_version": 1, "case_id": "case1",
     "input": "/abs/case1.nii.gz", "series_uid": null, "spacing_mm_given": null,
     "outputs": {"labels": "/abs/out/case1.nii.gz", "labels_sha256": "...", "format": "nii.gz",
                 "probabilities": {"liver": "/abs/out/case1_prob_liver.nii.gz"}},
     "structures": ["liver"],                      # ["liver", "tumour"] when a tumour model ran
     "volumes_ml": {"liver": 1510.2, "tumour": null},   # null: not assessed
     "qc": {"qc": "ok", "score": 0.45, "reasons": [], "signals": {...}},  # livseg.inference.quality
     "model": {"name", "task", "file", "sha256", "settings"}, "tumour_model": null or the same,
     "crf": true, "device": "cpu", "amp": true, "settings_file": null,
     "command": "livseg predict ...", "versions": {"python": ..., "livseg": ..., ...},
     "created": "2026-01-01T12:00:00+00:00"}

``labels_sha256`` binds the sidecar to the mask it describes: a reader (``livseg evaluate``)
ignores a sidecar whose checksum does not match the mask beside it (a mask replaced by hand,
or a write killed between the mask and its sidecar). ``structures`` is what ``livseg evaluate``
scores: a structure absent from it is reported as not assessed, never as a score.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from livseg.batch.inputs import InputCase, OutputPlan, output_stem, require_dicom_input
from livseg.errors import LivsegError, UnreadableInputError
from livseg.inference import Segmenter, StageTimer
from livseg.io import write_like
from livseg.io.checksums import sha256_of_path
from livseg.io.tables import write_json
from livseg.version import versions

#: The provenance sidecar's format tag, version and file-name ending.
PROVENANCE_FORMAT = "livseg-prediction"
PROVENANCE_FORMAT_VERSION = 1
PROVENANCE_SUFFIX = ".livseg.json"

logger = logging.getLogger(__name__)


@dataclass
class CaseResult:
    """What happened to one case.

    Attributes:
        case_id: the case.
        ok: written without error.
        seconds: seconds per stage (read, preprocess, network, ..., write).
        liver_ml: liver volume (labels 1 and 2) in mL; None when the case failed.
        tumour_ml: tumour volume (label 2) in mL; None when the case failed or no tumour model ran
            (not assessed, which is not 0 mL).
        output: the label file written.
        error: the one-line error of a failed case.
        exit_code: the error's exit code (0 when ok).
        internal: the error is not one of livseg's own (a bug to report, with --debug's traceback).
        skipped: not run again: its output was complete and made by the same model and settings.
        statistics: the case's statistics when asked for (``--statistics``), else None.
        qc: the case's quality check (:mod:`livseg.inference.quality`), None when it failed or
            was kept from an earlier run whose sidecar has none.
        attempts: how many times an engine started the case (more than 1 when a worker was lost).
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
    skipped: bool = False
    statistics: dict[str, Any] | None = None
    qc: dict[str, Any] | None = None
    attempts: int = 1

    @property
    def status(self) -> str:
        """"ok", "skipped" (a complete output of the same model and settings was there) or "failed"."""
        return "skipped" if self.skipped else "ok" if self.ok else "failed"


def provenance_path(labels_path: str | os.PathLike[str]) -> Path:
    """The provenance sidecar of a mask: ``case1.nii.gz`` (or ``case1.seg.nrrd``,
    ``case1.rtstruct.dcm``) -> ``case1.livseg.json`` beside it."""
    labels_path = Path(labels_path)
    return labels_path.with_name(output_stem(labels_path) + PROVENANCE_SUFFIX)


def statistics_path(labels_path: str | os.PathLike[str]) -> Path:
    """``case1.nii.gz`` -> ``case1.statistics.json`` beside it."""
    labels_path = Path(labels_path)
    return labels_path.with_name(output_stem(labels_path) + ".statistics.json")


def read_provenance(labels_path: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Any] | None:
    """The provenance sidecar written beside the mask ``labels_path``, or None.

    None when there is no sidecar, or (``verify``) when its ``labels_sha256`` is not the mask's
    (the sidecar then describes another mask; a warning says so).

    Raises:
        UnreadableInputError: a sidecar that is not livseg's provenance JSON.
    """
    side = provenance_path(labels_path)
    if not side.is_file():
        return None
    try:
        facts = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(side, expected="the provenance JSON livseg predict writes",
                                   found=" ".join(str(exc).split())) from exc
    if not isinstance(facts, dict) or facts.get("format") != PROVENANCE_FORMAT:
        raise UnreadableInputError(side, expected=f"a JSON object with format {PROVENANCE_FORMAT!r}",
                                   found=f"format {facts.get('format')!r}" if isinstance(facts, dict)
                                   else type(facts).__name__,
                                   fix="remove or rename the file; it is not a livseg prediction sidecar")
    recorded = (facts.get("outputs") or {}).get("labels_sha256")
    if verify and recorded is not None and Path(labels_path).is_file() and sha256_of_path(labels_path) != recorded:
        logger.warning("%s: describes another mask than %s (checksum differs); ignored", side, labels_path)
        return None
    return facts


def command_line() -> str:
    """This process's command line, quoted as a shell needs it."""
    return " ".join(shlex.quote(word) for word in sys.argv)


def write_provenance(segmenter: Segmenter, case: InputCase, plan: OutputPlan, labels_path: Path,
                     probability_paths: dict[str, Path], volumes_ml: dict[str, float | None], *,
                     series_uid: str | None = None, spacing_mm: Sequence[float] | None = None,
                     command: str | None = None, qc: dict[str, Any] | None = None) -> Path:
    """Write the provenance sidecar of one case's outputs (module docstring), atomically."""
    facts = segmenter.provenance()
    document = {
        "format": PROVENANCE_FORMAT,
        "format_version": PROVENANCE_FORMAT_VERSION,
        "case_id": case.case_id,
        "input": str(Path(case.path).resolve()),
        "series_uid": series_uid,
        "spacing_mm_given": None if spacing_mm is None else [float(v) for v in spacing_mm],
        "outputs": {"labels": str(labels_path.resolve()), "labels_sha256": sha256_of_path(labels_path),
                    "format": plan.output_format,
                    "probabilities": {name: str(path.resolve()) for name, path in probability_paths.items()}},
        "structures": facts["structures"],
        "volumes_ml": volumes_ml,
        "qc": qc,
        **{key: value for key, value in facts.items() if key != "structures"},
        "command": command if command is not None else command_line(),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return write_json(document, provenance_path(labels_path))


def predict_case(segmenter: Segmenter, case: InputCase, plan: OutputPlan, *, save_probabilities: bool = False,
                 series_uid: str | None = None, spacing_mm: Sequence[float] | None = None,
                 command: str | None = None, statistics: bool = False) -> CaseResult:
    """Read ``case``, segment it, and write its labels (and probabilities) where ``plan`` says,
    then the provenance sidecar ``<stem>.livseg.json`` beside the labels (module docstring).

    Args:
        series_uid, spacing_mm: how to read the case (see :meth:`InputCase.read`).
        command: the command line recorded in the sidecar (default: this process's).
        statistics: also write ``<stem>.statistics.json`` beside the mask
            (:func:`livseg.metrics.statistics.case_statistics`: liver volume and HU, lesions
            with volume and longest axial diameter, tumour burden) and keep it in the result.

    Raises:
        LivsegError: the case cannot be read, segmented or written (nothing is left half-written).
    """
    require_dicom_input(case, plan.output_format)
    timer = StageTimer()
    with timer("read"):
        volume = case.read(series_uid=series_uid, spacing_mm=spacing_mm)
        if plan.output_format in ("dicom-seg", "dicom-rtstruct"):
            from livseg.io.dicom_seg import check_seg_source

            check_seg_source(volume)  # before the inference, not after it (the RTSTRUCT needs the same)
    prediction = segmenter.predict(volume, probabilities=save_probabilities)
    timer.merge(prediction.timings)
    out = plan.labels_path(case.case_id)
    structures = segmenter.structures
    voxel_ml = volume.geometry.voxel_volume_mm3 / 1000.0
    counts = np.bincount(prediction.labels.array.ravel(), minlength=3)
    liver_ml, tumour_ml = float(counts[1] + counts[2]) * voxel_ml, float(counts[2]) * voxel_ml
    with timer("write"):
        if plan.output_format == "dicom-seg":
            from livseg.io.dicom_seg import write_dicom_seg

            write_dicom_seg(prediction.labels, volume, out, structures=structures)
        elif plan.output_format == "dicom-rtstruct":
            from livseg.io.rtstruct import write_rtstruct

            write_rtstruct(prediction.labels, volume, out, structures=structures)
        elif plan.output_format == "slicer-seg":
            from livseg.io.slicer_seg import write_slicer_seg

            write_slicer_seg(prediction.labels, out, structures=structures)
        else:
            write_like(prediction.labels.array, volume, out, kind="label")
        probability_paths = {}
        for name, probability in (prediction.probabilities or {}).items():
            probability_paths[name] = plan.probability_path(case.case_id, name)
            write_like(probability.array, volume, probability_paths[name], kind="any")
        facts = None
        if statistics:
            from livseg.metrics.statistics import case_statistics

            facts = case_statistics(prediction.labels, volume, structures=structures)
            write_json({"case_id": case.case_id, **facts}, statistics_path(out))
        write_provenance(segmenter, case, plan, out, probability_paths,
                         {"liver": liver_ml, "tumour": tumour_ml if "tumour" in structures else None},
                         series_uid=volume.meta.get("series_uid") or series_uid, spacing_mm=spacing_mm,
                         command=command, qc=prediction.quality)
    return CaseResult(case.case_id, True, seconds=dict(timer.seconds), liver_ml=liver_ml,
                      tumour_ml=tumour_ml if "tumour" in structures else None, output=out, statistics=facts,
                      qc=prediction.quality)


def failed_case(case: InputCase, exc: BaseException) -> CaseResult:
    """The record of a case that raised ``exc`` (a LivsegError's own message, else the type and text)."""
    if isinstance(exc, LivsegError):
        return CaseResult(case.case_id, False, error=str(exc), exit_code=exc.exit_code)
    message = " ".join(str(exc).split()) or type(exc).__name__
    return CaseResult(case.case_id, False, error=f"{type(exc).__name__}: {message}", exit_code=1,
                      internal=True)


#: Provenance facts that must match for an earlier output to count as this run's, each with the
#: value a sidecar that does not record it meant (None: it must be recorded; coarse_to_fine,
#: absent from sidecars written before it existed, was off).
_SAME_RUN_FACTS: dict[str, Any] = {"structures": None, "crf": None, "settings_file": None, "coarse_to_fine": False}


def completed_result(segmenter: Segmenter, case: InputCase, plan: OutputPlan, *,
                     save_probabilities: bool = False, statistics: bool = False) -> CaseResult | None:
    """The result of ``case`` when its outputs are already complete, else None.

    Complete means: the mask is there and its provenance sidecar describes it (checksum), the
    same input, the same model and tumour model files (SHA-256) with the same inference
    settings, the same CRF switch, structures and coarse-to-fine switch, and (when asked) every
    probability map.
    """
    out = plan.labels_path(case.case_id)
    if not out.is_file():
        return None
    try:
        facts = read_provenance(out)
    except LivsegError:
        return None
    if facts is None or facts.get("input") != str(case.path.resolve()):
        return None
    now = segmenter.provenance()
    for model in ("model", "tumour_model"):
        before, current = facts.get(model), now[model]
        if (before is None) != (current is None):
            return None
        if current is not None and (before.get("sha256") != current["sha256"] or current["sha256"] is None
                                    or before.get("settings") != current["settings"]):
            return None
    if any(facts.get(key, absent) != now[key] for key, absent in _SAME_RUN_FACTS.items()):
        return None
    probabilities = (facts.get("outputs") or {}).get("probabilities") or {}
    if save_probabilities and not (probabilities and all(Path(p).is_file() for p in probabilities.values())):
        return None
    stats = None
    if statistics:
        try:
            stats = json.loads(statistics_path(out).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    volumes = facts.get("volumes_ml") or {}
    return CaseResult(case.case_id, True, liver_ml=volumes.get("liver"), tumour_ml=volumes.get("tumour"),
                      output=out, skipped=True, statistics=stats, qc=facts.get("qc"))


def manifest_record(segmenter: Segmenter, case: InputCase, result: CaseResult) -> dict[str, Any]:
    """The manifest line of one case (see :mod:`livseg.batch.manifest`)."""
    facts = segmenter.provenance()
    return {"case_id": case.case_id, "input": str(case.path.resolve()),
            "output": None if result.output is None else str(Path(result.output).resolve()),
            "status": result.status, "error": result.error, "attempts": result.attempts,
            "model": {"name": facts["model"]["name"], "sha256": facts["model"]["sha256"]},
            "tumour_model": None if facts["tumour_model"] is None else {
                "name": facts["tumour_model"]["name"], "sha256": facts["tumour_model"]["sha256"]},
            "structures": facts["structures"], "seconds": result.seconds,
            "volumes_ml": {"liver": result.liver_ml, "tumour": result.tumour_ml},
            "statistics": result.statistics, "qc": result.qc, "versions": versions()}


@dataclass(frozen=True)
class CaseOptions:
    """How every case of a run is read and written (the same for each engine).

    Attributes:
        save_probabilities, series_uid, spacing_mm, command, statistics: as for :func:`predict_case`.
        overwrite: False keeps a case whose outputs are complete and made by the same model and
            settings (:func:`completed_result`); a rerun then does only what is missing.
    """

    save_probabilities: bool = False
    series_uid: str | None = None
    spacing_mm: tuple[float, float, float] | None = None
    command: str | None = None
    statistics: bool = False
    overwrite: bool = True


def handle_case(segmenter: Segmenter, case: InputCase, plan: OutputPlan, options: CaseOptions) -> CaseResult:
    """One case of a run, whichever engine runs it: kept when complete (unless ``overwrite``),
    else predicted and written (:func:`predict_case`).

    Raises:
        Exception: whatever reading, segmenting or writing the case raised.
    """
    result = None if options.overwrite else completed_result(
        segmenter, case, plan, save_probabilities=options.save_probabilities, statistics=options.statistics)
    if result is None:
        result = predict_case(segmenter, case, plan, save_probabilities=options.save_probabilities,
                              series_uid=options.series_uid, spacing_mm=options.spacing_mm,
                              command=options.command, statistics=options.statistics)
    return result


def run_case_recorded(segmenter: Segmenter, case: InputCase, plan: OutputPlan, options: CaseOptions
                      ) -> tuple[CaseResult, dict[str, Any]]:
    """:func:`handle_case` with its failure recorded instead of raised, and its manifest line."""
    try:
        result = handle_case(segmenter, case, plan, options)
    except Exception as exc:  # one broken case must not stop the batch
        logger.debug("case %s failed", case.case_id, exc_info=True)
        result = failed_case(case, exc)
    return result, manifest_record(segmenter, case, result)


def run_local(segmenter: Segmenter, cases: Sequence[InputCase], plan: OutputPlan,
              options: CaseOptions = CaseOptions(), *, keep_going: bool = True,
              on_result: Callable[[InputCase, CaseResult], None] | None = None,
              manifest: str | os.PathLike[str] | None = None) -> list[CaseResult]:
    """Every case in this process, in order (the default engine).

    Args:
        options: how each case is read and written.
        keep_going: a failing case is recorded and the others go on; False re-raises its error.
        on_result: called after each case (progress, messages).
        manifest: a folder whose ``manifest.jsonl`` gets one line per case (None: none).

    Returns:
        One result per case, in the order of ``cases``.
    """
    from livseg.batch.manifest import append_record

    results = []
    for case in cases:
        if keep_going:
            result, record = run_case_recorded(segmenter, case, plan, options)
        else:
            result = handle_case(segmenter, case, plan, options)
            record = manifest_record(segmenter, case, result)
        if manifest is not None:
            append_record(manifest, record)
        results.append(result)
        if on_result is not None:
            on_result(case, result)
    return results
