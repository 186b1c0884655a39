"""Benchmark: ``livseg predict``'s preprocess and restore steps on a 512x512x150 CT, before/after.

Case: the real CHAOS CT (``../shared/data/chaos-ct-1/image.nii.gz``, 512x512x78, 0.727 x 0.727
x 2 mm) stacked to 512x512x150 with mirrored copies (as ``bench/predict.py --tall`` builds its
512x512x800 case), in LPS, with the default model's preprocessing (body crop at -500 HU, HU
window -200..250 to [0, 1], 2 mm).

Steps timed (seconds, best of ``--repeats`` per process, best over ``--rounds`` processes):

* ``preprocess``: ``livseg.preprocessing.prepare.prepare_for_inference`` (body crop, window,
  resample), what the predict stage "preprocess" runs after reorienting;
* ``restore``: what the predict stage "restore" runs with the CRF on: ``crf_region`` (argmax,
  the liver component, the box + 10 mm, the probabilities resampled onto it) and the unrefined
  argmax of that region, on the default model's real probabilities for this case (the network
  runs once, in this process, about 20 s on 2 cores);
* ``restore_probabilities``: the liver probability on the whole input grid
  (``PreprocessRecord.invert``), what ``livseg predict --probabilities`` adds.

Before/after: ``--baseline REV`` (default ``HEAD``) is unpacked with ``git archive`` into a
temporary folder; each round runs one process on the baseline's ``src`` and one on this
checkout's, alternating (the machine is shared: compare the two columns, not runs of different
days). The prepared arrays of both are compared bit for bit, and so are the restored ones.

Run:  .venv/bin/python bench/preprocess.py                       (about 1.5 min on 2 busy cores)
      .venv/bin/python bench/preprocess.py --baseline 1301c10 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAOS = REPO.parent / "shared" / "data" / "chaos-ct-1" / "image.nii.gz"

#: Prefix of both worker scripts: the 512x512x150 case (CHAOS stacked with mirrored copies).
TALL_CT = r"""
import numpy as np
from livseg.io import read_volume
from livseg.volume import Geometry, Volume

def tall_ct(path):
    ct = read_volume(path, kind="ct")
    parts, z = [], 0
    while z < 150:
        parts.append(ct.array if len(parts) % 2 == 0 else ct.array[::-1])
        z += ct.array.shape[0]
    g = ct.geometry
    return Volume(np.ascontiguousarray(np.concatenate(parts)[:150]),
                  Geometry((g.size[0], g.size[1], 150), g.spacing_mm, g.origin_mm, g.direction), source="tall", kind="ct")
"""

WORKER = TALL_CT + r"""
import json, pickle, sys, time
import numpy as np
import livseg
from livseg.io import read_volume
from livseg.volume import Geometry, Volume
from livseg.inference.bundle import load_bundle
from livseg.inference.registry import resolve_model
from livseg.inference.stages import crf_region, refine_region, to_model_orientation
from livseg.preprocessing.prepare import prepare_for_inference
import dataclasses

chaos, probabilities_path, repeats, dump = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tall = tall_ct(chaos)
bundle = load_bundle(resolve_model("default")[1])
working, _ = to_model_orientation(tall, bundle.preprocessing.orientation)
config = dataclasses.replace(bundle.preprocessing, orientation=None)
probabilities = np.load(probabilities_path)
settings = bundle.settings

def restore(record, prepared):
    region = crf_region(probabilities, prepared, record.crop, margin_mm=settings.crf.margin_mm,
                        liver_rule=settings.postprocess)
    labels = refine_region(region.unary, None, working.geometry.spacing_mm, bundle.class_labels, crf=None,
                           mode=settings.crf.mode, device="cpu")
    return region, labels

def restore_probabilities(record, prepared):
    return record.invert(Volume(probabilities[1].astype(np.float32), prepared, source="tall"), fill=0.0)

best = {}
def timed(name, function, *args):
    start = time.perf_counter()
    out = function(*args)
    best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    return out

