"""nnU-Net v2's own predictor as a peer of ``livseg predict`` (bench only; run with the peer venv).

Runs inside ``bench/.venv-nnunet`` (``bash bench/peers/setup_nnunet.sh``), never in livseg's own
environment: nnunetv2 is no dependency of livseg. ``bench/predict.py`` calls it twice:

``make FOLDER``
    Writes a minimal nnU-Net v2 results folder (``plans.json``, ``dataset.json``,
    ``dataset_fingerprint.json``, ``fold_0/checkpoint_final.pth``) for a randomly initialised
    network shaped like TotalSegmentator's "fast" model (see ``PLAN``), and prints one JSON line:
    the model folder, the architecture, its parameter count and the FLOPs of one window forward
    (counted with ``torch.utils.flop_counter.FlopCounterMode`` on the meta device, so nothing runs).

``predict MODEL_FOLDER IMAGE OUT_FOLDER``
    In a fresh process (``bench/predict.py`` times it from the outside, process start to mask
    written): ``nnUNetPredictor`` (``nnunetv2.inference.predict_from_raw_data``) on the CPU with
    its defaults (tile step 0.5, Gaussian blending) and mirroring off, as TotalSegmentator's fast
    mode runs it; ``initialize_from_trained_model_folder`` then ``predict_from_files`` with one
    worker for preprocessing and one for export (2 cores). Prints one JSON line: import,
    initialisation and ``predict_from_files`` seconds, the sliding-window (network) seconds
    inside it, the number of windows and their input shape.

Timing does not depend on the weights; the mask is meaningless (the network is random).
"""

from __future__ import annotations

import json
import os
import sys
import time

STARTED = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402

# TotalSegmentator's fast model names the trainer nnUNetTrainer_4000epochs_NoMirroring, which differs
# from nnUNetTrainer only in training length and in turning mirroring off (the checkpoint's
# inference_allowed_mirroring_axes is None, as here). nnUNetTrainer is found without nnU-Net's
# recursive class search importing every trainer module; that search imports timm and so torchvision,
# whose PyPI wheel is built against the CUDA torch and fails to load next to the CPU torch.
TRAINER = "nnUNetTrainer"
PLANS = "nnUNetPlans"
CONFIGURATION = "3d_fullres"
DATASET = "Dataset297_random_like_TotalSegmentator_total_3mm"

# The plan of TotalSegmentator's "fast" model (task 297, Dataset297_TotalSegmentator_total_3mm_1559subj,
# trainer nnUNetTrainer_4000epochs_NoMirroring, 3d_fullres), as far as public sources state it:
# 3 mm isotropic spacing, patch 112 x 112 x 128, 117 structures + background = 118 outputs,
# PlainConvUNet, CT normalisation (clip to the 0.5 / 99.5 percentiles -1004 / 1588 HU, then
# (HU - -50.3869) / 503.3923). Sources: the TotalSegmentator repository (wasserth/TotalSegmentator,
# task 297 and its trainer name) and third-party write-ups of the released plans.json (patch size,
# class count, normalisation constants). The published plans.json itself was not read: the
# stages, strides and kernel sizes below come from nnU-Net v2's own planner rules for that patch at
# 3 mm isotropic (network_topology.get_pool_and_conv_props with the default minimum feature-map
# edge of 4: four 2x2x2 poolings, so 5 stages, 3x3x3 kernels everywhere) and its default widths
# (32 doubling per stage, capped at 320 in 3D), two convolutions per stage, InstanceNorm + LeakyReLU.
PLAN = {
    "spacing": [3.0, 3.0, 3.0],
    "patch_size": [112, 112, 128],
    "num_classes": 118,
    "ct_intensity": {"max": 3071.0, "mean": -50.3869, "median": -30.0, "min": -1024.0,
                     "percentile_00_5": -1004.0, "percentile_99_5": 1588.0, "std": 503.3923},
}
FOLD_FOLDER = f"{TRAINER}__{PLANS}__{CONFIGURATION}"


