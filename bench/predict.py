"""Benchmark: end-to-end ``livseg predict`` per stage, with peak memory and Dice, and a network peer.

Cases:

* ``chaos``: the real CHAOS CT (``../shared/data/chaos-ct-1/image.nii.gz``, 512x512x78,
  0.727 x 0.727 x 2 mm);
* ``phantom300``: a synthetic 512x512x300 abdominal CT (``generate_phantom(7, size_xyz=(512,
  512, 300))``, written once to ``--work``/phantom-512x512x300.nii.gz);
* ``tall`` (only with ``--tall``): the CHAOS CT stacked to 512x512x800 (mirrored copies so
  anatomy continues), predicted in-process, to show the memory bound of a very long scan.

Each of ``chaos`` and ``phantom300`` runs as ``python -m livseg predict FILE -o OUT --model
MODEL --no-tumour --timing --overwrite`` (``--tumour`` with ``--tumour``) in a fresh process, so the stage
times (read, preprocess, network, restore, crf, [tumour,] post, write) and the peak memory
(ru_maxrss / VmHWM) are those of the real command. The written mask is then scored against the
case's reference label (``livseg.metrics.evaluate_case``: liver Dice, and tumour Dice with
``--tumour``), so each time comes with the accuracy it bought.

Model (``--model``, default ``default``): a packaged model name or a bundle/checkpoint path,
resolved as ``livseg predict`` does (``livseg.inference.registry.resolve_model``); the window,
overlap, spacing and CRF settings are the bundle's. ``--model random-dsn3d`` is the older bench
bundle instead: a randomly initialised 3D DSN (paper widths 8-16-32-32-32, window 160x160x72
voxels (x, y, z), overlap 0.25, 1.5 x 1.5 x 2 mm, body crop, 3D CRF in the segmented box +
10 mm). Its network time does not depend on its weights, but it segments nothing, so its CRF
stage is empty; for it alone the CRF is also timed on the reference liver's box + 10 mm with
the predictor's ``livseg.crf.dense_crf`` call, and added to the end-to-end time as an estimate.

Peer, same process and inputs: MONAI's DynUNet (3D U-Net of nnU-Net's kind, filters
32-64-128-256, randomly initialised) through MONAI's ``sliding_window_inference`` at the
bundle's window, overlap and Gaussian blending (sigma scale) on the same prepared volume;
network time only, against livseg's network (named by the bundle) on that volume, as a ratio.

Second peer, whole command: nnU-Net v2's own ``nnUNetPredictor`` (``predict_from_files``) on the
same CT file, with a randomly initialised network shaped like TotalSegmentator's 3 mm "fast" model
(``bench/peers/nnunet_peer.py`` gives the plan and its sources), on the CPU with tile step 0.5 and
mirroring off as TotalSegmentator's fast mode runs it. It runs in its own environment,
``bench/.venv-nnunet`` (``bash bench/peers/setup_nnunet.sh``; nnunetv2 is no dependency of
livseg), in a fresh process timed from the outside like ``livseg predict``; without that
environment the peer is skipped with a note. Cases whose 118-class probability maps would not fit
in memory (the 512x512x300 phantom: about 37 GB) are skipped too.

FLOPs: each network's forward is counted with ``torch.utils.flop_counter.FlopCounterMode`` on a
meta-device copy at the window size it runs (every output head, the deep-supervision branches
included), times the number of windows its sliding window makes on that volume (livseg's from its
own window grid); printed beside the network time as GFLOP/s and as a share of the CPU's fp32 peak
(``CPU_PEAK_GFLOPS``, ``--peak-gflops``). Each ``livseg predict`` is also timed from the outside,
process start to mask written (``process_s``), beside its own stage table.

Run:  .venv/bin/python bench/predict.py                        (about 10 min on 2 busy cores; the nnU-Net peer about 4.5 of them)
      .venv/bin/python bench/predict.py --cases chaos --no-peer   (quick look)
      .venv/bin/python bench/predict.py --cases chaos --no-peer --tall   (+ the 512x512x800 memory check)
      .venv/bin/python bench/predict.py --tumour                  (with the tumour cascade)
      .venv/bin/python bench/predict.py --model random-dsn3d     (the old random DSN, CRF estimated)
      .venv/bin/python bench/predict.py --device cuda             (where a GPU is available)
      .venv/bin/python bench/predict.py --cases chaos --no-nnunet   (without the nnU-Net v2 peer)
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
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# FP32 peak of the 2-core development machine (AMD EPYC Zen 3 vCPUs, AVX2 + FMA): 2 cores x 32 FLOP
# per cycle (two 8-lane FMA units) x 2.45 GHz; ../shared/PERF-NOTES.md, "The limit". Another CPU
# has another peak: --peak-gflops.
CPU_PEAK_GFLOPS = 157.0
# The nnU-Net v2 peer's environment (bench/peers/setup_nnunet.sh); LIVSEG_NNUNET_PYTHON overrides.
NNUNET_PYTHON = REPO / "bench" / ".venv-nnunet" / "bin" / "python"
NNUNET_PEER = REPO / "bench" / "peers" / "nnunet_peer.py"
RANDOM_MODEL = "random-dsn3d"
# The random-dsn3d bundle's settings (the bench's model before a trained one was packaged).
RANDOM_WINDOW_XYZ = (160, 160, 72)
RANDOM_OVERLAP = 0.25
RANDOM_SPACING_MM = (1.5, 1.5, 2.0)


def shared_data() -> Path | None:
    env = os.environ.get("LIVSEG_SHARED_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class BenchModel:
    """The bundle under test and how to name it on the ``livseg predict`` command line."""

    argument: str  # --model value: the registry name as given (so NAME-tumour is found), or a path
    path: Path
    bundle: object  # livseg.inference.ModelBundle
    network_name: str
    description: str
    random: bool  # the randomly initialised bench DSN: the CRF is estimated on the reference liver's box


def make_random_bundle(work: Path) -> Path:
    """The randomly initialised DSN bench bundle, saved in ``work``."""
    from livseg.config import config_from_dict
    from livseg.inference import InferenceSettings, ModelBundle, save_bundle
    from livseg.models import build_model

    config = config_from_dict({
        "name": "bench-dsn3d",
        "data": {"phantoms": {"n": 5, "seed": 100, "size_xyz": [320, 320, 128]}, "task": "liver"},
        "preprocessing": {"orientation": "LPS", "hu_window": [-200, 200], "spacing_mm": list(RANDOM_SPACING_MM),
                          "crop": "body"},
        "model": {"name": "dsn3d", "options": {}},
        "loss": {"name": "dice+ce", "deep_supervision": "dsn2016"},
        "output": {"plot": False},
    }, require_data=False)
    torch.manual_seed(0)
    network = build_model("dsn3d", num_classes=2)
    bundle = ModelBundle(network=network, preprocessing=config.preprocessing, task="liver",
                         settings=InferenceSettings(window_voxels_xyz=RANDOM_WINDOW_XYZ, overlap=RANDOM_OVERLAP),
                         name="bench-dsn3d-random", config=config)
    out = work / f"{RANDOM_MODEL}.pt"
    save_bundle(bundle, out)
    return out


def load_model(name_or_path: str, work: Path) -> BenchModel:
    from livseg.inference import load_bundle
    from livseg.inference.registry import resolve_model

    if name_or_path == RANDOM_MODEL:
        path = make_random_bundle(work)
        bundle = load_bundle(path)
        argument, description = str(path), "randomly initialised 3D DSN (timing does not depend on the weights)"
    else:
        name, path = resolve_model(name_or_path)
        bundle = load_bundle(path, name=name)
        argument, description = name_or_path, f"{path}"
    config = getattr(bundle, "config", None)
    if config is not None:
        network_name = config.model.name
        options = config.model.options or {}
        widths = options.get("widths")
        if widths:
            description += f", widths {'-'.join(str(w) for w in widths)}"
    else:
        network_name = type(bundle.network).__name__.lower()
    return BenchModel(argument, Path(path), bundle, network_name, description, random=name_or_path == RANDOM_MODEL)


def phantom_file(work: Path) -> tuple[Path, Path]:
    path, label_path = work / "phantom-512x512x300.nii.gz", work / "phantom-512x512x300-label.nii.gz"
    if not path.exists() or not label_path.exists():
        from livseg.phantoms import generate_phantom
        from livseg.io import write_volume

        print("generating the 512x512x300 phantom ...", flush=True)
        ct, labels = generate_phantom(7, size_xyz=(512, 512, 300))
        write_volume(ct, path)
        write_volume(labels, label_path)
    return path, label_path


def crf_on_reference_roi(image_path: Path, label_path: Path, bundle, device: str) -> dict:
    """The predictor's steps after the network (region of interest, probabilities onto it,
    dense CRF, labels pasted back) for a network whose output is the reference liver
    (probability 0.8 inside, 0.2 outside, on the prepared grid)."""
    import dataclasses

    from livseg.crf import dense_crf
    from livseg.preprocessing.prepare import prepare_for_inference
    from livseg.inference.restore import foreground_roi, probabilities_on
    from livseg.io import read_volume
    from livseg.preprocessing import crop, reorient
    from livseg.preprocessing.orientation import apply_reorient
    from livseg.preprocessing.resampling import resample_onto

    settings = bundle.settings.crf
    ct = read_volume(image_path, kind="ct")
    label = read_volume(label_path, kind="label")
    ct, turned = reorient(ct, bundle.preprocessing.orientation or "LPS")
    label = apply_reorient(label, turned)
    prepared, record = prepare_for_inference(ct, dataclasses.replace(bundle.preprocessing, orientation=None))
    liver = resample_onto(crop(label, record.crop), prepared.geometry).array > 0  # kind "label": nearest
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


def run_predict(image: Path, model: str, out: Path, device: str, tumour: bool) -> dict:
    """``python -m livseg predict IMAGE -o OUT --model MODEL --[no-]tumour --timing`` in a fresh process, parsed."""
    command = [sys.executable, "-m", "livseg", "predict", str(image), "-o", str(out), "--model", model,
               "--device", device, "--tumour" if tumour else "--no-tumour", "--timing",
               "--overwrite"]  # else a mask left by an earlier run is kept and nothing is timed
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"livseg predict failed ({done.returncode}): {done.stderr.strip()[-3000:]}")
    lines = done.stdout.strip().splitlines()
    first = next(i for i, line in enumerate(lines) if line.split()[:2] == ["case", "status"])
    header, values = lines[first].split(), lines[first + 1].split()
    row = dict(zip(header, values))
    if row.get("status") != "ok":
        raise SystemExit(f"livseg predict reported status {row.get('status')!r}: {lines[first + 1]}")
    memory = next(line for line in lines if line.startswith("peak memory: ")).removeprefix("peak memory: ")
    stages, labels = {}, {}
    for key, value in row.items():
        if key in ("case", "status") or value in ("-", "n/a"):
            continue
        try:
            stages[key] = float(value)
        except ValueError:  # a word column (the quality flag: ok / review)
            labels[key] = value
    return {"stages": stages, "labels": labels, "memory": memory, "process_wall_s": wall,
            "command": " ".join(["livseg", *command[3:]])}


def forward_flops(network: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward (``torch.utils.flop_counter.FlopCounterMode``: convolutions, transposed
    convolutions and matrix products, every output head included), counted on a copy of the
    network on the meta device, so nothing is computed."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(network).to("meta").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(torch.empty(input_shape, device="meta"))
    return int(counter.get_total_flops())


def livseg_windows(shape_zyx: tuple[int, ...], settings, max_window_voxels: int | None) -> tuple[tuple[int, ...], int]:
    """The window and the number of network calls ``sliding_window_probabilities`` makes on a
    prepared volume of ``shape_zyx`` (its own grid functions: grown window, z-slabs, starts)."""
    from livseg.inference.windows import grow_window, plan_slabs, window_starts

    depth, height, width = shape_zyx
    overlap = settings.overlap
    roi = grow_window(settings.window_zyx, shape_zyx, max_window_voxels, overlap)
    if settings.slab_voxels is None:
        max_rows = len(window_starts(depth, roi[0], overlap))
    else:
        step = max(1, int(roi[0] * (1 - overlap)))
        max_rows = max(1, (int(settings.slab_voxels) // (height * width) - roi[0]) // step + 1)
    per_plane = len(window_starts(height, roi[1], overlap)) * len(window_starts(width, roi[2], overlap))
    calls = sum(len(window_starts(slab.stop - slab.start, roi[0], overlap)) * per_plane
                for slab in plan_slabs(depth, roi[0], overlap, max_rows))
    return tuple(int(r) for r in roi), calls


def livseg_network_flops(bundle, shape_zyx: tuple[int, ...], max_window_voxels: int | None) -> dict:
    """GFLOP of livseg's network stage on a prepared volume: network calls x one window's forward
    (x the mirrorings with test-time augmentation)."""
    roi, calls = livseg_windows(shape_zyx, bundle.settings, max_window_voxels)
    if bundle.settings.tta:
        calls *= 2 ** len(set(bundle.tta_flip_axes))
    per_window = forward_flops(bundle.network, (1, 1, *roi))
    return {"window_zyx": list(roi), "windows": calls, "window_gflop": per_window / 1e9,
            "gflop": per_window * calls / 1e9}


def prepared_shape(image_path: Path, bundle) -> tuple[int, ...]:
    """The prepared grid's shape (z, y, x) livseg's network sees for this image."""
    from livseg.io import read_volume
    from livseg.preprocessing.prepare import prepare_for_inference

    prepared, _ = prepare_for_inference(read_volume(image_path, kind="ct"), bundle.preprocessing)
    return tuple(int(n) for n in prepared.array.shape)


def rate(gflop: float, seconds: float, peak: float) -> str:
    per_s = gflop / seconds if seconds > 0 else float("nan")
    return f"{per_s:.1f} GFLOP/s = {100 * per_s / peak:.0f} % of peak"


def nnunet_python() -> Path | None:
    path = Path(os.environ.get("LIVSEG_NNUNET_PYTHON", NNUNET_PYTHON))
    return path if path.exists() else None


def make_nnunet_model(python: Path, work: Path) -> dict:
    """The randomly initialised nnU-Net v2 results folder (TotalSegmentator fast-like plan), made once."""
    folder = work / "nnunet-random-3mm"
    info = folder / "model.json"
    if info.exists():
        model = json.loads(info.read_text())
        if (Path(model["model_folder"]) / "fold_0" / "checkpoint_final.pth").exists():
            return model
    done = subprocess.run([str(python), str(NNUNET_PEER), "make", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nnU-Net peer model failed: {done.stderr.strip()[-2000:]}")
    model = json.loads(done.stdout.strip().splitlines()[-1])
    info.write_text(json.dumps(model))
    return model


def run_nnunet(python: Path, model: dict, image: Path, out: Path) -> dict:
    """nnU-Net's predictor in a fresh process (the peer venv), timed from the outside: process start
    to mask written, like ``run_predict``."""
    command = [str(python), str(NNUNET_PEER), "predict", model["model_folder"], str(image), str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"nnU-Net peer failed ({done.returncode}): {done.stderr.strip()[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    result["gflop"] = model["window_flops"] * result["windows"] / 1e9
    return result


def score(reference_path: Path, prediction_path: Path, tumour: bool) -> dict:
    """Dice of the written mask against the reference label (liver includes tumour)."""
    from livseg.io import read_volume
    from livseg.metrics import evaluate_case

    reference = read_volume(reference_path, kind="label")
    prediction = read_volume(prediction_path, kind="label")
    metrics = evaluate_case(reference, prediction, case_id=prediction_path.name)
    liver = metrics.structures["liver"]
    out = {"liver_dice": liver.dice, "liver_reference_ml": liver.reference_volume_ml,
           "liver_prediction_ml": liver.prediction_volume_ml}
    if tumour:  # Dice only where the reference has a tumour (two empty masks would score 1)
        found = metrics.structures["tumour"]
        out["tumour_dice"] = found.dice if found.reference_volume_ml > 0 else None
        out["tumour_reference_ml"], out["tumour_prediction_ml"] = found.reference_volume_ml, found.prediction_volume_ml
    return out


def network_peer(image_path: Path, model: BenchModel, device: str, repeats: int = 1) -> dict:
    """livseg's network stage vs MONAI DynUNet + sliding_window_inference, same prepared volume."""
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import DynUNet

    from livseg.inference import resolve_fusion_weights, sliding_window_probabilities
    from livseg.preprocessing.prepare import prepare_for_inference
    from livseg.inference.windows import grow_window
    from livseg.io import read_volume

    bundle = model.bundle
    settings = bundle.settings
    window_zyx = tuple(settings.window_voxels_xyz[::-1])
    overlap = settings.overlap
    ct = read_volume(image_path, kind="ct")
    prepared, _ = prepare_for_inference(ct, bundle.preprocessing)
    image = prepared.array
    dev = torch.device(device)
    network = bundle.network.to(dev).eval()
    weights = resolve_fusion_weights(settings.fusion_weights, bundle.num_branches)
    roi = tuple(min(w, s) for w, s in zip(window_zyx, image.shape))
    # DynUNet's three stride-2 stages need multiples of 8; MONAI pads an axis shorter than the window.
    peer_roi = tuple(min(w, -(-s // 8) * 8) for w, s in zip(window_zyx, image.shape))
    pad_value = float(image.min())

    def ours(max_window_voxels) -> None:
        sliding_window_probabilities(network, image, window_zyx=window_zyx, overlap=overlap, weights=weights,
                                     device=dev, sigma_scale=settings.sigma_scale,
                                     slab_voxels=settings.slab_voxels, max_window_voxels=max_window_voxels)

    torch.manual_seed(0)
    peer = DynUNet(spatial_dims=3, in_channels=1, out_channels=2, kernel_size=[3, 3, 3, 3], strides=[1, 2, 2, 2],
                   upsample_kernel_size=[2, 2, 2], filters=[32, 64, 128, 256], res_block=False).to(dev).eval()
    x = torch.from_numpy(image)[None, None]

    def theirs() -> None:
        with torch.inference_mode():
            sliding_window_inference(x, roi_size=peer_roi, sw_batch_size=1, predictor=peer, overlap=overlap,
                                     mode="gaussian", sigma_scale=settings.sigma_scale, padding_mode="constant",
                                     cval=pad_value, sw_device=dev, device=torch.device("cpu"))

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

    from livseg.inference.windows import window_starts

    grown = settings.max_window_voxels
    # FLOPs: livseg's calls from its own window grid; MONAI pads an axis shorter than the window
    # and steps by int(window * (1 - overlap)) as window_starts does.
    flops_grown = livseg_network_flops(bundle, tuple(image.shape), grown)
    flops_fixed = livseg_network_flops(bundle, tuple(image.shape), None)
    peer_windows = int(np.prod([len(window_starts(max(s, r), r, overlap)) for s, r in zip(image.shape, peer_roi)]))
    peer_gflop = forward_flops(peer, (1, 1, *peer_roi)) * peer_windows / 1e9
    if dev.type == "cuda":  # warm-up (cuDNN autotuning, allocations)
        ours(grown)
        theirs()
    livseg_grown_s = best_of(lambda: ours(grown))
    livseg_fixed_s = best_of(lambda: ours(None))
    monai_s = best_of(theirs)
    return {"prepared_zyx": list(image.shape), "window_zyx": list(roi), "overlap": overlap,
            "grown_window_zyx": list(grow_window(window_zyx, image.shape, grown, overlap)),
            "network": model.network_name,
            "livseg_s": livseg_grown_s, "livseg_fixed_window_s": livseg_fixed_s,
            "monai_dynunet_s": monai_s, "ratio": monai_s / livseg_grown_s, "ratio_fixed_window": monai_s / livseg_fixed_s,
            "params": {model.network_name: sum(p.numel() for p in network.parameters()),
                       "dynunet": sum(p.numel() for p in peer.parameters())},
            "gflop": {"livseg": flops_grown["gflop"], "livseg_fixed_window": flops_fixed["gflop"],
                      "dynunet": peer_gflop},
            "windows": {"livseg": flops_grown["windows"], "livseg_fixed_window": flops_fixed["windows"],
                        "dynunet": peer_windows, "dynunet_window_zyx": list(peer_roi)}}


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
segmenter = Segmenter.from_checkpoint(sys.argv[2], sys.argv[3], tumour=sys.argv[4] == "tumour")
before = peak_memory_mb()
started = time.perf_counter()
prediction = segmenter.predict(tall)
print(json.dumps({"seconds": time.perf_counter() - started, "stages": prediction.timings,
                  "input_mb": array.nbytes / 1e6, "peak_before_predict": before, "peak": peak_memory_mb()}))
"""


def run_tall(chaos: Path, model: str, device: str, tumour: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", TALL_SCRIPT, str(chaos), model, device,
                           "tumour" if tumour else "liver"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tall run failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def nnunet_peer_section(args, inputs: dict, devices: list[str], results: dict) -> None:
    """nnU-Net v2's own predictor (random TotalSegmentator fast-like network), process start to mask
    written, against the same run's ``livseg predict`` figures."""
    python = nnunet_python()
    if python is None:
        print("\nnnU-Net v2 peer skipped: no bench/.venv-nnunet (set it up: bash bench/peers/setup_nnunet.sh)")
        return
    if "cpu" not in devices:
        print("\nnnU-Net v2 peer skipped: it runs on the CPU only here")
        return
    model = make_nnunet_model(python, args.work)
    results["nnunet_model"] = model
    print(f"\nnnU-Net v2 predictor (nnunetv2, {python.parent.parent.name}), randomly initialised network shaped like "
          f"TotalSegmentator's fast model: PlainConvUNet {model['n_stages']} stages "
          f"{'-'.join(str(f) for f in model['features_per_stage'])}, {model['params'] / 1e6:.1f} M params, "
          f"{model['num_classes']} outputs, {model['spacing'][0]:g} mm, patch {tuple(model['patch_size'])}, "
          f"{model['window_flops'] / 1e9:.0f} GFLOP per window; tile step 0.5, Gaussian, no mirroring, CPU, "
          f"1 preprocessing + 1 export worker; a fresh process each, timed from outside:")
    import SimpleITK as sitk

    available = memory_available_bytes()
    for name, path in inputs.items():
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        # nnU-Net resamples all classes' probabilities (float32) back onto the input grid
        needed = int(np.prod(reader.GetSize())) * model["num_classes"] * 4
        if available is not None and needed > 0.8 * available:
            print(f"{name:<11} cpu    skipped: resampling {model['num_classes']} probabilities onto the input grid "
                  f"needs about {needed / 1e9:.0f} GB, {available / 1e9:.0f} GB available")
            continue
        peer = run_nnunet(python, model, path, args.work / f"nnunet-{name}")
        results.setdefault("nnunet", {})[name] = peer
        ours = results["cases"][f"{name}/cpu"]
        network = ours["stages"].get("network", 0.0)
        peak = max(peer["peak_mb"].values())
        print(f"{name:<11} cpu    process start to mask written {peer['process_wall_s']:.1f} s against livseg's "
              f"{ours['process_wall_s']:.1f} s (nnU-Net/livseg {peer['process_wall_s'] / ours['process_wall_s']:.1f}x); "
              f"predict_from_files {peer['predict_from_files_s']:.1f} s against livseg's in-process "
              f"{ours['stages']['total_s']:.1f} s ({peer['predict_from_files_s'] / ours['stages']['total_s']:.1f}x)")
        print(f"{'':<18} import {peer['import_s']:.1f} s, initialise {peer['init_s']:.1f} s; in predict_from_files: "
              f"until the network {peer['until_network_s']:.1f} s, network (sliding window) {peer['network_s']:.1f} s "
              f"against livseg's {network:.2f} s ({peer['network_s'] / network:.1f}x), after it "
              f"{peer['after_network_s']:.1f} s; {peer['windows']} window(s) x "
              f"{model['window_flops'] / 1e9:.0f} = {peer['gflop']:.0f} GFLOP: "
              f"{rate(peer['gflop'], peer['network_s'], args.peak_gflops)}; peak RSS {peak / 1024:.1f} GB "
              f"(largest process), {peer['threads']} threads", flush=True)


def header_lines(model: BenchModel, tumour: bool) -> list[str]:
    from livseg.inference.registry import companion_tumour_model

    bundle = model.bundle
    s = bundle.settings
    params = sum(p.numel() for p in bundle.network.parameters())
    crf = (f"{s.crf.mode} CRF in the segmented box + {s.crf.margin_mm:g} mm, {s.crf.params.iterations} iterations"
           if s.crf.enabled else "CRF off")
    if not tumour:
        cascade = "tumour cascade off (--no-tumour)"
    else:
        companion = None if model.random else companion_tumour_model(model.argument)
        cascade = f"tumour cascade on ({companion.name if companion else 'no companion tumour model'})"
    load = os.getloadavg()
    return [
        f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"model: {bundle.name} ({model.description})",
        f"network {model.network_name} ({params / 1e6:.2f} M params), task {bundle.task}, "
        f"spacing {tuple(bundle.preprocessing.spacing_mm) if bundle.preprocessing.spacing_mm else 'native'} mm, "
        f"window {tuple(s.window_voxels_xyz)} voxels (x, y, z) grown to whole axes up to "
        f"{(s.max_window_voxels or 0) / 1e6:g} M voxels, overlap {s.overlap}, {crf}; {cascade}",
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU cores {os.cpu_count()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                        help=f"packaged model name or bundle path (default: %(default)s); "
                             f"'{RANDOM_MODEL}' for the randomly initialised DSN bench bundle")
    tumour = parser.add_mutually_exclusive_group()
    tumour.add_argument("--tumour", dest="tumour", action="store_true",
                        help="run the tumour cascade (the model's companion NAME-tumour)")
    tumour.add_argument("--no-tumour", dest="tumour", action="store_false", help="liver only (default)")
    parser.set_defaults(tumour=False)
    parser.add_argument("--cases", nargs="+", default=["chaos", "phantom300"], choices=["chaos", "phantom300"])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda too when available)")
    parser.add_argument("--no-peer", action="store_true", help="skip the MONAI DynUNet peer")
    parser.add_argument("--no-nnunet", action="store_true",
                        help="skip the nnU-Net v2 predictor peer (bench/.venv-nnunet, bench/peers/setup_nnunet.sh)")
    parser.add_argument("--peak-gflops", type=float, default=CPU_PEAK_GFLOPS,
                        help="fp32 peak the GFLOP/s are compared with (default: %(default)s, the 2-core machine)")
    parser.add_argument("--tall", action="store_true", help="also predict CHAOS stacked to 512x512x800 (memory)")
    parser.add_argument("--work", type=Path, default=REPO / "out" / "bench-predict")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    model = load_model(args.model, args.work)
    header = header_lines(model, args.tumour)
    print("\n".join(header))
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

    results: dict = {"model": {"name": model.bundle.name, "argument": args.model, "network": model.network_name,
                               "description": model.description, "tumour": args.tumour},
                     "header": header, "cases": {}}
    stages = ("read", "preprocess", "network", "restore", "crf", *(("tumour",) if args.tumour else ()),
              "post", "write", "total_s")
    accuracy = "liver_dice" + ("  tumour_dice" if args.tumour else "")
    print("\ncase        device  " + "  ".join(f"{s:>10}" for s in stages)
          + f"   process_s   liver_ml  {accuracy}  peak memory")
    for name, path in inputs.items():
        for device in devices:
            out = args.work / f"{name}-{device}-mask.nii.gz"
            result = run_predict(path, model.argument, out, device, args.tumour)
            result["accuracy"] = score(references[name], out, args.tumour)
            results["cases"][f"{name}/{device}"] = result
            cells = "  ".join(f"{result['stages'].get(s, 0.0):>10.2f}" for s in stages)
            dice = f"{result['accuracy']['liver_dice']:>10.3f}"
            if args.tumour:
                tumour_dice = result["accuracy"].get("tumour_dice")
                no_tumour = f"none, {result['accuracy']['tumour_prediction_ml']:.1f} ml"
                dice += f"  {tumour_dice:>11.3f}" if tumour_dice is not None else f"  {no_tumour:>11}"
            print(f"{name:<11} {device:<6}  {cells}   {result['process_wall_s']:>9.2f}   "
                  f"{result['stages'].get('liver_ml', 0):>8.0f}  {dice}  {result['memory']}", flush=True)
    for command in sorted({r["command"] for r in results["cases"].values()}):
        print("command: " + command)
    print("(total_s: the command's own stages; process_s: process start to mask written, timed from outside)")

    print(f"\nnetwork stage FLOPs (FlopCounterMode, every output head; fp32 peak {args.peak_gflops:g} GFLOP/s):")
    shapes = {name: prepared_shape(path, model.bundle) for name, path in inputs.items()}
    for name in inputs:
        flops = livseg_network_flops(model.bundle, shapes[name], model.bundle.settings.max_window_voxels)
        results.setdefault("flops", {})[name] = {"prepared_zyx": list(shapes[name]), **flops}
        for device in devices:
            seconds = results["cases"][f"{name}/{device}"]["stages"].get("network", 0.0)
            print(f"{name:<11} {device:<6} prepared {shapes[name]} (z, y, x): {flops['windows']} window(s) "
                  f"{tuple(flops['window_zyx'])} x {flops['window_gflop']:.1f} GFLOP = {flops['gflop']:.1f} GFLOP "
                  f"in {seconds:.2f} s: {rate(flops['gflop'], seconds, args.peak_gflops)}"
                  + (" (peak of the CPU only)" if device != "cpu" else ""), flush=True)

    if model.random:
        print("\nrestore + CRF stages for a network that finds the reference liver (box + 10 mm, 3D CRF, "
              "5 iterations),\nand the end-to-end estimate with them:")
        for name, path in inputs.items():
            for device in devices:
                crf = crf_on_reference_roi(path, references[name], model.bundle, device)
                e2e = results["cases"][f"{name}/{device}"]["stages"]
                estimate = (e2e["total_s"] - e2e.get("crf", 0.0) - e2e.get("restore", 0.0)
                            + crf["crf_s"] + crf["restore_s"])
                results.setdefault("crf_reference_roi", {})[f"{name}/{device}"] = {**crf, "estimate_total_s": estimate}
                print(f"{name:<11} {device:<6} box {tuple(crf['roi_zyx'])} (z, y, x) = "
                      f"{np.prod(crf['roi_zyx']) / 1e6:.1f} M voxels: restore {crf['restore_s']:.2f} s, "
                      f"CRF {crf['crf_s']:.2f} s; end-to-end with them {estimate:.1f} s", flush=True)

    if not args.no_peer:
        print("\nnetwork stage only, same prepared volume, same window/overlap/Gaussian blending:")
        net = model.network_name
        for name, path in inputs.items():
            for device in devices:
                peer = network_peer(path, model, device)
                results.setdefault("peer", {})[f"{name}/{device}"] = peer
                print(f"{name:<11} {device:<6} prepared {tuple(peer['prepared_zyx'])} (z, y, x), window "
                      f"{tuple(peer['window_zyx'])}, overlap {peer['overlap']}: MONAI DynUNet "
                      f"{peer['monai_dynunet_s']:.1f} s ({peer['params']['dynunet'] / 1e6:.1f} M params); livseg {net} "
                      f"({peer['params'][net] / 1e6:.2f} M params) {peer['livseg_fixed_window_s']:.1f} s "
                      f"on the same windows (DynUNet/livseg {peer['ratio_fixed_window']:.1f}x), "
                      f"{peer['livseg_s']:.1f} s with the window grown to {tuple(peer['grown_window_zyx'])} "
                      f"as livseg predict does ({peer['ratio']:.1f}x)", flush=True)
                gflop, windows = peer["gflop"], peer["windows"]
                print(f"{'':<18} GFLOP: DynUNet {windows['dynunet']} x {tuple(windows['dynunet_window_zyx'])} = "
                      f"{gflop['dynunet']:.0f} ({rate(gflop['dynunet'], peer['monai_dynunet_s'], args.peak_gflops)}); "
                      f"livseg same windows {windows['livseg_fixed_window']} = {gflop['livseg_fixed_window']:.0f} "
                      f"({rate(gflop['livseg_fixed_window'], peer['livseg_fixed_window_s'], args.peak_gflops)}); "
                      f"grown {windows['livseg']} = {gflop['livseg']:.0f} "
                      f"({rate(gflop['livseg'], peer['livseg_s'], args.peak_gflops)})", flush=True)
    if not args.no_nnunet:
        nnunet_peer_section(args, inputs, devices, results)
    if args.tall and root is not None:
        for device in devices:
            tall = run_tall(root / "chaos-ct-1" / "image.nii.gz", model.argument, device, args.tumour)
            results.setdefault("tall", {})[device] = tall
            print(f"\ntall 512x512x800 ({tall['input_mb']:.0f} MB int16) on {device}: {tall['seconds']:.1f} s, "
                  f"stages {json.dumps({k: round(v, 2) for k, v in tall['stages'].items()})}, "
                  f"peak {tall['peak']}, before predict {tall['peak_before_predict']}")
    load = os.getloadavg()
    results["load_average_after"] = list(load)
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        from livseg.io.tables import write_json

        write_json(results, args.json)  # atomically: a partial file never replaces a good one
    return 0


if __name__ == "__main__":
    sys.exit(main())
