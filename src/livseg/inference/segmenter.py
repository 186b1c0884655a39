"""``Segmenter``: a CT Volume in, a 0/1/2 label Volume on exactly its grid out.

The pipeline, per volume, is the stages of :mod:`livseg.inference.stages` (the same functions
``livseg tune-crf`` calls)::

    reorient the storage as the model's preprocessing says   (to_model_orientation; undone at the end)
    crop, HU window, resample; sliding windows, eq. 4 fusion  (network_stage)
    liver-component box + margin; probabilities onto it      (crf_region)
    dense CRF there on the fused probabilities and the HU     (refine_region)
    [tumour cascade: liver box -> tumour network -> inside liver -> CRF -> merged 0/1/2]
    post-processing, inverse orientation                      (livseg.postprocessing, livseg.preprocessing)

The CLI's ``livseg predict`` (through :mod:`livseg.batch`) calls exactly this.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livseg.errors import ConfigError
from livseg.models.devices import resolve_device
from livseg.inference.bundle import ModelBundle, load_bundle
from livseg.inference.fusion import resolve_fusion_weights
from livseg.inference.quality import (QualitySignals, assess, fov_cut_fraction, removed_fraction,
                                      uncertain_fraction, volume_deviation)
from livseg.inference.registry import DEFAULT_MODEL, companion_tumour_model, is_packaged, resolve_model
from livseg.inference.settings import settings_to_mapping
from livseg.inference.stages import (COARSE_MARGIN_MM, COARSE_MIN_EXTENT_MM, coarse_liver, crf_region,
                                     network_stage, refine_region, to_model_orientation)
from livseg.inference.timing import StageTimer
from livseg.io.checksums import sha256_of_path
from livseg.io.spacing import require_known_spacing
from livseg.postprocessing import postprocess
from livseg.postprocessing.pipeline import axial_extent_mm
from livseg.preprocessing import PreprocessRecord, invert_reorient
from livseg.preprocessing.orientation import ReorientRecord, apply_reorient
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)


@dataclass
class Prediction:
    """What :meth:`Segmenter.predict` returns.

    Attributes:
        labels: uint8 labels (0 background, 1 liver, 2 tumour), array (z, y, x) on exactly
            the input's grid.
        probabilities: when asked for, {class name: float32 Volume on the input's grid} of
            the fused network probabilities (the CRF's unary) of each foreground class
            ("liver", and "tumour" from a 3-class model or the cascade); else None.
        timings: seconds per stage (preprocess, network, restore, crf, tumour, post).
        info: what was done: model names, device, the prepared grid, and the region of
            interest as array index boxes ((z, y, x) start, stop) on the working grid (the
            input's storage reoriented as the model's preprocessing says), None when the
            network found nothing.
        quality: the liver mask's automatic quality check (:func:`livseg.inference.quality.assess`:
            "qc" ok or review, "score", "reasons", "signals").
    """

    labels: Volume
    probabilities: dict[str, Volume] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] | None = None


@dataclass
class _StageResult:
    """One network stage on the working grid."""

    labels: np.ndarray                # uint8 livseg labels on the working grid
    probabilities: np.ndarray         # float16 (C, Z, Y, X) on the prepared grid
    prepared: Geometry
    record: PreprocessRecord
    roi: tuple[tuple[int, int, int], tuple[int, int, int]] | None
    branch_disagreement: float | None = None
    crf_changed: int | None = None    # voxels whose label the CRF changed (None: no CRF ran)


def check_device(device: str | torch.device) -> torch.device:
    """The torch device ``device`` means here ("auto": CUDA, then MPS, then CPU); ConfigError
    with the fix when this machine does not have it (:func:`livseg.models.devices.resolve_device`)."""
    return resolve_device(device)


class Segmenter:
    """Liver (and optionally tumour) segmentation of CT volumes with one or two model bundles.

    Args:
        bundle: the liver model (task "liver" or "liver_tumour").
        tumour_bundle: a tumour model (task "tumour") for the cascade.
        device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps" (networks
            and CRF run there; results come back to the CPU).
        crf: run the dense CRF where the bundles' settings enable it.
        tumour: run the cascade: None = when a tumour bundle is given; True requires one.
        tta: mirroring test-time augmentation (None: the bundle's setting).
        overlap: sliding-window overlap (None: the bundle's setting).
        amp: mixed precision on CUDA.
        slab_voxels: memory bound of the sliding window (None: the bundle's setting).
        coarse_to_fine: find the liver with the network on a 2x coarser grid first and run the
            full-resolution network only in its box + 30 mm (scans at least 120 mm long; see
            :func:`livseg.inference.stages.coarse_liver`); falls back to the whole body when
            the coarse pass finds nothing.
    """

    def __init__(self, bundle: ModelBundle, *, tumour_bundle: ModelBundle | None = None,
                 device: str | torch.device = "auto", crf: bool = True, tumour: bool | None = None,
                 tta: bool | None = None, overlap: float | None = None, amp: bool = True,
                 slab_voxels: int | None = None, coarse_to_fine: bool = False) -> None:
        if bundle.task == "tumour":
            raise ConfigError(f"model {bundle.name}", expected="a liver model (task liver or liver_tumour)",
                              found="a tumour model", fix="give it as the tumour model (--tumour-model)")
        if tumour_bundle is not None and tumour_bundle.task != "tumour":
            raise ConfigError(f"tumour model {tumour_bundle.name}", expected="a tumour model (task tumour)",
                              found=f"task {tumour_bundle.task}")
        if tumour and tumour_bundle is None:
            raise ConfigError(f"--tumour with model {bundle.name}", expected="a tumour model for the cascade",
                              found="none available",
                              fix=f"pass --tumour-model NAME_OR_PATH (or package a '{bundle.name}-tumour' model), "
                                  "or use --no-tumour")
        self.device = check_device(device)
        overrides: dict[str, Any] = {}
        if tta is not None:
            overrides["tta"] = bool(tta)
        if overlap is not None:
            overrides["overlap"] = overlap
        if slab_voxels is not None:
            overrides["slab_voxels"] = int(slab_voxels)
        self.bundle = bundle.with_settings(**overrides) if overrides else bundle
        self.tumour_bundle = None
        if tumour_bundle is not None and tumour is not False:
            self.tumour_bundle = tumour_bundle.with_settings(**overrides) if overrides else tumour_bundle
        for model in (self.bundle, self.tumour_bundle):
            if model is not None and model.settings.tta and not model.tta_flip_axes:
                raise ConfigError(
                    f"--tta with model {model.name}",
                    expected="a model trained with flip augmentation (mirrored test-time inputs are then valid)",
                    found="one trained without flips (augmentation.flip_prob 0): averaging over mirrored "
                          "abdomens it never saw makes its masks worse" if model.config is not None
                          else "a model whose training augmentation is unknown",
                    fix="leave out --tta")
        self.crf = bool(crf)
        self.amp = bool(amp)
        self.coarse_to_fine = bool(coarse_to_fine)
        self.settings_file: str | None = None  # a tune-crf settings file applied by from_checkpoint
        self._sha256: dict[str, str] = {}      # model file -> SHA-256, computed once (provenance)
        self.weights = resolve_fusion_weights(self.bundle.settings.fusion_weights, self.bundle.num_branches)
        self.tumour_weights = None
        for model in (self.bundle, self.tumour_bundle):
            if model is not None:
                model.network.to(self.device).eval()
        if self.tumour_bundle is not None:
            self.tumour_weights = resolve_fusion_weights(self.tumour_bundle.settings.fusion_weights,
                                                         self.tumour_bundle.num_branches)
        if self.crf and self.device.type == "cpu" and any(
                model is not None and model.settings.crf.enabled for model in (self.bundle, self.tumour_bundle)):
            from livseg.crf.filters import prepare_cpu_kernels

            prepare_cpu_kernels()  # the CRF's compiled kernels load while the scan is read and segmented

    @classmethod
    def from_checkpoint(cls, model: str | os.PathLike[str] = DEFAULT_MODEL, device: str | torch.device = "auto", *,
                        tumour_model: str | os.PathLike[str] | None = None, tumour: bool | None = None,
                        settings_file: str | os.PathLike[str] | None = None,
                        **options: Any) -> "Segmenter":
        """Load bundles by registry name or path (see :mod:`livseg.inference.registry`).

        Without ``tumour_model``, the packaged ``NAME-tumour`` bundle of a named model is used
        when it exists and ``tumour=True`` (the cascade is opt-in for packaged models: the
        shipped tumour model is experimental, see MODEL_CARD.md); a ``tumour_model`` given
        explicitly runs unless ``tumour=False``. ``settings_file`` is a YAML written by
        ``livseg tune-crf`` whose ``inference`` values (CRF parameters, fusion weights tau_d)
        replace the liver bundle's. Other options as for the constructor.
        """
        name, path = resolve_model(model)
        given_by_name = is_packaged(path)
        bundle = load_bundle(path, name=name)
        if settings_file is not None:
            from livseg.inference.settings import apply_tuned_settings

            bundle = apply_tuned_settings(bundle, settings_file)
        tumour_bundle = None
        if tumour is not False:
            if tumour_model is not None:
                tumour_name, tumour_path = resolve_model(tumour_model)
                tumour_bundle = load_bundle(tumour_path, name=tumour_name)
            else:
                companion = companion_tumour_model(name) if given_by_name and tumour is True else None
                if companion is not None:
                    tumour_bundle = load_bundle(companion, name=f"{name}-tumour")
        segmenter = cls(bundle, tumour_bundle=tumour_bundle, device=device, tumour=tumour, **options)
        if settings_file is not None:
            segmenter.settings_file = str(Path(settings_file).resolve())
        return segmenter

    # ----------------------------------------------------------------------------------------

    @property
    def structures(self) -> tuple[str, ...]:
        """What this Segmenter's labels assess: ("liver", "tumour") when a tumour model runs (the
        cascade, or a 3-class liver_tumour model), else ("liver",): label 2 is then absent
        because nobody looked, not because there is no tumour."""
        if self.tumour_bundle is not None or self.bundle.task == "liver_tumour":
            return ("liver", "tumour")
        return ("liver",)

    def provenance(self) -> dict[str, Any]:
        """What makes this Segmenter's masks, as JSON-ready facts (``livseg predict`` writes them
        beside each mask, see :mod:`livseg.batch.runner`).

        Returns:
            {"structures": [...], "model": MODEL, "tumour_model": MODEL or None, "crf": bool
            (the dense CRF ran for the liver model), "device", "amp", "settings_file"}, where
            MODEL = {"name", "task", "file" (absolute path, None for a bundle built in memory),
            "sha256" (of that file; a folder: of its files), "settings" (the inference settings
            as a mapping, ``settings_to_mapping``)}. The checksums are computed once per file.
        """
        return {
            "structures": list(self.structures),
            "model": self._model_facts(self.bundle),
            "tumour_model": None if self.tumour_bundle is None else self._model_facts(self.tumour_bundle),
            "crf": self.crf and self.bundle.settings.crf.enabled,
            "device": str(self.device),
            "amp": self.amp,
            "coarse_to_fine": self.coarse_to_fine,
            "settings_file": self.settings_file,
        }

    def _model_facts(self, bundle: ModelBundle) -> dict[str, Any]:
        file = None if bundle.source is None else str(Path(bundle.source).resolve())
        if file is not None and file not in self._sha256:
            self._sha256[file] = sha256_of_path(file)
        return {"name": bundle.name, "task": bundle.task, "file": file,
                "sha256": None if file is None else self._sha256[file],
                "settings": settings_to_mapping(bundle.settings)}

    # ----------------------------------------------------------------------------------------

    def predict(self, volume: Volume, *, probabilities: bool = False) -> Prediction:
        """Segment one CT.

        Args:
            volume: CT in HU, array (z, y, x), any orientation and (known) spacing.
            probabilities: also return the fused probabilities on the input's grid (float32,
                4 bytes per voxel and foreground class).

        Returns:
            Prediction with labels on exactly ``volume.geometry``.

        Raises:
            InvalidImageError: ``volume``'s spacing is unknown (the model's grid, the CRF's
                sigmas and every volume in mL are in mm; 1 mm is never assumed).
        """
        require_known_spacing(volume, what="segmentation (the model's grid, the CRF's sigmas in mm, volumes in mL)",
                              fix="give the spacing: --spacing-mm X Y Z, or read_volume(path, spacing_mm=(x, y, z))")
        timer = StageTimer()
        bundle = self.bundle
        with timer("preprocess"):
            ct, turned = to_model_orientation(volume, bundle.preprocessing.orientation)
        stage = self._liver_stage(ct, timer)
        labels = stage.labels
        info: dict[str, Any] = {"model": bundle.name, "device": str(self.device), "prepared": stage.prepared.describe(),
                                "roi": stage.roi, "crf": self.crf and bundle.settings.crf.enabled}
        tumour_probability: Volume | None = None
        if self.tumour_bundle is not None:
            with timer("post"):
                liver = postprocess(Volume(labels, ct.geometry, source=volume.source), bundle.settings.postprocess).array > 0
            tumour_timer = StageTimer()
            tumour, tumour_probability, tumour_info = self._tumour_cascade(ct, liver, tumour_timer, probabilities)
            timer.seconds["tumour"] = tumour_timer.total
            labels = liver.astype(np.uint8)
            labels[tumour] = 2
            info["tumour"] = {"model": self.tumour_bundle.name, **tumour_info,
                              "seconds": dict(tumour_timer.seconds)}
        with timer("post"):
            cleaned = postprocess(Volume(labels, ct.geometry, source=volume.source), bundle.settings.postprocess)
            out = invert_reorient(cleaned, turned)
            out = Volume(np.ascontiguousarray(out.array, dtype=np.uint8), volume.geometry, source=volume.source,
                         kind="label", spacing_known=volume.spacing_known)
        with timer("post"):
            quality = _quality(stage, cleaned.array, out)
        probability_volumes = None
        if probabilities:
            with timer("restore"):
                probability_volumes = self._probability_volumes(stage, bundle, turned, volume)
                if tumour_probability is not None:
                    probability_volumes["tumour"] = _on_input(tumour_probability, turned, volume)
        return Prediction(labels=out, probabilities=probability_volumes, timings=dict(timer.seconds), info=info,
                          quality=quality)

    # ----------------------------------------------------------------------------------------

    def _liver_stage(self, ct: Volume, timer: StageTimer) -> _StageResult:
        """The liver model's stage on ``ct``: in the coarse pass's liver box with
        ``coarse_to_fine`` (long enough scans of a model that crops to the body), else whole."""
        bundle = self.bundle
        if (self.coarse_to_fine and bundle.task != "tumour" and bundle.preprocessing.crop == "body"
                and axial_extent_mm(ct.geometry) >= COARSE_MIN_EXTENT_MM):
            roi = coarse_liver(bundle, ct, device=self.device, amp=self.amp, fusion_weights=self.weights,
                               liver_rule=bundle.settings.postprocess, timer=timer)
            if roi is not None:
                fine = dataclasses.replace(bundle, preprocessing=dataclasses.replace(
                    bundle.preprocessing, crop="liver", crop_margin_mm=COARSE_MARGIN_MM))
                return self._stage(fine, self.weights, ct, timer, roi=roi)
            logger.info("%s: the coarse pass found no liver; running the whole body", ct.source)
        return self._stage(bundle, self.weights, ct, timer)

    def _stage(self, bundle: ModelBundle, weights: tuple[float, ...], ct: Volume, timer: StageTimer, *,
               roi: Volume | None = None, inside: np.ndarray | None = None) -> _StageResult:
        """Network, CRF region and CRF of one bundle on ``ct`` (already in the bundle's orientation)."""
        settings = bundle.settings
        network = network_stage(bundle, ct, device=self.device, amp=self.amp, fusion_weights=weights, roi=roi,
                                timer=timer)
        probs = network.probabilities
        assert probs is not None  # fused: keep_outputs is off
        labels = np.zeros(ct.geometry.shape_zyx, dtype=np.uint8)
        with timer("restore"):
            region = crf_region(probs, network.prepared, network.record.crop, margin_mm=settings.crf.margin_mm,
                                liver_rule=settings.postprocess if bundle.task != "tumour" else None)
            if region is not None and inside is not None:
                _keep_inside(region.unary, inside[region.box.slices])
        if region is None:
            logger.info("%s: model %s found nothing", ct.source, bundle.name)
            return _StageResult(labels, probs, network.prepared, network.record, None, network.branch_disagreement)
        use_crf = self.crf and settings.crf.enabled
        unrefined = None
        if use_crf:
            with timer("restore"):
                unrefined = refine_region(region.unary, ct.array[region.box.slices], ct.geometry.spacing_mm,
                                          bundle.class_labels, crf=None, mode=settings.crf.mode, device=self.device)
        with timer("crf" if use_crf else "restore"):
            labels[region.box.slices] = refine_region(
                region.unary, ct.array[region.box.slices], ct.geometry.spacing_mm, bundle.class_labels,
                crf=settings.crf.params if use_crf else None, mode=settings.crf.mode, device=self.device)
        changed = None if unrefined is None else int(np.count_nonzero(unrefined != labels[region.box.slices]))
        return _StageResult(labels, probs, network.prepared, network.record,
                            (region.box.start_zyx, region.box.stop_zyx), network.branch_disagreement, changed)

    def _tumour_cascade(self, ct: Volume, liver: np.ndarray, timer: StageTimer, probabilities: bool
                        ) -> tuple[np.ndarray, Volume | None, dict[str, Any]]:
        """Tumour mask (bool, on ``ct``'s grid) inside ``liver``, with the tumour bundle."""
        bundle = self.tumour_bundle
        assert bundle is not None and self.tumour_weights is not None  # the caller checks
        if not liver.any():
            logger.info("%s: no liver found; skipping the tumour stage", ct.source)
            return np.zeros_like(liver), None, {"roi": None}
        liver_volume = ct.with_array(liver.astype(np.uint8), kind="label")
        with timer("preprocess"):
            tumour_ct, turned = to_model_orientation(ct, bundle.preprocessing.orientation)
            tumour_liver = apply_reorient(liver_volume, turned) if not turned.is_identity else liver_volume
        config_bundle = bundle
        if bundle.preprocessing.crop != "liver":
            # The cascade always looks inside the liver box, whatever the model was trained on.
            config_bundle = dataclasses.replace(bundle, preprocessing=dataclasses.replace(
                bundle.preprocessing, crop="liver"))
        stage = self._stage(config_bundle, self.tumour_weights, tumour_ct, timer, roi=tumour_liver,
                            inside=tumour_liver.array > 0)
        tumour = stage.labels == 2
        if not turned.is_identity:
            tumour = invert_reorient(tumour_ct.with_array(tumour.astype(np.uint8), kind="label"), turned).array > 0
        tumour &= liver
        probability = None
        if probabilities:
            p = stage.record.invert(Volume(stage.probabilities[1].astype(np.float32), stage.prepared,
                                           source=ct.source), fill=0.0)  # kind "any": linear
            p = invert_reorient(p, turned) if not turned.is_identity else p
            probability = Volume(np.where(liver, p.array, 0.0).astype(np.float32), ct.geometry, source=ct.source)
        return tumour, probability, {"prepared": stage.prepared.describe(), "roi": stage.roi}

    def _probability_volumes(self, stage: _StageResult, bundle: ModelBundle, turned: ReorientRecord,
                             volume: Volume) -> dict[str, Volume]:
        out = {}
        for index, name in enumerate(bundle.class_names):
            if index == 0:
                continue
            on_prepared = Volume(stage.probabilities[index].astype(np.float32), stage.prepared, source=volume.source)
            working = stage.record.invert(on_prepared, fill=0.0)  # kind "any": linear
            out[name] = _on_input(working, turned, volume)
        return out


def _quality(stage: _StageResult, cleaned: np.ndarray, out: Volume) -> dict[str, Any]:
    """The quality check of a liver stage (see :mod:`livseg.inference.quality`).

    Args:
        stage: the liver model's stage (labels before post-processing, on the working grid).
        cleaned: the labels after post-processing on the working grid.
        out: the final labels on the input's grid.
    """
    from livseg.postprocessing import axial_axis

    liver = out.array != 0
    liver_voxels = int(np.count_nonzero(liver))
    liver_ml = liver_voxels * out.geometry.voxel_volume_mm3 / 1000.0
    working_liver = int(np.count_nonzero(cleaned))
    signals = QualitySignals(
        branch_disagreement=stage.branch_disagreement,
        crf_changed=None if stage.crf_changed is None or working_liver == 0 else stage.crf_changed / working_liver,
        uncertain=uncertain_fraction(1.0 - stage.probabilities[0].astype(np.float32)),
        removed=removed_fraction(stage.labels, cleaned),
        volume_deviation=volume_deviation(liver_ml),
        fov_cut=fov_cut_fraction(liver, axial_axis(out.geometry)),
        liver_ml=liver_ml)
    return assess(signals)


def _on_input(working: Volume, turned: ReorientRecord, volume: Volume) -> Volume:
    back = invert_reorient(working, turned)
    return Volume(np.ascontiguousarray(back.array, dtype=np.float32), volume.geometry, source=volume.source,
                  kind="any", spacing_known=volume.spacing_known)


def _keep_inside(unary: np.ndarray, inside: np.ndarray) -> None:
    """Zero the foreground probabilities outside ``inside`` (in place; background takes the rest)."""
    outside = ~inside
    unary[1:, outside] = 0.0
    unary[0, outside] = 1.0
