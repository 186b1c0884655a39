"""The real CT cases kept beside the project in ``../shared/data`` (never copied into it).

``shared_data_root`` finds the folder; ``shared_cases`` lists the known cases in it:

========================  ======================================  ==========================================
case id                   image                                   label (mapped to 0/1/2)
========================  ======================================  ==========================================
chaos-ct-1                chaos-ct-1/image.nii.gz                 chaos-ct-1/label.nii.gz (1 liver)
chaos-ct-1-dicom          chaos-ct-1/dicom/ (78-slice series)     chaos-ct-1/label.nii.gz
totalseg-example          totalseg-example/ct.nii.gz              seg_totalsegmentator_fast.nii.gz (5 -> 1, rest 0)
totalseg-example-small    totalseg-example/ct_small.nii.gz        seg_small_totalsegmentator.nii.gz (5 -> 1)
totalseg-example-dicom    totalseg-example/dicom/ (20 slices)     dicom_seg_totalsegmentator.nii.gz (5 -> 1)
dcmqi-ct-3slice           dcmqi-ct-3slice/dicom/ (3 slices)       dcmqi-ct-3slice/liver_seg.nrrd (1 liver)
========================  ======================================  ==========================================

The TotalSegmentator maps are model output, not expert ground truth (``extra["reference"]``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from livseg.datasets.case import Case
from livseg.datasets.labels import TOTALSEGMENTATOR_DEFAULT, TOTALSEGMENTATOR_LIVER_MAP
from livseg.errors import InputNotFoundError

logger = logging.getLogger(__name__)

ENV_VAR = "LIVSEG_SHARED_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[3]

# (case id, image, label, label map, label default, reference kind), paths relative to the root.
_KNOWN: tuple[tuple[str, str, str, dict[int, int], int | None, str], ...] = (
    ("chaos-ct-1", "chaos-ct-1/image.nii.gz", "chaos-ct-1/label.nii.gz", {}, None, "expert"),
    ("chaos-ct-1-dicom", "chaos-ct-1/dicom", "chaos-ct-1/label.nii.gz", {}, None, "expert"),
    ("totalseg-example", "totalseg-example/ct.nii.gz", "totalseg-example/seg_totalsegmentator_fast.nii.gz",
     TOTALSEGMENTATOR_LIVER_MAP, TOTALSEGMENTATOR_DEFAULT, "model"),
    ("totalseg-example-small", "totalseg-example/ct_small.nii.gz",
     "totalseg-example/seg_small_totalsegmentator.nii.gz",
     TOTALSEGMENTATOR_LIVER_MAP, TOTALSEGMENTATOR_DEFAULT, "model"),
    ("totalseg-example-dicom", "totalseg-example/dicom", "totalseg-example/dicom_seg_totalsegmentator.nii.gz",
     TOTALSEGMENTATOR_LIVER_MAP, TOTALSEGMENTATOR_DEFAULT, "model"),
    ("dcmqi-ct-3slice", "dcmqi-ct-3slice/dicom", "dcmqi-ct-3slice/liver_seg.nrrd", {}, None, "expert"),
)

SHARED_CASE_IDS = tuple(entry[0] for entry in _KNOWN)


def shared_data_root(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The real-data folder, or None when none is found.

    Looked for in order: ``explicit`` (``--data-root``; must exist), the environment variable
    LIVSEG_SHARED_DATA, ``../shared/data`` relative to the current directory, and
    ``../shared/data`` relative to the livseg repository (editable installs).
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise InputNotFoundError(path, expected="the shared data folder (--data-root)",
                                     found="no folder at that path")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        if Path(env).is_dir():
            return Path(env)
        logger.warning("%s=%s is not a folder; looking elsewhere", ENV_VAR, env)
    for candidate in (Path.cwd().parent / "shared" / "data", _REPO_ROOT.parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return None


def _case(root: Path, entry: tuple[str, str, str, dict[int, int], int | None, str]) -> Case:
    case_id, image, label, label_map, default, reference = entry
    return Case(case_id=case_id, image=root / image, label=root / label, label_map=dict(label_map),
                label_default=default, layout="shared", extra={"reference": reference})


def shared_cases(root: str | os.PathLike[str], *, include_missing: bool = False) -> list[Case]:
    """The known real cases under ``root`` whose image and label both exist (all with
    ``include_missing``; check ``case.image.exists()`` then)."""
    root = Path(root)
    cases = [_case(root, entry) for entry in _KNOWN]
    if include_missing:
        return cases
    return [c for c in cases if c.image.exists() and c.label is not None and c.label.exists()]
