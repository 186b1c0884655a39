"""Write outputs so a crash or an error never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from livseg.errors import OutputError


def split_suffix(path: Path) -> tuple[str, str]:
    """("name", ".nii.gz") for compound suffixes, else the last suffix."""
    name = path.name
    for compound in (".nii.gz", ".tar.gz"):
        if name.lower().endswith(compound):
            return name[: -len(compound)], name[-len(compound):]
    return path.stem, path.suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it into place on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(target, expected="a writable output folder",
                              found=f"{parent} cannot be created ({exc.strerror})") from exc
    stem, suffix = split_suffix(target)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{suffix}", dir=parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
