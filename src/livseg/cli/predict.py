"""``livseg predict``: liver (and tumour) masks for CT files, DICOM series and data sets.

::

    livseg predict INPUT... -o OUT [--model NAME_OR_PATH] [--tumour-model NAME_OR_PATH]
        [--device cpu|cuda] [--no-crf] [--tumour | --no-tumour] [--save-probabilities]
        [--output-format nii.gz|mha|nrrd|dicom-seg|slicer-seg|dicom-rtstruct] [--overlap F] [--tta] [--timing]

Every mask is written atomically on exactly its input's grid. With several cases a progress
bar runs on stderr and a per-case table (seconds per stage, liver and tumour volume) is
printed at the end; a case that fails is reported in one line and the others go on; the
exit status is non-zero when any case failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ORDER = 30
logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="segment liver (and tumours) in CT volumes",
        description=(
            "Segment the liver (1) and liver tumours (2) of CT volumes with a 3D deeply supervised "
            "network, Gaussian-blended sliding windows, branch fusion and a dense CRF. INPUT is a CT "
            "file (NIfTI, MetaImage, NRRD, MRC), a DICOM series folder, a data-set folder or a folder "
            "of CT files. Masks are written on exactly the input's grid."),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="CT file, DICOM folder, data set or folder")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output file (one input; .nii.gz, .mha, .nrrd, .dcm, .seg.nrrd, .rtstruct.dcm) or folder "
                             "(<case_id>.<suffix> per case)")
    parser.add_argument("--series", metavar="UID", default=None,
                        help="the series to segment when the (single) DICOM input holds several")
    parser.add_argument("--spacing-mm", nargs=3, type=float, metavar=("X", "Y", "Z"), default=None,
                        help="voxel size for inputs that do not record it (inputs that do must agree)")
    parser.add_argument("--crf-config", type=Path, default=None, metavar="YAML",
                        help="tuned CRF parameters and fusion weights written by `livseg tune-crf -o YAML`")
    parser.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                        help="packaged model name, checkpoint (.pt), bundle (.safetensors) or run folder "
                             "(default: %(default)s)")
    parser.add_argument("--tumour-model", metavar="NAME_OR_PATH", help="tumour model for the cascade")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps (default: %(default)s)")
    parser.add_argument("--no-crf", action="store_true", help="skip the dense CRF")
    tumour = parser.add_mutually_exclusive_group()
    tumour.add_argument("--tumour", dest="tumour", action="store_true", default=None,
                        help="run the tumour cascade: with --tumour-model, or the packaged NAME-tumour model of "
                             "a packaged --model (default-tumour: experimental, see MODEL_CARD.md); fails without one")
    tumour.add_argument("--no-tumour", dest="tumour", action="store_false",
                        help="liver only (the default unless --tumour-model is given)")
    parser.add_argument("--save-probabilities", action="store_true",
                        help="also write <name>_prob_<class> (float32 fused network probabilities)")
    parser.add_argument("--output-format", choices=("nii.gz", "mha", "nrrd", "dicom-seg", "slicer-seg", "dicom-rtstruct"),
                        help="mask format (default: from -o's suffix, else nii.gz): slicer-seg is a 3D Slicer "
                             "segmentation (.seg.nrrd, named coloured segments); dicom-seg (.dcm) and dicom-rtstruct "
                             "(.rtstruct.dcm, contours per slice) reference the source series and need DICOM input")
    parser.add_argument("--overlap", type=float, help="sliding-window overlap fraction in [0, 1)")
    parser.add_argument("--tta", action="store_true", help="mirroring test-time augmentation (8x network time)")
    parser.add_argument("--coarse-to-fine", action="store_true",
                        help="find the liver on a 2x coarser grid first and run the full-resolution network only in "
                             "its box + 30 mm (scans >= 120 mm head-feet; 1.4-2.6x faster network on the real cases, "
                             "see bench/RESULTS.md)")
    parser.add_argument("--timing", action="store_true", help="print seconds per stage and peak memory")
    parser.add_argument("--layout", default="auto", help="layout of a data-set INPUT (default: recognise it)")
    parser.add_argument("--statistics", action="store_true",
                        help="also write <name>.statistics.json: liver volume and HU, tumour count, per-lesion "
                             "volume and longest axial diameter (mm), tumour burden (also in the manifest)")
    parser.add_argument("--overwrite", action="store_true",
                        help="predict every case again; by default a case whose outputs are complete and made by "
                             "the same model and settings (its .livseg.json says so) is kept")
    parser.add_argument("--num-parts", type=int, metavar="N",
                        help="split the cases (sorted by case id) into N parts and run one of them: for array jobs "
                             "(default: SLURM_ARRAY_TASK_COUNT or torchrun's WORLD_SIZE when set)")
    parser.add_argument("--part-id", type=int, metavar="K", help="the part to run, 0 .. N-1 (default: the "
                        "launcher's SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN or RANK)")
    engine = parser.add_argument_group("engine (cohorts; see README's cohort section)")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: every case in this process (default); ray: Ray actors that load the model once "
                             "each (pip install 'livseg[ray]')")
    engine.add_argument("--address", metavar="ADDR",
                        help="with --engine ray: the cluster to join (auto, HOST:6379 or ray://HOST:10001); "
                             "default: start a local Ray for this run")
    engine.add_argument("--workers", type=int, metavar="N",
                        help="with --engine ray: number of workers (default: the cluster's CPUs / --cpus-per-worker, "
                             "or its GPUs / --gpus-per-worker)")
    engine.add_argument("--cpus-per-worker", type=float, metavar="C",
                        help="with --engine ray: CPUs (PyTorch threads) per worker (default: the CPUs shared out)")
    engine.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G",
                        help="with --engine ray: GPUs per worker, e.g. 1 or 0.5 (default: 0, CPU workers)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livseg.cli import typed_command
    from tqdm import tqdm

    from livseg.batch import (CaseResult, expand_inputs, plan_outputs, require_dicom_input, require_writable,
                              run_local)
    from livseg.batch.runner import CaseOptions
    from livseg.batch.shards import select_part
    from livseg.batch.spec import SegmenterSpec
    from livseg.cli._progress import show_progress, stage_lines
    from livseg.errors import ConfigError

    _check_engine_options(args)
    cases = expand_inputs(args.inputs, layout=args.layout)
    part = _part(args)
    if part is not None:
        cases = select_part(cases, *part)
        if not cases:
            print(f"part {part[1]} of {part[0]}: no case", file=sys.stderr)
            return 0
    if args.series is not None and len(cases) != 1:
        raise ConfigError("--series", expected="one DICOM input (the series is chosen within it)",
                          found=f"{len(cases)} inputs")
    plan = plan_outputs(args.output, args.output_format, len(cases))
    require_writable(plan)
    for case in cases:
        require_dicom_input(case, plan.output_format)
    spec = SegmenterSpec(model=str(args.model), device=args.device,
                         tumour_model=None if args.tumour_model is None else str(args.tumour_model),
                         tumour=args.tumour, crf=not args.no_crf,
                         settings_file=None if args.crf_config is None else str(args.crf_config),
                         tta=True if args.tta else None, overlap=args.overlap, coarse_to_fine=args.coarse_to_fine)
    options = CaseOptions(save_probabilities=args.save_probabilities, series_uid=args.series,
                          spacing_mm=None if args.spacing_mm is None else tuple(args.spacing_mm),
                          command=typed_command(args), statistics=args.statistics, overwrite=args.overwrite)
    segmenter = spec.build() if args.engine == "local" else None
    batch = len(cases) > 1
    progress = show_progress(args)
    bar = tqdm(total=len(cases), desc="predict", unit="case", disable=not batch or not progress, file=sys.stderr)

    def report(case, result: CaseResult) -> None:
        bar.update(1)
        if result.ok:
            return
        if result.internal:
            tqdm.write(f"livseg: internal error: {case.case_id}: {result.error} "
                       "(rerun with --debug for the traceback)", file=sys.stderr)
        else:
            tqdm.write(f"livseg: error: {case.case_id}: {result.error}", file=sys.stderr)

    if segmenter is not None:
        with stage_lines(progress and not batch, cases[0].case_id):  # one case: its stages on the terminal
            results = run_local(segmenter, cases, plan, options, keep_going=batch and not args.debug,
                                on_result=report, manifest=plan.folder)
    else:
        from livseg.batch.ray_engine import run_ray

        def started(workers: list) -> None:
            if progress:
                hosts = sorted({w["host"] for w in workers})
                tqdm.write(f"ray: {len(workers)} workers on {len(hosts)} host(s), "
                           f"{workers[0]['threads']} threads each, device {workers[0]['device']}", file=sys.stderr)

        results = run_ray(spec, cases, plan, options, address=args.address, workers=args.workers,
                          cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                          on_result=report, on_start=started, manifest=plan.folder)
    bar.close()
    if batch or args.timing:
        print(_table(results))
    else:
        result = results[0]
        tumour = "not assessed" if result.tumour_ml is None else f"{result.tumour_ml:.1f} mL"
        verb = "kept (complete, same model and settings; --overwrite redoes it)" if result.skipped else "wrote"
        qc = "" if result.qc is None else f", qc {result.qc['qc']}" + (
            f": {', '.join(result.qc['reasons'])}" if result.qc["reasons"] else "")
        print(f"{result.case_id}: {verb} {result.output} (liver {result.liver_ml:.1f} mL, tumour {tumour}{qc})")
    if args.timing:
        from livseg.inference import peak_memory_mb

        memory = peak_memory_mb()
        print("peak memory: " + ", ".join(f"{k.removesuffix('_mb')} {v:.0f} MB" for k, v in memory.items()))
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} cases failed: " + ", ".join(r.case_id for r in failed),
              file=sys.stderr)
        return max(r.exit_code for r in failed) or 1
    return 0


def _check_engine_options(args: argparse.Namespace) -> None:
    """ConfigError for Ray's options without --engine ray, and for impossible counts."""
    from livseg.errors import ConfigError

    ray_only = {"--address": args.address, "--workers": args.workers, "--cpus-per-worker": args.cpus_per_worker,
                "--gpus-per-worker": args.gpus_per_worker or None}
    given = [name for name, value in ray_only.items() if value is not None]
    if args.engine != "ray" and given:
        raise ConfigError(", ".join(given), expected="--engine ray (they configure its workers)",
                          found=f"--engine {args.engine}")
    for name, value, low in (("--workers", args.workers, 1), ("--cpus-per-worker", args.cpus_per_worker, 1e-9),
                             ("--gpus-per-worker", args.gpus_per_worker, 0.0)):
        if value is not None and value < low:
            raise ConfigError(name, expected=">= 1" if name == "--workers" else "> 0" if low else ">= 0",
                              found=str(value))


