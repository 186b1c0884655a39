"""Accuracy of the default liver model on the real cases: leave-one-real-case-out and shipped.

For each real case in ../shared/data (CHAOS CT 1 with its expert mask, the TotalSegmentator
example CT and DICOM series with their model-made liver labels, the 3-slice dcmqi case) it
prints the SLiver07 measures (Dice, VOE, RVD, ASSD, RMSSD, MSSD, score) with and without the
dense CRF for

* the leave-one-out model trained without that case (``--loo-dir``: the bundles that
  ``scripts/train_default_models.py --export DIR`` writes; skipped with a note when absent:
  they are too large to ship), and
* the packaged default model, which saw every case in training (in-sample, for reference only).

Run::

    .venv/bin/python bench/accuracy.py --loo-dir runs/default/export --json out/accuracy.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CASES = ("chaos-ct-1", "totalseg-example", "totalseg-example-dicom", "dcmqi-ct-3slice")
MEASURES = (("dice", "Dice", "{:.4f}"), ("voe_pct", "VOE %", "{:.2f}"), ("rvd_pct", "RVD %", "{:+.2f}"),
            ("assd_mm", "ASSD mm", "{:.2f}"), ("rmssd_mm", "RMSSD mm", "{:.2f}"), ("mssd_mm", "MSSD mm", "{:.1f}"))


def evaluate(segmenter, image, reference, case) -> dict[str, Any]:
    """Segment one case with ``segmenter`` (as configured: CRF on or off) and score its liver."""
    from livseg.metrics import evaluate_case

    started = time.perf_counter()
    prediction = segmenter.predict(image)
    seconds = time.perf_counter() - started
    liver = evaluate_case(reference, prediction.labels, case_id=case.case_id).structures["liver"]
    row = {name: liver.value(name) for name, _, _ in MEASURES}
    row.update(sliver07=liver.sliver07_score, seconds=seconds, reference=case.extra.get("reference", "?"),
               slices=image.geometry.size[2])
    return row


def fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loo-dir", type=Path, default=REPO / "runs" / "default" / "export",
                        help="folder of liver-<network>-loo-<case>.safetensors bundles")
    parser.add_argument("--network", default="unet3d", help="network of the leave-one-out bundles")
    parser.add_argument("--default-model", default="default", help="the shipped model (name or path)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--coarse-to-fine", action="store_true",
                        help="predict as livseg predict --coarse-to-fine does (liver box from a 2x coarser pass)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    from livseg.datasets import read_case_image, read_case_label, shared_cases, shared_data_root
    from livseg.inference import Segmenter
    from livseg.inference.registry import resolve_model
    from livseg.io.tables import write_json

    root = shared_data_root(args.data_root)
    if root is None:
        print("no shared data folder (../shared/data or $LIVSEG_SHARED_DATA): nothing to measure")
        return 0
    cases = {c.case_id: c for c in shared_cases(root)}
    _, default_path = resolve_model(args.default_model)
    # The tuned CRF settings beside a packaged bundle apply to the leave-one-out bundles too
    # (same recipe); they were tuned on training cases (see MODEL_CARD.md).
    tuned = default_path.with_suffix(".crf.yaml")
    tuned = tuned if tuned.is_file() else None
    print("command: accuracy.py " + " ".join(sys.argv[1:]))
    print(f"data: {root}; default model: {default_path}; tuned CRF: {tuned or 'none (bundle defaults)'}")
    header = f"{'case':<24}{'model':<14}{'CRF':<5}" + "".join(f"{label:>10}" for _, label, _ in MEASURES) \
        + f"{'score':>8}{'s':>7}"
    print(header)
    print("-" * len(header))
    rows = []
    for case_id in args.cases:
        if case_id not in cases:
            print(f"{case_id:<24}missing under {root}")
            continue
        models = []
        loo = args.loo_dir / f"liver-{args.network}-loo-{case_id}.safetensors"
        if loo.is_file():
            models.append(("leave-out", loo))
        else:
            print(f"{case_id:<24}no leave-one-out bundle at {loo} (train it with scripts/train_default_models.py)")
        models.append(("default*", default_path))
        case = cases[case_id]
        image = read_case_image(case)
        reference = read_case_label(case, image=image)
        for label, path in models:
            segmenter = Segmenter.from_checkpoint(str(path), device=args.device, tumour=False, settings_file=tuned,
                                                  coarse_to_fine=args.coarse_to_fine)
            for crf in (False, True):
                segmenter.crf = crf
                row = evaluate(segmenter, image, reference, case)
                row.update(case=case_id, model=label, crf=crf)
                rows.append(row)
                print(f"{case_id:<24}{label:<14}{'yes' if crf else 'no':<5}"
                      + "".join(f"{fmt(row[name], pattern):>10}" for name, _, pattern in MEASURES)
                      + f"{row['sliver07']:>8.1f}{row['seconds']:>7.1f}", flush=True)
    print("default* = the shipped model, trained on every case above (in-sample); leave-out = trained without the case")
    for crf in (False, True):
        chosen = [r for r in rows if r["model"] == "leave-out" and r["crf"] == crf]
        if chosen:
            mean = sum(r["dice"] for r in chosen) / len(chosen)
            print(f"leave-one-out mean Dice ({'with' if crf else 'without'} CRF, {len(chosen)} cases): {mean:.4f}")
    if args.json:
        write_json(rows, args.json)  # atomically: a partial file never replaces a good one
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
