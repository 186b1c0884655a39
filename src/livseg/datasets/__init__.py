"""Data sets: case lists for the layouts CT data is published in, the shared real cases,
and real samples fetched from the package index.

Public API::

    load_dataset(root, layout="auto", *, label_map=None) -> Dataset
    read_case_image(case, *, spacing_mm=None) -> Volume
    read_case_label(case, *, image=None) -> Volume        # uint8 0/1/2 on the image's grid
    parse_label_map("5:1,*:0") -> LabelMap
    shared_data_root(explicit=None) -> Path | None
    shared_cases(root) -> list[Case]
    fetch_sample(name, cache_dir=None, *, force=False, wheel=None) -> Path

Synthetic phantoms live in their own package, :mod:`livseg.phantoms` (it imports
``livseg.datasets.case``; this package never imports the phantoms).
"""

from __future__ import annotations

from livseg.datasets.case import BACKGROUND, LABEL_NAMES, LIVER, TUMOUR, Case
from livseg.datasets.check import CaseReport, check_case, check_dataset
from livseg.datasets.dataset import Dataset, detect_layouts, load_dataset
from livseg.datasets.fetch import SAMPLES, cache_root, fetch_sample, sample_case, sample_dir
from livseg.datasets.labels import LabelMap, apply_label_map, parse_label_map
from livseg.datasets.layouts import LAYOUTS
from livseg.datasets.reading import read_case_image, read_case_label
from livseg.datasets.shared import shared_cases, shared_data_root

__all__ = [
    "BACKGROUND", "LABEL_NAMES", "LAYOUTS", "LIVER", "SAMPLES", "TUMOUR",
    "Case", "CaseReport", "Dataset", "LabelMap",
    "apply_label_map", "cache_root", "check_case", "check_dataset", "detect_layouts",
    "fetch_sample", "load_dataset", "parse_label_map", "read_case_image", "read_case_label",
    "sample_case", "sample_dir", "shared_cases", "shared_data_root",
]
