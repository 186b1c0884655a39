"""The cases of a batch and where their outputs go: inputs expanded, outputs named.

An INPUT is a CT file, a DICOM series folder, a data-set folder (any layout
``livseg.datasets.load_dataset`` recognises) or a plain folder of CT files (and DICOM series
sub-folders). One case with ``-o FILE.<suffix>`` writes there; otherwise ``-o`` is a folder
and each case is written to ``<case_id>.<suffix>``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from livseg.datasets import Case, load_dataset, read_case_image
from livseg.errors import ConfigError, DatasetError, InvalidImageError, OutputError
from livseg.io import read_volume
from livseg.io.atomic import require_writable_folder, split_suffix
from livseg.io.formats import DICOM, READ_SUFFIXES, format_for_suffix, suffix_of
from livseg.io.spacing import with_spacing
from livseg.volume import Volume

logger = logging.getLogger(__name__)

#: --output-format value -> file suffix.
OUTPUT_FORMATS: dict[str, str] = {"nii.gz": ".nii.gz", "mha": ".mha", "nrrd": ".nrrd", "dicom-seg": ".dcm",
                                   "slicer-seg": ".seg.nrrd", "dicom-rtstruct": ".rtstruct.dcm"}
_SUFFIX_FORMATS = {".nii.gz": "nii.gz", ".nii": "nii.gz", ".mha": "mha", ".mhd": "mha", ".nrrd": "nrrd",
                   ".nhdr": "nrrd", ".dcm": "dicom-seg", ".seg.nrrd": "slicer-seg", ".rtstruct.dcm": "dicom-rtstruct"}
#: Output suffixes of two parts (checked before the plain ones) and the plain suffix a format
#: given with --output-format also accepts (``--output-format dicom-rtstruct -o rt.dcm``).
_COMPOUND_OUTPUT_SUFFIXES = (".seg.nrrd", ".rtstruct.dcm")
_ALSO_ACCEPTS = {"slicer-seg": ".nrrd", "dicom-rtstruct": ".dcm"}
#: Output formats that reference their DICOM source series (and so need a DICOM input).
DICOM_REFERENCING_FORMATS = ("dicom-seg", "dicom-rtstruct")


def output_suffix(path: Path) -> str:
    """The output suffix of ``path``: ".seg.nrrd" and ".rtstruct.dcm" whole, else as ``suffix_of``."""
    name = path.name.lower()
    for compound in _COMPOUND_OUTPUT_SUFFIXES:
        if name.endswith(compound):
            return compound
    return suffix_of(path)


def output_stem(path: Path) -> str:
    """``path``'s name without its output suffix (``case1.seg.nrrd`` -> ``case1``)."""
    name = path.name
    for compound in _COMPOUND_OUTPUT_SUFFIXES:
        if name.lower().endswith(compound):
            return name[: -len(compound)]
    return split_suffix(path)[0]
_VOLUME_SUFFIXES = tuple(s for s in READ_SUFFIXES if s not in DICOM.suffixes)


@dataclass(frozen=True)
class InputCase:
    """One CT to segment.

    Attributes:
        case_id: names the output (``<case_id>.<suffix>``).
        path: the CT file or DICOM series folder.
        case: the data-set case it came from (None for a plain file or folder).
    """

    case_id: str
    path: Path
    case: Case | None = None

    @property
    def is_dicom(self) -> bool:
        if self.path.is_dir():
            return True
        return format_for_suffix(suffix_of(self.path)) is DICOM

    def read(self, *, series_uid: str | None = None, spacing_mm: Sequence[float] | None = None) -> Volume:
        """The CT (HU), read with livseg.io's checks.

        Args:
            series_uid: the series to read from a DICOM folder that holds several.
            spacing_mm: (x, y, z) voxel size in mm for a file that does not record it (a
                file that does must agree).
        """
        if self.case is not None:
            if series_uid is not None:
                raise ConfigError("--series", expected="a DICOM folder or file input",
                                  found=f"data-set case {self.case_id} (its series is chosen by the data set)")
            return read_case_image(self.case, spacing_mm=spacing_mm)
        volume = read_volume(self.path, kind="ct", series_uid=series_uid)
        return with_spacing(volume, spacing_mm) if spacing_mm is not None else volume


