"""``livseg tune-crf``: choose the CRF parameters and branch-fusion weights on labelled cases.

::

    livseg tune-crf --model NAME_OR_CHECKPOINT --data DATASET [--layout L] [--cases N|IDS]
        [--grid GRID.yaml] [--search random|halving --trials N [--seed S]]
        [--metric sliver07_score|dice|assd_mm ...] [--structure liver|tumour] [--mode 2d|3d]
        [--cache-dir DIR] [--device cpu|cuda] [--no-postprocess] [--bundle-out MODEL.pt]
        [-o tuned-crf.yaml]

The network runs once per case (cached); every trial then costs fusion + CRF +
post-processing + metrics. Prints the table (the ``no-crf`` and ``default`` rows first, the
best row marked ``*``), writes it as ``<name>-trials.csv`` / ``.json`` beside the settings
file, and the best setting into the settings YAML (see ``livseg.tuning.output``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ORDER = 50
logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    from livseg.tuning.objective import TUNABLE_MEASURES
    from livseg.tuning.names import SEARCHES

    parser = subparsers.add_parser(
        "tune-crf", help="tune the dense CRF and branch-fusion weights on labelled cases",
        description=(
            "Grid or random search of the dense CRF's mu1, mu2, theta_alpha (mm), theta_beta (HU), "
            "theta_gamma (mm) and the branch-fusion weights tau_d on labelled cases, maximising a "
            "measure (default: mean SLiver07 score of the liver). Network probabilities are computed "
            "once per case and cached. Writes the best setting as a YAML file of inference settings "
            "and the table of every trial as CSV and JSON."),
    )
    parser.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                        help="packaged model name, checkpoint (.pt), bundle (.safetensors) or run folder")
    parser.add_argument("--data", required=True, type=Path, metavar="DATASET",
                        help="data-set folder with reference labels (any layout livseg reads)")
    parser.add_argument("--layout", default="auto", help="layout of DATASET (default: recognise it)")
    parser.add_argument("--cases", metavar="N|IDS",
                        help="the first N labelled cases, or comma-separated case ids (default: all labelled)")
    parser.add_argument("--grid", type=Path, metavar="GRID.yaml",
                        help="values to try (default: 108 CRF settings x 1-3 fusion vectors); with --search, "
                             "each list's [min, max] is the range drawn from")
    parser.add_argument("--search", choices=SEARCHES[1:], dest="method",
                        help="random search or successive halving instead of the exhaustive grid (needs --trials)")
    parser.add_argument("--trials", type=int, metavar="N", help="trial budget of --search")
    parser.add_argument("--seed", type=int, default=0, help="seed of --search (default: %(default)s)")
    parser.add_argument("--metric", nargs="+", default=["sliver07_score"], metavar="MEASURE",
                        choices=TUNABLE_MEASURES,
                        help="measure to optimise, then others to show (default: sliver07_score); "
                             "distances and errors are minimised")
    parser.add_argument("--structure", default="liver", choices=("liver", "tumour"),
                        help="structure measured (default: %(default)s)")
    parser.add_argument("--mode", choices=("2d", "3d"), help="CRF on each slice or in 3D (default: the model's)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="where network probabilities are cached (default: <livseg cache>/crf-cache)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--no-postprocess", dest="postprocess", action="store_false",
                        help="measure the CRF labels without the model's post-processing")
    parser.add_argument("--bundle-out", type=Path, metavar="MODEL.pt",
                        help="also save the model with the tuned settings (for livseg predict --model)")
    parser.add_argument("-o", "--output", type=Path, default=Path("tuned-crf.yaml"), metavar="YAML",
                        help="tuned settings file (default: %(default)s); the table goes beside it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livseg.cli import typed_command
    from tqdm import tqdm

    from livseg.cli._progress import show_progress

    from livseg.errors import ConfigError
    from livseg.tuning import tune_crf
    from livseg.tuning.output import format_result_table

    if args.method is None and args.trials is not None:
        raise ConfigError("--trials", expected="--search random or --search halving with it",
                          found="a trial budget for the exhaustive grid", fix="add --search random")
    command = typed_command(args)
    bar = tqdm(desc="tune-crf", unit="step", disable=not show_progress(args), file=sys.stderr)

    def on_case(case_id: str, reused: bool) -> None:
        bar.set_postfix_str(f"{case_id} {'cached' if reused else 'network'}")
        bar.update(1)

    def on_trial(row) -> None:
        bar.set_postfix_str(f"trial {row.trial_id}")
        bar.update(1)

    try:
        outcome = tune_crf(
            args.model, args.data, layout=args.layout, cases=args.cases,
            grid=args.grid,
            method=args.method or "grid", trials=args.trials, seed=args.seed, metrics=args.metric,
            structure=args.structure, mode=args.mode, cache_dir=args.cache_dir, output=args.output,
            device=args.device, postprocess=args.postprocess, bundle_out=args.bundle_out, command=command,
            on_case=on_case, on_trial=on_trial)
    finally:
        bar.close()
    result, summary = outcome.result, outcome.summary
    print(format_result_table(result, outcome.extra_measures))
    trials = len(result.rows) - 2
    per_trial = sum(r.seconds for r in result.rows) / max(1, len(result.rows))
    print(f"cases: {len(result.case_ids)} ({len(outcome.cache.computed)} ran the network, "
          f"{len(outcome.cache.reused)} from the cache, {outcome.cache_seconds:.1f} s); "
          f"{trials} trials + 2 reference rows in {outcome.search_seconds:.1f} s ({per_trial:.2f} s per row)")
    measure = f"mean {result.objective.structure} {result.objective.measure} ({result.objective.direction})"
    print(f"{measure}: no CRF {_fmt(summary['no_crf_score'])}, default {_fmt(summary['default_score'])}, "
          f"best {_fmt(summary['best_score'])} (trial {summary['best_trial']}; "
          f"gain over no CRF {_fmt(summary['gain_over_no_crf'])}, over default {_fmt(summary['gain_over_default'])})")
    print(f"wrote {outcome.settings_path}, {outcome.csv_path}, {outcome.json_path}"
          + (f", {outcome.bundle_path}" if outcome.bundle_path else ""))
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
