"""SHA-256 of files and folders, read in blocks (a model file, a case's image, an output).

One function for every layer that records or compares content: the tune-crf cache keys
(``livseg.tuning.cache``), the provenance sidecar of ``livseg predict``
(``livseg.inference.Segmenter.provenance``, ``livseg.batch.runner``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from livseg.errors import UnreadableInputError

_CHUNK = 1 << 20  # bytes read at a time


def sha256_of_path(path: str | os.PathLike[str]) -> str:
    """SHA-256 (64 hex digits) of a file's bytes, or of a folder's files (relative names and bytes, sorted).

    Raises:
        UnreadableInputError: a file cannot be read (named, with the system's reason).
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
            _update(digest, file)
    else:
        _update(digest, path)
    return digest.hexdigest()


def _update(digest: Any, file: Path) -> None:
    try:
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(block)
    except OSError as exc:
        raise UnreadableInputError(file, expected="a readable file", found=exc.strerror or str(exc)) from exc


__all__ = ["sha256_of_path"]
