"""Fixtures for the report tests: real phantom CTs, perturbed 'predictions', a real evaluation.

Built once per session (phantoms 64x64x32, three cases) with the real ``livseg`` commands:

* ``prediction/``: case 0 dilated by one voxel (tumour kept), case 1 with its tumour relabelled
  liver (a missed tumour), case 2 eroded by one voxel;
* ``nocrf/``: every prediction dilated once more, standing in for the output before a CRF;
* ``eval/``: ``livseg evaluate --pred-dir prediction --gt data --out eval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from livseg.cli import main
from livseg.io import read_volume, write_volume


@dataclass(frozen=True)
class PhantomEvaluation:
    data: Path
    prediction: Path
    nocrf: Path
    eval_dir: Path
    case_ids: tuple[str, ...]


def _perturbed(labels: np.ndarray, case_index: int) -> np.ndarray:
    liver = labels > 0
    if case_index == 0:
        out = ndimage.binary_dilation(liver).astype(np.uint8)
        out[labels == 2] = 2
    elif case_index == 1:
        out = np.where(liver, 1, 0).astype(np.uint8)  # the tumour is missed
    else:
        eroded = ndimage.binary_erosion(liver)
        out = np.where(eroded, labels, 0).astype(np.uint8)
    return out


@pytest.fixture(scope="session")
def phantom_evaluation(tmp_path_factory) -> PhantomEvaluation:
    root = tmp_path_factory.mktemp("report-inputs")
    data, prediction, nocrf, eval_dir = (root / "data", root / "prediction", root / "nocrf", root / "eval")
    assert main(["data", "phantom", str(data), "--n", "3", "--seed", "7", "--size", "64", "64", "32"]) == 0
    case_ids = tuple(sorted(p.name[: -len(".nii.gz")] for p in (data / "labels").glob("*.nii.gz")))
    for index, case_id in enumerate(case_ids):
        reference = read_volume(data / "labels" / f"{case_id}.nii.gz", kind="label")
        predicted = _perturbed(reference.array, index)
        write_volume(reference.with_array(predicted), prediction / f"{case_id}.nii.gz")
        before = ndimage.binary_dilation(predicted > 0).astype(np.uint8)
        before[predicted == 2] = 2
        write_volume(reference.with_array(before), nocrf / f"{case_id}.nii.gz")
    assert main(["evaluate", "--pred-dir", str(prediction), "--gt", str(data), "--out", str(eval_dir)]) == 0
    return PhantomEvaluation(data, prediction, nocrf, eval_dir, case_ids)


@pytest.fixture(scope="session")
def full_report(phantom_evaluation, tmp_path_factory) -> Path:
    """The report with overlays and CRF figures, written by ``livseg report``."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    p = phantom_evaluation
    code = main(["report", str(p.eval_dir), "--gt", str(p.data), "--pred-dir", str(p.prediction),
                 "--pred-dir-nocrf", str(p.nocrf), "-o", str(out)])
    assert code == 0
    return out
