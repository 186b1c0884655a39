"""A JSON sidecar beside an image carries facts its format cannot: unknown spacing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livseg.errors import InvalidImageError, UnreadableInputError
from livseg.io import read_volume, require_known_spacing, write_volume
from livseg.volume import Geometry, Volume


def _write_ct(path):
    array = np.full((4, 5, 6), 40, dtype=np.int16)
    array[1:3, 1:4, 1:5] = -900
    write_volume(Volume(array, Geometry(size=(6, 5, 4), spacing_mm=(1.0, 1.0, 1.0))), path)


def test_sidecar_marks_spacing_unknown_and_caller_supplies_it(tmp_path):
    image = tmp_path / "scan.nii.gz"
    _write_ct(image)
    assert read_volume(image).spacing_known is True
    (tmp_path / "scan.json").write_text(json.dumps({"spacing_known": False, "orientation_known": False}))
    volume = read_volume(image)
    assert volume.spacing_known is False
    assert volume.meta["orientation_known"] is False
    with pytest.raises(InvalidImageError, match="scan.json"):
        require_known_spacing(volume, what="surface distances")
    given = read_volume(image, spacing_mm=(0.8, 0.8, 2.5))
    assert given.spacing_mm == (0.8, 0.8, 2.5)
    require_known_spacing(given, what="surface distances")


def test_info_reports_unknown_spacing_from_sidecar(tmp_path, run_cli):
    image = tmp_path / "scan.nii.gz"
    _write_ct(image)
    (tmp_path / "scan.json").write_text(json.dumps({"spacing_known": False}))
    code, out, _ = run_cli("info", image, "--json")
    assert code == 0
    assert json.loads(out)["spacing_mm"] is None


def test_broken_sidecar_is_a_one_line_error(tmp_path):
    image = tmp_path / "scan.nii.gz"
    _write_ct(image)
    (tmp_path / "scan.json").write_text("{not json")
    with pytest.raises(UnreadableInputError, match="scan.json") as info:
        read_volume(image)
    assert "\n" not in str(info.value)
