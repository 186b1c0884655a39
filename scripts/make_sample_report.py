"""Regenerate docs/sample-report.html and docs/report-screenshot.png from synthetic phantoms.

Usage::

    .venv/bin/python scripts/make_sample_report.py [--work out/sample-report] [--n 4] [--seed 3]
                                                   [--no-train] [--no-screenshot]

Steps, each with the real ``livseg`` command (so the report shows them as they ran):

1. ``livseg data phantom WORK/data --n N --seed S`` (128x128x64 phantoms);
2. simulated network probabilities per case: the reference liver's signed distance (mm)
   made fuzzy by a smooth random field and voxel noise, the tumour the same way (one case's
   tumour made faint enough to be missed); ``WORK/nocrf`` = their argmax, ``WORK/crf`` = the
   liver (labels 1+2) refined by ``livseg.crf`` (two-label 3D dense CRF, default parameters,
   as the liver CRF of Dou et al. 2016), tumour voxels kept inside the refined liver;
3. ``livseg evaluate --pred-dir WORK/crf --gt WORK/data --out WORK/eval``;
4. with ``livseg train`` available: a tiny real training run on small phantoms (a few
   seconds per epoch) for the learning-curve section;
5. ``livseg report WORK/eval --gt WORK/data --pred-dir WORK/crf --pred-dir-nocrf WORK/nocrf
   [--run WORK/run] -o docs/sample-report.html``;
6. the page loaded in headless Chromium (console errors, broken images and slice viewers
   that did not start fail the script), and a 1280x1100 screenshot from its Cases section (the
   first case's slice viewer) written to docs/report-screenshot.png.

The predictions are simulated, not a network's: the page's title says so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
LIVSEG = str(Path(sys.executable).with_name("livseg"))
TITLE = "livseg sample report: synthetic phantoms, simulated predictions"
TINY_RUN = """\
name: sample-tiny-dsn
data: {phantoms: {n: 4, seed: 0, size_xyz: [48, 48, 24]}, val_fraction: 0.25}
preprocessing: {spacing_mm: null, crop: none}
model: {name: dsn3d, options: {widths: [8, 8, 8, 8, 8]}}
loss: {name: dice+ce, deep_supervision: dsn2016}
optimiser: {name: adam, lr: 0.003}
schedule: {name: step, step_epochs: 10, step_gamma: 0.5}
augmentation: {rotate_prob: 0.0, elastic_prob: 0.0}
training: {epochs: 15, patches_per_epoch: 8, batch_size: 2, patch_voxels_xyz: [32, 32, 16], foreground_fraction: 0.7,
           threads: 2}
validation: {mode: sliding, overlap: 0.25}
"""


def livseg(*args: object) -> None:
    command = [LIVSEG, *(str(a) for a in args)]
    print("$ livseg " + " ".join(str(a) for a in args), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def smooth_field(shape: tuple[int, ...], rng: np.random.Generator, sigma_voxels: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field (z, y, x)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_voxels)
    return (field - field.mean()) / field.std()


def signed_distance_mm(mask: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """Distance to the mask's boundary in mm, positive inside, negative outside."""
    inside = ndimage.distance_transform_edt(mask, sampling=spacing_zyx)
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
    return inside - outside


def simulated_probabilities(labels: np.ndarray, spacing_xyz: tuple[float, float, float],
                            rng: np.random.Generator, miss_tumour: bool) -> np.ndarray:
    """(3, Z, Y, X) background / liver / tumour probabilities that look like a network's."""
    spacing_zyx = tuple(float(s) for s in spacing_xyz[::-1])
    liver_logit = (signed_distance_mm(labels > 0, spacing_zyx) / 2.0
                   + 2.0 * smooth_field(labels.shape, rng, 6.0) + 0.8 * rng.standard_normal(labels.shape))
    tumour_logit = (signed_distance_mm(labels == 2, spacing_zyx) / 1.0 + 0.5
                    + 1.0 * smooth_field(labels.shape, rng, 3.0) + 0.4 * rng.standard_normal(labels.shape))
    if miss_tumour:
        tumour_logit -= 8.0
    p_liver_region = 1.0 / (1.0 + np.exp(-liver_logit))
    p_tumour_given = 1.0 / (1.0 + np.exp(-tumour_logit))
    probabilities = np.stack([1.0 - p_liver_region, p_liver_region * (1.0 - p_tumour_given),
                              p_liver_region * p_tumour_given]).astype(np.float32)
    return probabilities


