"""Which labels make up each evaluated structure, and checks that a label map is 0/1/2.

The LiTS convention, used for every data set here:

* ``liver``  = labels 1 and 2 together (the tumour is part of the liver);
* ``tumour`` = label 2.
"""

from __future__ import annotations

import numpy as np

from livseg.errors import InvalidImageError, UnknownNameError
from livseg.metrics.names import STRUCTURES
from livseg.volume import Volume


#: the only values a livseg label map may hold (0 background, 1 liver, 2 tumour).
ALLOWED_LABELS = (0, 1, 2)


def check_label_map(labels: Volume | np.ndarray, *, subject: str | None = None) -> np.ndarray:
    """Return the label array (z, y, x) after checking it holds only 0, 1 and 2.

    Float arrays are accepted when every value is one of those integers (some writers store
    label maps as float). The input is not modified.

    Raises:
        InvalidImageError: other values (e.g. a TotalSegmentator map with liver = 5).
    """
    array = labels.array if isinstance(labels, Volume) else np.asarray(labels)
    name = subject or (labels.source if isinstance(labels, Volume) else "label array")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
            or array.dtype == np.bool_):
        raise InvalidImageError(name, expected="an integer label map", found=f"dtype {array.dtype}")
    values = np.unique(array)
    unexpected = values[~np.isin(values, ALLOWED_LABELS)]
    if unexpected.size:
        shown = ", ".join(f"{v:g}" for v in unexpected[:8]) + (", ..." if unexpected.size > 8 else "")
        raise InvalidImageError(
            name, expected="labels 0 (background), 1 (liver), 2 (tumour)",
            found=f"other values {{{shown}}}",
            fix="map them with --label-map, e.g. --label-map 5:1 for a TotalSegmentator map (liver = 5)")
    return array


def structure_mask(labels: Volume | np.ndarray, structure: str) -> np.ndarray:
    """Boolean mask (z, y, x) of ``structure`` ("liver" or "tumour") in a 0/1/2 label map."""
    if structure not in STRUCTURES:
        raise UnknownNameError(structure, expected=f"one of {sorted(STRUCTURES)}", found="an unknown structure")
    array = labels.array if isinstance(labels, Volume) else np.asarray(labels)
    return np.isin(array, STRUCTURES[structure])
