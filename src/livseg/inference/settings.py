"""What a model bundle says about inference: window, overlap, fusion weights, CRF, post-processing.

A training checkpoint holds the network's weights and the resolved training config
(preprocessing, network, task, patch size). What training does not decide is stored beside it
under the checkpoint key ``"inference"`` (all keys optional)::

    inference:
      window_voxels_xyz: [160, 160, 72]   # sliding-window size (x, y, z), voxels; default: training patch
      overlap: 0.25                       # fraction of the window shared by neighbours; default: validation.overlap
      sigma_scale: 0.125                  # Gaussian blending sigma, as a fraction of the window
      fusion_weights: [1.0, 0.0, 0.0]     # tau_d of eq. 4: main output first, then branches shallow -> deep
      max_window_voxels: 8000000          # the window grows to whole axes up to this size (null: never)
      tta: false                          # mirror test-time augmentation (8 flips; 8x the network time)
      crf: {enabled: true, mode: 3d, margin_mm: 10.0, mu1: 5, ...}   # livseg.crf.CrfParams fields + the three
      postprocess: {keep_largest_liver: true, ...}                   # livseg.postprocessing.PostprocessConfig

``fusion_weights`` are normalised to sum to 1 (eq. 4 is a weighted average). The paper chose
tau_d by grid search on training cases; until a bundle records tuned values, the main output
alone is used (branch weights 0), and branches with weight 0 are not computed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from livseg.crf import MODES, CrfParams
from livseg.errors import ConfigError
from livseg.postprocessing import PostprocessConfig

#: Default cap on the voxels of one z-slab of the prepared volume that the sliding window
#: stitches at once (MONAI keeps float32 output and weight buffers for a slab); 16 M voxels
#: is 64 MB per buffered channel.
DEFAULT_SLAB_VOXELS = 16_000_000
#: Default cap of the grown sliding window (see InferenceSettings.max_window_voxels).
DEFAULT_MAX_WINDOW_VOXELS = 8_000_000


@dataclass(frozen=True)
class CrfSettings:
    """Dense-CRF stage of the predictor.

    Attributes:
        enabled: run the CRF (``--no-crf`` turns it off for one run).
        mode: "3d" (one CRF over the region) or "2d" (each transverse slice, as Dou et al.).
        margin_mm: margin around the segmented structure's bounding box, mm; the CRF runs in
            that box only (raised to at least one prepared-grid voxel so no boundary is cut).
        params: kernel weights, widths (mm, HU) and iterations.
    """

    enabled: bool = True
    mode: Literal["2d", "3d"] = "3d"
    margin_mm: float = 10.0
    params: CrfParams = field(default_factory=CrfParams)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError("inference.crf.mode", expected=f"one of {', '.join(MODES)}", found=repr(self.mode))
        if not (isinstance(self.margin_mm, (int, float)) and math.isfinite(self.margin_mm) and self.margin_mm >= 0):
            raise ConfigError("inference.crf.margin_mm", expected="a margin >= 0 mm", found=repr(self.margin_mm))


@dataclass(frozen=True)
class InferenceSettings:
    """How a bundle's network is applied to a whole volume.

    Attributes:
        window_voxels_xyz: sliding-window size along (x, y, z), voxels of the prepared grid.
        overlap: fraction in [0, 1) of the window shared by neighbouring windows.
        sigma_scale: sigma of the Gaussian blending weight, fraction of the window size.
        fusion_weights: tau_d of eq. 4 (main first, then each branch), normalised to sum 1;
            None: the main output alone.
        tta: average the softmax over the 8 mirrorings of each window.
        crf: the CRF stage.
        postprocess: the post-processing steps.
        slab_voxels: most prepared-grid voxels stitched at once (memory bound, see
            ``livseg.inference``); whole rows of windows are always kept together.
        max_window_voxels: the window grows to whole axes of the volume while it stays within
            this many voxels (fewer overlapping windows; a 3D DSN needs about 180 bytes of
            activations per window voxel, so 8 M voxels is about 1.5 GB); None keeps
            ``window_voxels_xyz``.
    """

    window_voxels_xyz: tuple[int, int, int] = (160, 160, 72)
    overlap: float = 0.25
    sigma_scale: float = 0.125
    fusion_weights: tuple[float, ...] | None = None
    tta: bool = False
    crf: CrfSettings = field(default_factory=CrfSettings)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    slab_voxels: int = DEFAULT_SLAB_VOXELS
    max_window_voxels: int | None = DEFAULT_MAX_WINDOW_VOXELS

    def __post_init__(self) -> None:
        window = tuple(int(v) for v in self.window_voxels_xyz)
        if len(window) != 3 or min(window) < 1:
            raise ConfigError("inference.window_voxels_xyz", expected="three positive sizes (x, y, z) in voxels",
                              found=repr(self.window_voxels_xyz))
        object.__setattr__(self, "window_voxels_xyz", window)
        if not (isinstance(self.overlap, (int, float)) and 0.0 <= self.overlap < 1.0):
            raise ConfigError("inference.overlap", expected="a fraction in [0, 1)", found=repr(self.overlap),
                              fix="e.g. 0.25 (a quarter of each window shared with its neighbours)")
        if not (isinstance(self.sigma_scale, (int, float)) and self.sigma_scale > 0):
            raise ConfigError("inference.sigma_scale", expected="a positive fraction", found=repr(self.sigma_scale))
        if self.fusion_weights is not None:
            object.__setattr__(self, "fusion_weights", check_fusion_weights(self.fusion_weights))
        if not (isinstance(self.slab_voxels, int) and self.slab_voxels > 0):
            raise ConfigError("inference.slab_voxels", expected="a positive number of voxels",
                              found=repr(self.slab_voxels))
        if self.max_window_voxels is not None and not (isinstance(self.max_window_voxels, int)
                                                       and self.max_window_voxels > 0):
            raise ConfigError("inference.max_window_voxels", expected="a positive number of voxels or null",
                              found=repr(self.max_window_voxels))

    @property
    def window_zyx(self) -> tuple[int, int, int]:
        return self.window_voxels_xyz[::-1]  # type: ignore[return-value]


def check_fusion_weights(weights: Sequence[float]) -> tuple[float, ...]:
    """``weights`` as floats summing to 1; each >= 0, at least one > 0."""
    try:
        values = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise ConfigError("inference.fusion_weights", expected="a list of numbers (tau_d)",
                          found=repr(weights)) from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise ConfigError("inference.fusion_weights", expected="numbers >= 0 (main first, then branches), "
                          "not all 0", found=repr(list(weights)))
    total = sum(values)
    return tuple(v / total for v in values)


def _strict(cls: type, mapping: Mapping[str, Any], where: str) -> Any:
    """``cls(**mapping)`` after checking every key is a field of ``cls``."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(where, expected="a mapping", found=type(mapping).__name__)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        raise ConfigError(where, detail=f"unknown key '{unknown[0]}'", expected="one of the keys " + ", ".join(names),
                          found=repr(unknown[0]), fix="check the spelling against the documented keys")
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in mapping.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # a value of the wrong kind reaching a comparison
        raise ConfigError(where, expected="values of the documented types", found=str(exc)) from None


