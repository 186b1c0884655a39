"""Model bundles: a network together with everything needed to apply it to a CT.

A bundle = the network (weights included) + its preprocessing (HU window, target spacing,
crop, orientation) + its task (which classes it outputs) + the inference settings (window,
overlap, fusion weights tau_d, CRF, post-processing). It is loaded from

* a training checkpoint (``livseg train`` writes ``best.pt`` / ``last.pt``; loaded with
  ``torch.load(weights_only=True)``, so loading runs no code) or a run folder holding one;
* a ``.safetensors`` file whose metadata holds the config and the inference settings
  (written by :func:`save_bundle`).

Either may carry an ``"inference"`` mapping (see :mod:`livseg.inference.settings`); what it
leaves out takes defaults from the training config (window = training patch, overlap =
validation overlap).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from livseg.config import Config, PreprocessingConfig, config_from_dict, config_to_dict
from livseg.errors import ConfigError, InputNotFoundError, UnreadableInputError
from livseg.inference.settings import InferenceSettings, settings_from_mapping, settings_to_mapping
from livseg.io.atomic import atomic_path

#: livseg label of each network class, per training task.
TASK_LABELS: dict[str, tuple[int, ...]] = {"liver": (0, 1), "liver_tumour": (0, 1, 2), "tumour": (0, 2)}
TASK_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "liver": ("background", "liver"), "liver_tumour": ("background", "liver", "tumour"),
    "tumour": ("background", "tumour")}

SAFETENSORS_FORMAT = "livseg-bundle"
SAFETENSORS_FORMAT_VERSION = 1
BUNDLE_SUFFIXES = (".pt", ".safetensors")


@dataclass
class ModelBundle:
    """A network and how to apply it.

    Attributes:
        network: maps (N, C_in, D, H, W) to a SegmentationOutput; put in eval mode on load.
        preprocessing: the preprocessing the network was trained with.
        task: "liver", "liver_tumour" or "tumour" (what the classes mean, see TASK_LABELS).
        settings: window, overlap, fusion weights, CRF and post-processing.
        name: a short name for messages (the registry name or the file name).
        source: the file it was loaded from (None when built in memory).
        config: the full training config (needed to save the bundle again).
    """

    network: nn.Module
    preprocessing: PreprocessingConfig
    task: str = "liver"
    settings: InferenceSettings = field(default_factory=InferenceSettings)
    name: str = "<memory>"
    source: str | None = None
    config: Config | None = None

    def __post_init__(self) -> None:
        if self.task not in TASK_LABELS:
            raise ConfigError(f"model {self.name}", expected=f"a task among {sorted(TASK_LABELS)}",
                              found=repr(self.task))
        self.network.eval()

    @property
    def class_labels(self) -> tuple[int, ...]:
        """The livseg label (0 background, 1 liver, 2 tumour) of each network class."""
        return TASK_LABELS[self.task]

    @property
    def class_names(self) -> tuple[str, ...]:
        return TASK_CLASS_NAMES[self.task]

    @property
    def num_classes(self) -> int:
        return len(self.class_labels)

    @property
    def num_branches(self) -> int:
        """Deep-supervision outputs of the network (0 when it does not say)."""
        return int(getattr(self.network, "num_branches", 0) or 0)

    @property
    def tta_flip_axes(self) -> tuple[int, ...]:
        """Array axes (0 z, 1 y, 2 x of the prepared grid) whose mirror images the network saw
        in training, so that mirroring test-time augmentation is valid over them: the axes the
        training augmentation flipped (all three with ``flip_prob`` > 0), none without flips
        (a model that never saw a mirrored abdomen, a liver on the left, must not be averaged
        over one) and none when the training config is unknown."""
        if self.config is None:
            return ()
        augmentation = self.config.augmentation
        return (0, 1, 2) if augmentation.enabled and augmentation.flip_prob > 0 else ()

    def with_settings(self, **changes: Any) -> "ModelBundle":
        """A bundle sharing this network, with some settings replaced."""
        import dataclasses

        return ModelBundle(network=self.network, preprocessing=self.preprocessing, task=self.task,
                           settings=dataclasses.replace(self.settings, **changes), name=self.name,
                           source=self.source, config=self.config)


def _default_settings(config: Config) -> InferenceSettings:
    return InferenceSettings(window_voxels_xyz=config.training.patch_voxels_xyz, overlap=config.validation.overlap)


def bundle_from_parts(state_dict: dict[str, torch.Tensor], config_mapping: Any, inference_mapping: Any, *,
                      source: str, name: str) -> ModelBundle:
    """Build the network of ``config_mapping``, load ``state_dict`` into it, attach settings."""
    from livseg.models import build_model

    config = config_from_dict(config_mapping, source=source, require_data=False)
    if config.training.context_voxels > 0:
        raise ConfigError(source, expected="a network with 'same' convolutions (training.context_voxels 0)",
                          found=f"training.context_voxels {config.training.context_voxels} (valid convolutions)",
                          fix="livseg predict does not tile valid-convolution networks yet; use livseg's "
                              "validation (whole-case) path for them")
    network = build_model(config.model.name, in_channels=config.model.in_channels, num_classes=config.num_classes,
                          **config.model.options)
    try:
        network.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise UnreadableInputError(source, expected=f"weights of the network '{config.model.name}' its config describes",
                                   found=" ".join(str(exc).split())[:300],
                                   fix="the file is damaged or its config does not match its weights") from exc
    settings = settings_from_mapping(inference_mapping, defaults=_default_settings(config))
    return ModelBundle(network=network, preprocessing=config.preprocessing, task=config.data.task,
                       settings=settings, name=name, source=source, config=config)


def load_bundle(path: str | os.PathLike[str], *, name: str | None = None,
                map_location: str | torch.device = "cpu") -> ModelBundle:
    """Load a bundle from a checkpoint (.pt), a run folder (best.pt, else last.pt) or .safetensors.

    Raises:
        InputNotFoundError: nothing at ``path`` (or a run folder without checkpoints).
        UnreadableInputError: not a livseg checkpoint/bundle, or weights that do not fit.
        ConfigError: the stored config or inference settings are invalid.
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / "best.pt", path / "last.pt"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise InputNotFoundError(path, expected="a run folder with best.pt or last.pt",
                                     found="neither", fix="pass the checkpoint file itself")
        path = found
    if not path.is_file():
        raise InputNotFoundError(path, expected="a model checkpoint (.pt) or bundle (.safetensors)",
                                 found="nothing at that path")
    label = name or path.name
    if path.suffix.lower() == ".safetensors":
        state, config_mapping, inference = _read_safetensors(path)
    else:
        from livseg.models.checkpoint_file import load_checkpoint

        payload = load_checkpoint(path, map_location=map_location)
        if "model" not in payload or "config" not in payload:
            raise UnreadableInputError(path, expected="a checkpoint with the keys 'model' and 'config'",
                                       found="keys " + ", ".join(sorted(map(str, payload))))
        state, config_mapping, inference = payload["model"], payload["config"], payload.get("inference")
    return bundle_from_parts(state, config_mapping, inference, source=str(path), name=label)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], Any, Any]:
    try:
        from safetensors import safe_open
    except ImportError as exc:  # pragma: no cover - safetensors is a dependency
        raise ConfigError(path, expected="the safetensors package to read .safetensors bundles",
                          found="it is not installed", fix="pip install safetensors") from exc
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise UnreadableInputError(path, expected="a safetensors file",
                                   found=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    if metadata.get("format") != SAFETENSORS_FORMAT:
        raise UnreadableInputError(path, expected=f"a {SAFETENSORS_FORMAT} file (metadata 'format')",
                                   found=repr(metadata.get("format")),
                                   fix="write bundles with livseg.inference.save_bundle")
    try:
        config_mapping = json.loads(metadata["config"])
        inference = json.loads(metadata.get("inference", "null"))
    except (KeyError, ValueError) as exc:
        raise UnreadableInputError(path, expected="JSON 'config' and 'inference' metadata",
                                   found=f"{type(exc).__name__}: {exc}") from exc
    return state, config_mapping, inference


def save_bundle(bundle: ModelBundle, path: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` (weights, training config, inference settings) atomically.

    ``.safetensors``: tensors + JSON metadata; any other suffix: a livseg checkpoint
    (``torch.save``; loads with ``weights_only=True``).
    """
    path = Path(path)
    if bundle.config is None:
        raise ConfigError(bundle.name, expected="a bundle with its training config to save",
                          found="a bundle built in memory without one", fix="build it with config=...")
    state = {key: value.detach().cpu().contiguous() for key, value in bundle.network.state_dict().items()}
    config_mapping = config_to_dict(bundle.config)
    inference = settings_to_mapping(bundle.settings)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import save_file

        metadata = {"format": SAFETENSORS_FORMAT, "format_version": str(SAFETENSORS_FORMAT_VERSION),
                    "config": json.dumps(config_mapping), "inference": json.dumps(inference)}
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata=metadata)
        return path
    from livseg.models.checkpoint_file import save_checkpoint
    from livseg.version import versions

    return save_checkpoint({"model": state, "config": config_mapping, "inference": inference,
                            "versions": versions()}, path)
