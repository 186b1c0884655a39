"""The notebook API: read, segment, write and evaluate in one line each (``import livseg``).

These are thin doors onto the library: :func:`segment` is ``Segmenter.predict`` (the same
pipeline as ``livseg predict``), :func:`read` and :func:`write` are ``livseg.io``'s, and
:func:`evaluate` is ``livseg.metrics.evaluate_case`` with the reading and grid checks of
``livseg evaluate``. Segmenters are kept per model and options, so a loop over scans loads each
model once.
"""

from __future__ import annotations

import functools
import os
from typing import Literal, Sequence, overload

from livseg.inference.segmenter import Prediction, Segmenter
from livseg.models.devices import resolve_device
from livseg.io import read_volume, write_volume
from livseg.metrics.case import CaseMetrics, evaluate_case
from livseg.metrics.regrid import as_labels
from livseg.volume import Volume

PathLike = str | os.PathLike[str]


def read(path: PathLike, *, kind: Literal["any", "ct", "label"] = "any", series_uid: str | None = None,
         spacing_mm: Sequence[float] | None = None) -> Volume:
    """A volume from a file or DICOM folder (see :func:`livseg.io.read_volume`).

    Returns:
        Volume: array (z, y, x) and the file's exact geometry (spacing, origin in (x, y, z) mm,
        direction, LPS).
    """
    return read_volume(path, kind=kind, series_uid=series_uid, spacing_mm=spacing_mm)


def write(volume: Volume, path: PathLike) -> os.PathLike[str]:
    """Write ``volume`` (format from the suffix: .nii.gz, .nii, .mha, .mhd, .nrrd, .nhdr), atomically
    and verified, on its exact grid; labels (``kind="label"``) as compressed uint8."""
    return write_volume(volume, path)


@functools.lru_cache(maxsize=4)
def _segmenter(model: str, device: str, crf: bool, tumour: bool | None) -> Segmenter:
    return Segmenter.from_checkpoint(model, device, tumour=tumour, crf=crf)


@overload
def segment(ct: Volume | PathLike, *, model: str = ..., device: str = ..., crf: bool = ...,
            tumour: bool | None = ..., probabilities: Literal[False] = ...) -> Volume: ...
@overload  # noqa: E302
def segment(ct: Volume | PathLike, *, model: str = ..., device: str = ..., crf: bool = ...,
            tumour: bool | None = ..., probabilities: Literal[True]) -> Prediction: ...


def segment(ct: Volume | PathLike, *, model: str = "default", device: str = "auto", crf: bool = True,
            tumour: bool | None = None, probabilities: bool = False) -> Volume | Prediction:
    """Segment the liver (and tumours) of one CT.

    Args:
        ct: a CT Volume in HU (array (z, y, x)), or the path of a CT file or DICOM folder.
        model: a packaged model name ("default") or the path of a checkpoint, bundle or run folder.
        device: "auto" (CUDA, then Apple MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
        crf: refine with the dense CRF (as the model's settings say).
        tumour: run the tumour cascade (None: when the model comes with a tumour model given
            explicitly; the packaged one is experimental and opt-in).
        probabilities: also return the fused network probabilities.

    Returns:
        The uint8 label Volume (0 background, 1 liver, 2 tumour) on exactly ``ct``'s grid; with
        ``probabilities`` the whole :class:`livseg.Prediction` (labels, probabilities as float32
        Volumes on ``ct``'s grid, seconds per stage, what was done).
    """
    volume = ct if isinstance(ct, Volume) else read_volume(ct, kind="ct")
    segmenter = _segmenter(str(model), str(resolve_device(device)), bool(crf), tumour)
    prediction = segmenter.predict(volume, probabilities=probabilities)
    return prediction if probabilities else prediction.labels


def evaluate(prediction: Volume | PathLike, reference: Volume | PathLike, *,
             structures: Sequence[str] = ("liver", "tumour")) -> CaseMetrics:
    """SLiver07 and LiTS measures of a predicted 0/1/2 label map against a reference.

    Args:
        prediction, reference: label Volumes on one grid, or the paths of label files.
        structures: the structures assessed ("liver" = labels 1 and 2, "tumour" = label 2).

    Returns:
        CaseMetrics: ``.structures["liver"].dice``, ``.assd_mm`` (mm), lesion detection, ...

    Raises:
        GeometryMismatchError: the two are on different grids (never resampled silently).
    """
    pred = prediction if isinstance(prediction, Volume) else as_labels(read_volume(prediction, kind="label"), None)
    ref = reference if isinstance(reference, Volume) else as_labels(read_volume(reference, kind="label"), None)
    return evaluate_case(ref, pred, case_id=os.path.basename(str(getattr(ref, "source", "case"))),
                         structures=tuple(structures))
