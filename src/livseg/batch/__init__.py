"""Many cases through the one predict pipeline: inputs expanded, outputs named, one function per
case, and the local loop that runs it (``livseg predict`` over files, folders and data sets).

Public API::

    cases = expand_inputs(["ct.nii.gz", "dicom_folder/", "dataset/"])
    plan = plan_outputs("out/", None, len(cases))
    result = predict_case(segmenter, cases[0], plan)        # reads, segments, writes one case
    options = CaseOptions(statistics=True, overwrite=False)   # how every case is read and written
    results = run_local(segmenter, cases, plan, options, manifest="out/")   # every case; failures recorded
    results = run_ray(SegmenterSpec("default"), cases, plan, options, workers=2,
                      manifest="out/")                      # the same on Ray actors (livseg[ray])
    part = select_part(cases, num_parts=4, part_id=0)       # a shard, by sorted case id
"""

from __future__ import annotations

from livseg.batch.inputs import (OUTPUT_FORMATS, InputCase, OutputPlan, expand_inputs, plan_outputs,
                                 require_dicom_input, require_writable)
from livseg.batch.ray_engine import run_ray
from livseg.batch.runner import CaseOptions, CaseResult, predict_case, run_local
from livseg.batch.shards import select_part
from livseg.batch.spec import SegmenterSpec

__all__ = [
    "OUTPUT_FORMATS",
    "CaseOptions",
    "CaseResult",
    "SegmenterSpec",
    "InputCase",
    "OutputPlan",
    "expand_inputs",
    "plan_outputs",
    "predict_case",
    "require_dicom_input",
    "require_writable",
    "run_local",
    "run_ray",
    "select_part",
]
