"""Network probabilities of a training case, computed once and cached for every CRF trial.

The predictor's stages (:mod:`livseg.inference.stages`, which :class:`livseg.inference.Segmenter`
calls too) are split in two:

* **once per case** (here, cached): ``to_model_orientation`` and ``network_stage`` (crop,
  window, resample, sliding-window network with Gaussian blending); the softmax of the main
  output and of each deep-supervision branch is kept *separately* (``keep_outputs``), so the
  fusion weights tau_d can be tuned without running the network again;
* **per trial** (:mod:`livseg.tuning.trial`): eq. 4 fusion, ``crf_region`` (the liver-component
  box and the unary resampled onto it), ``refine_region`` (dense CRF), post-processing, metrics.

Only a region is kept: on the prepared grid, the voxels that can influence the CRF's unary for
*any* fusion weights (the box that ``foreground_roi`` gives for the union of every output's
possible foreground, plus the interpolation support of ``probabilities_on``); on the working
grid (the input reoriented as the model says), the CT and the reference label inside the box
of that region and of the reference liver, one voxel wider on every side and clipped to the
volume. Their offsets are recorded. Why the crops change no result:

* for two classes the fused foreground ``sum_d tau_d p_d1 > 0.5`` needs some ``p_d1 > 0.5``
  (a weighted average exceeds 0.5 only if one of its terms does; for C classes argmax != 0
  needs fused ``p_0 < 0.5``, hence some ``p_d0 < 0.5``), so every fused foreground lies in the
  union and every ROI box in the cached box; the liver components that bound the ROI box are
  those of the fused foreground, all of which the cached region holds whole, so they are the
  same components (and sizes) as on the whole prepared grid;
* ``probabilities_on`` reads only the source voxels around each target point, all inside the
  cached covering box;
* outside the ROI box the prediction is background, and post-processing and the metrics work
  inside the bounding box of the foreground plus one voxel (``livseg.postprocessing``,
  ``livseg.metrics.surface``), which the one-voxel-wider region holds.

A cache file is ``<case_id>-<key>.npz`` (float16 probabilities, as the predictor stores them;
CT in its own dtype; uint8 reference) where ``key`` hashes the model file's SHA-256, the case's
image and label file contents, its label map, the preprocessing and window settings, the ROI
margin, the device type and this module's format version: a changed model, case or setting
gets a new file, never a stale one. The key is also stored inside and checked on loading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from livseg.datasets import Case, read_case_image, read_case_label
from livseg.errors import ConfigError, UnreadableInputError
from livseg.inference import ModelBundle
from livseg.inference.restore import covering_box, foreground_roi
from livseg.inference.stages import network_stage, to_model_orientation
from livseg.inference.windows import STORE_DTYPE
from livseg.io.atomic import atomic_path
from livseg.io.checksums import sha256_of_path
from livseg.preprocessing import CropRecord
from livseg.preprocessing.orientation import apply_reorient
from livseg.volume import Geometry, Volume

logger = logging.getLogger(__name__)

#: Bumped whenever what a cache file holds (or how it is computed) changes.
CACHE_FORMAT_VERSION = 1
#: A voxel is a possible fused foreground when some output gives the background at most this
#: (0.5 plus a margin for float rounding of the fused sum).
CANDIDATE_BACKGROUND_MAX = 0.5 + 1e-3


def model_file(path: str | os.PathLike[str]) -> Path:
    """The file a model path loads from (a run folder: best.pt, else last.pt), as ``load_bundle``."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
    return path


@dataclass(frozen=True)
class GridBox:
    """An index box (z, y, x) on some grid: ``array[start:stop]``."""

    start_zyx: tuple[int, int, int]
    stop_zyx: tuple[int, int, int]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in zip(self.start_zyx, self.stop_zyx))  # type: ignore[return-value]

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return tuple(b - a for a, b in zip(self.start_zyx, self.stop_zyx))  # type: ignore[return-value]


