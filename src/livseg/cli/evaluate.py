"""``livseg evaluate``: SLiver07 and LiTS metrics of predictions against reference labels.

Two forms::

    livseg evaluate PRED GT [--json] [--out DIR] [--resample-pred] [--tolerance-mm T]
    livseg evaluate --pred-dir P --gt DATASET [--layout L] [--out DIR] [--json]

In the data-set form every labelled case of DATASET (any layout ``livseg.datasets`` knows) is
matched with ``P/<case_id>.<suffix>`` (any suffix livseg reads). Structures: ``liver`` = labels
1 and 2, ``tumour`` = label 2. With ``--out`` it writes ``cases.csv`` (one row per case),
``summary.csv`` (mean, std, median, min, max, n, n_undefined per structure and measure) and
``metrics.json`` (cases, summary, settings), each atomically.

What was assessed: a prediction made without a tumour model says nothing about tumours, so its
tumour is reported as *not assessed*, never scored (no Dice 0, no "0/79 lesions detected").
Per prediction, the structures assessed are, first match wins:

1. ``--structures liver`` or ``--structures liver,tumour`` (explicit, for every prediction);
2. the ``structures`` of the provenance sidecar ``<stem>.livseg.json`` that ``livseg predict``
   writes beside each mask (ignored when its checksum is not the mask's);
3. the segments of a DICOM SEG prediction (no tumour segment: tumour not assessed);
4. otherwise both liver and tumour (the file does not say).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from livseg.errors import DatasetError, InputNotFoundError, InvalidImageError, LivsegError
from livseg.metrics.names import DEFAULT_TOLERANCE_MM, STRUCTURES

if TYPE_CHECKING:  # the library is imported inside the functions: `livseg --help` stays fast
    from livseg.metrics.case import CaseMetrics
    from livseg.volume import Volume

ORDER = 40
logger = logging.getLogger(__name__)

#: Measures shown in the terminal table (all are in the CSV/JSON files).
SHOWN_MEASURES = ("dice", "jaccard", "voe_pct", "rvd_pct", "assd_mm", "rmssd_mm", "mssd_mm", "hd95_mm",
                  "surface_dice", "sliver07_score")
RESAMPLE_FIX = "pass --resample-pred to resample the prediction (nearest neighbour) onto the reference grid"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="SLiver07 and LiTS metrics of predictions against reference labels",
        description=(
            "Compare predicted label maps (0 background, 1 liver, 2 tumour) with references: Dice, "
            "Jaccard, VOE, RVD, ASSD, RMSSD, MSSD, HD95, surface Dice, SLiver07 scores, LiTS lesion "
            "detection and tumour burden, for liver (labels 1+2) and tumour (label 2). Either one pair "
            "(PRED GT) or a data set (--pred-dir P --gt DATASET)."),
    )
    parser.add_argument("pred", nargs="?", metavar="PRED", help="predicted label file (pair form)")
    parser.add_argument("gt_file", nargs="?", metavar="GT", help="reference label file (pair form)")
    parser.add_argument("--pred-dir", type=Path, help="folder of predictions named <case_id>.<suffix>")
    parser.add_argument("--gt", type=Path, dest="gt_dataset", metavar="DATASET",
                        help="reference data set (with --pred-dir)")
    parser.add_argument("--layout", default="auto", help="layout of DATASET (default: recognise it)")
    parser.add_argument("--out", type=Path, help="write cases.csv, summary.csv, metrics.json here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--resample-pred", action="store_true",
                        help="nearest-neighbour resample a prediction on another grid onto the reference grid")
    parser.add_argument("--tolerance-mm", type=float, default=DEFAULT_TOLERANCE_MM,
                        help=f"surface-Dice tolerance in mm (default {DEFAULT_TOLERANCE_MM})")
    parser.add_argument("--label-map", metavar="MAP",
                        help="map the prediction's values, e.g. 5:1,*:0 for a TotalSegmentator map")
    parser.add_argument("--gt-label-map", metavar="MAP", help="map the reference's values (same syntax)")
    parser.add_argument("--spacing-mm", type=float, nargs=3, metavar=("X", "Y", "Z"),
                        help="voxel spacing in mm for files that do not record it (MRC); must agree "
                             "with files that do")
    parser.add_argument("--structures", metavar="LIST",
                        help="what the predictions assessed: liver, or liver,tumour (default: from each "
                             "prediction's <stem>.livseg.json sidecar or DICOM SEG segments, else both); a "
                             "structure not assessed is reported as such, never scored")
    parser.add_argument("--skip-missing", action="store_true",
                        help="data-set form: skip cases without a prediction instead of failing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livseg.cli import typed_command
    from livseg.metrics.case import check_structures
    from livseg.metrics.summary import summarize

    if args.tolerance_mm < 0:
        raise InvalidImageError("--tolerance-mm", expected="a tolerance >= 0 mm", found=str(args.tolerance_mm))
    args.structures_given = None
    if args.structures is not None:
        args.structures_given = check_structures([s for s in args.structures.split(",") if s.strip()])
    pair_form = args.pred is not None or args.gt_file is not None
    set_form = args.pred_dir is not None or args.gt_dataset is not None
    if pair_form == set_form or (pair_form and args.gt_file is None) or (set_form and None in (
            args.pred_dir, args.gt_dataset)):
        raise LivsegError("livseg evaluate", expected="either PRED GT, or --pred-dir P --gt DATASET",
                          found=_describe_form(args), fix="see livseg evaluate --help")
    if pair_form:
        evaluated = [_evaluate_pair(Path(args.pred), Path(args.gt_file), args)]
    else:
        evaluated = _evaluate_dataset(args)
    cases = [metrics for metrics, _ in evaluated]
    files = {metrics.case_id: paths for metrics, paths in evaluated}
    sources = {metrics.case_id: paths["assessed_from"] for metrics, paths in evaluated}
    summary = summarize(cases)
    settings = {
        "command": typed_command(args),
        "inputs": _recorded_inputs(args),
        "tolerance_mm": args.tolerance_mm,
        "lesion_connectivity": 6,
        "lesion_iou_threshold": 0.5,
        "structures": {"liver": [1, 2], "tumour": [2]},
        "structures_option": args.structures,
    }
    if args.out is not None:
        _write_outputs(args.out, cases, summary, settings, files)
    from livseg.io.tables import to_json

    if args.json:
        payload = {**cases[0].as_dict(), "assessed_from": sources[cases[0].case_id]} if pair_form else {
            "summary": summary,
            "cases": [{**case.as_dict(), "assessed_from": sources[case.case_id]} for case in cases]}
        print(to_json(payload))
    else:
        print(_text_report(cases, summary, pair_form, sources))
    return 0


def _absolute(path: Path | str | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def _recorded_inputs(args: argparse.Namespace) -> dict:
    """Where the inputs were, so ``livseg report EVAL_DIR`` finds them (absolute paths)."""
    return {
        "gt": _absolute(args.gt_dataset if args.gt_dataset is not None else args.gt_file),
        "layout": args.layout,
        "pred_dir": _absolute(args.pred_dir),
        "label_map": args.label_map,
        "gt_label_map": args.gt_label_map,
    }


def _describe_form(args: argparse.Namespace) -> str:
    given = [name for name, value in (("PRED", args.pred), ("GT", args.gt_file), ("--pred-dir", args.pred_dir),
                                      ("--gt", args.gt_dataset)) if value is not None]
    return ", ".join(given) if given else "no inputs"


def _label_map(text: str | None):
    if not text:
        return None
    from livseg.datasets import parse_label_map

    return parse_label_map(text)


def _read_labels(path: Path, label_map_text: str | None, spacing_mm: Sequence[float] | None) -> Volume:
    """A label file as a 0/1/2 Volume: mapped with ``label_map_text`` if given, else checked."""
    from livseg.io import read_volume, require_known_spacing
    from livseg.metrics.regrid import as_labels

    volume = read_volume(path, kind="label", spacing_mm=spacing_mm)
    require_known_spacing(volume, what="distances and volumes in mm",
                          fix="pass --spacing-mm X Y Z")
    return as_labels(volume, _label_map(label_map_text))


def _read_prediction(path: Path, args: argparse.Namespace) -> tuple[Volume, tuple[str, ...], dict]:
    """The prediction as 0/1/2 labels, the structures it assessed, and where that was learnt.

    The last is {"structures": [...], "source": "option" | "sidecar" | "dicom-seg" | "default",
    "path": the sidecar or SEG (or None), "reason": a short text for the terminal}.
    """
    from livseg.io import read_volume, require_known_spacing
    from livseg.metrics.regrid import as_labels

    volume = read_volume(path, kind="label", spacing_mm=args.spacing_mm)
    require_known_spacing(volume, what="distances and volumes in mm", fix="pass --spacing-mm X Y Z")
    structures, source = _assessed(path, volume, args)
    return as_labels(volume, _label_map(args.label_map)), structures, {"structures": list(structures), **source}


def _assessed(path: Path, volume: Volume, args: argparse.Namespace) -> tuple[tuple[str, ...], dict]:
    """What ``path`` assessed (see the module docstring for the order)."""
    from livseg.metrics.case import check_structures

    if args.structures_given is not None:
        return args.structures_given, {"source": "option", "path": None, "reason": f"--structures {args.structures}"}
    from livseg.batch.runner import provenance_path, read_provenance

    facts = read_provenance(path) if path.is_file() else None
    if facts is not None and facts.get("structures") is not None:
        side = provenance_path(path)
        structures = check_structures(facts["structures"])
        return structures, {"source": "sidecar", "path": str(side.resolve()),
                            "reason": f"no tumour model ran, says {side.name}"}
    from livseg.io.dicom_seg import assessed_structures

    in_seg = assessed_structures(volume)
    if in_seg:
        return in_seg, {"source": "dicom-seg", "path": _absolute(path),
                        "reason": "the DICOM SEG has no tumour segment"}
    return tuple(STRUCTURES), {"source": "default", "path": None, "reason": "the prediction does not say"}


def _on_reference_grid(prediction: Volume, reference: Volume, resample: bool) -> Volume:
    from livseg.metrics.regrid import onto_reference

    return onto_reference(prediction, reference, resample=resample, fix=RESAMPLE_FIX)


def _case_id_of(path: Path) -> str:
    from livseg.io.atomic import split_suffix

    return split_suffix(path)[0] if path.is_file() else path.name


def _evaluate_pair(pred_path: Path, gt_path: Path, args: argparse.Namespace) -> tuple[CaseMetrics, dict]:
    from livseg.metrics.case import evaluate_case

    reference = _read_labels(gt_path, args.gt_label_map, args.spacing_mm)
    predicted, structures, source = _read_prediction(pred_path, args)
    prediction = _on_reference_grid(predicted, reference, args.resample_pred)
    metrics = evaluate_case(reference, prediction, case_id=_case_id_of(gt_path), tolerance_mm=args.tolerance_mm,
                            structures=structures)
    return metrics, {"reference": _absolute(gt_path), "prediction": _absolute(pred_path), "assessed_from": source}


def find_prediction(pred_dir: Path, case_id: str) -> Path | None:
    """``pred_dir/<case_id>.<suffix>`` for a suffix livseg reads; None if absent.

    Raises:
        DatasetError: several files for the same case (e.g. .nii.gz and .mha).
    """
    from livseg.io.formats import READ_SUFFIXES

    found = [pred_dir / f"{case_id}{suffix}" for suffix in READ_SUFFIXES
             if (pred_dir / f"{case_id}{suffix}").is_file()]
    if len(found) > 1:
        raise DatasetError(pred_dir, expected=f"one prediction for case {case_id}",
                           found=", ".join(p.name for p in found), fix="keep one of them")
    return found[0] if found else None


def _evaluate_dataset(args: argparse.Namespace) -> list[tuple[CaseMetrics, dict]]:
    from livseg.io import require_known_spacing
    from livseg.metrics.case import evaluate_case

    from livseg.datasets import load_dataset, read_case_image, read_case_label

    pred_dir: Path = args.pred_dir
    if not pred_dir.is_dir():
        raise InputNotFoundError(pred_dir, expected="a folder of predictions", found="no such folder")
    dataset = load_dataset(args.gt_dataset, layout=args.layout, label_map=_label_map(args.gt_label_map))
    labelled = [case for case in dataset.cases if case.label is not None]
    if not labelled:
        raise DatasetError(args.gt_dataset, expected="cases with reference labels", found="none")
    pairs, missing = [], []
    for case in labelled:
        path = find_prediction(pred_dir, case.case_id)
        if path is None:
            missing.append(case.case_id)
        else:
            pairs.append((case, path))
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        if not args.skip_missing or not pairs:
            raise DatasetError(pred_dir, expected=f"a prediction <case_id>.<suffix> for each of {len(labelled)} cases",
                               found=f"{len(missing)} missing ({shown})",
                               fix="predict them, or pass --skip-missing to evaluate the others")
        logger.warning("%s: %d case(s) without a prediction skipped: %s", pred_dir, len(missing), shown)
    from tqdm import tqdm

    from livseg.cli._progress import show_progress

    cases = []
    for case, path in tqdm(pairs, desc="evaluate", unit="case", disable=not show_progress(args)):
        image = read_case_image(case, spacing_mm=args.spacing_mm)
        reference = read_case_label(case, image=image)
        require_known_spacing(reference, what="distances and volumes in mm",
                              fix="pass --spacing-mm X Y Z")
        predicted, structures, source = _read_prediction(path, args)
        prediction = _on_reference_grid(predicted, reference, args.resample_pred)
        metrics = evaluate_case(reference, prediction, case_id=case.case_id, tolerance_mm=args.tolerance_mm,
                                structures=structures)
        files = {"image": _absolute(case.image), "reference": _absolute(case.label), "prediction": _absolute(path),
                 "assessed_from": source}
        cases.append((metrics, files))
    return cases


def _write_outputs(out: Path, cases: Sequence[CaseMetrics], summary: dict, settings: dict,
                   files: dict[str, dict]) -> None:
    from livseg.io.tables import write_csv, write_json
    from livseg.reporting.tables import SUMMARY_COLUMNS, case_row, summary_rows

    case_dicts = [case.as_dict() for case in cases]
    json_cases = []
    for case in case_dicts:
        recorded = dict(files.get(case["case_id"], {}))
        source = recorded.pop("assessed_from", None)
        json_cases.append({**case, "files": recorded, "assessed_from": source})
    write_csv([case_row(c) for c in case_dicts], out / "cases.csv")
    write_csv(summary_rows(summary), out / "summary.csv", columns=SUMMARY_COLUMNS)
    write_json({"settings": settings, "summary": summary, "cases": json_cases}, out / "metrics.json")


def _text_report(cases: Sequence[CaseMetrics], summary: dict, pair_form: bool,
                 sources: dict[str, dict] | None = None) -> str:
    from livseg.io.tables import format_table

    sources = sources or {}
    if pair_form:
        case = cases[0]
        rows = [{"measure": m, **{name: s.value(m) for name, s in case.structures.items()}}
                for m in SHOWN_MEASURES]
        rows.append({"measure": "empty", **{name: s.empty for name, s in case.structures.items()}})
        lines = [f"case {case.case_id}", format_table(rows, ["measure", *case.structures])]
        reason = sources.get(case.case_id, {}).get("reason", "")
        for name in STRUCTURES:
            if name not in case.structures:
                lines.append(f"{name}: not assessed ({reason})")
        if case.lesions is not None:
            lesions = case.lesions
            lines.append(f"tumour lesions: {lesions.n_detected}/{lesions.n_reference} detected, "
                         f"{lesions.n_matched_prediction}/{lesions.n_prediction} predicted matched; "
                         f"tumour burden error: {_fmt(case.tumour_burden_error)}")
        return "\n".join(lines)
    rows = []
    for structure, block in summary["structures"].items():
        if not block.get("assessed", True):
            continue
        for measure in SHOWN_MEASURES:
            stats = block["measures"][measure]
            rows.append({"structure": structure, "measure": measure, **stats})
    lines = [f"{summary['n_cases']} case(s)",
             format_table(rows, ["structure", "measure", "mean", "std", "median", "n", "n_undefined"])]
    for structure, block in summary["structures"].items():
        if not block.get("assessed", True):
            reasons = sorted({_set_reason(sources.get(c.case_id, {})) for c in cases} - {""})
            lines.append(f"{structure}: not assessed (in none of the {summary['n_cases']} predictions"
                         + (f": {'; '.join(reasons)}" if reasons else "") + ")")
            continue
        empties = ", ".join(f"{k} {v}" for k, v in block["n_empty"].items() if k != "none" and v)
        lines.append(f"{structure}: Dice global {_fmt(block['dice_global'])}"
                     + (f"; empty masks: {empties}" if empties else "")
                     + (f"; not assessed in {block['n_not_assessed']} case(s), left out"
                        if block.get("n_not_assessed") else ""))
    lesions = summary["lesions"]
    if lesions.get("assessed", True):
        lines.append(f"lesions: precision {_fmt(lesions['precision'])}, recall {_fmt(lesions['recall'])} "
                     f"({lesions['n_detected']}/{lesions['n_reference']} detected)")
    return "\n".join(lines)


def _set_reason(source: dict) -> str:
    """Why a structure was not assessed, in words shared by many predictions."""
    return {"sidecar": "no tumour model ran, say their .livseg.json sidecars",
            "dicom-seg": "the DICOM SEGs have no tumour segment"}.get(source.get("source", ""),
                                                                      source.get("reason", ""))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
