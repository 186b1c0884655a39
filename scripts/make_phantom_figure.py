"""Render axial, coronal and sagittal slices of a few synthetic phantoms into docs/phantom.png.

Usage::

    python scripts/make_phantom_figure.py [--out docs/phantom.png] [--rows 3 11 7:384x384x144]
                                          [--time-large]

Each row is one phantom, ``SEED`` (default size 128x128x64) or ``SEED:XxYxZ``: CT in a
soft-tissue window (W 400 / L 40 HU) with the liver (green) and tumour (red) label contours,
slices through the liver's centroid, pixels drawn at their physical size. Prints the
generation time of every phantom (and of 128x128x64 and 512x512x300 ones with
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

from livseg.phantoms import generate_phantom  # noqa: E402
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
    parser.add_argument("--rows", nargs="+", default=["3", "11", "7:384x384x144"],
                        help="one phantom per row: SEED or SEED:XxYxZ")
    parser.add_argument("--time-large", action="store_true",
                        help="also time 128x128x64 and 512x512x300 phantoms")
    args = parser.parse_args()

    generate_phantom(0, size_xyz=(32, 32, 32))  # warm-up: imports and first-call costs
    figure, grid = plt.subplots(len(args.rows), 3, figsize=(9, 3.1 * len(args.rows)))
    grid = np.atleast_2d(grid)
    for row, spec in enumerate(args.rows):
        seed_text, _, size_text = spec.partition(":")
        seed = int(seed_text)
        size = tuple(int(n) for n in size_text.split("x")) if size_text else None
        started = time.perf_counter()
        ct, labels = generate_phantom(seed, size_xyz=size)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        info = ct.meta["phantom"]
        print(f"seed {seed}: {ct.geometry.describe()} in {elapsed:.2f} s; phase {info['phase']}, "
              f"scale {info['anatomy_scale']:.3f}, {len(info['tumours'])} tumours, flipped '{info['flipped_axes']}'")
        size_xyz = "x".join(str(n) for n in ct.geometry.size)
        spacing = "x".join(f"{v:.2f}" for v in ct.geometry.spacing_mm)
        title = (f"seed {seed}, {info['phase']}\n{size_xyz} at {spacing} mm\n"
                 f"stored {ct.geometry.orientation}, scale {info['anatomy_scale']:.2f}, "
                 f"noise {info['noise_sigma_hu']:.0f} HU")
        draw_row(list(grid[row]), ct, labels, title)
    figure.suptitle("livseg synthetic phantoms (W400/L40; green liver, red tumour; patient's right on image left)",
                    fontsize=9)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")
    if args.time_large:
        for size in ((128, 128, 64), (512, 512, 300)):
            wall, cpu = time.perf_counter(), time.process_time()
            ct, _ = generate_phantom(1, size_xyz=size)
            print(f"{ct.geometry.describe()}: {time.perf_counter() - wall:.2f} s wall, "
                  f"{time.process_time() - cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
