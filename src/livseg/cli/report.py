"""``livseg report``: one self-contained HTML page of an evaluation and/or a training run.

    livseg report EVAL_DIR --gt DATASET --pred-dir P [--images DIR] [--pred-dir-nocrf Q]
                  [--run RUN_DIR] [-o report.html]
    livseg report RUN_DIR [-o report.html]

EVAL_DIR is what ``livseg evaluate --out`` wrote (metrics.json, else cases.csv); RUN_DIR what
``livseg train`` wrote (log.csv, config.yaml). Overlays need each case's CT, reference and
prediction: the options say where they are (see ``livseg.reporting.case_inputs``). Cases
whose files cannot be read get a note in the page instead of a figure, and the command exits 1
after writing the page.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from livseg.errors import LivsegError

ORDER = 45
logger = logging.getLogger(__name__)
DEFAULT_OUTPUT = "report.html"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="an HTML report (metrics, overlays, box plots, learning curves) of an evaluation or run",
        description=(
            "Write one self-contained HTML file (images, styles and a small script inline, no network): "
            "the metrics table, an axial/coronal/sagittal slice viewer and overlays of reference and "
            "prediction per case, "
            "box plots per measure, CRF before/after figures, learning curves of a training run, and "
            "the commands, configuration and versions."),
    )
    parser.add_argument("folder", type=Path, metavar="RUN_OR_EVAL_DIR",
                        help="folder written by livseg evaluate --out (metrics.json) or livseg train (log.csv)")
    parser.add_argument("-o", "--out", type=Path, default=None, metavar="HTML",
                        help=f"output file (default: RUN_OR_EVAL_DIR/{DEFAULT_OUTPUT})")
    files = parser.add_argument_group("where each case's files are (for the overlays)")
    files.add_argument("--gt", type=Path, metavar="DATASET",
                       help="the reference data set given to livseg evaluate (its images are the CTs)")
    files.add_argument("--layout", default="auto", help="layout of DATASET (default: recognise it)")
    files.add_argument("--images", type=Path, metavar="DIR_OR_DATASET",
                       help="the CTs, if not those of --gt: a data set or a folder of <case_id>.<suffix> files")
    files.add_argument("--pred-dir", type=Path, metavar="DIR",
                       help="the evaluated predictions, <case_id>.<suffix> (with CRF when --pred-dir-nocrf is given)")
    files.add_argument("--pred-dir-nocrf", type=Path, metavar="DIR",
                       help="the same predictions without CRF: adds CRF before/after figures")
    files.add_argument("--label-map", metavar="MAP", help="map the predictions' values, e.g. 5:1,*:0")
    files.add_argument("--gt-label-map", metavar="MAP", help="map the references' values (same syntax)")
    files.add_argument("--spacing-mm", type=float, nargs=3, metavar=("X", "Y", "Z"),
                       help="voxel spacing in mm for files that do not record it (MRC)")
    parser.add_argument("--run", type=Path, metavar="RUN_DIR", help="a training run whose learning curves to add")
    parser.add_argument("--title", default="livseg report", help="page title")
    parser.add_argument("--margin-mm", type=float, default=15.0,
                        help="margin around the liver in the overlays, mm (default 15)")
    parser.add_argument("--no-viewer", action="store_true",
                        help="leave out the interactive slice viewers (a smaller page: static figures only)")
    parser.add_argument("--viewer-px", type=int, default=160, metavar="N",
                        help="the viewer's most voxels across in x and y; larger boxes are subsampled (default 160)")
    parser.set_defaults(func=run)


def _command(args: argparse.Namespace) -> str:
    """The command as given, rebuilt from the parsed options (exact for what the report used)."""
    from livseg.reporting.provenance import command_line

    words = ["livseg", "report", str(args.folder)]
    for flag, value in (("-o", args.out), ("--gt", args.gt), ("--images", args.images),
                        ("--pred-dir", args.pred_dir), ("--pred-dir-nocrf", args.pred_dir_nocrf),
                        ("--label-map", args.label_map), ("--gt-label-map", args.gt_label_map),
                        ("--run", args.run)):
        if value is not None:
            words += [flag, str(value)]
    if args.layout != "auto":
        words += ["--layout", args.layout]
    if args.spacing_mm:
        words += ["--spacing-mm", *(f"{v:g}" for v in args.spacing_mm)]
    if args.title != "livseg report":
        words += ["--title", args.title]
    if args.margin_mm != 15.0:
        words += ["--margin-mm", f"{args.margin_mm:g}"]
    if args.no_viewer:
        words += ["--no-viewer"]
    if args.viewer_px != 160:
        words += ["--viewer-px", str(args.viewer_px)]
    return command_line(words)


def run(args: argparse.Namespace) -> int:
    from livseg.reporting.case_inputs import InputOptions
    from livseg.reporting.report import ReportRequest, build_report, write_report

    if args.margin_mm < 0:
        raise LivsegError("--margin-mm", expected="a margin >= 0 mm", found=f"{args.margin_mm:g}")
    if args.viewer_px < 16:
        raise LivsegError("--viewer-px", expected="at least 16 voxels", found=str(args.viewer_px))
    options = InputOptions(images=args.images, gt=args.gt, layout=args.layout, pred_dir=args.pred_dir,
                           pred_dir_nocrf=args.pred_dir_nocrf, label_map=args.label_map,
                           gt_label_map=args.gt_label_map,
                           spacing_mm=tuple(args.spacing_mm) if args.spacing_mm else None)
    request = ReportRequest(folder=args.folder, options=options, run_dir=args.run, command=_command(args),
                            title=args.title, margin_mm=args.margin_mm, viewer=not args.no_viewer,
                            viewer_max_px=args.viewer_px)
    from tqdm import tqdm

    from livseg.cli._progress import show_progress

    with tqdm(desc="report", unit="case", disable=not show_progress(args)) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = build_report(request, progress=progress)
    out = args.out if args.out is not None else args.folder / DEFAULT_OUTPUT
    write_report(result.html, out)
    size_mb = len(result.html.encode("utf-8")) / 1e6
    print(f"{out}: {size_mb:.1f} MB, {result.n_overlays} case overlay(s), {result.n_viewers} slice viewer(s)")
    for problem in result.problems:
        print(f"livseg: warning: no overlay for {problem}", file=sys.stderr)
    return 1 if result.problems else 0
