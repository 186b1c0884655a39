"""Render axial, coronal and sagittal slices of a few synthetic phantoms into docs/phantom.png.

Usage::

    python scripts/make_phantom_figure.py [--out docs/phantom.png] [--seeds 3 7 11] [--size 256 256 96]
                                          [--time-large]

Each row is one phantom: CT in a soft-tissue window (W 400 / L 40 HU) with the liver (green)
and tumour (red) label contours, slices through the liver's centroid, pixels drawn at their
physical size. Prints the generation time of every phantom (and of a 512x512x300 one with
``--time-large``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from livseg.datasets.phantom import generate_phantom  # noqa: E402
from livseg.volume import Volume  # noqa: E402

WINDOW_HU = (-160.0, 240.0)


def to_lps_order(volume: Volume) -> np.ndarray:
    """The array re-ordered so that index axes (x, y, z) point to L, P, S (undoes axis flips)."""
    direction = volume.geometry.direction_matrix
    array = volume.array
    for axis in range(3):
        if direction[axis, axis] < 0:
            array = np.flip(array, axis=2 - axis)
    return array


def draw_row(axes: list, ct: Volume, labels: Volume, title: str) -> None:
    image = to_lps_order(ct).astype(np.float32)
    label = to_lps_order(labels)
    sx, sy, sz = ct.geometry.spacing_mm
    nz, ny, nx = image.shape
    liver = np.argwhere(label > 0)
    k, j, i = (liver.mean(axis=0).round().astype(int) if len(liver) else (nz // 2, ny // 2, nx // 2))
    views = [
        ("axial", image[k], label[k], (0, nx * sx, ny * sy, 0)),  # rows anterior->posterior
        ("coronal", image[::-1, j, :], label[::-1, j, :], (0, nx * sx, 0, nz * sz)),  # rows superior->inferior
        ("sagittal", image[::-1, :, i], label[::-1, :, i], (0, ny * sy, 0, nz * sz)),  # cols anterior->posterior
    ]
    for ax, (name, ct_slice, label_slice, extent) in zip(axes, views):
        ax.imshow(ct_slice, cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], extent=extent,
                  interpolation="nearest")
        height = label_slice.shape[0]
        width = label_slice.shape[1]
        # imshow puts row 0 at extent[3] (top) and column 0 at extent[0] (left).
        xs = extent[0] + (extent[1] - extent[0]) * (np.arange(width) + 0.5) / width
        ys = extent[3] + (extent[2] - extent[3]) * (np.arange(height) + 0.5) / height
        for value, colour in ((1, "lime"), (2, "red")):
            mask = (label_slice >= value).astype(float)
            if mask.any():
                ax.contour(xs, ys, mask, levels=[0.5], colors=colour, linewidths=0.8)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}", fontsize=8)
    axes[0].set_ylabel(title, fontsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/phantom.png"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 7, 11])
    parser.add_argument("--size", type=int, nargs=3, default=None, help="voxels x y z (default: the phantom default)")
    parser.add_argument("--time-large", action="store_true", help="also time one 512x512x300 phantom")
    args = parser.parse_args()

    generate_phantom(0, size_xyz=(32, 32, 32))  # warm-up: imports and first-call costs
    figure, grid = plt.subplots(len(args.seeds), 3, figsize=(9, 3.1 * len(args.seeds)),
                                gridspec_kw={"width_ratios": [1, 1, 1]})
    grid = np.atleast_2d(grid)
    for row, seed in enumerate(args.seeds):
        started = time.perf_counter()
        ct, labels = generate_phantom(seed, size_xyz=tuple(args.size) if args.size else None)
        elapsed = time.perf_counter() - started
        info = ct.meta["phantom"]
        print(f"seed {seed}: {ct.geometry.describe()} in {elapsed:.2f} s; phase {info['phase']}, "
              f"scale {info['anatomy_scale']:.3f}, {len(info['tumours'])} tumours, flipped '{info['flipped_axes']}'")
        spacing = "x".join(f"{v:.2f}" for v in ct.geometry.spacing_mm)
        title = (f"seed {seed}, {info['phase']}\n{spacing} mm, stored {ct.geometry.orientation}\n"
                 f"scale {info['anatomy_scale']:.2f}, noise {info['noise_sigma_hu']:.0f} HU")
        draw_row(list(grid[row]), ct, labels, title)
    figure.suptitle("livseg synthetic phantoms (W400/L40; green liver, red tumour; patient's right on image left)",
                    fontsize=9)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    if args.time_large:
        started = time.perf_counter()
        ct, _ = generate_phantom(1, size_xyz=(512, 512, 300))
        print(f"512x512x300 phantom ({ct.geometry.describe()}): {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
