"""write -> read gives the same array and grid in every writable format; writes are atomic."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import SimpleITK as sitk
from io_helpers import FLIPPED_PERMUTED, ct_like, oblique_direction

from livseg.errors import GeometryMismatchError, InvalidImageError, OutputError
from livseg.io import read_volume, write_like, write_volume
from livseg.volume import Geometry, Volume

WRITABLE = [".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr"]

# NIfTI stores its affine in float32, so its geometry round-trips to about 1e-5 mm; the
# text headers (MetaImage, NRRD) store doubles and round-trip to the last digit.
NIFTI_ATOL = 1e-4


def grids():
    return {
        "identity": Geometry(size=(9, 7, 5), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(-120.25, 33.5, 1536.5)),
        "flipped-permuted": Geometry(size=(9, 7, 5), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(1.0, 2.0, 3.0),
                                     direction=FLIPPED_PERMUTED),
        "oblique": Geometry(size=(9, 7, 5), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(-99.9, 0.123456789, 42.0),
                            direction=oblique_direction()),
    }


def assert_same_geometry(read: Geometry, written: Geometry, suffix: str) -> None:
    atol = NIFTI_ATOL if suffix.startswith(".nii") else 1e-9
    assert read.size == written.size
    np.testing.assert_allclose(read.spacing_mm, written.spacing_mm, atol=atol, rtol=0)
    np.testing.assert_allclose(read.origin_mm, written.origin_mm, atol=atol, rtol=0)
    np.testing.assert_allclose(read.direction, written.direction, atol=atol, rtol=0)
    assert read.same_grid(written)
    assert read.orientation == written.orientation


@pytest.mark.parametrize("suffix", WRITABLE)
@pytest.mark.parametrize("grid", ["identity", "flipped-permuted", "oblique"])
def test_ct_round_trip(tmp_path, suffix, grid):
    geometry = grids()[grid]
    volume = Volume(ct_like(geometry.shape_zyx), geometry, source="ct")
    path = write_volume(volume, tmp_path / f"ct{suffix}", kind="ct")
    again = read_volume(path, kind="ct")
    assert again.array.dtype == np.int16
    np.testing.assert_array_equal(again.array, volume.array)
    assert_same_geometry(again.geometry, geometry, suffix)
    assert again.spacing_known and again.meta["orientation_known"]
    # the written header as an independent reader sees it
    image = sitk.ReadImage(str(path))
    np.testing.assert_allclose(image.GetOrigin(), geometry.origin_mm, atol=NIFTI_ATOL)


@pytest.mark.parametrize("suffix", WRITABLE)
def test_label_round_trip_is_uint8_and_compressed(tmp_path, suffix, label_volume):
    labels = label_volume.with_array(label_volume.array.astype(np.int32))  # written as uint8
    path = write_volume(labels, tmp_path / f"mask{suffix}", kind="label")
    again = read_volume(path, kind="label")
    assert again.array.dtype == np.uint8
    np.testing.assert_array_equal(again.array, label_volume.array)
    assert_same_geometry(again.geometry, label_volume.geometry, suffix)
    image = sitk.ReadImage(str(path))
    assert image.GetPixelID() == sitk.sitkUInt8
    if suffix in (".mha", ".mhd"):
        header = path.read_bytes()[:1000].decode("latin-1")
        assert "CompressedData = True" in header
    if suffix in (".nrrd", ".nhdr"):
        assert "encoding: gzip" in path.read_bytes()[:1000].decode("latin-1")


def test_float_volume_round_trip(tmp_path, ct_volume):
    probabilities = ct_volume.with_array(np.linspace(0, 1, ct_volume.array.size, dtype=np.float32)
                                         .reshape(ct_volume.shape))
    for suffix in WRITABLE:
        again = read_volume(write_volume(probabilities, tmp_path / f"p{suffix}"))
        assert again.array.dtype == np.float32
        np.testing.assert_array_equal(again.array, probabilities.array)


@pytest.mark.parametrize("suffix, reference", [(".mhd", "ElementDataFile = ct.raw"),
                                               (".nhdr", "data file: ct.raw")])
def test_detached_header_names_its_data_file_and_no_temporaries_remain(tmp_path, ct_volume, suffix,
                                                                      reference):
    path = write_volume(ct_volume, tmp_path / f"ct{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"ct{suffix}", "ct.raw"])
    assert reference in path.read_text(encoding="latin-1")
    np.testing.assert_array_equal(read_volume(path).array, ct_volume.array)


def test_label_headers_reference_compressed_data(tmp_path, label_volume):
    write_volume(label_volume, tmp_path / "mask.mhd", kind="label")
    write_volume(label_volume, tmp_path / "mask.nhdr", kind="label")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["mask.mhd", "mask.nhdr", "mask.raw.gz", "mask.zraw"]
    for name in ("mask.mhd", "mask.nhdr"):
        np.testing.assert_array_equal(read_volume(tmp_path / name).array, label_volume.array)


def test_overwrite_replaces_content(tmp_path, ct_volume):
    path = tmp_path / "ct.nii.gz"
    write_volume(ct_volume, path)
    changed = ct_volume.with_array(ct_volume.array + 1)
    write_volume(changed, path)
    np.testing.assert_array_equal(read_volume(path).array, changed.array)
    assert [p.name for p in tmp_path.iterdir()] == ["ct.nii.gz"]


def test_written_files_get_normal_permissions(tmp_path, ct_volume):
    path = write_volume(ct_volume, tmp_path / "ct.nrrd")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def _failing_writer(calls: list):
    """A stand-in for sitk.WriteImage that writes the files, then fails (like a full disk)."""
    real_write = sitk.WriteImage

    def write(image, name, useCompression=False):  # noqa: N803 (SimpleITK's keyword)
        real_write(image, name, useCompression)
        calls.append(name)
        raise RuntimeError("ITK ERROR: ImageFileWriter(0x1): disk full")

    return write


@pytest.mark.parametrize("suffix", WRITABLE)
def test_failed_write_leaves_nothing_behind(tmp_path, ct_volume, monkeypatch, suffix):
    calls: list = []
    monkeypatch.setattr("livseg.io.writing.sitk.WriteImage", _failing_writer(calls))
    with pytest.raises(OutputError, match=rf"ct{suffix}: expected a writable .* found disk full"):
        write_volume(ct_volume, tmp_path / f"ct{suffix}")
    assert len(calls) == 1  # the failure came after the data was written
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".nii.gz", ".mhd", ".nhdr"])
def test_failed_write_keeps_the_previous_file(tmp_path, ct_volume, monkeypatch, suffix):
    path = write_volume(ct_volume, tmp_path / f"ct{suffix}")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr("livseg.io.writing.sitk.WriteImage", _failing_writer([]))
    with pytest.raises(OutputError):
        write_volume(ct_volume.with_array(ct_volume.array + 7), path)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    np.testing.assert_array_equal(read_volume(path).array, ct_volume.array)


def test_a_folder_in_the_way_is_an_error(tmp_path, ct_volume):
    (tmp_path / "ct.nii.gz").mkdir()
    with pytest.raises(OutputError, match=r"ct.nii.gz: expected a file path, found a folder"):
        write_volume(ct_volume, tmp_path / "ct.nii.gz")
    assert [p.name for p in tmp_path.iterdir()] == ["ct.nii.gz"]


def test_unknown_suffix_lists_the_supported_ones(tmp_path, ct_volume):
    with pytest.raises(OutputError) as info:
        write_volume(ct_volume, tmp_path / "ct.png")
    message = str(info.value)
    for suffix in WRITABLE:
        assert suffix in message
    with pytest.raises(OutputError, match="'.mrc'"):
        write_volume(ct_volume, tmp_path / "ct.mrc")


def test_labels_that_do_not_fit_uint8_are_refused(tmp_path, ct_volume):
    with pytest.raises(InvalidImageError, match="labels in 0..255"):
        write_volume(ct_volume, tmp_path / "mask.nii.gz", kind="label")
    fractional = ct_volume.with_array(np.full(ct_volume.shape, 0.5, np.float32))
    with pytest.raises(InvalidImageError, match="fractional"):
        write_volume(fractional, tmp_path / "mask.nii.gz", kind="label")
    assert list(tmp_path.iterdir()) == []


def test_write_like_puts_a_mask_on_the_reference_grid(tmp_path, ct_volume):
    mask = ct_volume.array > 0
    path = write_like(mask, ct_volume, tmp_path / "mask.nrrd")
    again = read_volume(path, kind="label")
    assert again.geometry.same_grid(ct_volume.geometry)
    np.testing.assert_array_equal(again.array, mask.astype(np.uint8))
    assert again.array.dtype == np.uint8
    with pytest.raises(GeometryMismatchError, match=r"expected an array of shape \(z, y, x\) \(5, 7, 9\)"):
        write_like(mask[:, :, :-1], ct_volume, tmp_path / "bad.nii.gz")


def test_kind_recorded_by_read_volume_is_used_on_write(tmp_path, label_volume):
    path = write_volume(label_volume.with_array(label_volume.array.astype(np.int16)), tmp_path / "a.nii.gz")
    assert sitk.ReadImage(str(path)).GetPixelID() == sitk.sitkInt16  # kind "any": dtype kept
    labels = read_volume(path, kind="label")
    assert labels.kind == "label"
    out = write_volume(labels, tmp_path / "b.nii.gz")  # kind taken from the volume
    assert sitk.ReadImage(str(out)).GetPixelID() == sitk.sitkUInt8


def test_unknown_spacing_is_not_written_down_as_if_real(tmp_path, ct_volume):
    unknown = Volume(ct_volume.array, ct_volume.geometry, source="crop.mrc",
                     spacing_known=False)
    with pytest.raises(InvalidImageError, match=r"crop.mrc: expected a known voxel spacing in mm for writing ct.nii.gz"):
        write_volume(unknown, tmp_path / "ct.nii.gz")
    assert list(tmp_path.iterdir()) == []