@dataclass
class CachedCase:
    """What every trial of one case needs, cropped as the module docstring explains.

    Attributes:
        case_id: the case.
        key: the cache key it was stored under.
        outputs: float16 (D, C, z, y, x) softmax probabilities of each network output d (main
            first, then branches) on ``prepared_region`` (a crop of the prepared grid); D = 0
            or z = 0 when the network found nothing for any fusion.
        prepared_region: the grid of ``outputs`` (physical, LPS mm).
        working: the working grid (the input's grid reoriented as the model says).
        prepared_box: the box of the working grid the prepared grid was made from (the ROI is
            clipped to it, as the predictor does).
        region: the box of the working grid held in ``ct_hu`` and ``reference``.
        ct_hu: CT in HU (z, y, x) on ``region``, in the file's dtype.
        reference: uint8 0/1/2 reference labels (z, y, x) on ``region``.
        class_labels: livseg label of each network class (0 background, 1 liver, 2 tumour).
        margin_mm: ROI margin used for the CRF box (the bundle's ``crf.margin_mm``).
    """

    case_id: str
    key: str
    outputs: np.ndarray
    prepared_region: Geometry
    working: Geometry
    prepared_box: GridBox
    region: GridBox
    ct_hu: np.ndarray
    reference: np.ndarray
    class_labels: tuple[int, ...]
    margin_mm: float

    @property
    def found(self) -> bool:
        """False when no output segmented anything (every trial predicts background)."""
        return self.outputs.size > 0

    @property
    def num_outputs(self) -> int:
        return int(self.outputs.shape[0])

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return self.working.spacing_mm

    @property
    def region_geometry(self) -> Geometry:
        """The grid of ``ct_hu`` and ``reference`` (a crop of the working grid)."""
        return CropRecord(self.working, self.region.start_zyx, self.region.stop_zyx).cropped

    @property
    def nbytes(self) -> int:
        return int(self.outputs.nbytes + self.ct_hu.nbytes + self.reference.nbytes)


# --------------------------------------------------------------------------------------------
# keys and files
# --------------------------------------------------------------------------------------------


