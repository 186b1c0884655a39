"""Finding and reading each evaluated case's CT, reference and predictions for the overlays.

Where each file comes from, first match wins:

1. the options of ``livseg report``: ``--images DIR_OR_DATASET``, ``--gt DATASET``,
   ``--pred-dir DIR``, ``--pred-dir-nocrf DIR`` (a file instead of a folder for a one-case
   evaluation);
2. ``settings["inputs"]`` in metrics.json (the same four, by name ``images``, ``gt``,
   ``pred_dir``, ``pred_dir_nocrf``), filling in the options not given;
3. the case's own ``files`` in metrics.json (``image``, ``reference``, ``prediction``,
   ``prediction_nocrf``). Recorded paths are relative to the evaluation folder unless absolute
   (see ``livseg.reporting.evaluation``).

With a data set (``--gt``), the reference is read as ``livseg evaluate`` reads it (layout,
label map, on the image's grid) and the data set's image is the CT unless ``--images`` names
another. In a plain folder a case's file is ``<case_id>.<suffix>`` (or a DICOM folder named
``<case_id>``). A prediction on another grid than the reference is re-ordered exactly when it
holds the same voxels in another axis order, else resampled (nearest neighbour) onto the
reference grid, and the figure says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from livseg.datasets import load_dataset, parse_label_map, read_case_image, read_case_label
from livseg.datasets.case import Case
from livseg.datasets.layouts._files import volume_files, volume_stem
from livseg.datasets.reading import on_image_grid
from livseg.errors import DatasetError, InputNotFoundError, UnknownNameError
from livseg.io import read_volume
from livseg.metrics.regrid import as_labels, onto_reference
from livseg.volume import Volume

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class InputOptions:
    """Where the case files are (any may be None: not given)."""

    images: Path | None = None
    gt: Path | None = None
    layout: str = "auto"
    pred_dir: Path | None = None
    pred_dir_nocrf: Path | None = None
    label_map: str | None = None
    gt_label_map: str | None = None
    spacing_mm: tuple[float, float, float] | None = None

    def filled_from(self, recorded: Mapping[str, Any], base: Path) -> "InputOptions":
        """These options, with the ones not given taken from ``recorded`` (paths relative to ``base``)."""
        def path(key: str, given: Path | None) -> Path | None:
            if given is not None or not recorded.get(key):
                return given
            return base / Path(str(recorded[key]))

        return replace(
            self, images=path("images", self.images), gt=path("gt", self.gt),
            pred_dir=path("pred_dir", self.pred_dir), pred_dir_nocrf=path("pred_dir_nocrf", self.pred_dir_nocrf),
            layout=self.layout if self.layout != "auto" else str(recorded.get("layout") or "auto"),
            label_map=self.label_map or recorded.get("label_map"),
            gt_label_map=self.gt_label_map or recorded.get("gt_label_map"))

    @property
    def any_given(self) -> bool:
        return any(p is not None for p in (self.images, self.gt, self.pred_dir, self.pred_dir_nocrf))


@dataclass(frozen=True)
class CaseVolumes:
    """One case's volumes on the CT's grid.

    Attributes:
        case_id: the case.
        ct: HU, array (z, y, x).
        labels: "reference", "prediction" and, when given, "prediction_nocrf": 0/1/2 maps on
            the CT's grid.
        notes: what the reader had to do or could not know (shown under the figure).
    """

    case_id: str
    ct: Volume
    labels: dict[str, Volume]
    notes: list[str] = field(default_factory=list)


def file_for_case(folder: Path, case_id: str) -> Path | None:
    """``folder/<case_id>.<suffix>`` (any suffix livseg reads) or a DICOM folder ``folder/<case_id>``.

    Raises:
        DatasetError: several files for the case.
    """
    found = [p for p in volume_files(folder) if volume_stem(p) == case_id]
    if (folder / case_id).is_dir():
        found.append(folder / case_id)
    if len(found) > 1:
        raise DatasetError(folder, expected=f"one file for case {case_id}",
                           found=", ".join(p.name for p in found), fix="keep one of them")
    return found[0] if found else None


class CaseLocator:
    """Finds and reads the files of the evaluated cases (data sets are listed once)."""

    def __init__(self, options: InputOptions, case_count: int) -> None:
        self.options = options
        self.case_count = case_count
        gt_map = parse_label_map(options.gt_label_map) if options.gt_label_map else None
        self._gt_dataset = self._dataset(options.gt, options.layout, gt_map)
        self._image_dataset = self._dataset(options.images, "auto", None, required=False)
        self._label_map = parse_label_map(options.label_map) if options.label_map else None
        self._gt_label_map = gt_map

    @staticmethod
    def _dataset(root: Path | None, layout: str, label_map, required: bool = True):
        if root is None or root.is_file() and not root.suffix.lower() == ".csv":
            return None
        if not root.exists():
            raise InputNotFoundError(root, expected="a data-set folder, CSV list or file", found="nothing there")
        try:
            return load_dataset(root, layout=layout, label_map=label_map)
        except DatasetError:
            if required:
                raise
            return None  # a plain folder of <case_id>.<suffix> files

    def _single_file(self, path: Path, what: str) -> Path:
        if self.case_count != 1:
            raise DatasetError(path, expected=f"a folder of {what} (the evaluation has {self.case_count} cases)",
                               found="a single file", fix="pass the folder that holds <case_id>.<suffix> files")
        return path

    def _from_folder(self, folder: Path | None, case_id: str, what: str) -> Path | None:
        if folder is None:
            return None
        if folder.is_file():
            return self._single_file(folder, what)
        if not folder.is_dir():
            raise InputNotFoundError(folder, expected=f"a folder of {what}", found="no such folder")
        return file_for_case(folder, case_id)

    @staticmethod
    def _case_of(dataset, case_id: str) -> Case | None:
        if dataset is None:
            return None
        try:
            return dataset.case(case_id)
        except UnknownNameError:
            return None

    @staticmethod
    def _recorded(case: Mapping[str, Any], key: str, base: Path) -> Path | None:
        files = case.get("files")
        if isinstance(files, dict) and files.get(key):
            return base / Path(str(files[key]))
        return None

    def read(self, case: Mapping[str, Any], base: Path) -> CaseVolumes:
        """The CT, reference and predictions of one case of the evaluation.

        Args:
            case: the case's dict from metrics.json (``case_id``, optional ``files``).
            base: folder that recorded relative paths are relative to.

        Raises:
            DatasetError: a file could not be found (the message says where it was looked for);
            any LivsegError of the readers.
        """
        case_id = str(case["case_id"])
        notes: list[str] = []
        gt_case = self._case_of(self._gt_dataset, case_id)
        if self._gt_dataset is not None and gt_case is None:
            raise DatasetError(self.options.gt, expected=f"case {case_id}", found="no such case in the data set")
        ct = self._read_ct(case, case_id, gt_case, base)
        reference = self._read_reference(case, case_id, gt_case, ct, base)
        labels = {"reference": reference}
        for source, folder in (("prediction", self.options.pred_dir), ("prediction_nocrf", self.options.pred_dir_nocrf)):
            path = self._from_folder(folder, case_id, "predictions") if folder is not None else self._recorded(
                case, source, base)
            if path is None:
                if source == "prediction":
                    where = folder if folder is not None else "metrics.json"
                    raise DatasetError(where, expected=f"a prediction for case {case_id}", found="none",
                                       fix="pass --pred-dir with <case_id>.<suffix> files")
                continue
            labels[source] = self._read_prediction(path, reference, notes)
        if not ct.spacing_known:
            notes.append("voxel spacing unknown: pixels drawn with the file's placeholder spacing "
                         "(pass --spacing-mm X Y Z)")
        return CaseVolumes(case_id=case_id, ct=ct, labels=labels, notes=notes)

    def _read_ct(self, case: Mapping[str, Any], case_id: str, gt_case: Case | None, base: Path) -> Volume:
        spacing = self.options.spacing_mm
        if self.options.images is not None:
            image_case = self._case_of(self._image_dataset, case_id)
            if image_case is not None:
                return read_case_image(image_case, spacing_mm=spacing)
            path = self._from_folder(self.options.images, case_id, "CT images")
            if path is None:
                raise DatasetError(self.options.images, expected=f"the CT of case {case_id} (<case_id>.<suffix>)",
                                   found="none")
            return read_volume(path, kind="ct", spacing_mm=spacing)
        if gt_case is not None:
            return read_case_image(gt_case, spacing_mm=spacing)
        path = self._recorded(case, "image", base)
        if path is None:
            raise DatasetError(f"case {case_id}", expected="its CT", found="no --images, --gt or recorded image",
                               fix="pass --images DIR or --gt DATASET")
        return read_volume(path, kind="ct", spacing_mm=spacing)

    def _read_reference(self, case: Mapping[str, Any], case_id: str, gt_case: Case | None, ct: Volume,
                        base: Path) -> Volume:
        if gt_case is not None:
            return read_case_label(gt_case, image=ct)
        path = self.options.gt if self.options.gt is not None and self.options.gt.is_file() else None
        path = self._single_file(path, "reference labels") if path is not None else self._recorded(
            case, "reference", base)
        if path is None:
            raise DatasetError(f"case {case_id}", expected="its reference label", found="no --gt or recorded reference",
                               fix="pass --gt DATASET")
        label = on_image_grid(read_volume(path, kind="label", spacing_mm=self.options.spacing_mm), ct)
        return self._mapped(label, self._gt_label_map)

    def _mapped(self, label: Volume, label_map) -> Volume:
        return as_labels(label, label_map)

    def _read_prediction(self, path: Path, reference: Volume, notes: list[str]) -> Volume:
        prediction = self._mapped(read_volume(path, kind="label", spacing_mm=self.options.spacing_mm),
                                  self._label_map)
        on_grid = onto_reference(prediction, reference, resample=True)
        if "resampled_onto" in on_grid.meta:
            notes.append(f"{path.name} resampled (nearest neighbour) onto the reference grid")
        return on_grid