def settings_from_mapping(mapping: Mapping[str, Any] | None, *, defaults: InferenceSettings) -> InferenceSettings:
    """Settings from a checkpoint's ``"inference"`` mapping; missing keys keep ``defaults``."""
    mapping = dict(mapping or {})
    names = [f.name for f in dataclasses.fields(InferenceSettings)]
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        raise ConfigError("inference", detail=f"unknown key '{unknown[0]}'", expected="one of the keys " + ", ".join(names),
                          found=repr(unknown[0]), fix="check the spelling against the documented keys")
    changes: dict[str, Any] = {}
    for key, value in mapping.items():
        if key == "crf":
            crf = dict(value or {})
            own = {k: crf.pop(k) for k in ("enabled", "mode", "margin_mm") if k in crf}
            params = _strict(CrfParams, {**dataclasses.asdict(defaults.crf.params), **crf}, "inference.crf")
            changes["crf"] = _strict(CrfSettings, {**{k: getattr(defaults.crf, k) for k in ("enabled", "mode", "margin_mm")},
                                                   **own, "params": params}, "inference.crf")
        elif key == "postprocess":
            changes["postprocess"] = _strict(PostprocessConfig, {**dataclasses.asdict(defaults.postprocess),
                                                                 **dict(value or {})}, "inference.postprocess")
        elif key in ("window_voxels_xyz", "fusion_weights") and isinstance(value, list):
            changes[key] = tuple(value)
        else:
            changes[key] = value
    try:
        return dataclasses.replace(defaults, **changes)
    except TypeError as exc:
        raise ConfigError("inference", expected="values of the documented types", found=str(exc)) from None


def settings_to_mapping(settings: InferenceSettings) -> dict[str, Any]:
    """The plain mapping stored under a checkpoint's ``"inference"`` key (lists, not tuples)."""
    crf = settings.crf
    params = dataclasses.asdict(crf.params)
    if params.get("hu_window") is not None:
        params["hu_window"] = list(params["hu_window"])
    return {
        "window_voxels_xyz": list(settings.window_voxels_xyz),
        "overlap": float(settings.overlap),
        "sigma_scale": float(settings.sigma_scale),
        "fusion_weights": None if settings.fusion_weights is None else list(settings.fusion_weights),
        "tta": bool(settings.tta),
        "crf": {"enabled": crf.enabled, "mode": crf.mode, "margin_mm": float(crf.margin_mm), **params},
        "postprocess": dataclasses.asdict(settings.postprocess),
        "slab_voxels": int(settings.slab_voxels),
        "max_window_voxels": settings.max_window_voxels,
    }
