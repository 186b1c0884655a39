"""Where training cases come from: a data-set folder, generated phantoms, or one image/label pair.

A ``CaseSource`` knows its id, how to read its (CT, label) pair, and what identifies its
content for the data-set fingerprint stored in checkpoints.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from livseg.config import DataConfig
from livseg.errors import ConfigError, DatasetError
from livseg.volume import Volume

Loader = Callable[[], "tuple[Volume, Volume]"]


@dataclass(frozen=True)
class CaseSource:
    """One case to train or validate on.

    Attributes:
        case_id: identifier, unique within the run.
        load: returns (CT in HU, label 0/1/2 on the CT's grid), arrays (z, y, x).
        identity: text that changes when the case's content changes (file sizes and
            modification times, or the phantom's parameters); hashed into the fingerprint.
    """

    case_id: str
    load: Loader
    identity: str


def _file_identity(path: Path) -> str:
    """Size and modification time of a file, or of every file under a folder (DICOM)."""
    path = Path(path)
    if path.is_dir():
        parts = []
        for root, _dirs, files in sorted(os.walk(path)):
            for name in sorted(files):
                stat = (Path(root) / name).stat()
                parts.append(f"{Path(root, name).relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}")
        return f"{path.name}[{';'.join(parts)}]"
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def phantom_sources(data: DataConfig) -> list[CaseSource]:
    """One source per phantom of ``data.phantoms``.

    Phantom i is ``phantom-NNN`` with seed ``phantom_seed(seed, i)``: the same cases that
    ``livseg data phantom OUT --n N --seed S`` writes.
    """
    from livseg.phantoms import generate_phantom, phantom_seed

    spec = data.phantoms
    if spec is None:
        raise ConfigError("data.phantoms", expected="a phantom specification", found="none")
    options: dict = {"size_xyz": tuple(spec.size_xyz)}
    if spec.spacing_mm is not None:
        options["spacing_mm"] = tuple(spec.spacing_mm)

    def loader(seed: int) -> Loader:
        return lambda: generate_phantom(seed, **options)

    sources = []
    for index in range(spec.n):
        seed = phantom_seed(spec.seed, index)
        sources.append(CaseSource(case_id=f"phantom-{index:03d}", load=loader(seed),
                                  identity=f"phantom seed={seed} {sorted(options.items())}"))
    return sources


def mask_synthesis_sources(data: DataConfig) -> list[CaseSource]:
    """One source per case of ``data.mask_synthesis``: CT painted on the 3D-IRCADb organ masks,
    synthesised when loaded (only the folder listing is read here). Held-out mask patients
    (``livseg.phantoms.masks.HELD_OUT_PATIENTS``) are never used."""
    from livseg.phantoms.synthesis import random_intensity, synthesis_plan
    from livseg.phantoms.masks import mask_patients

    spec = data.mask_synthesis
    if spec is None:
        raise ConfigError("data.mask_synthesis", expected="a synthesis specification", found="none")
    options: dict = {"phase": spec.phase, "deform": spec.deform, "fov": spec.fov,
                     "spacing_mm": tuple(spec.spacing_mm) if spec.spacing_mm is not None else None}
    patients = mask_patients(spec.root, patients=spec.patients)

    def loader(patient, seed: int) -> Loader:
        def load() -> tuple[Volume, Volume]:
            from livseg.phantoms.synthesis import synthesise_case

            case = synthesise_case(patient, seed, intensity=random_intensity(seed, spec.random_intensity_share),
                                   **options)
            return case.ct, case.labels
        return load

    return [CaseSource(case_id=case_id, load=loader(patient, seed),
                       identity=f"synth {patient.patient_id} seed={seed} share={spec.random_intensity_share} "
                                f"{sorted(options.items())} {_file_identity(patient.folder)}")
            for case_id, patient, seed in synthesis_plan(spec.n, spec.seed, patients)]


LESION_COPY_MARK = "+lesions-"


def lesion_copy_sources(data: DataConfig, originals: Sequence[CaseSource]) -> list[CaseSource]:
    """``data.lesion_copies.copies`` copies of each source with lesions inserted into its liver
    when loaded (ids ``<case>+lesions-K``; seeds from the set's seed, the case id and K)."""
    import zlib

    spec = data.lesion_copies
    if spec is None:
        raise ConfigError("data.lesion_copies", expected="a lesion-copy specification", found="none")

    def loader(original: CaseSource, seed: int) -> Loader:
        def load() -> tuple[Volume, Volume]:
            from livseg.phantoms.lesions import insert_lesions

            ct, labels = original.load()
            inserted = insert_lesions(ct, labels, seed, n=spec.lesions)
            return inserted.ct, inserted.labels
        return load

    sources = []
    for original in originals:
        for k in range(spec.copies):
            seed = int(np.random.SeedSequence([spec.seed, zlib.crc32(original.case_id.encode()), k])
                       .generate_state(1, dtype=np.uint32)[0])
            sources.append(CaseSource(case_id=f"{original.case_id}{LESION_COPY_MARK}{k}", load=loader(original, seed),
                                      identity=f"{original.identity}|lesions seed={seed} n={spec.lesions}"))
    return sources


def case_source(case, spacing_mm: Sequence[float] | None = None) -> CaseSource:
    """A source reading a data-set ``Case`` (``livseg.datasets``) and its reference label.

    Args:
        case: a labelled ``livseg.datasets.Case``.
        spacing_mm: voxel spacing (x, y, z; mm) to use for an image whose file does not know it.
    """
    from livseg.datasets import read_case_image, read_case_label

    if case.label is None:
        raise DatasetError(case.image, expected="a case with a reference label", found="no label",
                           fix="train on labelled cases only")

    def load() -> tuple[Volume, Volume]:
        image = read_case_image(case, spacing_mm=spacing_mm) if spacing_mm is not None else read_case_image(case)
        return image, read_case_label(case, image=image)

    return CaseSource(case_id=case.case_id, load=load,
                      identity=f"{_file_identity(case.image)}|{_file_identity(case.label)}")


def dataset_sources(data: DataConfig) -> list[CaseSource]:
    """One source per labelled case of the data set at ``data.root``."""
    from livseg.datasets import load_dataset
    from livseg.datasets.labels import parse_label_map

    label_map = parse_label_map(data.label_map) if data.label_map is not None else None
    dataset = load_dataset(data.root, layout=data.layout, label_map=label_map)
    cases = [c for c in dataset.cases if c.label is not None]
    if not cases:
        raise DatasetError(data.root, expected="cases with reference labels to train on",
                           found=f"{len(dataset.cases)} cases, none labelled")
    return [case_source(c) for c in cases]


def pair_source(image: str | os.PathLike[str], label: str | os.PathLike[str],
                case_id: str | None = None, spacing_mm: Sequence[float] | None = None) -> CaseSource:
    """A case from an image file (or DICOM folder) and its label file (values 0/1/2)."""
    from livseg.datasets import Case

    image, label = Path(image), Path(label)
    case = Case(case_id=case_id or image.name.split(".")[0], image=image, label=label)
    return case_source(case, spacing_mm=spacing_mm)


def sample_sources(data: DataConfig) -> list[CaseSource]:
    """One source per fetchable sample in ``data.samples`` (fetched into the cache if missing).

    A sample whose files record no spacing (the LiTS crop) is read with ``data.sample_spacing_mm``;
    without one, such a sample is refused with an error that names that key.
    """
    from livseg.datasets import fetch_sample, sample_case

    sources = []
    for name in data.samples:
        fetch_sample(name)
        case = sample_case(name)
        known = case.extra.get("spacing_known", True)
        if not known and data.sample_spacing_mm is None:
            raise ConfigError("data.sample_spacing_mm", expected=f"a spacing (mm) to assume for {name}, "
                              "whose files record none", found="none",
                              fix="set data.sample_spacing_mm: [x, y, z] or leave the sample out")
        sources.append(case_source(case, spacing_mm=None if known else data.sample_spacing_mm))
    return sources


def sources_for(data: DataConfig) -> list[CaseSource]:
    """The cases a config's data section names: the data set's cases, then the samples, their
    lesion copies, the phantoms, then the cases synthesised on the organ masks.

    ``data.cases`` restricts (and orders) the data set's cases and the samples; with phantoms
    alone it restricts the phantoms.
    """
    files = (dataset_sources(data) if data.root is not None else []) + sample_sources(data)
    phantoms = phantom_sources(data) if data.phantoms is not None else []
    synthesised = mask_synthesis_sources(data) if data.mask_synthesis is not None else []
    if not files:
        return _only(phantoms, data.cases) + synthesised
    files = _only(files, data.cases)
    copies = lesion_copy_sources(data, files) if data.lesion_copies is not None else []
    return files + copies + phantoms + synthesised


def _only(sources: list[CaseSource], wanted: Sequence[str]) -> list[CaseSource]:
    """``sources`` restricted to the ids in ``wanted``, in that order (all when it is empty)."""
    if not wanted:
        return sources
    known = {s.case_id: s for s in sources}
    missing = [c for c in wanted if c not in known]
    if missing:
        raise ConfigError("data.cases", expected=f"case ids of the data set ({', '.join(list(known)[:10])}...)",
                          found=f"unknown ids {missing[:5]}")
    return [known[c] for c in wanted]


def split_cases(case_ids: Sequence[str], data: DataConfig, seed: int) -> tuple[list[str], list[str]]:
    """(training ids, validation ids) for the data section's split rule.

    * ``val_cases`` given: exactly those are held out.
    * ``folds: leave-one-out``: case number ``fold`` (in the listed order) is held out.
    * ``folds: k``: cases are dealt round-robin into k folds; fold ``fold`` is held out.
    * otherwise ``round(val_fraction * n)`` cases (at least 1 when the fraction is > 0 and
      n > 1), chosen by a permutation seeded with ``seed``.

    Lesion copies (``<case>+lesions-K``) are not counted: each goes where its case goes.
    """
    all_ids = list(case_ids)
    copies = [c for c in all_ids if LESION_COPY_MARK in c]
    if copies:
        train, val = split_cases([c for c in all_ids if LESION_COPY_MARK not in c], data, seed)
        held = set(val)
        val = val + [c for c in copies if c.split(LESION_COPY_MARK)[0] in held]
        train = train + [c for c in copies if c.split(LESION_COPY_MARK)[0] not in held]
        return train, val
    ids = all_ids
    if len(set(ids)) != len(ids):
        raise DatasetError(None, expected="unique case ids", found="duplicates",
                           fix="give each case its own id")
    if data.val_cases:
        unknown = [c for c in data.val_cases if c not in ids]
        if unknown:
            raise ConfigError("data.val_cases", expected="ids of listed cases", found=f"unknown ids {unknown[:5]}")
        val = [c for c in ids if c in set(data.val_cases)]
    elif data.folds == "leave-one-out":
        if data.fold >= len(ids):
            raise ConfigError("data.fold", expected=f"a case index below {len(ids)} for leave-one-out",
                              found=str(data.fold))
        val = [ids[data.fold]]
    elif isinstance(data.folds, int):
        if data.fold >= data.folds or data.folds > len(ids):
            raise ConfigError("data.fold", expected=f"a fold below {data.folds} with at least {data.folds} cases",
                              found=f"fold {data.fold} of {len(ids)} cases")
        val = [c for i, c in enumerate(ids) if i % data.folds == data.fold]
    else:
        count = int(round(data.val_fraction * len(ids)))
        if data.val_fraction > 0 and len(ids) > 1:
            count = min(max(count, 1), len(ids) - 1)
        order = np.random.default_rng(seed).permutation(len(ids))
        chosen = set(order[:count].tolist())
        val = [c for i, c in enumerate(ids) if i in chosen]
    train = [c for c in ids if c not in set(val)]
    if not train:
        raise ConfigError("data", expected="at least one training case after the split",
                          found=f"{len(ids)} cases, all held out")
    return train, val


def fingerprint(sources: Sequence[CaseSource]) -> str:
    """SHA-256 (hex, first 16 digits) over the sorted case ids and their identities."""
    digest = hashlib.sha256()
    for source in sorted(sources, key=lambda s: s.case_id):
        digest.update(f"{source.case_id}\0{source.identity}\n".encode())
    return digest.hexdigest()[:16]
