"""Medical Segmentation Decathlon (Task03_Liver) and nnU-Net-style folders with ``dataset.json``.

MSD: ``dataset.json`` lists ``training`` pairs (``./imagesTr/liver_0.nii.gz`` +
``./labelsTr/liver_0.nii.gz``) and ``test`` images (``./imagesTs/...``); its ``labels`` name
the values (``{"0": "background", "1": "liver", "2": "cancer"}``). nnU-Net v2 writes
``labels`` the other way round (``{"background": 0, "liver": 1}``) and no case list: images
``imagesTr/CASE_0000.nii.gz`` pair with ``labelsTr/CASE.nii.gz``.

The label map is built from the label names: background -> 0, liver -> 1, a name containing
cancer/tumour/tumor/lesion -> 2; any other named structure makes reading fail until the
user passes ``--label-map``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from livseg.datasets.case import BACKGROUND, LIVER, TUMOUR, Case
from livseg.datasets.layouts._files import check_listed_files, natural_key, volume_files, volume_stem
from livseg.errors import DatasetError

NAME = "msd"
DESCRIPTION = "MSD / nnU-Net: dataset.json + imagesTr/ + labelsTr/ (+ imagesTs/)"

_TUMOUR_WORDS = ("cancer", "tumour", "tumor", "lesion")
_CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def _task_folder(root: Path) -> Path | None:
    """root itself when it holds dataset.json, else its single child that does."""
    if not root.is_dir():
        return None
    if (root / "dataset.json").is_file():
        return root
    children = [c for c in sorted(root.iterdir()) if c.is_dir() and (c / "dataset.json").is_file()]
    return children[0] if len(children) == 1 else None


def detect(root: Path) -> bool:
    task = _task_folder(root)
    return task is not None and ((task / "imagesTr").is_dir() or (task / "imagesTs").is_dir())


def label_map_from_names(labels: dict, *, subject: Path) -> dict[int, int]:
    """Source value -> livseg label from a dataset.json ``labels`` entry (either direction)."""
    pairs: list[tuple[int, str]] = []
    for key, value in labels.items():
        if str(key).strip().lstrip("-").isdigit():
            pairs.append((int(key), str(value)))
        elif isinstance(value, int):
            pairs.append((value, str(key)))
        else:  # nnU-Net v2 region labels (lists) cannot be mapped to one value
            raise DatasetError(subject, expected='"labels" as {"0": "background", ...} or {"background": 0, ...}',
                               found=f"{key!r}: {value!r}", fix="pass --label-map explicitly")
    mapping: dict[int, int] = {}
    for value, name in pairs:
        lowered = name.lower()
        if lowered in ("background", "bg"):
            mapping[value] = BACKGROUND
        elif lowered == "liver":
            mapping[value] = LIVER
        elif any(word in lowered for word in _TUMOUR_WORDS):
            mapping[value] = TUMOUR
    return mapping


def find_cases(root: Path) -> tuple[list[Case], list[str]]:
    task = _task_folder(root)
    if task is None:
        raise DatasetError(root, expected="a folder with dataset.json (or one child folder with it)",
                           found="none")
    manifest_path = task / "dataset.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(manifest_path, expected="valid JSON", found=str(exc)) from exc
    if not isinstance(manifest, dict):
        raise DatasetError(manifest_path, expected="a JSON object", found=type(manifest).__name__)
    label_map = label_map_from_names(manifest.get("labels", {}) or {}, subject=manifest_path)
    problems: list[str] = []
    cases: list[Case] = []
    if isinstance(manifest.get("training"), list):
        entries = [(e.get("image"), e.get("label"), "train") for e in manifest["training"] if isinstance(e, dict)]
        entries += [(e if isinstance(e, str) else e.get("image"), None, "test")
                    for e in manifest.get("test", []) or []]
        for image_rel, label_rel, split in entries:
            if not image_rel:
                problems.append(f"{manifest_path}: an entry without an image path")
                continue
            image = (task / image_rel).resolve()
            label = (task / label_rel).resolve() if label_rel else None
            case_id = volume_stem(image)
            image_exists, label, missing = check_listed_files(case_id, image, label, "listed in dataset.json")
            problems.extend(missing)
            if not image_exists:
                continue
            cases.append(Case(case_id=case_id, image=image, label=label, label_map=dict(label_map),
                              layout=NAME, extra={"split": split}))
    else:  # nnU-Net v2: pair imagesTr/CASE_0000 with labelsTr/CASE
        for split, images_dir, labels_dir in (("train", "imagesTr", "labelsTr"), ("test", "imagesTs", None)):
            labels = {volume_stem(p): p for p in volume_files(task / labels_dir)} if labels_dir else {}
            for image in volume_files(task / images_dir):
                stem = volume_stem(image)
                match = _CHANNEL_SUFFIX.match(stem)
                if match and match.group("channel") != "0000":
                    continue  # extra modalities; livseg reads one CT channel
                case_id = match.group("case") if match else stem
                label = labels.get(case_id)
                if split == "train" and label is None:
                    problems.append(f"{case_id}: no {labels_dir}/{case_id}.* for {image.name}")
                cases.append(Case(case_id=case_id, image=image, label=label, label_map=dict(label_map),
                                  layout=NAME, extra={"split": split}))
    cases.sort(key=lambda c: natural_key(c.case_id))
    return cases, problems
