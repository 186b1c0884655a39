"""The tumour protocol of issue #14: tumour Dice on lesions inserted into a held-out real liver,
and false tumour volume on tumour-free real livers.

* Inserted tumours: copies of CHAOS CT 1 (a healthy donor's liver, kept out of the tumour
  model's training by ``scripts/train_default_models.py``'s ``tumour-unet3d-real-livers``) with
  lesions inserted by ``livseg.phantoms.lesions.insert_lesions`` (procedural shapes, seeds of
  their own, never used in training: 9000 + k); the reference is the inserted lesions' label.
  Reported per copy: tumour Dice, reference and predicted tumour mL.
* Tumour-free livers: CHAOS CT 1 as scanned and the TotalSegmentator example CT (its
  TotalSegmentator label marks no tumour): the tumour volume the cascade reports (should be 0;
  target <= 1 mL).

The liver -> tumour cascade runs as ``livseg predict --tumour`` does (the CRF on).

Run::

    .venv/bin/python bench/tumour.py [--model default] [--tumour-model PATH] [--copies 4] [--json out/tumour.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

#: The issue's targets.
TARGET_DICE = 0.65
TARGET_FALSE_ML = 1.0


def tumour_dice(reference: np.ndarray, predicted: np.ndarray) -> float | None:
    """Dice of label 2 (None when both are empty)."""
    a, b = reference == 2, predicted == 2
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return None if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def lesion_outcomes(case: str, ct: np.ndarray, reference: np.ndarray, labels: np.ndarray,
                    voxel_ml: float) -> list[dict]:
    """One row per connected piece of the reference tumour (label 2): its mL, its mean HU
    minus the liver's, and the share of its voxels labelled background, liver and tumour; a
    lesion the liver stage leaves out cannot be found by the tumour stage, which runs inside it."""
    from scipy import ndimage

    pieces, count = ndimage.label(reference == 2)
    liver_hu = float(ct[reference == 1].mean()) if np.any(reference == 1) else float("nan")
    rows = []
    for index in range(1, count + 1):
        piece = pieces == index
        n = int(np.count_nonzero(piece))
        found = labels[piece]
        rows.append({"case": case, "lesion_ml": n * voxel_ml, "hu_contrast": float(ct[piece].mean()) - liver_hu,
                     "as_background": float(np.count_nonzero(found == 0)) / n,
                     "as_liver": float(np.count_nonzero(found == 1)) / n,
                     "as_tumour": float(np.count_nonzero(found == 2)) / n})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="liver model (name or path)")
    parser.add_argument("--tumour-model", default=None, help="tumour model (default: the packaged NAME-tumour)")
    parser.add_argument("--copies", type=int, default=4, help="lesion copies of CHAOS (default 4)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from livseg.datasets import read_case_image, read_case_label, shared_cases, shared_data_root
    from livseg.inference import Segmenter
    from livseg.io.tables import format_table, write_json
    from livseg.phantoms.lesions import insert_lesions

    root = shared_data_root(args.data_root)
    if root is None:
        print("no shared data folder (../shared/data or $LIVSEG_SHARED_DATA): nothing to measure")
        return 0
    cases = {c.case_id: c for c in shared_cases(root)}
    segmenter = Segmenter.from_checkpoint(args.model, args.device, tumour_model=args.tumour_model, tumour=True)
    facts = segmenter.provenance()
    print("command: bench/tumour.py " + " ".join(sys.argv[1:]))
    print(f"liver model {facts['model']['name']} ({facts['model']['sha256'][:12]}), tumour model "
          f"{facts['tumour_model']['name']} ({facts['tumour_model']['sha256'][:12]}), device {args.device}")
    rows = []

    lesion_rows = []

    def run(name: str, kind: str, ct, reference) -> None:
        started = time.perf_counter()
        labels = segmenter.predict(ct).labels.array
        seconds = time.perf_counter() - started
        voxel_ml = ct.geometry.voxel_volume_mm3 / 1000.0
        lesion_rows.extend(lesion_outcomes(name, ct.array, reference.array, labels, voxel_ml))
        rows.append({"case": name, "kind": kind, "tumour_dice": tumour_dice(reference.array, labels),
                     "reference_ml": float(np.count_nonzero(reference.array == 2)) * voxel_ml,
                     "predicted_ml": float(np.count_nonzero(labels == 2)) * voxel_ml, "seconds": seconds})
        row = rows[-1]
        dice = "-" if row["tumour_dice"] is None else f"{row['tumour_dice']:.3f}"
        print(f"{name:<28}{kind:<18}tumour Dice {dice:>6}  reference {row['reference_ml']:7.1f} mL  "
              f"predicted {row['predicted_ml']:7.1f} mL  ({seconds:.1f} s)", flush=True)

    if "chaos-ct-1" in cases:
        chaos = cases["chaos-ct-1"]
        ct = read_case_image(chaos)
        label = read_case_label(chaos, image=ct)
        run("chaos-ct-1", "tumour-free", ct, label)
        for k in range(args.copies):
            copy = insert_lesions(ct, label, 9000 + k, shapes=("ellipsoid", "lobulated"))
            run(f"chaos-ct-1+lesions-{k}", "inserted tumours", copy.ct, copy.labels)
    if "totalseg-example" in cases:
        case = cases["totalseg-example"]
        ct = read_case_image(case)
        run("totalseg-example", "tumour-free", ct, read_case_label(case, image=ct))
    print()
    print(format_table(rows, ["case", "kind", "tumour_dice", "reference_ml", "predicted_ml", "seconds"], digits=3,
                       left=2))
    if lesion_rows:
        print("\nper inserted lesion (connected pieces of the reference tumour; HU contrast = lesion mean - "
              "liver mean; share of the lesion's voxels the cascade labelled background / liver / tumour):")
        print(format_table(lesion_rows, ["case", "lesion_ml", "hu_contrast", "as_background", "as_liver",
                                         "as_tumour"], digits=2, left=1))
    inserted = [r for r in rows if r["kind"] == "inserted tumours" and r["tumour_dice"] is not None]
    clean = [r for r in rows if r["kind"] == "tumour-free"]
    if inserted:
        mean = sum(r["tumour_dice"] for r in inserted) / len(inserted)
        print(f"\ninserted tumours in the held-out CHAOS liver: mean tumour Dice {mean:.3f} over {len(inserted)} "
              f"copies (target >= {TARGET_DICE})")
    if clean:
        worst = max(r["predicted_ml"] for r in clean)
        listed = ", ".join("{} {:.1f} mL".format(r["case"], r["predicted_ml"]) for r in clean)
        verdict = "met" if worst <= TARGET_FALSE_ML else "not met"
        print(f"tumour-free real livers: false tumour {listed} (target <= {TARGET_FALSE_ML:g} mL on every case: {verdict})")
    if args.json:
        write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
