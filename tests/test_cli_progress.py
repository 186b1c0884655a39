"""Progress: stage lines and bars on a terminal, nothing when stderr is not one or with -q."""

from __future__ import annotations

import argparse
import io
import sys

import pytest

from livseg.cli._progress import show_progress, stage_lines
from livseg.inference.timing import StageTimer


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stage_lines_name_each_stage_once(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    timer = StageTimer()
    with stage_lines(True, "case1"):
        for stage in ("preprocess", "preprocess", "network", "crf", "post"):
            with timer(stage):
                pass
    with timer("write"):  # after the context: not shown
        pass
    assert terminal.getvalue().splitlines() == ["livseg: case1: preprocess", "livseg: case1: network",
                                                "livseg: case1: crf", "livseg: case1: post"]
    with stage_lines(False, "case2"), timer("network"):
        pass
    assert "case2" not in terminal.getvalue()


def test_progress_is_shown_on_a_terminal_unless_quiet(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert show_progress(argparse.Namespace(quiet=False))
    assert not show_progress(argparse.Namespace(quiet=True))
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not show_progress(argparse.Namespace(quiet=False))


def test_phantoms_report_progress_per_phantom_and_quiet_prints_no_bar(run_cli, tmp_path):
    from livseg.phantoms import write_phantoms

    seen = []
    cases = write_phantoms(tmp_path / "p", n=2, seed=0, size_xyz=(32, 32, 16), on_phantom=seen.append)
    assert [c.case_id for c in seen] == [c.case_id for c in cases] == ["phantom-000", "phantom-001"]
    code, out, err = run_cli("-q", "data", "phantom", tmp_path / "q", "--n", "1", "--seed", "0", "--size", "32", "32", "16")
    assert code == 0 and err == "" and "1 phantom(s)" in out
