"""MRC: exact voxels, axis order from mapc/mapr/maps, spacing reported as unknown."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest
import SimpleITK as sitk

from livseg.errors import InvalidImageError, UnreadableInputError
from livseg.io import read_volume, require_known_spacing, summarize, write_volume


def write_mrc(path, data, *, voxel_size=0.0, mapping=None):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel_size
        if mapping is not None:
            mrc.header.mapc, mrc.header.mapr, mrc.header.maps = mapping
    return path


def hu_block(shape=(6, 5, 4), seed=0):
    return np.random.default_rng(seed).uniform(-1024, 2000, size=shape).astype(np.float32)


def test_float_volume_reads_exactly_with_unknown_geometry(tmp_path):
    data = hu_block()
    path = write_mrc(tmp_path / "img.mrc", data)
    volume = read_volume(path, kind="ct")
    np.testing.assert_array_equal(volume.array, data)
    assert volume.array.dtype == np.float32
    assert volume.geometry.size == (4, 5, 6)  # (x, y, z) = (columns, rows, sections)
    assert not volume.spacing_known and volume.meta["orientation_known"] is False
    assert volume.meta["mrc_voxel_size_angstrom"] == (0.0, 0.0, 0.0)
    # ITK's MRC reader as the oracle for the voxel order (standard mapping 1, 2, 3)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), volume.array)


def test_axis_mapping_is_applied(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) - 1000
    # columns run along Z, rows along Y, sections along X
    path = write_mrc(tmp_path / "perm.mrc", data, mapping=(3, 2, 1))
    volume = read_volume(path)
    assert volume.array.shape == (4, 3, 2)
    for s, r, c in np.ndindex(data.shape):
        assert volume.array[c, r, s] == data[s, r, c]
    assert volume.meta["mrc_axis_map"] == (3, 2, 1)


def test_uint16_labels_become_uint8(tmp_path):
    labels = np.zeros((6, 5, 4), np.uint16)
    labels[1:4, 1:3, 1:3] = 1
    labels[2, 2, 2] = 2
    volume = read_volume(write_mrc(tmp_path / "lab.mrc", labels), kind="label")
    assert volume.array.dtype == np.uint8
    np.testing.assert_array_equal(volume.array, labels)
    table = summarize(volume)["labels"]
    assert [(e["value"], e["voxels"], e["volume_ml"]) for e in table] == [(0, 108, None), (1, 11, None), (2, 1, None)]


def test_float16_and_int8_modes(tmp_path):
    half = hu_block().astype(np.float16)
    volume = read_volume(write_mrc(tmp_path / "half.mrc", half))
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, half.astype(np.float32))
    small = np.arange(-60, 60, dtype=np.int8).reshape(6, 5, 4)
    np.testing.assert_array_equal(read_volume(write_mrc(tmp_path / "i8.mrc", small)).array, small)


def test_header_voxel_size_is_noted_but_not_trusted_as_mm(tmp_path):
    volume = read_volume(write_mrc(tmp_path / "v.mrc", hu_block(), voxel_size=(0.7, 0.8, 2.5)))
    assert not volume.spacing_known
    assert volume.meta["mrc_voxel_size_angstrom"] == pytest.approx((0.7, 0.8, 2.5))
    assert "Angstrom" in volume.meta["geometry_note"]


def test_spacing_can_be_supplied_and_then_written(tmp_path):
    path = write_mrc(tmp_path / "img.mrc", hu_block())
    volume = read_volume(path, spacing_mm=(0.8, 0.8, 1.5))
    assert volume.spacing_known and volume.geometry.spacing_mm == (0.8, 0.8, 1.5)
    assert volume.meta["spacing_source"] == "given by the caller"
    again = read_volume(write_volume(volume, tmp_path / "img.nii.gz"))
    assert again.geometry.spacing_mm == pytest.approx((0.8, 0.8, 1.5))
    np.testing.assert_array_equal(again.array, volume.array)


def test_require_known_spacing_names_the_file_and_the_fix(tmp_path):
    path = write_mrc(tmp_path / "img.mrc", hu_block())
    volume = read_volume(path)
    with pytest.raises(InvalidImageError) as info:
        require_known_spacing(volume, what="the dense CRF")
    message = str(info.value)
    assert message.startswith(f"{path}: expected a known voxel spacing in mm for the dense CRF")
    assert "MRC header voxel size" in message and "spacing_mm=(x, y, z)" in message


def test_broken_mrc_files(tmp_path):
    path = write_mrc(tmp_path / "img.mrc", hu_block((16, 16, 16)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableInputError, match=r"img.mrc: expected a complete MRC file, found Expected \d+ bytes"):
        read_volume(path)
    junk = tmp_path / "junk.mrc"
    junk.write_bytes(b"hello" * 300)
    with pytest.raises(UnreadableInputError, match="Map ID string not found"):
        read_volume(junk)
    flat = write_mrc(tmp_path / "flat.mrc", np.zeros((5, 6), np.float32))
    with pytest.raises(InvalidImageError, match=r"flat.mrc: expected a 3D volume, found an MRC image of shape \(5, 6\)"):
        read_volume(flat)
    stack = write_mrc(tmp_path / "stack.mrc", np.zeros((2, 3, 5, 6), np.float32))
    with pytest.raises(InvalidImageError, match="expected a 3D volume"):
        read_volume(stack)
