"""Writes that cannot finish (a full disk) fail in one line and never replace a good output.

The full disk is real, not mocked: each write runs in a forked child whose file-size limit
(``RLIMIT_FSIZE``, with SIGXFSZ ignored) makes the kernel refuse bytes past the limit, which
is how a write to a full disk ends (``write`` returns short, then fails). ITK's NIfTI writer
used to report that only on stderr and return normally, leaving a truncated mask under the
final name with exit code 0.
"""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from livseg.io import read_volume, write_volume
from livseg.io.atomic import atomic_path, remove_stale_partials
from livseg.io.tables import write_csv, write_json
from livseg.volume import Geometry, Volume

GRID = Geometry(size=(64, 64, 64), spacing_mm=(0.8, 0.8, 2.5), origin_mm=(1.0, -2.0, 3.0),
                direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))


def noisy_ct(seed: int) -> Volume:
    """Random HU (compresses badly, so 100 kB is never enough for it)."""
    rng = np.random.default_rng(seed)
    return Volume(rng.integers(-1000, 1000, GRID.shape_zyx).astype(np.int16), GRID, kind="ct")


def in_child_with_file_limit(limit_bytes: int, work: Callable[[], None]) -> tuple[int, str]:
    """Run ``work`` in a forked child whose files cannot grow past ``limit_bytes``.

    Returns (exit code: 0 ok, 3 a LivsegError, 4 any other exception; the message).
    """
    from livseg.errors import LivsegError

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
            work()
            code = 0
        except LivsegError as exc:
            os.write(write_end, str(exc).encode())
            code = 3
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode())
            code = 4
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha", ".nrrd", ".mhd"])
def test_a_full_disk_keeps_the_old_output_and_says_so(tmp_path, suffix):
    target = tmp_path / f"mask{suffix}"
    good = noisy_ct(0)
    write_volume(good, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, message = in_child_with_file_limit(100_000, lambda: write_volume(noisy_ct(1), target))
    assert code == 3, message
    assert str(target) in message and "\n" not in message
    # The old good output is still there, byte for byte, and nothing else was left behind.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    np.testing.assert_array_equal(read_volume(target).array, good.array)


def test_a_full_disk_on_a_first_write_leaves_nothing(tmp_path):
    target = tmp_path / "new.nii.gz"
    code, message = in_child_with_file_limit(50_000, lambda: write_volume(noisy_ct(2), target))
    assert code == 3 and "disk full" in message, message
    assert list(tmp_path.iterdir()) == []


def test_tables_on_a_full_disk_fail_in_one_line(tmp_path):
    rows = [{"case": f"case-{i:05d}", "dice": 0.5 + i * 1e-6} for i in range(20_000)]
    write_csv(rows[:2], tmp_path / "cases.csv")
    write_json({"ok": True}, tmp_path / "metrics.json")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for work in (lambda: write_csv(rows, tmp_path / "cases.csv"), lambda: write_json(rows, tmp_path / "metrics.json")):
        code, message = in_child_with_file_limit(20_000, work)
        assert code == 3, message
        assert "File too large" in message or "No space" in message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_partials_of_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "mask.nii.gz"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # a writer that dies (SIGKILL) in the middle of its write
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a mask")
            os.write(write_end, b"x")
            signal.pause()
        os._exit(0)
    os.read(read_end, 1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".mask.")]
    assert len(left) == 1 and f"-{pid}." in left[0].name
    # A live writer's partial (ours, this process) is not touched; the dead one's is.
    with atomic_path(tmp_path / "mask.nii.gz") as mine:
        mine.write_bytes(b"placeholder")
        assert remove_stale_partials(tmp_path, "mask") == []
        assert not left[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.nii.gz"]
    # Other names and foreign hidden files are never touched.
    foreign = tmp_path / ".mask.someone-else.partial.nii.gz"
    foreign.write_bytes(b"not ours")
    write_volume(noisy_ct(3), Path(target))
    assert foreign.exists()


def test_a_checkpoint_on_a_full_disk_keeps_the_last_good_one(tmp_path):
    import torch

    from livseg.models.checkpoint_file import load_checkpoint, save_checkpoint

    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1, "model": {"w": torch.zeros(4)}}, path)
    before = path.read_bytes()
    code, message = in_child_with_file_limit(
        200_000, lambda: save_checkpoint({"epoch": 2, "model": {"w": torch.randn(1_000_000)}}, path))
    assert code == 3 and str(path) in message, message
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
