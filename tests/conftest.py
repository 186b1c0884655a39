"""Shared test fixtures: where the real data is, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    """The real-data folder (LIVSEG_SHARED_DATA, else ../shared/data beside the repo), or None."""
    env = os.environ.get("LIVSEG_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture
def shared_data() -> Path:
    """Path of ../shared/data; skips the test with a reason when it is absent."""
    root = shared_data_root()
    if root is None:
        pytest.skip("real CT data not found: set LIVSEG_SHARED_DATA or place ../shared/data beside the repo")
    return root


@pytest.fixture
def run_cli(capsys):
    """Run ``livseg ARGS...`` in-process; returns (exit_code, stdout, stderr)."""
    from livseg.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
