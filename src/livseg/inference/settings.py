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
      crf:                                # CrfSettings
        enabled: true
        mode: 3d
        margin_mm: 10.0
        params: {mu1: 5.0, mu2: 3.0, ...} # livseg.crf.CrfParams
      postprocess: {keep_largest_liver: true, ...}   # livseg.postprocessing.PostprocessConfig

The nesting is the dataclasses' nesting, checked by :func:`livseg.schema.build`. Files written
by livseg 0.1.0 put the CRF parameters directly under ``crf`` (``crf: {enabled: true, mu1: 5,
...}``); they are still read (:func:`nest_flat_crf`).

``fusion_weights`` are normalised to sum to 1 (eq. 4 is a weighted average). The paper chose
tau_d by grid search on training cases; until a bundle records tuned values, the main output
alone is used (branch weights 0), and branches with weight 0 are not computed.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Protocol, Sequence, TypeVar

import yaml

from livseg.crf import MODES, CrfParams
from livseg.errors import ConfigError, InputNotFoundError, UnreadableInputError
from livseg.postprocessing import PostprocessConfig
from livseg.schema import build, to_mapping

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


#: CrfParams' fields: under ``crf.params`` now, directly under ``crf`` in livseg 0.1.0 files.
_CRF_PARAM_FIELDS = frozenset(f.name for f in dataclasses.fields(CrfParams))


def nest_flat_crf(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` (an ``inference`` mapping) with an old flat ``crf`` section nested.

    Files written by livseg 0.1.0 (the packaged bundles' metadata, ``livseg tune-crf`` YAML)
    put CrfParams' fields directly under ``crf``, beside ``enabled``, ``mode`` and
    ``margin_mm``; they now sit under ``crf.params``, as in :class:`CrfSettings`. This is the
    only place that knows the old form. A ``crf: null`` or ``postprocess: null`` is read as
    empty (keep the defaults), as before.
    """
    mapping = {key: value for key, value in mapping.items()
               if not (key in ("crf", "postprocess") and value is None)}
    crf = mapping.get("crf")
    if not isinstance(crf, Mapping):
        return mapping
    flat = {key: value for key, value in crf.items() if key in _CRF_PARAM_FIELDS}
    if not flat:
        return mapping
    if "params" in crf:
        raise ConfigError("inference.crf", detail=f"'{next(iter(flat))}' beside 'params'",
                          expected="CRF parameters under crf.params only",
                          found="both the old flat form and crf.params", fix="move them under params")
    nested = {key: value for key, value in crf.items() if key not in flat}
    return {**mapping, "crf": {**nested, "params": flat}}


def settings_from_mapping(mapping: Mapping[str, Any] | None, *, defaults: InferenceSettings) -> InferenceSettings:
    """Settings from a checkpoint's ``"inference"`` mapping; missing keys keep ``defaults``.

    The mapping nests like the dataclasses (``crf: {enabled, mode, margin_mm, params: {...}}``);
    the old flat ``crf`` form is read too (:func:`nest_flat_crf`).

    Raises:
        ConfigError: an unknown key, a value of the wrong type or out of range.
    """
    return build(InferenceSettings, nest_flat_crf(mapping or {}), key="inference", defaults=defaults)


def settings_to_mapping(settings: InferenceSettings) -> dict[str, Any]:
    """The plain mapping stored under a checkpoint's ``"inference"`` key (lists, not tuples)."""
    return to_mapping(settings)


# --------------------------------------------------------------------------------------------
# Tuned settings files (written by ``livseg tune-crf``, read by ``livseg predict --crf-config``)
# --------------------------------------------------------------------------------------------


class SettingsHolder(Protocol):
    """What :func:`apply_tuned_settings` needs of a model bundle (a dataclass)."""

    settings: InferenceSettings
    name: str

    @property
    def num_branches(self) -> int: ...


HolderT = TypeVar("HolderT", bound=SettingsHolder)


def read_tuned_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``inference`` mapping of a tuned settings file.

    Raises:
        InputNotFoundError, UnreadableInputError: no such file, or not YAML.
        ConfigError: no ``inference`` mapping in it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(path, expected="a tuned settings YAML file (livseg tune-crf -o)",
                                 found="nothing at that path")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UnreadableInputError(path, expected="a YAML file",
                                   found=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("inference"), Mapping):
        found = "keys " + ", ".join(map(str, document)) if isinstance(document, Mapping) else type(document).__name__
        raise ConfigError(path, expected="a mapping with an 'inference' section", found=found,
                          fix="write it with livseg tune-crf")
    return dict(document["inference"])


def load_tuned_settings(path: str | os.PathLike[str], defaults: InferenceSettings) -> InferenceSettings:
    """``defaults`` (a bundle's settings) with the tuned file's ``inference`` values applied."""
    return settings_from_mapping(read_tuned_mapping(path), defaults=defaults)


def apply_tuned_settings(bundle: HolderT, path: str | os.PathLike[str]) -> HolderT:
    """A bundle sharing ``bundle``'s network, with the tuned settings of ``path``.

    Raises:
        ConfigError: the file's fusion weights do not fit the network's outputs.
    """
    settings = load_tuned_settings(path, bundle.settings)
    weights = settings.fusion_weights
    if weights is not None and len(weights) != 1 + bundle.num_branches:
        raise ConfigError(path, expected=f"{1 + bundle.num_branches} fusion weights for model {bundle.name}",
                          found=f"{len(weights)}", fix="tune with the same model")
    return dataclasses.replace(bundle, settings=settings)  # type: ignore[type-var]
