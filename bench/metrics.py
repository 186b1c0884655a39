"""Benchmark: evaluate one 512x512x300 pair with livseg, MedPy and DeepMind surface-distance.

Two overlapping liver-like shapes (unions of ellipsoids with a wavy surface) on an anisotropic
grid. Each tool computes its surface measures its own way, as a user would call it; the values
are printed next to the times so agreement is visible:

* livseg: ``evaluate_structure`` (confusion counts, distances once, every measure, SLiver07
  score), with the default exact EDT on the cropped pair and with the k-d tree method;
* MedPy 0.5: ``dc``, ``assd``, ``hd``, ``hd95`` with ``connectivity=3`` (26 neighbours, the
  SLiver07 border rule); each surface call runs its own full-volume distance transforms;
* surface-distance: ``compute_surface_distances`` once, then its derived measures (surfel-based,
  so its values differ slightly by design).

Run:  .venv/bin/python bench/metrics.py            (about 2-4 minutes on 2 cores)
      .venv/bin/python bench/metrics.py --size 256 256 150 --skip-medpy   (quick look)
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import time

import numpy as np

from livseg.metrics import evaluate_structure

# (centre_mm (x, y, z), radii_mm (x, y, z)) of the ellipsoids whose union is the "liver".
REFERENCE_LOBES = [((-10.0, 0.0, 0.0), (95.0, 80.0, 75.0)),
                   ((55.0, 10.0, -25.0), (60.0, 55.0, 55.0)),
                   ((-60.0, -20.0, 20.0), (45.0, 50.0, 50.0))]
PREDICTED_LOBES = [((-8.0, 2.0, 1.5), (93.0, 81.0, 73.0)),
                   ((58.0, 8.0, -22.0), (62.0, 53.0, 57.0)),
                   ((-58.0, -18.0, 18.0), (44.0, 52.0, 48.0))]


def liver_like(size_xyz, spacing_xyz, lobes, wave_mm: float, phase: float) -> np.ndarray:
    """Bool mask (z, y, x): union of ellipsoids whose surface is perturbed by a 3D wave."""
    nx, ny, nz = size_xyz
    sx, sy, sz = spacing_xyz
    x = ((np.arange(nx) - nx / 2) * sx)[None, :]
    y = ((np.arange(ny) - ny / 2) * sy)[:, None]
    mask = np.zeros((nz, ny, nx), dtype=bool)
    for k in range(nz):  # one slice at a time keeps memory at a few slices' worth of floats
        z = (k - nz / 2) * sz
        wave = wave_mm * np.sin(x / 17.0 + phase) * np.cos(y / 23.0 - phase) * np.cos(z / 19.0)
        inside = np.zeros((ny, nx), dtype=bool)
        for (cx, cy, cz), (rx, ry, rz) in lobes:
            r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2)
            inside |= r * min(rx, ry, rz) <= min(rx, ry, rz) + wave
        mask[k] = inside
    return mask


def timed(function, repeat: int = 1):
    """(wall seconds, CPU seconds of this process, result) of the fastest of ``repeat`` runs."""
    best, result = (math.inf, math.inf), None
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best[0], best[1], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 300), metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing-mm", type=float, nargs=3, default=(0.78, 0.78, 1.5), metavar=("X", "Y", "Z"))
    parser.add_argument("--skip-medpy", action="store_true", help="leave out MedPy (its full-volume EDTs are slow)")
    args = parser.parse_args()
    size, spacing = tuple(args.size), tuple(args.spacing_mm)
    spacing_zyx = spacing[::-1]

    start = time.perf_counter()
    reference = liver_like(size, spacing, REFERENCE_LOBES, wave_mm=4.0, phase=0.0)
    prediction = liver_like(size, spacing, PREDICTED_LOBES, wave_mm=5.0, phase=0.4)
    print(f"pair: {size[0]}x{size[1]}x{size[2]} voxels, spacing {spacing} mm, "
          f"reference {int(reference.sum())} voxels, prediction {int(prediction.sum())} voxels "
          f"(built in {time.perf_counter() - start:.1f} s)")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}")

    rows = []
    *seconds, result = timed(lambda: evaluate_structure(reference, prediction, spacing_mm=spacing), repeat=2)
    rows.append(("livseg (edt, all measures)", seconds, result.dice, result.assd_mm, result.mssd_mm, result.hd95_mm,
                 result.surface_dice))
    *seconds, result = timed(lambda: evaluate_structure(reference, prediction, spacing_mm=spacing,
                                                        method="kdtree"), repeat=2)
    rows.append(("livseg (kdtree, all measures)", seconds, result.dice, result.assd_mm, result.mssd_mm,
                 result.hd95_mm, result.surface_dice))

    try:
        import surface_distance as sd
    except ImportError:
        print("surface-distance not installed: pip install surface-distance")
    else:
        def run_sd():
            distances = sd.compute_surface_distances(reference, prediction, spacing_zyx)
            return (sd.compute_dice_coefficient(reference, prediction),
                    float(np.mean(sd.compute_average_surface_distance(distances))),
                    sd.compute_robust_hausdorff(distances, 100), sd.compute_robust_hausdorff(distances, 95),
                    sd.compute_surface_dice_at_tolerance(distances, 1.0))
        *seconds, values = timed(run_sd)
        rows.append(("surface-distance 0.1", seconds, *values))

    if not args.skip_medpy:
        try:
            from medpy.metric import binary
        except ImportError:
            print("MedPy not installed: pip install medpy")
        else:
            def run_medpy():
                return (binary.dc(prediction, reference),
                        binary.assd(prediction, reference, spacing_zyx, 3),
                        binary.hd(prediction, reference, spacing_zyx, 3),
                        binary.hd95(prediction, reference, spacing_zyx, 3), None)
            *seconds, values = timed(run_medpy)
            rows.append(("MedPy 0.5 (dc, assd, hd, hd95)", seconds, *values))

    base_wall, base_cpu = rows[0][1]
    header = (f"{'tool':32s} {'wall s':>7s} {'cpu s':>7s} {'x wall':>7s} {'x cpu':>7s} {'Dice':>8s} "
              f"{'ASSD mm':>8s} {'MSSD mm':>8s} {'HD95 mm':>8s} {'SDice@1mm':>9s}")
    print(header)
    print("-" * len(header))
    for name, (wall, cpu), dice, assd, mssd, hd95, sdice in rows:
        sdice_text = "-" if sdice is None else f"{sdice:.4f}"
        print(f"{name:32s} {wall:7.2f} {cpu:7.2f} {wall / base_wall:7.2f} {cpu / base_cpu:7.2f} {dice:8.5f} "
              f"{assd:8.4f} {mssd:8.3f} {hd95:8.3f} {sdice_text:>9s}")
    print("x wall, x cpu: time relative to livseg (edt). cpu = CPU seconds of this process (all threads); "
          "wall time on a shared machine also counts other processes' load.")
    print("HD95: livseg and MedPy = 95th percentile of the pooled distances; surface-distance = max of the "
          "two directed 95th percentiles. surface-distance measures between surfels, weighted by area.")


if __name__ == "__main__":
    main()
