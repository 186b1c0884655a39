"""``livseg summary OUT``: the cohort table of a predict run (from ``OUT/manifest.jsonl``),
printed and written to ``OUT/cohort.csv``."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 35


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "summary", help="the cohort table of a predict run (from its manifest)",
        description="Read OUT/manifest.jsonl (written by livseg predict INPUTS -o OUT), keep the latest "
                    "record of each case, print the table and write it to OUT/cohort.csv.")
    parser.add_argument("folder", type=Path, metavar="OUT", help="the output folder of livseg predict")
    parser.add_argument("--csv", type=Path, help="where to write the table (default: OUT/cohort.csv)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livseg.batch.cohort import COHORT_COLUMNS, cohort_rows
    from livseg.io.tables import format_table, write_csv

    rows = cohort_rows(args.folder)
    target = args.csv or args.folder / "cohort.csv"
    write_csv(rows, target, columns=COHORT_COLUMNS)
    shown = ("case_id", "status", "qc", "qc_score", "liver_ml", "tumour_ml", "tumour_count", "seconds")
    print(format_table(rows, shown, digits=1, left=2))
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in ("ok", "skipped", "failed")}
    review = sum(1 for r in rows if r["qc"] == "review")
    print(f"{len(rows)} case(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
          + (f"; {review} flagged for review (qc)" if review else "") + f"; table: {target}")
    return 1 if counts["failed"] else 0
