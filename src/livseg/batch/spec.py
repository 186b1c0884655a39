"""What a worker needs to build the run's ``Segmenter`` itself: the model and its options as
plain, picklable values (an engine's workers load the model once each, from this).

``portable()`` turns model paths into absolute ones and leaves packaged names as names, so a
worker started in another directory, or on another machine of a cluster with the same
installation and file system, loads exactly the model the driver checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livseg.inference import Segmenter


@dataclass(frozen=True)
class SegmenterSpec:
    """``Segmenter.from_checkpoint``'s arguments.

    Attributes:
        model: packaged name or path of the liver model.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        tumour_model: name or path of a tumour model for the cascade (None: the packaged
            companion when ``tumour`` is True).
        tumour: run the cascade (None: when a tumour model is given).
        crf: run the dense CRF.
        settings_file: a ``livseg tune-crf`` settings YAML.
        tta: mirroring test-time augmentation (None: the bundle's setting).
        overlap: sliding-window overlap (None: the bundle's setting).
        coarse_to_fine: the full-resolution network only in the liver box a coarse pass finds.
    """

    model: str = "default"
    device: str = "auto"
    tumour_model: str | None = None
    tumour: bool | None = None
    crf: bool = True
    settings_file: str | None = None
    tta: bool | None = None
    overlap: float | None = None
    coarse_to_fine: bool = False

    def build(self, device: str | None = None) -> "Segmenter":
        """The Segmenter (on ``device`` instead of the spec's when given)."""
        from livseg.inference import Segmenter

        return Segmenter.from_checkpoint(
            self.model, self.device if device is None else device, tumour_model=self.tumour_model,
            tumour=self.tumour, crf=self.crf, settings_file=self.settings_file, tta=self.tta, overlap=self.overlap,
            coarse_to_fine=self.coarse_to_fine)

    def portable(self) -> "SegmenterSpec":
        """The same spec with every path absolute (packaged model names stay names).

        Raises:
            InputNotFoundError, UnknownNameError: a model that does not exist.
        """
        return replace(self, model=_portable_model(self.model),
                       tumour_model=None if self.tumour_model is None else _portable_model(self.tumour_model),
                       settings_file=None if self.settings_file is None else str(Path(self.settings_file).resolve()))


def _portable_model(model: str | os.PathLike[str]) -> str:
    from livseg.inference.registry import is_packaged, resolve_model

    name, path = resolve_model(model)
    return name if is_packaged(path) and name == str(model) else str(Path(path).resolve())
