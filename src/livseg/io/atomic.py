"""Write outputs so a crash or an error never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import os
import shutil
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


def _ensure_parent(target: Path) -> Path:
    """The folder ``target`` goes into, created when missing."""
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(target, expected="a writable output folder",
                              found=f"{parent} cannot be created ({exc.strerror})") from exc
    return parent


def _default_file_mode() -> int:
    """0o666 minus the process umask (read without changing it, where the OS allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # portable fallback: read and restore
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it into place on success.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    parent = _ensure_parent(target)
    stem, suffix = split_suffix(target)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{suffix}", dir=parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, _default_file_mode())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(target, expected="a writable output path",
                              found=f"it cannot be replaced ({exc.strerror})") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_header_and_data(path: str | os.PathLike[str]) -> Iterator[Path]:
    """For formats whose header names its data file (.mhd + .raw, .nhdr + .raw): yield a path
    with the final file name inside a fresh temporary folder beside ``path``.

    A plain temporary name would be written into the header as the data file's name, so the
    writer works under the final names in the temporary folder; on success every data file
    is moved into place first and the header last, so a header never names a file that is
    not there yet. On any exception the temporary folder is removed and the targets are
    left untouched.
    """
    target = Path(path)
    parent = _ensure_parent(target)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
    try:
        staged = folder / target.name
        yield staged
        if not staged.is_file():
            raise OutputError(target, expected="the writer to produce the header",
                              found="no file was written")
        try:
            for produced in sorted(folder.iterdir()):
                if produced.name != target.name:
                    os.replace(produced, parent / produced.name)
            os.replace(staged, target)
        except OSError as exc:
            raise OutputError(target, expected="a writable output path",
                              found=f"it cannot be replaced ({exc.strerror})") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
