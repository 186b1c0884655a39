"""Render CT synthesised on the 3D-IRCADb organ masks, and a real CT with inserted lesions, into
docs/synthesis.png.

Usage::

    python scripts/make_synthesis_figure.py [--out docs/synthesis.png] [--patient patient-05] [--seed 3]

Rows: the same patient's masks painted in the non-contrast, arterial and portal-venous phase
and once with random intensities per tissue (domain randomisation), then the CHAOS CT with
lesions inserted. Axial slice through the liver's centroid and a coronal slice, W400/L40
(the randomised row: its 1-99 % range), liver (green) and tumour (red) contours.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_phantom_figure import WINDOW_HU, to_lps_order  # noqa: E402

from livseg.datasets.shared import shared_data_root  # noqa: E402
from livseg.io import read_volume  # noqa: E402
from livseg.phantoms.lesions import insert_lesions  # noqa: E402
from livseg.phantoms.masks import mask_patients, read_masks  # noqa: E402
from livseg.phantoms.synthesis import synthesise_case  # noqa: E402
from livseg.volume import Volume  # noqa: E402


def draw(axes: list, ct: Volume, labels: Volume, title: str, window: tuple[float, float] | None = None) -> None:
    image = to_lps_order(ct).astype(np.float32)
    label = to_lps_order(labels)
    sx, sy, sz = ct.geometry.spacing_mm
    nz, ny, nx = image.shape
    tumour = np.argwhere(label == 2)
    k, j, _ = (tumour if len(tumour) else np.argwhere(label > 0)).mean(axis=0).round().astype(int)
    low, high = window or WINDOW_HU
    views = [(image[k], label[k], (0, nx * sx, ny * sy, 0)), (image[::-1, j, :], label[::-1, j, :], (0, nx * sx, 0, nz * sz))]
    for ax, (picture, mask, extent) in zip(axes, views):
        ax.imshow(picture, cmap="gray", vmin=low, vmax=high, extent=extent, interpolation="nearest")
        xs = extent[0] + (extent[1] - extent[0]) * (np.arange(mask.shape[1]) + 0.5) / mask.shape[1]
        ys = extent[3] + (extent[2] - extent[3]) * (np.arange(mask.shape[0]) + 0.5) / mask.shape[0]
        for value, colour in ((1, "lime"), (2, "red")):
            if (mask >= value).any():
                ax.contour(xs, ys, (mask >= value).astype(float), levels=[0.5], colors=colour, linewidths=0.7)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel(title, fontsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/synthesis.png"))
    parser.add_argument("--patient", default="patient-05")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    root = shared_data_root()
    assert root is not None, "shared data not found"
    patient = mask_patients(root / "ircadb-masks", patients=[args.patient])[0]
    masks = read_masks(patient)
    rows = []
    for phase, intensity in (("non-contrast", "ct"), ("arterial", "ct"), ("portal-venous", "ct"), (None, "random")):
        case = synthesise_case(patient, args.seed, phase=phase, intensity=intensity, masks=masks, fov="none")
        info = case.info
        title = (f"{patient.patient_id} masks, {info['phase'] if intensity == 'ct' else 'random intensity'}\n"
                 f"{'x'.join(f'{v:.2f}' for v in info['spacing_mm'])} mm, noise {info['noise_sigma_hu']:.0f} HU")
        window = None
        if intensity == "random":
            window = tuple(np.percentile(case.ct.array, [1, 99]).tolist())
        rows.append((case.ct, case.labels, title, window))
    ct = read_volume(root / "chaos-ct-1" / "image.nii.gz", kind="ct")
    labels = read_volume(root / "chaos-ct-1" / "label.nii.gz", kind="label")
    result = insert_lesions(ct, labels, args.seed, n=3, diameters_mm=[35.0, 20.0, 12.0], kinds=["rim", "hypo", "cyst"])
    kinds = ", ".join(f"{d['kind']} {d['shape']}" for d in result.lesions)
    rows.append((result.ct, result.labels, f"CHAOS CT + inserted lesions\n{kinds}", None))
    figure, grid = plt.subplots(2, len(rows), figsize=(2.6 * len(rows), 5.4))
    for column, (image, label, title, window) in enumerate(rows):
        draw([grid[0, column], grid[1, column]], image, label, "", window)
        grid[0, column].set_title(title, fontsize=7)
    grid[0, 0].set_ylabel("axial", fontsize=8)
    grid[1, 0].set_ylabel("coronal", fontsize=8)
    figure.suptitle("CT synthesised on 3D-IRCADb-01 organ masks (IRCAD France, CC BY-NC-ND 4.0) and lesions "
                    "inserted into a real CT; green liver, red tumour", fontsize=8)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=72)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
