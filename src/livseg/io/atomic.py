"""Write outputs so a crash or an error never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
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


def require_writable_folder(folder: str | os.PathLike[str], *, target: str | os.PathLike[str] | None = None) -> None:
    """Fail now, before long work, when nothing can be written into ``folder``.

    Probes ``folder`` (or, when it does not exist yet, the nearest folder above it that does)
    by creating and removing a hidden temporary file: permissions, read-only file systems and
    a file in the way all show up, whoever runs livseg (``os.access`` would not tell root the
    truth). Nothing else is created.

    Args:
        folder: where the outputs will go.
        target: the output named in the error (default: ``folder``).

    Raises:
        OutputError: one line naming the output, the folder and the system's reason.
    """
    folder = Path(folder)
    named = Path(target) if target is not None else folder
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(named, expected="an output path inside a folder",
                          found=f"{existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".livseg-write-probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(named, expected="a folder livseg can write in",
                          found=f"{existing}: {exc.strerror or exc}",
                          fix="choose another output, or fix the folder's permissions") from exc


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


def _partial_prefix(stem: str) -> str:
    """Hidden temporary names carry the writer's host and process: ``.<stem>.livseg-<host>-<pid>.``."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40] or "host"
    return f".{stem}.livseg-{host}-{os.getpid()}."


def remove_stale_partials(folder: Path, stem: str) -> list[Path]:
    """Remove temporary files (and folders) of ours for ``stem`` in ``folder`` whose writer is gone.

    A write killed with SIGKILL cannot clean up after itself; the next write of the same output
    does. Only names of livseg's own pattern written on this host by a process that no longer
    exists are removed (a live writer, or another host's on a shared file system, is left alone).

    Returns:
        What was removed.
    """
    host = _partial_prefix(stem).split(".livseg-", 1)[1].rsplit("-", 1)[0]
    removed = []
    pattern = re.compile(rf"^\.{re.escape(stem)}\.livseg-{re.escape(host)}-(\d+)\..*\.partial")
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def _write_failed(target: Path, exc: OSError) -> OutputError:
    """A system error while writing (no space, quota, permissions) as one line."""
    reason = exc.strerror or str(exc)
    fix = "free disk space (or choose another output folder) and run again" if exc.errno in (
        errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else None
    return OutputError(target, expected="the output written in full", found=reason, fix=fix)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it into place on success.

    On any exception the temporary file is removed and ``path`` is left untouched; a system
    error of the writer (no space left, quota, permissions) becomes a one-line OutputError.
    Temporary files left by earlier writers of ``path`` that were killed are removed first.
    """
    target = Path(path)
    parent = _ensure_parent(target)
    stem, suffix = split_suffix(target)
    remove_stale_partials(parent, stem)
    try:
        handle, tmp_name = tempfile.mkstemp(prefix=_partial_prefix(stem), suffix=f".partial{suffix}", dir=parent)
    except OSError as exc:
        raise _write_failed(target, exc) from exc
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:
            raise _write_failed(target, exc) from exc
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
    remove_stale_partials(parent, target.name)
    try:
        folder = Path(tempfile.mkdtemp(prefix=_partial_prefix(target.name), suffix=".partial", dir=parent))
    except OSError as exc:
        raise _write_failed(target, exc) from exc
    try:
        staged = folder / target.name
        try:
            yield staged
        except OSError as exc:
            raise _write_failed(target, exc) from exc
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