def cache_key(*, model_sha256: str, case: Case, bundle: ModelBundle, device: torch.device, amp: bool) -> str:
    """The key of one case's cache file: every input that changes its contents (hex, 24 chars)."""
    settings = bundle.settings
    facts = {
        "format": CACHE_FORMAT_VERSION,
        "model_sha256": model_sha256,
        "case_id": case.case_id,
        "image_sha256": sha256_of_path(case.image),
        "label_sha256": None if case.label is None else sha256_of_path(case.label),
        "label_map": sorted((int(k), int(v)) for k, v in case.label_map.items()),
        "label_default": case.label_default,
        "series_uid": case.extra.get("series_uid"),
        "preprocessing": _plain(dataclasses.asdict(bundle.preprocessing)),
        "task": bundle.task,
        "outputs": 1 + bundle.num_branches,
        "window_voxels_xyz": list(settings.window_voxels_xyz),
        "overlap": settings.overlap,
        "sigma_scale": settings.sigma_scale,
        "tta": settings.tta,
        "max_window_voxels": settings.max_window_voxels,
        "margin_mm": settings.crf.margin_mm,
        "device": device.type,
        "amp": bool(amp) and device.type == "cuda",
    }
    text = json.dumps(facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def cache_path(cache_dir: str | os.PathLike[str], case_id: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in case_id)
    return Path(cache_dir) / f"{safe}-{key}.npz"


def _geometry_arrays(prefix: str, geometry: Geometry) -> dict[str, np.ndarray]:
    return {f"{prefix}_size": np.asarray(geometry.size, dtype=np.int64),
            f"{prefix}_spacing": np.asarray(geometry.spacing_mm, dtype=np.float64),
            f"{prefix}_origin": np.asarray(geometry.origin_mm, dtype=np.float64),
            f"{prefix}_direction": np.asarray(geometry.direction, dtype=np.float64)}


def _geometry_from(data: Any, prefix: str) -> Geometry:
    return Geometry(size=tuple(int(v) for v in data[f"{prefix}_size"]),  # type: ignore[arg-type]
                    spacing_mm=tuple(float(v) for v in data[f"{prefix}_spacing"]),  # type: ignore[arg-type]
                    origin_mm=tuple(float(v) for v in data[f"{prefix}_origin"]),  # type: ignore[arg-type]
                    direction=tuple(float(v) for v in data[f"{prefix}_direction"]))


def _box_from(rows: np.ndarray) -> GridBox:
    return GridBox(tuple(int(v) for v in rows[0]), tuple(int(v) for v in rows[1]))  # type: ignore[arg-type]


def save_cached_case(cached: CachedCase, path: str | os.PathLike[str]) -> Path:
    """Write ``cached`` as an uncompressed .npz, atomically."""
    path = Path(path)
    arrays = {
        "outputs": cached.outputs, "ct_hu": cached.ct_hu, "reference": cached.reference,
        "prepared_box": np.asarray([cached.prepared_box.start_zyx, cached.prepared_box.stop_zyx], dtype=np.int64),
        "region": np.asarray([cached.region.start_zyx, cached.region.stop_zyx], dtype=np.int64),
        "class_labels": np.asarray(cached.class_labels, dtype=np.int64),
        "meta": np.asarray(json.dumps({"case_id": cached.case_id, "key": cached.key,
                                       "format": CACHE_FORMAT_VERSION, "margin_mm": cached.margin_mm})),
        **_geometry_arrays("prepared_region", cached.prepared_region),
        **_geometry_arrays("working", cached.working),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path


def load_cached_case(path: str | os.PathLike[str], *, key: str | None = None) -> CachedCase:
    """Read a cache file; with ``key``, refuse a file stored under another key.

    Raises:
        UnreadableInputError: not a readable cache file of this format (or of another key).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != CACHE_FORMAT_VERSION:
                raise UnreadableInputError(path, expected=f"a tune-crf cache file of format {CACHE_FORMAT_VERSION}",
                                           found=f"format {meta.get('format')!r}", fix="delete it; it is rebuilt")
            if key is not None and meta.get("key") != key:
                raise UnreadableInputError(path, expected=f"cache key {key}", found=f"key {meta.get('key')!r}",
                                           fix="delete it; it is rebuilt")
            prepared_box, region = data["prepared_box"], data["region"]  # (start, stop) x (z, y, x)
            return CachedCase(
                case_id=str(meta["case_id"]), key=str(meta["key"]), outputs=data["outputs"],
                prepared_region=_geometry_from(data, "prepared_region"), working=_geometry_from(data, "working"),
                prepared_box=_box_from(prepared_box), region=_box_from(region),
                ct_hu=data["ct_hu"], reference=data["reference"],
                class_labels=tuple(int(v) for v in data["class_labels"]), margin_mm=float(meta["margin_mm"]))
    except UnreadableInputError:
        raise
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(path, expected="a tune-crf cache file (.npz)",
                                   found=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                                   fix="delete it; it is rebuilt") from exc


# --------------------------------------------------------------------------------------------
# computing a case
# --------------------------------------------------------------------------------------------


def _box_of(mask: np.ndarray) -> GridBox | None:
    present = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    if any(p.size == 0 for p in present):
        return None
    return GridBox(tuple(int(p[0]) for p in present), tuple(int(p[-1]) + 1 for p in present))  # type: ignore[arg-type]


def _union(boxes: list[GridBox | None], shape_zyx: tuple[int, ...], pad: int) -> GridBox:
    """The box around ``boxes`` widened by ``pad`` voxels, clipped to the array; a one-voxel box
    at the origin when every box is None."""
    present = [b for b in boxes if b is not None]
    if not present:
        return GridBox((0, 0, 0), (1, 1, 1))
    start = tuple(max(0, min(b.start_zyx[a] for b in present) - pad) for a in range(3))
    stop = tuple(min(shape_zyx[a], max(b.stop_zyx[a] for b in present) + pad) for a in range(3))
    return GridBox(start, stop)  # type: ignore[arg-type]


def compute_cached_case(bundle: ModelBundle, case: Case, *, key: str, device: torch.device | str = "cpu",
                        amp: bool = True) -> CachedCase:
    """Run the predictor's network stage on one labelled case and keep what the trials need.

    The predictor's own stages (:mod:`livseg.inference.stages`): ``to_model_orientation`` and
    ``network_stage``, here with ``keep_outputs=True`` (every output's softmax blended on its own).

    Raises:
        ConfigError: a tumour model, or a model whose preprocessing crops to the liver.
        DatasetError: the case has no reference label.
    """
    if bundle.task == "tumour":
        raise ConfigError(f"model {bundle.name}", expected="a liver model (task liver or liver_tumour)",
                          found="a tumour model", fix="tune-crf tunes the liver stage")
    if bundle.preprocessing.crop == "liver":
        raise ConfigError(f"model {bundle.name}", expected="preprocessing.crop 'none' or 'body'",
                          found="crop 'liver' (needs a liver mask first)")
    device = torch.device(device)
    image = read_case_image(case)
    reference = read_case_label(case, image=image)
    ct, turned = to_model_orientation(image, bundle.preprocessing.orientation)
    reference = apply_reorient(reference, turned)
    settings = bundle.settings
    num_outputs = 1 + bundle.num_branches
    bundle.network.to(device).eval()
    network = network_stage(bundle, ct, device=device, amp=amp,
                            fusion_weights=(1.0 / num_outputs,) * num_outputs, keep_outputs=True)
    outputs, grid, record = network.outputs, network.prepared, network.record
    assert outputs is not None  # keep_outputs=True
    del network
    candidate = np.zeros(grid.shape_zyx, dtype=bool)
    for probs in outputs:
        candidate |= probs[0] <= CANDIDATE_BACKGROUND_MAX
    box = foreground_roi(candidate, grid, record.crop, settings.crf.margin_mm)
    del candidate
    working = ct.geometry
    if box is None:
        logger.info("%s: no output of model %s segments anything", case.case_id, bundle.name)
        stored = np.zeros((0, bundle.num_classes, 0, 0, 0), dtype=STORE_DTYPE)
        prepared_region = grid
        roi_box = None
    else:
        source = covering_box(grid, box.cropped)
        stored = np.stack([np.ascontiguousarray(probs[(slice(None), *source.slices)]) for probs in outputs])
        prepared_region = source.cropped
        roi_box = GridBox(box.start_zyx, box.stop_zyx)
    del outputs
    region = _union([roi_box, _box_of(reference.array != 0)], working.shape_zyx, pad=1)
    return CachedCase(
        case_id=case.case_id, key=key, outputs=stored.astype(STORE_DTYPE, copy=False), prepared_region=prepared_region,
        working=working, prepared_box=GridBox(record.crop.start_zyx, record.crop.stop_zyx), region=region,
        ct_hu=np.ascontiguousarray(ct.array[region.slices]),
        reference=np.ascontiguousarray(reference.array[region.slices], dtype=np.uint8),
        class_labels=bundle.class_labels, margin_mm=float(settings.crf.margin_mm))


@dataclass
class CacheStats:
    """What :func:`cached_cases` did: case ids computed (network run) and reused (read)."""

    computed: list[str] = dataclasses.field(default_factory=list)
    reused: list[str] = dataclasses.field(default_factory=list)
    files: dict[str, Path] = dataclasses.field(default_factory=dict)


def cached_cases(bundle: ModelBundle, cases: list[Case], *, model_sha256: str, cache_dir: str | os.PathLike[str],
                 device: torch.device | str = "cpu", amp: bool = True,
                 on_case: Callable[[str, bool], None] | None = None) -> tuple[list[CachedCase], CacheStats]:
    """Every case's cached probabilities: read when a file with its key exists, else computed
    (the network runs) and written.

    Args:
        on_case: called with (case_id, reused) after each case.

    Returns:
        (cached cases in the order of ``cases``, what was computed and reused).
    """
    device = torch.device(device)
    stats = CacheStats()
    out = []
    for case in cases:
        key = cache_key(model_sha256=model_sha256, case=case, bundle=bundle, device=device, amp=amp)
        path = cache_path(cache_dir, case.case_id, key)
        cached = None
        reused = False
        if path.is_file():
            try:
                cached = load_cached_case(path, key=key)
                reused = True
            except UnreadableInputError as exc:
                logger.warning("%s; computing it again", exc)
        if cached is None:
            cached = compute_cached_case(bundle, case, key=key, device=device, amp=amp)
            save_cached_case(cached, path)
            stats.computed.append(case.case_id)
        else:
            stats.reused.append(case.case_id)
        stats.files[case.case_id] = path
        out.append(cached)
        if on_case is not None:
            on_case(case.case_id, reused)
    return out, stats


def as_volume(cached: CachedCase, array: np.ndarray, source: str) -> Volume:
    """``array`` (z, y, x) on the cached region's grid as a Volume."""
    return Volume(array, cached.region_geometry, source=source)
