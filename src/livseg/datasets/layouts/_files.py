"""File-name helpers shared by the layout finders."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

# Volume files livseg reads (DICOM series are folders).
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".mrc")

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> list:
    """Sort key that orders "case2" before "case10"."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(text)]


def volume_suffix(path: Path) -> str | None:
    """The volume suffix of ``path`` (".nii.gz", ".mha", ...) or None when it is not a volume."""
    name = path.name.lower()
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def volume_stem(path: Path) -> str:
    """File name without its volume suffix ("case1.nii.gz" -> "case1")."""
    suffix = volume_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.name


def is_hidden(path: Path) -> bool:
    """Dot files and macOS resource forks ("._liver_0.nii.gz") are never data."""
    return path.name.startswith(".")


def volume_files(folder: Path) -> list[Path]:
    """Volume files directly in ``folder``, natural order, hidden files skipped.

    A MetaImage ``.raw``/``.zraw`` data file is not listed (its ``.mhd`` is).
    """
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and not is_hidden(p) and volume_suffix(p)]
    return sorted(found, key=lambda p: natural_key(p.name))


def walk_files(root: Path, *, max_depth: int) -> Iterator[Path]:
    """Files under ``root`` down to ``max_depth`` folder levels (0: root only), hidden skipped."""
    root_depth = len(root.parts)
    for folder, subdirs, files in os.walk(root):
        here = Path(folder)
        depth = len(here.parts) - root_depth
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".")) if depth < max_depth else []
        for name in sorted(files):
            if not name.startswith("."):
                yield here / name
