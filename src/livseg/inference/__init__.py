"""Inference: a CT Volume in, liver/tumour labels on exactly its grid out (``livseg predict``).

Public API::

    seg = Segmenter.from_checkpoint("default" | "run/best.pt" | "model.safetensors", device="cpu",
                                    tumour_model=None, crf=True, tta=None, overlap=None)
    seg = Segmenter(load_bundle(path), tumour_bundle=None, ...)
    prediction = seg.predict(volume, probabilities=False)
    prediction.labels          # uint8 Volume, 0 background / 1 liver / 2 tumour, on volume's grid
    prediction.probabilities   # {"liver": float32 Volume, ...} when asked for
    prediction.timings         # seconds per stage

    load_bundle(path) / save_bundle(bundle, path)         # .pt checkpoints, run folders, .safetensors
    available_models() / resolve_model(name_or_path)       # packaged bundles in livseg/models/weights
    sliding_window_probabilities(network, image_zyx, ...)  # the network stage alone
    fuse_probabilities(per_output_probabilities, tau)      # Dou et al. eq. 4

Peak memory (the model of what is held at once; N = input voxels, P = prepared-grid voxels,
R = voxels of the region of interest on the input grid, C = classes):

* input CT: 2N bytes (int16), plus 2N while a reoriented copy exists (inputs not stored in
  the model's orientation, e.g. RAS NIfTI for an LPS model);
* preprocessing: one-shot up to 64 M voxels (about 18 bytes per cropped voxel: the float32
  copies of windowing and SimpleITK's resampler), above that in slabs of 16 M source voxels
  (about 0.3 GB), plus 4P for the prepared volume; the body box of a large volume is found on
  a subsample of at most 32 M voxels;
* network: MONAI's float32 output and weight buffers of one z-slab, 4(C + 1) bytes per slab
  voxel (slabs of at most 16 M voxels, whole rows of windows), the network's activations for
  one window (the window grows to whole axes up to 8 M voxels; about 180 bytes per voxel for
  the 3D DSN, so up to about 1.5 GB), and the stitched float16 probabilities, 2CP;
* region of interest: 4CR for its probabilities, 4R for its HU, plus the CRF's working set
  (proportional to R, see ``livseg.crf``);
* labels: N bytes for the working label map, about 2N more inside post-processing and the
  final reorientation.

So a 512x512x800 CT (210 M voxels, 0.42 GB as int16) peaks at a few GB, dominated by the
input and label maps rather than by any float32 copy of the whole volume. ``--save-probabilities``
adds 4N bytes per foreground class.
"""

from __future__ import annotations

from livseg.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "livseg.inference.bundle": ("ModelBundle", "load_bundle", "save_bundle"),
    "livseg.inference.fusion": ("fuse_probabilities", "resolve_fusion_weights"),
    "livseg.inference.registry": ("WEIGHTS_DIR", "available_models", "resolve_model"),
    "livseg.inference.segmenter": ("Prediction", "Segmenter", "check_device"),
    "livseg.inference.settings": ("CrfSettings", "InferenceSettings"),
    "livseg.inference.timing": ("StageTimer", "peak_memory_mb"),
    "livseg.inference.windows": ("sliding_window_probabilities",),
})


__all__ = [
    "CrfSettings",
    "InferenceSettings",
    "ModelBundle",
    "Prediction",
    "Segmenter",
    "StageTimer",
    "WEIGHTS_DIR",
    "available_models",
    "check_device",
    "fuse_probabilities",
    "load_bundle",
    "peak_memory_mb",
    "resolve_fusion_weights",
    "resolve_model",
    "save_bundle",
    "sliding_window_probabilities",
]
