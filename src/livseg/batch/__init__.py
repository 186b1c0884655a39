"""Many cases through the one predict pipeline: inputs expanded, outputs named, one function per
case, and the local loop that runs it (``livseg predict`` over files, folders and data sets).

Public API::

    cases = expand_inputs(["ct.nii.gz", "dicom_folder/", "dataset/"])
    plan = plan_outputs("out/", None, len(cases))
    result = predict_case(segmenter, cases[0], plan)        # reads, segments, writes one case
    results = run_local(segmenter, cases, plan)             # every case; failures recorded
"""

from __future__ import annotations

from livseg.batch.inputs import (OUTPUT_FORMATS, InputCase, OutputPlan, expand_inputs, plan_outputs,
                                 require_dicom_input, require_writable)
from livseg.batch.runner import CaseResult, predict_case, run_local

__all__ = [
    "OUTPUT_FORMATS",
    "CaseResult",
    "InputCase",
    "OutputPlan",
    "expand_inputs",
    "plan_outputs",
    "predict_case",
    "require_dicom_input",
    "require_writable",
    "run_local",
]