def _part(args: argparse.Namespace) -> tuple[int, int] | None:
    """(parts, this part) from --num-parts/--part-id, else from a SLURM array or torchrun, else None."""
    from livseg.batch.shards import check_part, part_from_environment
    from livseg.errors import ConfigError

    if (args.num_parts is None) != (args.part_id is None):
        raise ConfigError("--num-parts/--part-id", expected="both or neither",
                          found="--num-parts alone" if args.part_id is None else "--part-id alone")
    if args.num_parts is not None:
        check_part(args.num_parts, args.part_id)
        return args.num_parts, args.part_id
    return part_from_environment()


def _table(results: list) -> str:
    """The per-case table: seconds per stage, total, liver and tumour mL (``CaseResult`` rows)."""
    from livseg.inference.timing import STAGES
    from livseg.io.tables import format_table

    header = ["case", "status", *STAGES, "total_s", "liver_ml", "tumour_ml", "qc"]
    rows = []
    for r in results:
        stages = [f"{r.seconds[s]:.2f}" if s in r.seconds else "-" for s in STAGES]
        total = f"{sum(r.seconds.values()):.2f}" if r.seconds else "-"
        rows.append(dict(zip(header, [r.case_id, r.status, *stages, total,
                                      "-" if r.liver_ml is None else f"{r.liver_ml:.1f}",
                                      ("-" if not r.ok else "n/a") if r.tumour_ml is None else f"{r.tumour_ml:.1f}",
                                      "-" if r.qc is None else r.qc["qc"]])))
    return format_table(rows, header, left=2)
