"""File-name helpers shared by the layout finders."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Hashable, Iterator, Sequence, TypeVar

Number = TypeVar("Number", bound=Hashable)

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


def files_by_kind_and_number(root: Path, pattern: re.Pattern[str], kinds: Sequence[str], *,
                             max_depth: int, number: Callable[[str], Number]) -> dict[str, dict[Number, list[Path]]]:
    """Files under ``root`` whose name matches ``pattern``, grouped by kind, then by number.

    ``pattern`` captures the kind (group 1, compared lower-case with ``kinds``) and the case
    number (group 2, turned into a key by ``number``, e.g. ``int`` or ``str``), as in
    ``liver-orig001.mhd`` or ``segmentation-7.nii``. Every kind has an entry (possibly empty);
    each number lists every copy found, in :func:`walk_files` order.
    """
    found: dict[str, dict[Number, list[Path]]] = {kind: {} for kind in kinds}
    for path in walk_files(root, max_depth=max_depth):
        match = pattern.match(path.name)
        if match:
            found[match.group(1).lower()].setdefault(number(match.group(2)), []).append(path)
    return found


def check_listed_files(case_id: str, image: Path, label: Path | None, where: str
                         ) -> tuple[bool, Path | None, list[str]]:
    """Check the image and label paths a case list names.

    Args:
        case_id: the case, for the messages.
        image, label: the listed paths (label None when the list names none).
        where: where they are listed, for the messages ("listed in dataset.json").

    Returns:
        (image_exists, label or None when it does not exist, problems): a case is kept only
        when its image exists; a missing label makes it an unlabelled case.
    """
    if not image.exists():
        return False, label, [f"{case_id}: image {image} {where} does not exist"]
    if label is not None and not label.exists():
        return True, None, [f"{case_id}: label {label} {where} does not exist"]
    return True, label, []
