"""JSON sidecars: facts about an image that its file format cannot record.

``scan.nii.gz`` may have ``scan.json`` beside it (a DICOM folder ``dicom/`` has ``dicom.json``),
holding e.g. ``{"spacing_known": false, "orientation_known": false}``, as ``livseg data fetch
lits-sample`` writes for a crop whose voxel size was never recorded. NIfTI has no way to say
"spacing unknown" (pixdim 1.0 looks real), so the sidecar carries that fact to every reader.
"""

from __future__ import annotations

import json
from pathlib import Path

from livseg.errors import UnreadableInputError
from livseg.io.atomic import split_suffix
from livseg.volume import Volume


def sidecar_path(path: Path) -> Path:
    """``scan.nii.gz`` -> ``scan.json``; a folder ``dicom/`` -> ``dicom.json`` beside it."""
    path = Path(path)
    stem = split_suffix(path)[0] if path.is_file() else path.name
    return path.with_name(stem + ".json")


def read_sidecar(path: Path) -> dict:
    """The facts recorded beside an image (empty when there is no sidecar)."""
    side = sidecar_path(path)
    if side == Path(path) or not side.is_file():
        return {}
    try:
        facts = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(side, expected="a JSON sidecar object", found=str(exc)) from exc
    if not isinstance(facts, dict):
        raise UnreadableInputError(side, expected="a JSON object", found=type(facts).__name__)
    return facts


def apply_sidecar(path: Path, volume: Volume) -> Volume:
    """``volume`` as read from ``path``, with its sidecar's ``spacing_known`` /
    ``orientation_known`` falsehoods applied (the same object when there are none)."""
    facts = read_sidecar(path)
    meta = dict(volume.meta)
    spacing_known = volume.spacing_known
    if facts.get("spacing_known") is False:
        spacing_known = False
        meta["geometry_note"] = f"spacing unknown per {sidecar_path(path)}"
    if facts.get("orientation_known") is False:
        meta["orientation_known"] = False
    if meta == volume.meta and spacing_known == volume.spacing_known:
        return volume
    return Volume(array=volume.array, geometry=volume.geometry, source=volume.source, meta=meta,
                  kind=volume.kind, spacing_known=spacing_known)