#: Folder names that say "the images" rather than which case they are.
GENERIC_FOLDER_NAMES = frozenset({"dicom", "dcm", "images", "image", "series", "ct", "scan", "scans", "data",
                                  "input", "inputs"})


def series_case_id(folder: Path) -> str:
    """The case id of a DICOM series folder: its own name, unless that is a generic one such as
    ``dicom/`` (then the series' PatientID and SeriesNumber, ``<PatientID>-s<SeriesNumber>``,
    or, for an anonymised series without a PatientID, the name of the folder above)."""
    if folder.name.lower() not in GENERIC_FOLDER_NAMES:
        return folder.name
    header = _first_dicom_header(folder)
    patient = str(getattr(header, "PatientID", "") or "").strip() if header is not None else ""
    if patient:
        number = str(getattr(header, "SeriesNumber", "") or "").strip()
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in patient) + (f"-s{number}" if number else "")
    parent = folder.resolve().parent.name
    return parent or folder.name


def _first_dicom_header(folder: Path) -> object | None:
    """The header (no pixels) of the first readable DICOM file in ``folder``, or None."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    for entry in sorted(folder.iterdir()):
        if entry.is_file() and not entry.name.startswith("."):
            try:
                return pydicom.dcmread(entry, stop_before_pixels=True)
            except (InvalidDicomError, OSError, ValueError, TypeError, KeyError, EOFError):
                continue
    return None


def _is_series_folder(folder: Path) -> bool:
    """A folder of files that are not volume files (DICOM slices, usually without suffix)."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return bool(entries) and all(p.is_file() and not p.name.lower().endswith(_VOLUME_SUFFIXES) for p in entries)


def livseg_outputs(folder: Path) -> set[Path]:
    """The masks and probability maps livseg predict wrote in ``folder``: those its provenance
    sidecars (``*.livseg.json``) list. They are not CTs to segment again (which gave files such
    as ``case_prob_liver_prob_liver.nii.gz``)."""
    import json

    found: set[Path] = set()
    for sidecar in folder.glob("*.livseg.json"):
        try:
            outputs = json.loads(sidecar.read_text(encoding="utf-8")).get("outputs") or {}
        except (OSError, ValueError, AttributeError):
            continue
        paths = [outputs.get("labels"), *(outputs.get("probabilities") or {}).values()]
        found.update(Path(p).resolve() for p in paths if isinstance(p, str))
    return found


def _plain_folder(folder: Path) -> list[InputCase]:
    cases = []
    ours = livseg_outputs(folder)
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.resolve() in ours:
            logger.info("%s: skipped (an output of livseg predict, says its .livseg.json)", entry)
            continue
        name = entry.name.lower()
        if entry.is_file() and name.endswith(_VOLUME_SUFFIXES):
            cases.append(InputCase(split_suffix(entry)[0], entry))
        elif entry.is_dir() and _is_series_folder(entry):
            cases.append(InputCase(series_case_id(entry), entry))
    return cases


def expand_inputs(paths: Sequence[str | os.PathLike[str]], *, layout: str = "auto") -> list[InputCase]:
    """The cases named by ``paths`` (files, DICOM folders, data sets, plain folders), in order.

    A path that does not exist stays a case (it fails when read, and is reported with the
    others). Raises DatasetError for duplicate case ids or a folder with no CT in it.
    """
    cases: list[InputCase] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            cases.append(InputCase(split_suffix(path)[0] if path.suffix else path.name, path))
            continue
        if _is_series_folder(path):
            cases.append(InputCase(series_case_id(path), path))
            continue
        try:
            dataset = load_dataset(path, layout=layout)
            cases.extend(InputCase(c.case_id, Path(c.image), c) for c in dataset.cases)
            continue
        except DatasetError:
            if layout != "auto":
                raise
        found = _plain_folder(path)
        if not found:
            raise DatasetError(path, expected="CT files (" + ", ".join(_VOLUME_SUFFIXES) + "), DICOM series "
                               "folders or a data set", found="none of them")
        cases.extend(found)
    seen: dict[str, Path] = {}
    for case in cases:
        if case.case_id in seen:
            raise DatasetError(case.path, expected="one input per case id (outputs are named by it)",
                               found=f"case id {case.case_id!r} also given by {seen[case.case_id]}",
                               fix="predict them in separate runs or rename one")
        seen[case.case_id] = case.path
    return cases


