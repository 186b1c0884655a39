"""Mapping source label values to livseg's 0 background / 1 liver / 2 tumour.

A label map is a dict ``{source value: livseg label}`` plus an optional default for every
value the dict does not name. The empty map with no default means "already 0/1/2".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livseg.datasets.case import BACKGROUND, LABEL_NAMES, LIVER, TUMOUR
from livseg.errors import ConfigError, InvalidImageError

ALLOWED_LABELS = (BACKGROUND, LIVER, TUMOUR)

# Binary masks stored as 0/255 (CHAOS PNG masks, IRCADb mask series) or 0/1.
BINARY_MASK_MAP: dict[int, int] = {0: BACKGROUND, 1: LIVER, 255: LIVER}
# TotalSegmentator multi-class maps: liver is 5, every other structure is background.
TOTALSEGMENTATOR_LIVER_MAP: dict[int, int] = {5: LIVER}
TOTALSEGMENTATOR_DEFAULT = BACKGROUND


@dataclass(frozen=True)
class LabelMap:
    """A parsed ``--label-map``: explicit pairs plus the value for everything else."""

    mapping: dict[int, int]
    default: int | None = None

    def describe(self) -> str:
        parts = [f"{src}:{dst}" for src, dst in sorted(self.mapping.items())]
        if self.default is not None:
            parts.append(f"*:{self.default}")
        return ",".join(parts) if parts else "identity (0/1/2)"


def parse_label_map(text: str) -> LabelMap:
    """Parse ``"5:1,*:0"`` (source:target pairs; ``*`` is every other value).

    Source 0 means background without being listed, so ``"255:1"`` maps a 0/255 mask.

    Targets must be livseg labels 0, 1 or 2. Raises ConfigError naming the bad item.
    """
    mapping: dict[int, int] = {}
    default: int | None = None
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise ConfigError("--label-map", expected="pairs SOURCE:TARGET separated by commas, e.g. 5:1,*:0",
                          found="an empty value")
    for item in items:
        source, sep, target = item.partition(":")
        source, target = source.strip(), target.strip()
        if not sep or not source or not target:
            raise ConfigError("--label-map", expected="SOURCE:TARGET, e.g. 255:1 or *:0",
                              found=repr(item))
        try:
            target_value = int(target)
        except ValueError:
            raise ConfigError("--label-map", expected="an integer target label 0, 1 or 2",
                              found=repr(item)) from None
        if target_value not in ALLOWED_LABELS:
            raise ConfigError("--label-map", expected="targets 0 (background), 1 (liver) or 2 (tumour)",
                              found=f"{target_value} in {item!r}")
        if source == "*":
            if default is not None:
                raise ConfigError("--label-map", expected="at most one '*' entry", found=repr(text))
            default = target_value
            continue
        try:
            source_value = int(source)
        except ValueError:
            raise ConfigError("--label-map", expected="an integer source value or '*'",
                              found=repr(item)) from None
        if source_value in mapping and mapping[source_value] != target_value:
            raise ConfigError("--label-map", expected="each source value once",
                              found=f"{source_value} mapped to {mapping[source_value]} and {target_value}")
        mapping[source_value] = target_value
    return LabelMap(mapping=mapping, default=default)


def apply_label_map(array: np.ndarray, mapping: dict[int, int], default: int | None = None,
                    *, subject: str) -> np.ndarray:
    """Map source label values to 0/1/2; returns a new uint8 array of the same shape.

    Args:
        array: label values, any integer (or integral float) dtype, any shape (e.g. (z, y, x)).
        mapping: source value -> livseg label; empty with ``default`` None means identity,
            where only 0, 1 and 2 are allowed. Source 0 is background unless mapped.
        default: livseg label for values absent from ``mapping``; None makes them an error.
        subject: the file named in error messages.

    Raises:
        InvalidImageError: non-integral values, or values the map does not cover (named).
    """
    values = np.unique(array)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
            shown = ", ".join(f"{v:g}" for v in values[:8])
            raise InvalidImageError(subject, expected="integer label values",
                                    found=f"non-integer values ({shown}{', ...' if values.size > 8 else ''})",
                                    fix="pass a label map, not a probability or intensity image")
    values = values.astype(np.int64)
    if not mapping and default is None:
        table = {v: v for v in ALLOWED_LABELS}
    else:
        table = {BACKGROUND: BACKGROUND, **mapping}  # 0 stays background unless mapped otherwise
    unexpected = [int(v) for v in values if int(v) not in table and default is None]
    if unexpected:
        shown = ", ".join(str(v) for v in unexpected[:12]) + (", ..." if len(unexpected) > 12 else "")
        allowed = ", ".join(str(v) for v in sorted(table))
        raise InvalidImageError(
            subject, expected=f"label values in {{{allowed}}}",
            found=f"values {shown}",
            fix="give a label map such as --label-map 255:1 or 5:1,*:0 (livseg data, evaluate), "
                "or data.label_map: '5:1,*:0' in a training config")
    out = np.full(array.shape, BACKGROUND if default is None else default, dtype=np.uint8)
    source = array if array.dtype.kind in "iub" else array.astype(np.int64)
    for value in values:
        target = table.get(int(value), default)
        if target is None or target == (BACKGROUND if default is None else default):
            continue
        out[source == value] = target
    return out


def label_counts(array: np.ndarray) -> dict[str, int]:
    """Voxel count per livseg label name present in a 0/1/2 array."""
    values, counts = np.unique(array, return_counts=True)
    return {LABEL_NAMES.get(int(v), str(int(v))): int(c) for v, c in zip(values, counts)}