def architecture() -> dict:
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    _, strides, kernels, patch, _ = get_pool_and_conv_props(PLAN["spacing"], PLAN["patch_size"], 4, 999999)
    if [int(p) for p in patch] != PLAN["patch_size"]:
        raise SystemExit(f"nnU-Net's planner changed the patch: {patch}")
    stages = len(strides)
    return {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": stages,
            "features_per_stage": [min(320, 32 * 2 ** i) for i in range(stages)],
            "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": [list(k) for k in kernels],
            "strides": [list(s) for s in strides],
            "n_conv_per_stage": [2] * stages,
            "n_conv_per_stage_decoder": [2] * (stages - 1),
            "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }


def plans() -> dict:
    identity = [0, 1, 2]
    config = {
        "data_identifier": f"{PLANS}_{CONFIGURATION}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": PLAN["patch_size"],
        "median_image_size_in_voxels": [200.0, 150.0, 150.0],
        "spacing": PLAN["spacing"],
        "normalization_schemes": ["CTNormalization"],
        "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
        "architecture": architecture(),
        "batch_dice": False,
    }
    return {
        "dataset_name": DATASET,
        "plans_name": PLANS,
        "original_median_spacing_after_transp": [1.5, 0.8, 0.8],
        "original_median_shape_after_transp": [400, 512, 512],
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": identity,
        "transpose_backward": identity,
        "configurations": {CONFIGURATION: config},
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {"0": PLAN["ct_intensity"]},
    }


def dataset() -> dict:
    labels = {"background": 0, **{f"structure_{i:03d}": i for i in range(1, PLAN["num_classes"])}}
    return {"channel_names": {"0": "CT"}, "labels": labels, "numTraining": 1, "file_ending": ".nii.gz"}


def build_network(plans_dict: dict, dataset_dict: dict, device: str = "cpu") -> torch.nn.Module:
    """The network as nnU-Net's predictor builds it (the trainer class, no deep supervision)."""
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    manager = PlansManager(plans_dict)
    config = manager.get_configuration(CONFIGURATION)
    trainer = recursive_find_trainer_class_by_name(TRAINER)
    outputs = manager.get_label_manager(dataset_dict).num_segmentation_heads
    inputs = determine_num_input_channels(manager, config, dataset_dict)
    with torch.device(device):
        return trainer.build_network_architecture(manager, config, inputs, outputs, enable_deep_supervision=False)


def window_flops(network: torch.nn.Module) -> int:
    """FLOPs of one forward of a patch (batch 1), counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    meta = network.to("meta").eval()
    x = torch.empty((1, 1, *PLAN["patch_size"]), device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(x)
    return int(counter.get_total_flops())


def make(folder: str) -> None:
    model = os.path.join(folder, DATASET, FOLD_FOLDER)
    os.makedirs(os.path.join(model, "fold_0"), exist_ok=True)
    plans_dict, dataset_dict = plans(), dataset()
    torch.manual_seed(0)
    network = build_network(plans_dict, dataset_dict)
    checkpoint = {
        "network_weights": network.state_dict(),
        "trainer_name": TRAINER,
        "init_args": {"plans": plans_dict, "configuration": CONFIGURATION, "fold": 0, "dataset_json": dataset_dict},
        "inference_allowed_mirroring_axes": None,  # the NoMirroring trainer
        "current_epoch": 0,
    }
    for name, content in (("plans.json", plans_dict), ("dataset.json", dataset_dict),
                          ("dataset_fingerprint.json", {"spacings": [PLAN["spacing"]], "shapes_after_crop": [[200, 150, 150]],
                                                        "foreground_intensity_properties_per_channel":
                                                            {"0": PLAN["ct_intensity"]}})):
        with open(os.path.join(model, name), "w") as f:
            json.dump(content, f, indent=1)
    torch.save(checkpoint, os.path.join(model, "fold_0", "checkpoint_final.pth"))
    arch = plans_dict["configurations"][CONFIGURATION]["architecture"]["arch_kwargs"]
    params = sum(p.numel() for p in network.parameters())
    print(json.dumps({"model_folder": model, "params": params, "window_flops": window_flops(network),
                      "patch_size": PLAN["patch_size"], "spacing": PLAN["spacing"], "num_classes": PLAN["num_classes"],
                      "n_stages": arch["n_stages"], "features_per_stage": arch["features_per_stage"],
                      "strides": arch["strides"], "kernel_sizes": arch["kernel_sizes"]}))


def predict(model: str, image: str, out_folder: str) -> None:
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    imported = time.perf_counter()
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                perform_everything_on_device=False, device=torch.device("cpu"),
                                verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(model, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
    initialised = time.perf_counter()

    windows: list[tuple[int, ...]] = []
    predictor.network.register_forward_pre_hook(lambda _m, args: windows.append(tuple(args[0].shape)))
    network_s: list[float] = []
    marks: dict[str, float] = {}
    sliding = predictor.predict_sliding_window_return_logits

    def timed(data):  # the sliding-window pass (network + Gaussian blending), as nnU-Net runs it
        marks.setdefault("network_start", time.perf_counter())  # the preprocessed case has arrived
        started = time.perf_counter()
        result = sliding(data)
        network_s.append(time.perf_counter() - started)
        marks["network_end"] = time.perf_counter()
        return result

    predictor.predict_sliding_window_return_logits = timed  # an instance attribute: nnU-Net's own call finds it
    os.makedirs(out_folder, exist_ok=True)
    started = time.perf_counter()
    predictor.predict_from_files([[image]], [os.path.join(out_folder, "mask")], save_probabilities=False,
                                 overwrite=True, num_processes_preprocessing=1, num_processes_segmentation_export=1)
    done = time.perf_counter()
    import resource

    peak_mb = {who: resource.getrusage(getattr(resource, f"RUSAGE_{who.upper()}")).ru_maxrss / 1024
               for who in ("self", "children")}
    print(json.dumps({"import_s": imported - STARTED, "init_s": initialised - imported,
                      "predict_from_files_s": done - started, "network_s": sum(network_s),
                      # before the network: reading, cropping, resampling to 3 mm, normalising (a worker
                      # process); after it: probabilities resampled back to the input grid, argmax, write
                      "until_network_s": marks.get("network_start", started) - started,
                      "after_network_s": done - marks.get("network_end", done), "peak_mb": peak_mb,
                      "in_process_s": done - STARTED, "windows": len(windows),
                      "window_shapes": [list(s) for s in sorted(set(windows))],
                      "threads": torch.get_num_threads(), "mask": os.path.join(out_folder, "mask.nii.gz")}))


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "make":
        make(argv[1])
    elif len(argv) == 4 and argv[0] == "predict":
        predict(*argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