@dataclass(frozen=True)
class OutputPlan:
    """Where outputs go: one file, or a folder with ``<case_id><suffix>`` files."""

    output_format: str
    file: Path | None = None
    folder: Path | None = None

    @property
    def suffix(self) -> str:
        return OUTPUT_FORMATS[self.output_format]

    def labels_path(self, case_id: str) -> Path:
        if self.file is not None:
            return self.file
        return self.folder / f"{case_id}{self.suffix}"  # type: ignore[operator]

    def probability_path(self, case_id: str, class_name: str) -> Path:
        """Beside the labels: ``<stem>_prob_<class><suffix>`` (.nii.gz for the DICOM formats,
        .nrrd for slicer-seg)."""
        labels = self.labels_path(case_id)
        stem, suffix = output_stem(labels), split_suffix(labels)[1]
        if self.output_format in DICOM_REFERENCING_FORMATS:
            suffix = ".nii.gz"
        return labels.with_name(f"{stem}_prob_{class_name}{suffix}")


def plan_outputs(out: str | os.PathLike[str], output_format: str | None, n_cases: int) -> OutputPlan:
    """Decide file vs folder output and the format (from --output-format or -o's suffix).

    ``out`` is a file when it ends in a mask suffix (.nii.gz, .nii, .mha, .mhd, .nrrd, .nhdr,
    .dcm, .seg.nrrd, .rtstruct.dcm), a folder when it exists as one, ends in a slash, or has
    no suffix; any other suffix (``mask.png``) is an error rather than a folder named like a
    file.
    """
    raw = os.fspath(out)
    out = Path(out)
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise ConfigError("--output-format", expected="one of " + ", ".join(OUTPUT_FORMATS), found=repr(output_format))
    suffix = output_suffix(out)
    named_format = _SUFFIX_FORMATS.get(suffix) if not out.is_dir() else None
    if named_format is not None and output_format is not None and _ALSO_ACCEPTS.get(output_format) == suffix:
        named_format = output_format
    if named_format is not None:
        if n_cases != 1:
            raise OutputError(out, expected=f"a folder for {n_cases} inputs (outputs are named <case_id>.<suffix>)",
                              found=f"a file name ending in {suffix}", fix="pass -o DIR")
        if output_format is not None and output_format != named_format:
            raise ConfigError(out, expected=f"an output name ending in {OUTPUT_FORMATS[output_format]} for "
                              f"--output-format {output_format}", found=f"{suffix}",
                              fix="make the name and the format agree, or drop one of them")
        return OutputPlan(named_format, file=out)
    if out.exists() and not out.is_dir():
        raise OutputError(out, expected="an output folder or a file name with a known suffix "
                          "(.nii.gz, .mha, .nrrd, .dcm)", found="an existing file of another kind")
    as_folder = out.is_dir() or str(raw).endswith(("/", os.sep))
    if not as_folder and out.suffix:
        raise OutputError(out, expected="a mask file name ending in " + ", ".join(_SUFFIX_FORMATS)
                          + " or an output folder", found=f"the unknown suffix {out.suffix!r}",
                          fix=f"name the file .nii.gz, .mha, .nrrd or .dcm; for a folder write {raw}/ "
                              "or create it first")
    return OutputPlan(output_format or "nii.gz", folder=out)


def require_writable(plan: OutputPlan) -> None:
    """Fail now, before any inference, when the outputs cannot be written (see
    :func:`livseg.io.atomic.require_writable_folder`).

    Raises:
        OutputError: one line naming the output, the folder and the system's reason.
    """
    target = plan.file if plan.file is not None else plan.folder
    assert target is not None
    require_writable_folder(target.parent if plan.file is not None else target, target=target)


def require_dicom_input(case: InputCase, output_format: str) -> None:
    """DICOM SEG and RTSTRUCT reference their source series: the input must be one."""
    if output_format in DICOM_REFERENCING_FORMATS and not case.is_dicom:
        raise InvalidImageError(case.path, expected=f"a DICOM series input for --output-format {output_format}",
                                found=f"a {suffix_of(case.path) or 'non-DICOM'} file",
                                fix="choose --output-format nii.gz, mha or nrrd for this input")
