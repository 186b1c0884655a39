"""Benchmark: end-to-end ``livseg predict`` per stage, with peak memory, and a network peer.

Cases:

* ``chaos``: the real CHAOS CT (``../shared/data/chaos-ct-1/image.nii.gz``, 512x512x78,
  0.727 x 0.727 x 2 mm);
* ``phantom300``: a synthetic 512x512x300 abdominal CT (``generate_phantom(7, size_xyz=(512,
  512, 300))``, written once to ``--work``/phantom-512x512x300.nii.gz);
* ``tall`` (only with ``--tall``): the CHAOS CT stacked to 512x512x800 (mirrored copies so
  anatomy continues), predicted in-process, to show the memory bound of a very long scan.

Each of ``chaos`` and ``phantom300`` runs as ``livseg predict FILE -o OUT --model BUNDLE
--timing`` in a fresh process, so the stage times (read, preprocess, network, restore, crf,
post, write) and the peak memory (ru_maxrss / VmHWM) are those of the real command.

Model: a 3D DSN bundle (paper widths 8-16-32-32-32, window 160x160x72 voxels (x, y, z), grown
to whole axes up to 8 M voxels, overlap 0.25, resampling to 1.5 x 1.5 x 2 mm, body crop, 3D CRF
in the segmented box + 10 mm), randomly initialised by default: the network's time does not
depend on its weights. The CRF's does (it runs in the box of what the network segmented, and
a random network segments nothing here), so the CRF stage is also timed on the reference
liver's box + 10 mm, with the same ``livseg.crf.dense_crf`` call the predictor makes; the
report adds it to the end-to-end time as the estimate for a network that finds the liver.
``--train-seconds S`` first trains the DSN on phantoms for at most S seconds (cached in
``--work``; a few minutes on 2 CPU cores did not get past predicting background).

Peer, same process and inputs: MONAI's DynUNet (3D U-Net of nnU-Net's kind, filters
32-64-128-256, randomly initialised) through MONAI's ``sliding_window_inference`` with the
same window, overlap and Gaussian blending on the same prepared volume; network time only,
against livseg's network stage on that volume, as a ratio.

Run:  .venv/bin/python bench/predict.py                        (about 8 min on 2 busy cores)
      .venv/bin/python bench/predict.py --cases chaos --no-peer   (quick look)
      .venv/bin/python bench/predict.py --cases chaos --no-peer --tall   (+ the 512x512x800 memory check)
      .venv/bin/python bench/predict.py --device cuda             (where a GPU is available)
"""

from __future__ import annotations

import os

# Passive OpenMP waiting: spinning threads steal the partner core on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WINDOW_XYZ = (160, 160, 72)
OVERLAP = 0.25
SPACING_MM = (1.5, 1.5, 2.0)