for _ in range(repeats + 1):  # the first round warms up (imports, allocator)
    prepared, record = timed("preprocess", prepare_for_inference, working, config)
    region, labels = timed("restore", restore, record, prepared.geometry)
    whole = timed("restore_probabilities", restore_probabilities, record, prepared.geometry)
if dump != "-":
    with open(dump, "wb") as handle:
        pickle.dump({"prepared": prepared.array, "grid": prepared.geometry, "box": (record.crop.start_zyx,
                     record.crop.stop_zyx), "unary": region.unary, "region": (region.box.start_zyx,
                     region.box.stop_zyx), "labels": labels, "whole": whole.array}, handle)
best["source"] = livseg.__file__
print(json.dumps(best))
"""

NETWORK = TALL_CT + r"""
import sys, numpy as np, torch, dataclasses
from livseg.io import read_volume
from livseg.volume import Geometry, Volume
from livseg.inference.bundle import load_bundle
from livseg.inference.fusion import resolve_fusion_weights
from livseg.inference.registry import resolve_model
from livseg.inference.stages import network_stage, to_model_orientation
tall = tall_ct(sys.argv[1])
bundle = load_bundle(resolve_model("default")[1])
working, _ = to_model_orientation(tall, bundle.preprocessing.orientation)
weights = resolve_fusion_weights(bundle.settings.fusion_weights, bundle.num_branches)
stage = network_stage(bundle, working, device=torch.device("cpu"), amp=False, fusion_weights=weights)
np.save(sys.argv[2], stage.probabilities)
"""


def run(source: Path, script: str, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(source), OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"worker failed on {source}: {done.stderr.strip()[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def same(before: dict, after: dict) -> dict[str, bool]:
    import numpy as np
    out = {}
    for key in before:
        a, b = before[key], after[key]
        if isinstance(a, np.ndarray):
            out[key] = a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
        elif hasattr(a, "same_grid"):
            out[key] = bool(a.same_grid(b))
        else:
            out[key] = a == b
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare against (default HEAD)")
    parser.add_argument("--rounds", type=int, default=3, help="processes per side, alternating")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per process (best kept)")
    args = parser.parse_args()
    if not CHAOS.exists():
        raise SystemExit(f"{CHAOS} is missing: the benchmark needs the shared CHAOS CT")
    import pickle
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        archive = subprocess.run(["git", "archive", args.baseline, "src/livseg"], cwd=REPO, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
        sides = {"before": work / "src", "after": REPO / "src"}
        probabilities = work / "probabilities.npy"
        started = time.perf_counter()
        run(sides["after"], NETWORK, str(CHAOS), str(probabilities))
        print(f"network probabilities: {time.perf_counter() - started:.1f} s")
        best: dict[str, dict[str, float]] = {side: {} for side in sides}
        for round_ in range(args.rounds):
            for side, source in sides.items():
                dump = str(work / f"{side}.pkl") if round_ == 0 else "-"
                times = json.loads(run(source, WORKER, str(CHAOS), str(probabilities), str(args.repeats), dump))
                if not times.pop("source").startswith(str(source)):
                    raise SystemExit(f"the worker did not import livseg from {source}")
                for name, seconds in times.items():
                    best[side][name] = min(best[side].get(name, float("inf")), seconds)
        with open(work / "before.pkl", "rb") as a, open(work / "after.pkl", "rb") as b:
            identical = same(pickle.load(a), pickle.load(b))
    load = os.getloadavg()
    print(f"512x512x150 CHAOS (mirrored stack), baseline {args.baseline}; best of {args.repeats} x {args.rounds} "
          f"processes per side, alternating; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'step':<24}{'before s':>10}{'after s':>10}{'ratio':>8}")
    for name in best["before"]:
        before, after = best["before"][name], best["after"][name]
        print(f"{name:<24}{before:>10.3f}{after:>10.3f}{before / after:>8.2f}")
    print("identical outputs: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in identical.items()))


if __name__ == "__main__":
    main()
