"""livseg in a notebook: read a CT, segment it, write the mask, score it. Run as a script:

    .venv/bin/python docs/examples/notebook.py CT.nii.gz [REFERENCE.nii.gz] [--out mask.nii.gz]

With no CT it makes a life-size synthetic abdomen (a phantom with its own reference labels), so
it runs anywhere. Each step is one call of the top-level API (``import livseg``); the cells of a
notebook would be the blocks below.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import livseg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ct", nargs="?", type=Path, help="a CT file or DICOM folder (default: a phantom)")
    parser.add_argument("reference", nargs="?", type=Path, help="its reference labels (0/1/2)")
    parser.add_argument("--out", type=Path, help="where to write the mask (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="livseg-notebook-"))

    # 1. A CT: array (z, y, x) in HU plus its exact geometry.
    if args.ct is None:
        from livseg.phantoms import generate_phantom

        ct, reference = generate_phantom(7, size_xyz=(240, 240, 110), spacing_mm=(1.6, 1.6, 3.0))
    else:
        ct = livseg.read(args.ct, kind="ct")
        reference = livseg.read(args.reference, kind="label") if args.reference else None
    print("CT:", ct)

    # 2. Segment it with the packaged default model (CUDA, MPS or CPU: device="auto").
    labels = livseg.segment(ct)
    print("labels:", labels, "liver mL:", round(float((labels.array > 0).sum()) * ct.geometry.voxel_volume_mm3 / 1000, 1))

    # 3. Write the mask on exactly the CT's grid.
    out = livseg.write(labels, args.out or folder / "liver.nii.gz")
    print("wrote", out)

    # 4. Score it against the reference (the liver only: the default model runs no tumour stage).
    if reference is not None:
        scores = livseg.evaluate(labels, reference, structures=("liver",))
        liver = scores.structures["liver"]
        print(f"liver Dice {liver.dice:.3f}, ASSD {liver.assd_mm:.2f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
