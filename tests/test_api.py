"""The notebook API (``import livseg``), ``--device auto``, and the start-up cost of the CLI.

The start-up test checks what is imported, not how long it takes (timings belong in benchmarks):
``livseg --help`` and ``--version`` must not import PyTorch, MONAI, SimpleITK or SciPy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import livseg
from livseg.errors import ConfigError, GeometryMismatchError
from livseg.models.devices import resolve_device

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "monai", "SimpleITK", "scipy", "highdicom", "matplotlib")


def _modules_after(code: str) -> list[str]:
    script = f"import sys\n{code}\nimport json; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, encoding="utf-8",
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_cli_starts_without_the_heavy_libraries():
    parse = ("from livseg.cli import build_parser\nparser = build_parser()\n"
             "import contextlib, io\nwith contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
             "    parser.parse_args(['--version'])")
    assert _modules_after(parse) == []
    assert _modules_after("import livseg; livseg.__version__") == []
    # ... and they do come when used: the lazy exports are real.
    assert "torch" in _modules_after("import livseg; livseg.Segmenter")


def test_the_top_level_api_segments_writes_and_evaluates_a_life_size_phantom(tmp_path):
    from livseg.phantoms import generate_phantom

    ct, reference = generate_phantom(7, size_xyz=(240, 240, 110), spacing_mm=(1.6, 1.6, 3.0))
    path = livseg.write(ct, tmp_path / "ct.nii.gz")
    labels = livseg.segment(path, crf=False)
    assert isinstance(labels, livseg.Volume) and labels.kind == "label" and labels.array.dtype == np.uint8
    assert labels.geometry.same_grid(ct.geometry)  # NIfTI stores the spacing as float32
    prediction = livseg.segment(ct, crf=False, probabilities=True)
    assert isinstance(prediction, livseg.Prediction)
    np.testing.assert_array_equal(prediction.labels.array, labels.array)
    assert prediction.probabilities["liver"].geometry == ct.geometry  # from the Volume itself: exact
    written = livseg.write(labels, tmp_path / "mask.nii.gz")
    back = livseg.read(written, kind="label")
    np.testing.assert_array_equal(back.array, labels.array)
    scores = livseg.evaluate(written, reference, structures=("liver",))
    assert scores.structures["liver"].dice > 0.9 and "tumour" not in scores.structures
    shifted = livseg.Volume(reference.array, livseg.Geometry(
        size=reference.geometry.size, spacing_mm=reference.geometry.spacing_mm,
        origin_mm=tuple(o + 5.0 for o in reference.geometry.origin_mm), direction=reference.geometry.direction),
        kind="label")
    with pytest.raises(GeometryMismatchError):
        livseg.evaluate(labels, shifted)
    assert {"read", "segment", "write", "evaluate", "Volume"} <= set(dir(livseg))


def test_the_notebook_example_runs(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "docs" / "examples" / "notebook.py"), "--out",
                           str(tmp_path / "liver.nii.gz")], capture_output=True, text=True, encoding="utf-8",
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    dice = float(done.stdout.split("liver Dice ")[1].split(",")[0])
    assert dice > 0.9 and (tmp_path / "liver.nii.gz").is_file()


def test_device_auto_and_its_errors():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="auto, cpu, cuda, cuda:N or mps"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cpu"):
            resolve_device("cuda")
    if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        with pytest.raises(ConfigError, match="training.device mps"):
            resolve_device("mps", option="training.device")
