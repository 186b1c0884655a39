"""Training and inference configuration: frozen dataclasses loaded from YAML.

A config file is a YAML mapping with up to ten sections (``data``, ``preprocessing``,
``model``, ``loss``, ``optimiser``, ``schedule``, ``augmentation``, ``training``,
``validation``, ``output``) plus a ``name``. Every key is checked: an unknown key fails with
the key, the file and the valid keys; a value of the wrong type fails with what was expected.
Missing keys take the defaults below. Command-line overrides use dotted keys::

    config = load_config("configs/dsn3d-phantom.yaml", overrides=["training.epochs=3"])
    save_config(config, run_dir / "config.yaml")      # the resolved config, next to every run

Names carry their units: ``spacing_mm`` (mm along x, y, z), ``hu_window`` (Hounsfield units),
``patch_voxels_xyz`` (voxels along x, y, z), ``rotate_deg`` (degrees).
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import yaml

from livseg.errors import ConfigError, InputNotFoundError
from livseg.io.atomic import atomic_path
from livseg.schema import build, field_types, to_mapping

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhantomData:
    """Synthetic phantoms generated on the fly (no files needed).

    Attributes:
        n: number of phantoms (training + validation).
        seed: seed of the first phantom; phantom i uses ``seed + i``.
        size_xyz: phantom size in voxels along (x, y, z).
        spacing_mm: phantom voxel spacing along (x, y, z) in mm; None = the generator's own.
    """

    n: int = 12
    seed: int = 0
    size_xyz: tuple[int, int, int] = (64, 64, 48)
    spacing_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class MaskSynthesisData:
    """CT synthesised on the 3D-IRCADb-01 organ masks (``livseg.phantoms.synthesis``), each case
    made when it is loaded.

    Attributes:
        n: number of cases; case i uses mask patient i mod P (sorted, held-out patients
            ``HELD_OUT_PATIENTS`` excluded) and seed ``phantom_seed(seed, i)``; ids
            ``synth-NNN-patient-PP``.
        seed: seed of the set.
        root: the mask folder (patient-NN/ subfolders); None: ``<shared data>/ircadb-masks``.
        patients: only these patients ("patient-08" or "08"); empty: all but the held-out ones.
        random_intensity_share: share of cases with a random HU per tissue class (domain
            randomisation) instead of CT values.
        phase: "non-contrast", "arterial" or "portal-venous"; None draws one per case.
        spacing_mm: voxel size (x, y, z; mm); None draws it per case (0.6-1 mm, 1-5 mm slices).
        deform: random affine and elastic deformation.
        fov: "random", "none", "dome", "pelvis" or "both": where the scan's z range is cut.
    """

    n: int = 12
    seed: int = 0
    root: str | None = None
    patients: tuple[str, ...] = ()
    random_intensity_share: float = 0.0
    phase: str | None = None
    spacing_mm: tuple[float, float, float] | None = None
    deform: bool = True
    fov: str = "random"


@dataclass(frozen=True)
class LesionCopiesData:
    """Copies of the real cases (``root`` and ``samples``) with synthetic lesions inserted into
    the liver (``livseg.phantoms.lesions.insert_lesions``), made when loaded.

    Attributes:
        copies: copies per real case; ids ``<case>+lesions-K``. A copy always lands on the same
            side of the training/validation split as its case.
        seed: seed of the set (each copy's seed also depends on its case id and K).
        lesions: lesions per copy; None draws 1-4.
    """

    copies: int = 1
    seed: int = 0
    lesions: int | None = None


@dataclass(frozen=True)
class DataConfig:
    """Where the cases come from and how they are split.

    Attributes:
        root: data-set folder read with ``livseg.datasets.load_dataset`` (or None with phantoms).
        layout: data-set layout name, or "auto" to detect it.
        phantoms: generate synthetic phantoms instead of reading ``root``.
        task: "liver" (background vs liver incl. tumour), "tumour" (tumour vs the rest) or
            "liver_tumour" (three classes 0/1/2).
        cases: restrict the data set to these case ids (empty: all cases).
        val_cases: explicit held-out case ids (overrides val_fraction and folds).
        val_fraction: share of cases held out for validation when no folds are used.
        folds: "none", "leave-one-out", or an integer k for k-fold cross-validation.
        fold: which fold is held out (0-based; with leave-one-out: the held-out case's index).
        samples: names of fetchable samples (``livseg data fetch``, e.g. "lits-sample") to add
            as cases; they are fetched into the cache when missing.
        sample_spacing_mm: spacing (x, y, z; mm) to assume for samples whose files record none
            (the LiTS sample); None refuses such samples.
        label_map: how ``root``'s label values become 0/1/2, as ``--label-map`` elsewhere
            (e.g. "5:1,*:0" for TotalSegmentator's liver = 5); None: the layout's own map.
        mask_synthesis: add CT synthesised on the 3D-IRCADb organ masks (ids ``synth-*``).
        lesion_copies: add copies of the real cases with inserted lesions (``<case>+lesions-K``).

    ``root``, ``samples`` and ``phantoms`` may be combined: the cases are the data set's (after
    ``cases``), then the samples, then the phantoms (ids ``phantom-NNN``).
    """

    root: str | None = None
    layout: str = "auto"
    phantoms: PhantomData | None = None
    task: Literal["liver", "tumour", "liver_tumour"] = "liver"
    cases: tuple[str, ...] = ()
    val_cases: tuple[str, ...] = ()
    val_fraction: float = 0.2
    folds: int | str = "none"
    fold: int = 0
    samples: tuple[str, ...] = ()
    sample_spacing_mm: tuple[float, float, float] | None = None
    label_map: str | None = None
    mask_synthesis: MaskSynthesisData | None = None
    lesion_copies: LesionCopiesData | None = None


@dataclass(frozen=True)
class PreprocessingConfig:
    """Intensity window, resampling and cropping, applied once per case.

    Attributes:
        orientation: reorient every case's storage so index axes point this way (e.g. "LPS":
            x towards the left, y posterior, z superior) by exact transposes/flips; None keeps
            each file's own axis order.
        hu_window: (low, high) Hounsfield units; values are clipped to it.
        normalisation: "unit" maps the window to [0, 1], "symmetric" to [-1, 1], "zscore"
            subtracts the case's mean and divides by its standard deviation after clipping.
        spacing_mm: target spacing along (x, y, z) in mm; None keeps every case's own voxel
            grid (say so for cases of unknown spacing).
        crop: "none", "body" (threshold + largest component) or "liver" (reference liver
            bounding box + margin; the tumour stage of a cascade).
        body_threshold_hu: HU above which a voxel counts as body for the body crop.
        crop_margin_mm: margin added around the liver box for ``crop: liver``.
    """

    orientation: str | None = "LPS"
    hu_window: tuple[float, float] = (-200.0, 200.0)
    normalisation: Literal["unit", "symmetric", "zscore"] = "unit"
    spacing_mm: tuple[float, float, float] | None = None
    crop: Literal["none", "body", "liver"] = "body"
    body_threshold_hu: float = -500.0
    crop_margin_mm: float = 10.0


@dataclass(frozen=True)
class ModelConfig:
    """The network.

    Attributes:
        name: a name in ``livseg.models.MODELS``.
        in_channels: input channels (1 for CT; more for 2.5D stacks).
        options: keyword options passed to the network builder, e.g. ``init: normal`` with
            ``init_std: 0.01`` (the 3D DSN paper's N(0, 0.01)), ``deep_supervision``,
            ``channels_last``, ``widths``, ``dropout`` (see each network's docstring).
    """

    name: str = "dsn3d"
    in_channels: int = 1
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LossConfig:
    """The loss and its deep-supervision weighting.

    Attributes:
        name: a name for ``livseg.losses.build_loss`` (e.g. "ce", "dice", "dice+ce").
        options: keyword options for the loss.
        deep_supervision: branch-weight schedule ("dsn2016", "resunet2017", "constant") or
            "none" to train the main output only.
        schedule_options: keyword options of the schedule.
    """

    name: str = "ce"
    options: dict[str, Any] = field(default_factory=dict)
    deep_supervision: str = "dsn2016"
    schedule_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimiserConfig:
    """Optimiser.

    Attributes:
        name: "sgd", "sgd_nesterov", "adam" or "adamw".
        lr: initial learning rate.
        momentum: SGD momentum.
        weight_decay: L2 penalty (the paper's lambda; decoupled for AdamW).
        betas: Adam/AdamW betas.
    """

    name: Literal["sgd", "sgd_nesterov", "adam", "adamw"] = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule, stepped once per epoch.

    Attributes:
        name: "constant", "step" (multiply by step_gamma every step_epochs) or "poly"
            (lr * (1 - epoch / epochs) ** poly_power).
        step_epochs: epochs between steps.
        step_gamma: factor applied at each step (0.1 = divide by 10).
        poly_power: exponent of the poly schedule.
        warmup_epochs: linear warm-up from lr / (warmup_epochs + 1) over this many epochs.
    """

    name: Literal["constant", "step", "poly"] = "poly"
    step_epochs: int = 50
    step_gamma: float = 0.1
    poly_power: float = 0.9
    warmup_epochs: int = 0


@dataclass(frozen=True)
class AugmentationConfig:
    """Random augmentation of training patches (MONAI dictionary transforms).

    Intensity values are in normalised units (after ``preprocessing.normalisation``).

    Attributes:
        enabled: switch all augmentation on or off.
        flip_prob: probability of flipping along each axis.
        rotate_prob: probability of a random rotation (and scaling, same transform).
        rotate_deg: maximum rotation about each axis in degrees.
        scale_fraction: maximum relative zoom (0.1 = +-10 %).
        elastic_prob: probability of an elastic deformation.
        elastic_sigma_voxels: (min, max) smoothing of the displacement field in voxels.
        elastic_magnitude_voxels: (min, max) displacement magnitude in voxels.
        shift_prob: probability of an intensity shift.
        shift: maximum intensity shift.
        scale_prob: probability of an intensity scaling.
        scale: maximum relative intensity scaling (0.1 = x0.9 .. x1.1).
        noise_prob: probability of additive Gaussian noise.
        noise_std: standard deviation of the noise.
    """

    enabled: bool = True
    flip_prob: float = 0.5
    rotate_prob: float = 0.2
    rotate_deg: float = 10.0
    scale_fraction: float = 0.1
    elastic_prob: float = 0.0
    elastic_sigma_voxels: tuple[float, float] = (5.0, 7.0)
    elastic_magnitude_voxels: tuple[float, float] = (20.0, 60.0)
    shift_prob: float = 0.2
    shift: float = 0.1
    scale_prob: float = 0.2
    scale: float = 0.1
    noise_prob: float = 0.15
    noise_std: float = 0.02


@dataclass(frozen=True)
class TrainingConfig:
    """The training loop.

    Attributes:
        epochs: number of epochs.
        patches_per_epoch: training patches per epoch, all processes together.
        batch_size: patches per optimiser step and process.
        patch_voxels_xyz: size of the labelled patch along (x, y, z) in voxels.
        context_voxels: extra voxels of image context on each side of the patch (valid
            convolutions); the network input is ``patch + 2 * context``.
        foreground_fraction: share of patches centred on a foreground voxel.
        phantom_share: share of patches drawn from synthetic cases (phantoms ``phantom-*`` and
            mask-synthesised ``synth-*``) when real and synthetic cases are mixed; None draws
            cases uniformly.
        seed: seed of every random choice (patches, augmentation, initialisation).
        deterministic: seeds plus ``torch.use_deterministic_algorithms`` (bit-exact on CPU).
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
        amp: mixed precision on CUDA: "auto" (bf16 where supported, else fp16), "fp16", "bf16"
            or "off"; always off on CPU.
        compile: wrap the network in ``torch.compile``.
        grad_clip_norm: clip the gradient norm to this value (None: no clipping).
        threads: CPU threads for PyTorch (None: leave PyTorch's default).
        init_weights: fine-tune: a packaged model name (``default``, ``default-tumour``) or the
            path of a checkpoint, bundle or run folder whose network weights start this run
            (same network and options; the optimiser and schedule start afresh). None: random
            initialisation. A resumed run takes its weights from the checkpoint instead.
    """

    epochs: int = 100
    patches_per_epoch: int = 64
    batch_size: int = 2
    patch_voxels_xyz: tuple[int, int, int] = (96, 96, 96)
    context_voxels: int = 0
    foreground_fraction: float = 0.33
    phantom_share: float | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    amp: Literal["auto", "off", "fp16", "bf16"] = "auto"
    compile: bool = False
    grad_clip_norm: float | None = None
    threads: int | None = None
    init_weights: str | None = None


@dataclass(frozen=True)
class ValidationConfig:
    """Validation on held-out cases at the training spacing.

    Attributes:
        every_epochs: validate every this many epochs (and always after the last epoch).
        mode: "whole" (one forward pass per case) or "sliding" (sliding window, Gaussian blend).
        window_voxels_xyz: sliding-window size along (x, y, z); None = the training input size.
        overlap: sliding-window overlap fraction.
    """

    every_epochs: int = 1
    mode: Literal["whole", "sliding"] = "sliding"
    window_voxels_xyz: tuple[int, int, int] | None = None
    overlap: float = 0.25


@dataclass(frozen=True)
class OutputConfig:
    """What a run writes besides checkpoints (config.yaml, log.csv, last.pt, best.pt).

    Attributes:
        dir: run folder when the command line gives none (None: ``runs/<name>``).
        plot: write ``curves.png`` (learning curves) after every epoch.
        tensorboard: also log to TensorBoard (needs the ``tensorboard`` package).
    """

    dir: str | None = None
    plot: bool = True
    tensorboard: bool = False


@dataclass(frozen=True)
class Config:
    """A complete training configuration."""

    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    @property
    def num_classes(self) -> int:
        """Output classes implied by ``data.task`` (2, or 3 for "liver_tumour")."""
        return 3 if self.data.task == "liver_tumour" else 2


# --------------------------------------------------------------------------------------------
# Building a Config from a mapping (livseg.schema checks keys and types)
# --------------------------------------------------------------------------------------------


def config_from_dict(mapping: Mapping[str, Any], *, source: str = "<config>",
                     require_data: bool = True) -> Config:
    """Build and validate a Config from a plain mapping (as loaded from YAML).

    ``require_data=False`` accepts a config without a data source (for callers that bring
    their own cases, like the overfit-one check).
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(source, expected="a YAML mapping of sections (data, model, training, ...)",
                          found=type(mapping).__name__)
    config = build(Config, mapping, source=source)
    _check_values(config, source, require_data)
    return config


def _is_plain_name(name: str) -> bool:
    """A run name that is one folder name: no separators, not "." or "..", no leading dot."""
    return bool(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name)) and len(name) <= 128


def _check_values(config: Config, source: str, require_data: bool = True) -> None:
    """Checks beyond types: ranges and combinations."""
    def bad(key: str, expected: str, found: Any, fix: str | None = None) -> ConfigError:
        return ConfigError(source, detail=f"bad value for '{key}'", expected=expected,
                           found=repr(found), fix=fix)

    data, tr, pre = config.data, config.training, config.preprocessing
    if (require_data and data.root is None and data.phantoms is None and not data.samples
            and data.mask_synthesis is None):
        raise ConfigError(source, detail="no data",
                          expected="'data.root' (a data-set folder), 'data.samples', 'data.phantoms' or "
                                   "'data.mask_synthesis'",
                          found="none of them", fix="add data: {root: PATH} or data: {phantoms: {n: 12}}")
    if data.sample_spacing_mm is not None and min(data.sample_spacing_mm) <= 0:
        raise bad("data.sample_spacing_mm", "positive spacings in mm", list(data.sample_spacing_mm))
    if isinstance(data.folds, str) and data.folds not in ("none", "leave-one-out"):
        raise bad("data.folds", "'none', 'leave-one-out' or an integer k >= 2", data.folds)
    if isinstance(data.folds, int) and data.folds < 2:
        raise bad("data.folds", "an integer k >= 2", data.folds)
    if data.fold < 0:
        raise bad("data.fold", "a fold index >= 0", data.fold)
    if not 0.0 <= data.val_fraction < 1.0:
        raise bad("data.val_fraction", "a fraction in [0, 1)", data.val_fraction)
    if not _is_plain_name(config.name):
        raise bad("name", "a plain name (letters, digits, '.', '_', '-'; no path): it names the folder runs/NAME",
                  config.name)
    if data.phantoms is not None and data.phantoms.n < 1:
        raise bad("data.phantoms.n", "at least 1 phantom", data.phantoms.n)
    synth = data.mask_synthesis
    if synth is not None:
        if synth.n < 1:
            raise bad("data.mask_synthesis.n", "at least 1 case", synth.n)
        if not 0.0 <= synth.random_intensity_share <= 1.0:
            raise bad("data.mask_synthesis.random_intensity_share", "a fraction in [0, 1]",
                      synth.random_intensity_share)
        if synth.phase not in (None, "non-contrast", "arterial", "portal-venous"):
            raise bad("data.mask_synthesis.phase", "null, 'non-contrast', 'arterial' or 'portal-venous'", synth.phase)
        if synth.fov not in ("random", "none", "dome", "pelvis", "both"):
            raise bad("data.mask_synthesis.fov", "'random', 'none', 'dome', 'pelvis' or 'both'", synth.fov)
        if synth.spacing_mm is not None and min(synth.spacing_mm) <= 0:
            raise bad("data.mask_synthesis.spacing_mm", "positive spacings in mm", list(synth.spacing_mm))
    copies = data.lesion_copies
    if copies is not None:
        if copies.copies < 1:
            raise bad("data.lesion_copies.copies", "at least 1 copy per real case", copies.copies)
        if copies.lesions is not None and not 0 <= copies.lesions <= 12:
            raise bad("data.lesion_copies.lesions", "null or 0-12 lesions", copies.lesions)
        if data.root is None and not data.samples:
            raise bad("data.lesion_copies", "real cases to copy ('data.root' or 'data.samples')", "none",
                      fix="add data.root or data.samples, or remove data.lesion_copies")
    if pre.orientation is not None:
        axes = sorted(i for c in pre.orientation.upper() for i, pair in enumerate(("LR", "PA", "SI")) if c in pair)
        if len(pre.orientation) != 3 or axes != [0, 1, 2]:
            raise bad("preprocessing.orientation", "a code like LPS or RAS (one of L/R, P/A, S/I each), or null",
                      pre.orientation)
    low, high = pre.hu_window
    if not low < high:
        raise bad("preprocessing.hu_window", "[low, high] with low < high (HU)", list(pre.hu_window))
    if pre.spacing_mm is not None and min(pre.spacing_mm) <= 0:
        raise bad("preprocessing.spacing_mm", "positive spacings in mm", list(pre.spacing_mm))
    if min(tr.patch_voxels_xyz) < 1:
        raise bad("training.patch_voxels_xyz", "positive sizes in voxels", list(tr.patch_voxels_xyz))
    for key, value, low_ok in (("training.epochs", tr.epochs, 1), ("training.batch_size", tr.batch_size, 1),
                               ("training.patches_per_epoch", tr.patches_per_epoch, 1),
                               ("training.context_voxels", tr.context_voxels, 0),
                               ("validation.every_epochs", config.validation.every_epochs, 1),
                               ("schedule.step_epochs", config.schedule.step_epochs, 1)):
        if value < low_ok:
            raise bad(key, f"an integer >= {low_ok}", value)
    if tr.phantom_share is not None and not 0.0 <= tr.phantom_share <= 1.0:
        raise bad("training.phantom_share", "a fraction in [0, 1] or null", tr.phantom_share)
    if not 0.0 <= tr.foreground_fraction <= 1.0:
        raise bad("training.foreground_fraction", "a fraction in [0, 1]", tr.foreground_fraction)
    if not 0.0 <= config.validation.overlap < 1.0:
        raise bad("validation.overlap", "a fraction in [0, 1)", config.validation.overlap)
    if config.optimiser.lr <= 0:
        raise bad("optimiser.lr", "a positive learning rate", config.optimiser.lr)
    aug = config.augmentation
    for name in ("flip_prob", "rotate_prob", "elastic_prob", "shift_prob", "scale_prob", "noise_prob"):
        value = getattr(aug, name)
        if not 0.0 <= value <= 1.0:
            raise bad(f"augmentation.{name}", "a probability in [0, 1]", value)


# --------------------------------------------------------------------------------------------
# Files and overrides
# --------------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"training.epochs=3"`` into (["training", "epochs"], 3); the value is YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text}", expected="KEY=VALUE with a dotted key, e.g. training.epochs=3",
                          found=repr(text))
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text}", expected="a YAML value after '='",
                          found=" ".join(str(exc).split())) from None
    return key.split("."), value


def apply_overrides(mapping: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A deep copy of ``mapping`` with each ``key.sub=value`` override set (no type checks yet).

    Keys are checked against the dataclasses on the way down, so a misspelt override fails
    naming the valid keys; inside free-form mappings (``model.options``) any key is allowed.
    """
    result = _deep_copy(mapping)
    for text in overrides:
        path, value = parse_override(text)
        node: dict[str, Any] = result
        cls: Any = Config
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if cls is not None:
                hints = field_types(cls)
                if part not in hints:
                    raise ConfigError(f"--set {text}", detail=f"unknown key '{'.'.join(path[:depth + 1])}'",
                                      expected="one of the keys " + ", ".join(hints), found=repr(part))
                hint = hints[part]
                cls = next((a for a in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(a)), None)
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deep_copy(v) for v in value]
    return value


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw mapping of a YAML config file (empty file -> empty mapping)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(path, expected="a YAML config file", found="nothing at that path")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(path, expected="valid YAML", found=" ".join(str(exc).split())) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(path, expected="a YAML mapping of sections (data, model, training, ...)",
                          found=type(loaded).__name__)
    return loaded


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config, apply ``key.sub=value`` overrides, validate and return it.

    A config without ``name`` is named after its file (``dsn3d-phantom.yaml`` -> "dsn3d-phantom").
    """
    path = Path(path)
    mapping = read_yaml_mapping(path)
    mapping.setdefault("name", path.name.removesuffix(".yaml").removesuffix(".yml"))
    mapping = apply_overrides(mapping, overrides)
    source = f"{path}" + (f" (with --set {' '.join(overrides)})" if overrides else "")
    return config_from_dict(mapping, source=source)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain mapping (lists, not tuples) of a config or one of its sections."""
    return to_mapping(config)


def dump_config(config: Config) -> str:
    """The resolved config as YAML text (every key, defaults included)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)


def save_config(config: Config, path: str | os.PathLike[str]) -> Path:
    """Write the resolved config as YAML, atomically; ``load_config`` reads it back equal."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(dump_config(config), encoding="utf-8")
    return path


def replace(config: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for readable call sites (configs are frozen)."""
    return dataclasses.replace(config, **changes)