def make_predictions(work: Path, seed: int) -> None:
    from livseg.crf import CrfParams, dense_crf_in_roi
    from livseg.io import read_volume, write_volume

    rng = np.random.default_rng(seed)
    labels_dir = work / "data" / "labels"
    for index, label_path in enumerate(sorted(labels_dir.glob("*.nii.gz"))):
        case_id = label_path.name[: -len(".nii.gz")]
        reference = read_volume(label_path, kind="label")
        ct = read_volume(work / "data" / "images" / label_path.name, kind="ct")
        probabilities = simulated_probabilities(reference.array, reference.spacing_mm, rng, miss_tumour=index == 1)
        before = probabilities.argmax(0).astype(np.uint8)
        started = time.perf_counter()
        # The liver CRF of Dou et al. 2016: two labels (background, liver incl. tumour); the
        # tumour voxels of the argmax are kept where the refined liver is.
        liver = probabilities[1:].sum(0)
        refined = dense_crf_in_roi(np.stack([1.0 - liver, liver]), ct.array.astype(np.float32), ct.spacing_mm,
                                   liver > 0.5, 10.0, CrfParams())
        refined_liver = np.asarray(refined).argmax(0) == 1
        after = np.where(refined_liver, np.where(before == 2, 2, 1), 0).astype(np.uint8)
        print(f"{case_id}: CRF {time.perf_counter() - started:.1f} s", flush=True)
        write_volume(reference.with_array(before), work / "nocrf" / label_path.name)
        write_volume(reference.with_array(after), work / "crf" / label_path.name)


def train_tiny_run(work: Path) -> Path | None:
    """A real (tiny) training run for the learning curves; None when livseg train is missing."""
    run = work / "run"
    if (run / "log.csv").is_file():
        return run
    help_text = subprocess.run([LIVSEG, "--help"], capture_output=True, text=True, check=True).stdout
    if " train " not in help_text:
        print("livseg train is not available: the sample has no learning curves", flush=True)
        return None
    config = work / "tiny-run.yaml"
    config.write_text(TINY_RUN, encoding="utf-8")
    livseg("train", config, "--out", run)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "out" / "sample-report", help="working folder")
    parser.add_argument("--n", type=int, default=4, help="number of phantoms")
    parser.add_argument("--seed", type=int, default=3, help="phantom and noise seed")
    parser.add_argument("--no-train", action="store_true", help="leave out the tiny training run")
    parser.add_argument("--no-screenshot", action="store_true", help="do not open the page in Chromium")
    parser.add_argument("--html", type=Path, default=REPO / "docs" / "sample-report.html")
    parser.add_argument("--screenshot", type=Path, default=REPO / "docs" / "report-screenshot.png")
    args = parser.parse_args()
    work = args.work.resolve()
    if not (work / "data" / "labels").is_dir():
        livseg("data", "phantom", work / "data", "--n", args.n, "--seed", args.seed)
    make_predictions(work, args.seed)
    livseg("evaluate", "--pred-dir", work / "crf", "--gt", work / "data", "--out", work / "eval")
    run = None if args.no_train else train_tiny_run(work)
    report_args = ["report", work / "eval", "--gt", work / "data", "--pred-dir", work / "crf",
                   "--pred-dir-nocrf", work / "nocrf", "--title", TITLE, "-o", args.html]
    if run is not None:
        report_args += ["--run", run]
    livseg(*report_args)
    size_mb = args.html.stat().st_size / 1e6
    print(f"{args.html}: {size_mb:.2f} MB", flush=True)
    if args.no_screenshot:
        return 0
    from livseg.reporting.browser import check_in_chromium

    seen = check_in_chromium(args.html, screenshot=args.screenshot, width=1280, height=1100,
                             screenshot_from="#cases")
    not_ready = [name for name, state in seen.viewers.items() if state != "ready"]
    print(f"chromium: {len(seen.images)} images, {len(seen.broken_images)} broken, "
          f"{len(seen.viewers)} slice viewers ({len(not_ready)} not ready), "
          f"{len(seen.errors)} console errors; screenshot {args.screenshot}", flush=True)
    return 0 if not seen.errors and not seen.broken_images and not not_ready else 1


if __name__ == "__main__":
    sys.exit(main())