def shared_data() -> Path | None:
    env = os.environ.get("LIVSEG_SHARED_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if candidate.is_dir():
            return candidate
    return None


def bench_config(train: bool):
    from livseg.config import config_from_dict

    return config_from_dict({
        "name": "bench-dsn3d",
        "data": {"phantoms": {"n": 5, "seed": 100, "size_xyz": [320, 320, 128]}, "task": "liver",
                 "val_fraction": 0.2},
        "preprocessing": {"orientation": "LPS", "hu_window": [-200, 200], "spacing_mm": list(SPACING_MM),
                          "crop": "body"},
        "model": {"name": "dsn3d", "options": {}},
        "loss": {"name": "dice+ce", "deep_supervision": "dsn2016"},
        "optimiser": {"name": "adamw", "lr": 0.003},
        "schedule": {"name": "constant"},
        "augmentation": {"enabled": False},
        "training": {"epochs": 1000, "patches_per_epoch": 8, "batch_size": 2, "patch_voxels_xyz": [96, 96, 48],
                     "foreground_fraction": 0.5, "threads": torch.get_num_threads()},
        "validation": {"every_epochs": 5, "mode": "sliding", "overlap": 0.25},
        "output": {"plot": False},
    }, require_data=train)


def make_bundle(work: Path, random_weights: bool, train_seconds: float) -> tuple[Path, str]:
    """The bench bundle (trained on phantoms, or random), saved in ``work``; and how it was made."""
    from livseg.inference import InferenceSettings, ModelBundle, load_bundle, save_bundle
    from livseg.models import build_model

    out = work / ("dsn3d-random.pt" if random_weights else "dsn3d-phantom.pt")
    run = work / "dsn3d-phantom-run"
    if random_weights:
        config = bench_config(train=False)
        torch.manual_seed(0)
        network = build_model("dsn3d", num_classes=2)
        bundle = ModelBundle(network=network, preprocessing=config.preprocessing, task="liver",
                             settings=InferenceSettings(window_voxels_xyz=WINDOW_XYZ, overlap=OVERLAP),
                             name="bench-dsn3d-random", config=config)
        save_bundle(bundle, out)
        return out, "randomly initialised (timing does not depend on the weights)"
    if not (run / "best.pt").exists():
        from livseg.training.engine import train

        print(f"training the bench DSN on phantoms for at most {train_seconds:.0f} s ...", flush=True)
        train(bench_config(train=True), run, max_seconds=train_seconds)
    from livseg.training.checkpoint import load_checkpoint

    state = load_checkpoint(run / "best.pt")
    bundle = load_bundle(run / "best.pt").with_settings(window_voxels_xyz=WINDOW_XYZ, overlap=OVERLAP)
    save_bundle(bundle, out)
    best = state.get("best", {})
    return out, (f"trained on 4 phantoms for {state['epoch']} epochs of 8 patches 96x96x48 "
                 f"(best {best.get('metric')} {best.get('score', float('nan')):.3f} at epoch {best.get('epoch')})")


def phantom_file(work: Path) -> tuple[Path, Path]:
    path, label_path = work / "phantom-512x512x300.nii.gz", work / "phantom-512x512x300-label.nii.gz"
    if not path.exists() or not label_path.exists():
        from livseg.datasets.phantom import generate_phantom
        from livseg.io import write_volume

        print("generating the 512x512x300 phantom ...", flush=True)
        ct, labels = generate_phantom(7, size_xyz=(512, 512, 300))
        write_volume(ct, path)
        write_volume(labels, label_path)
    return path, label_path


def crf_on_reference_roi(image_path: Path, label_path: Path, model: Path, device: str) -> dict:
    """The predictor's steps after the network (region of interest, probabilities onto it,
    dense CRF, labels pasted back) for a network whose output is the reference liver
    (probability 0.8 inside, 0.2 outside, on the prepared grid)."""
    import dataclasses

    from livseg.crf import dense_crf
    from livseg.inference import load_bundle
    from livseg.inference.prepare import prepare_for_inference
    from livseg.inference.restore import foreground_roi, probabilities_on
    from livseg.io import read_volume
    from livseg.preprocessing import crop, reorient
    from livseg.preprocessing.orientation import apply_reorient
    from livseg.preprocessing.resampling import resample_onto

    bundle = load_bundle(model)
    settings = bundle.settings.crf
    ct = read_volume(image_path, kind="ct")
    label = read_volume(label_path, kind="label")
    ct, turned = reorient(ct, bundle.preprocessing.orientation or "LPS")
    label = apply_reorient(label, turned)
    prepared, record = prepare_for_inference(ct, dataclasses.replace(bundle.preprocessing, orientation=None))
    liver = resample_onto(crop(label, record.crop), prepared.geometry, is_label=True).array > 0
    foreground = np.where(liver, 0.8, 0.2)
    probabilities = np.stack([1 - foreground, foreground]).astype(np.float16)
    started = time.perf_counter()
    box = foreground_roi(liver, prepared.geometry, record.crop, settings.margin_mm)
    unary = probabilities_on(box, probabilities, prepared.geometry)
    restored = time.perf_counter()
    refined = dense_crf(unary, np.asarray(ct.array[box.slices], dtype=np.float32), ct.spacing_mm, settings.params,
                        mode=settings.mode, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    refined_at = time.perf_counter()
    labels = np.zeros(ct.geometry.shape_zyx, dtype=np.uint8)
    labels[box.slices] = refined.argmax(axis=0)
    done = time.perf_counter()
    roi = [b - a for a, b in zip(box.start_zyx, box.stop_zyx)]
    return {"roi_zyx": roi, "restore_s": (restored - started) + (done - refined_at), "crf_s": refined_at - restored}


def run_predict(image: Path, model: Path, out: Path, device: str) -> dict:
    """``livseg predict IMAGE -o OUT --model MODEL --timing`` in a fresh process, parsed."""
    command = [str(REPO / ".venv" / "bin" / "livseg"), "predict", str(image), "-o", str(out), "--model", str(model),
               "--device", device, "--timing"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"livseg predict failed ({done.returncode}): {done.stderr.strip()}")
    lines = done.stdout.strip().splitlines()
    header, values = lines[0].split(), lines[1].split()
    row = dict(zip(header, values))
    memory = lines[-1].removeprefix("peak memory: ")
    return {"stages": {k: float(v) for k, v in row.items() if k not in ("case", "status") and v != "-"},
            "memory": memory, "process_wall_s": wall, "command": " ".join(command[1:])}


def network_peer(image_path: Path, model: Path, device: str, repeats: int = 1) -> dict:
    """livseg's network stage vs MONAI DynUNet + sliding_window_inference, same prepared volume."""
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import DynUNet

    from livseg.inference import load_bundle, resolve_fusion_weights, sliding_window_probabilities
    from livseg.inference.prepare import prepare_for_inference
    from livseg.inference.windows import grow_window
    from livseg.io import read_volume

    bundle = load_bundle(model)
    ct = read_volume(image_path, kind="ct")
    prepared, _ = prepare_for_inference(ct, bundle.preprocessing)
    image = prepared.array
    dev = torch.device(device)
    network = bundle.network.to(dev).eval()
    weights = resolve_fusion_weights(bundle.settings.fusion_weights, bundle.num_branches)
    roi = tuple(min(w, s) for w, s in zip(WINDOW_XYZ[::-1], image.shape))
    # DynUNet's three stride-2 stages need multiples of 8; MONAI pads an axis shorter than the window.
    peer_roi = tuple(min(w, -(-s // 8) * 8) for w, s in zip(WINDOW_XYZ[::-1], image.shape))

    def ours(max_window_voxels) -> None:
        sliding_window_probabilities(network, image, window_zyx=WINDOW_XYZ[::-1], overlap=OVERLAP, weights=weights,
                                     device=dev, pad_value=float(image.min()), max_window_voxels=max_window_voxels)

    torch.manual_seed(0)
    peer = DynUNet(spatial_dims=3, in_channels=1, out_channels=2, kernel_size=[3, 3, 3, 3], strides=[1, 2, 2, 2],
                   upsample_kernel_size=[2, 2, 2], filters=[32, 64, 128, 256], res_block=False).to(dev).eval()
    x = torch.from_numpy(image)[None, None]

    def theirs() -> None:
        with torch.inference_mode():
            sliding_window_inference(x, roi_size=peer_roi, sw_batch_size=1, predictor=peer, overlap=OVERLAP,
                                     mode="gaussian", sw_device=dev, device=torch.device("cpu"))

    def best_of(fn) -> float:
        times = []
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        return min(times)

    grown = bundle.settings.max_window_voxels
    if dev.type == "cuda":  # warm-up (cuDNN autotuning, allocations)
        ours(grown)
        theirs()
    livseg_grown_s = best_of(lambda: ours(grown))
    livseg_fixed_s = best_of(lambda: ours(None))
    monai_s = best_of(theirs)
    return {"prepared_zyx": list(image.shape), "window_zyx": list(roi),
            "grown_window_zyx": list(grow_window(WINDOW_XYZ[::-1], image.shape, grown, OVERLAP)),
            "livseg_dsn3d_s": livseg_grown_s, "livseg_dsn3d_fixed_window_s": livseg_fixed_s,
            "monai_dynunet_s": monai_s, "ratio": monai_s / livseg_grown_s, "ratio_fixed_window": monai_s / livseg_fixed_s,
            "params": {"dsn3d": sum(p.numel() for p in network.parameters()),
                       "dynunet": sum(p.numel() for p in peer.parameters())}}


TALL_SCRIPT = r"""
import sys, time, json, numpy as np
from livseg.io import read_volume
from livseg.inference import Segmenter, peak_memory_mb
from livseg.volume import Geometry, Volume
ct = read_volume(sys.argv[1], kind="ct")
parts, z = [], 0
while z < 800:
    parts.append(ct.array if len(parts) % 2 == 0 else ct.array[::-1])
    z += ct.array.shape[0]
array = np.concatenate(parts)[:800]
del parts
g = ct.geometry
tall = Volume(array, Geometry((g.size[0], g.size[1], 800), g.spacing_mm, g.origin_mm, g.direction), source="tall")
before = peak_memory_mb()
started = time.perf_counter()
prediction = Segmenter.from_checkpoint(sys.argv[2], sys.argv[3]).predict(tall)
print(json.dumps({"seconds": time.perf_counter() - started, "stages": prediction.timings,
                  "input_mb": array.nbytes / 1e6, "peak_before_predict": before, "peak": peak_memory_mb()}))
"""


def run_tall(chaos: Path, model: Path, device: str) -> dict:
    done = subprocess.run([sys.executable, "-c", TALL_SCRIPT, str(chaos), str(model), device],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tall run failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["chaos", "phantom300"], choices=["chaos", "phantom300"])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda too when available)")
    parser.add_argument("--train-seconds", type=float, default=0.0,
                        help="first train the DSN on phantoms for at most this long (default 0: random weights)")
    parser.add_argument("--no-peer", action="store_true", help="skip the MONAI DynUNet peer")
    parser.add_argument("--tall", action="store_true", help="also predict CHAOS stacked to 512x512x800 (memory)")
    parser.add_argument("--work", type=Path, default=REPO / "out" / "bench-predict")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    model, how = make_bundle(args.work, args.train_seconds <= 0, args.train_seconds)
    print(f"model: 3D DSN bundle {model.name}, {how}")
    print(f"window {WINDOW_XYZ} voxels (x, y, z), overlap {OVERLAP}, spacing {SPACING_MM} mm, 3D CRF in the box + 10 mm")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    inputs, references = {}, {}
    root = shared_data()
    if "chaos" in args.cases:
        if root is None:
            print("chaos: skipped (../shared/data not found; set LIVSEG_SHARED_DATA)")
        else:
            inputs["chaos"] = root / "chaos-ct-1" / "image.nii.gz"
            references["chaos"] = root / "chaos-ct-1" / "label.nii.gz"
    if "phantom300" in args.cases:
        inputs["phantom300"], references["phantom300"] = phantom_file(args.work)

    results: dict = {"model": how, "cases": {}}
    stages = ("read", "preprocess", "network", "restore", "crf", "post", "write", "total_s")
    print("\ncase        device  " + "  ".join(f"{s:>10}" for s in stages) + "   liver_ml  peak memory")
    for name, path in inputs.items():
        for device in devices:
            out = args.work / f"{name}-{device}-mask.nii.gz"
            result = run_predict(path, model, out, device)
            results["cases"][f"{name}/{device}"] = result
            cells = "  ".join(f"{result['stages'].get(s, 0.0):>10.2f}" for s in stages)
            print(f"{name:<11} {device:<6}  {cells}   {result['stages'].get('liver_ml', 0):>8.0f}  {result['memory']}",
                  flush=True)
    for command in {r["command"] for r in results["cases"].values()}:
        print("command: livseg " + command)

    print("\nrestore + CRF stages for a network that finds the reference liver (box + 10 mm, 3D CRF, "
          "5 iterations),\nand the end-to-end estimate with them:")
    for name, path in inputs.items():
        for device in devices:
            crf = crf_on_reference_roi(path, references[name], model, device)
            e2e = results["cases"][f"{name}/{device}"]["stages"]
            estimate = e2e["total_s"] - e2e.get("crf", 0.0) - e2e.get("restore", 0.0) + crf["crf_s"] + crf["restore_s"]
            results.setdefault("crf_reference_roi", {})[f"{name}/{device}"] = {**crf, "estimate_total_s": estimate}
            print(f"{name:<11} {device:<6} box {tuple(crf['roi_zyx'])} (z, y, x) = {np.prod(crf['roi_zyx']) / 1e6:.1f} M "
                  f"voxels: restore {crf['restore_s']:.2f} s, CRF {crf['crf_s']:.2f} s; "
                  f"end-to-end with them {estimate:.1f} s", flush=True)

    if not args.no_peer:
        print("\nnetwork stage only, same prepared volume, same window/overlap/Gaussian blending:")
        for name, path in inputs.items():
            for device in devices:
                peer = network_peer(path, model, device)
                results.setdefault("peer", {})[f"{name}/{device}"] = peer
                print(f"{name:<11} {device:<6} prepared {tuple(peer['prepared_zyx'])} (z, y, x), window "
                      f"{tuple(peer['window_zyx'])}: MONAI DynUNet {peer['monai_dynunet_s']:.1f} s "
                      f"({peer['params']['dynunet'] / 1e6:.1f} M params); livseg dsn3d "
                      f"({peer['params']['dsn3d'] / 1e6:.2f} M params) {peer['livseg_dsn3d_fixed_window_s']:.1f} s "
                      f"on the same windows (DynUNet/livseg {peer['ratio_fixed_window']:.1f}x), "
                      f"{peer['livseg_dsn3d_s']:.1f} s with the window grown to {tuple(peer['grown_window_zyx'])} "
                      f"as livseg predict does ({peer['ratio']:.1f}x)", flush=True)
    if args.tall and root is not None:
        for device in devices:
            tall = run_tall(root / "chaos-ct-1" / "image.nii.gz", model, device)
            results.setdefault("tall", {})[device] = tall
            print(f"\ntall 512x512x800 ({tall['input_mb']:.0f} MB int16) on {device}: {tall['seconds']:.1f} s, "
                  f"stages {json.dumps({k: round(v, 2) for k, v in tall['stages'].items()})}, "
                  f"peak {tall['peak']}, before predict {tall['peak_before_predict']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
