"""Bad input: every case raises a one-line LivsegError naming the file, expected and found."""

from __future__ import annotations

import json

import logging
import struct

import numpy as np
import pytest
import SimpleITK as sitk
from io_helpers import ct_like

from livseg.errors import (
    InputNotFoundError,
    InvalidImageError,
    LivsegError,
    UnknownNameError,
    UnreadableInputError,
)
from livseg.io import read_volume, require_known_spacing, write_volume
from livseg.volume import Geometry, Volume


def write_sitk(image: sitk.Image, path) -> str:
    sitk.WriteImage(image, str(path))
    return str(path)


def one_line(exc: LivsegError, path) -> str:
    message = str(exc)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError) as info:
        read_volume(tmp_path / "nope.nii.gz")
    message = one_line(info.value, tmp_path / "nope.nii.gz")
    assert "expected an existing file or DICOM folder, found nothing at that path" in message
    assert info.value.exit_code == 3


# A 64 x 64 x 16 int16 CT = 131072 bytes of voxels; a NIfTI-1 file puts them after 352 header
# bytes. Noisy data, so even compressed files are cut inside the voxel data.
@pytest.mark.parametrize(
    "suffix, compress, pattern",
    [
        (".nii.gz", True, r"expected 131424 bytes of header and voxels after decompression as its "
                          r"header announces, found only \d+ \(the file is truncated\)"),
        (".nii", False, r"expected 131424 bytes of header and voxels as its header announces, "
                        r"found only 65712 \(the file is truncated\)"),
        (".mha", False, r"expected 131072 bytes of voxel data as its header announces, found only \d+ "
                        r"\(the file is truncated\)"),
        (".mha", True, r"expected \d+ bytes of compressed voxel data as its header announces, found only"),
        (".nrrd", False, r"expected 131072 bytes of voxel data as its header announces, found only \d+ "
                         r"\(the file is truncated\)"),
        (".nrrd", True, r"expected a complete NRRD file, found the voxel data cannot be read"),
    ],
)
def test_truncated_file(tmp_path, capfd, suffix, compress, pattern):
    geometry = Geometry(size=(64, 64, 16), spacing_mm=(0.7, 0.8, 3.1))
    volume = Volume(ct_like(geometry.shape_zyx), geometry)
    path = write_volume(volume, tmp_path / f"ct{suffix}", compress=compress)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableInputError, match=pattern) as info:
        read_volume(path)
    one_line(info.value, path)
    assert capfd.readouterr().err == ""


def test_truncated_detached_data(tmp_path, ct_volume, capfd):
    path = write_volume(ct_volume, tmp_path / "ct.mhd")
    raw = tmp_path / "ct.raw"
    raw.write_bytes(raw.read_bytes()[:315])
    with pytest.raises(UnreadableInputError, match=r"expected 630 bytes of voxel data .* found only 315"):
        read_volume(path)
    assert capfd.readouterr().err == ""


def test_metaimage_header_cut_short(tmp_path, capfd):
    path = tmp_path / "cut.mha"
    path.write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 3 2\nElementType = MET_SH")
    with pytest.raises(UnreadableInputError, match="cut.mha: expected a MetaImage header ending with ElementDataFile"):
        read_volume(path)
    assert capfd.readouterr().err == ""


def test_garbage_with_a_nifti_suffix(tmp_path):
    path = tmp_path / "ct.nii.gz"
    path.write_bytes(b"this is not an image" * 50)
    with pytest.raises(UnreadableInputError, match=r"ct.nii.gz: expected a readable NIfTI file, found"):
        read_volume(path)


def test_mhd_whose_raw_is_missing(tmp_path, ct_volume):
    path = write_volume(ct_volume, tmp_path / "ct.mhd")
    (tmp_path / "ct.raw").unlink()
    with pytest.raises(UnreadableInputError) as info:
        read_volume(path)
    message = one_line(info.value, path)
    assert "expected its data file ct.raw beside the header, found no file" in message


def test_nhdr_whose_data_file_is_missing(tmp_path, label_volume):
    path = write_volume(label_volume, tmp_path / "mask.nhdr", kind="label")
    (tmp_path / "mask.raw.gz").unlink()
    with pytest.raises(UnreadableInputError, match="expected its data file mask.raw.gz"):
        read_volume(path)


def test_unknown_suffix_lists_supported_formats(tmp_path):
    path = tmp_path / "slice.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    with pytest.raises(UnreadableInputError) as info:
        read_volume(path)
    message = one_line(info.value, path)
    for suffix in (".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr", ".mrc", ".dcm"):
        assert suffix in message


def test_2d_image(tmp_path):
    path = write_sitk(sitk.GetImageFromArray(np.zeros((5, 6), np.int16)), tmp_path / "slice.nii.gz")
    with pytest.raises(InvalidImageError, match=r"expected a 3D volume, found a 2D image of 6x5"):
        read_volume(path)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_4d_image_with_several_volumes(tmp_path, suffix):
    frame = sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16))
    path = write_sitk(sitk.JoinSeries([frame, frame]), tmp_path / f"dyn{suffix}")
    with pytest.raises(InvalidImageError, match=r"expected a 3D volume, found a 4D image of 4x3x2x2"):
        read_volume(path)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_4d_image_with_one_volume_reads_as_3d(tmp_path, suffix):
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    frame = sitk.GetImageFromArray(array)
    frame.SetSpacing((0.7, 0.8, 3.1))
    frame.SetOrigin((1.0, 2.0, 3.0))
    path = write_sitk(sitk.JoinSeries([frame]), tmp_path / f"one{suffix}")
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.array, array)
    assert volume.geometry.spacing_mm == pytest.approx((0.7, 0.8, 3.1))
    assert volume.geometry.origin_mm == pytest.approx((1.0, 2.0, 3.0))


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_rgb_image(tmp_path, suffix):
    rgb = sitk.GetImageFromArray(np.zeros((2, 3, 4, 3), np.uint8), isVector=True)
    path = write_sitk(rgb, tmp_path / f"rgb{suffix}")
    with pytest.raises(InvalidImageError, match=r"one value per voxel .* found 3 components per voxel"):
        read_volume(path)


@pytest.mark.parametrize("suffix, dtype", [(suffix, dtype) for suffix in (".nrrd", ".mha", ".nii", ".nii.gz")
                                           for dtype in (np.float32, np.float64)] + [(".mrc", np.float32)])
def test_nan_and_inf_voxels(tmp_path, ct_volume, suffix, dtype):
    """Every format refuses them, NIfTI included (ITK's NIfTI reader turns them into 0, which
    was then segmented as 0 HU)."""
    array = ct_volume.array.astype(dtype)
    array[1, 2, 3] = np.nan
    array[4, 0, 1] = np.inf
    array[4, 0, 2] = np.nan
    if suffix == ".mrc":  # MRC stores float32 only
        import warnings

        import mrcfile

        path = tmp_path / "ct.mrc"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # mrcfile warns about the NaN we put there
            with mrcfile.new(path) as mrc:
                mrc.set_data(array)
    else:
        path = write_volume(ct_volume.with_array(array), tmp_path / f"ct{suffix}")
    for kind in ("any", "ct"):
        with pytest.raises(InvalidImageError) as info:
            read_volume(path, kind=kind)
        message = one_line(info.value, path)
        assert "expected finite voxel values, found 2 NaN and 1 infinite voxels (first at x,y,z index (3, 2, 1))" \
            in message
    inspected = read_volume(path, allow_non_finite=True)
    assert int(np.isnan(inspected.array).sum()) == 2 and int(np.isinf(inspected.array).sum()) == 1


def test_info_counts_non_finite_voxels(tmp_path, ct_volume, run_cli):
    array = ct_volume.array.astype(np.float32)
    array[0] = np.nan
    path = write_volume(ct_volume.with_array(array), tmp_path / "ct.nii.gz")
    code, out, _ = run_cli("info", path)
    assert code == 0 and f"{array[0].size} NaN and 0 infinite voxels" in out
    code, out, _ = run_cli("info", path, "--json")
    summary = json.loads(out)
    assert summary["non_finite"] == {"nan": array[0].size, "inf": 0}
    assert summary["intensity"]["min"] == pytest.approx(float(np.nanmin(array)))
    code, _, err = run_cli("predict", path, "-o", tmp_path / "mask.nii.gz")
    assert code != 0 and "NaN" in err and str(path) in err and not (tmp_path / "mask.nii.gz").exists()


def test_zero_size_volume(tmp_path):
    path = tmp_path / "empty.mha"
    path.write_text("ObjectType = Image\nNDims = 3\nDimSize = 0 3 2\nElementSpacing = 1 1 1\n"
                    "ElementType = MET_SHORT\nElementDataFile = LOCAL\n")
    with pytest.raises(InvalidImageError, match=r"empty.mha: expected a non-empty volume, found size 0x3x2"):
        read_volume(path)


def test_constant_volume_is_not_a_ct_but_is_a_valid_empty_label(tmp_path, ct_volume):
    path = write_volume(ct_volume.with_array(np.full(ct_volume.shape, -1000, np.int16)), tmp_path / "c.nii.gz")
    with pytest.raises(InvalidImageError, match=r"expected a CT with varying intensities, found every voxel = -1000"):
        read_volume(path, kind="ct")
    assert read_volume(path).array.min() == -1000  # kind "any" accepts it
    zeros = write_volume(ct_volume.with_array(np.zeros(ct_volume.shape, np.uint8)), tmp_path / "m.nii.gz")
    assert read_volume(zeros, kind="label").array.max() == 0


@pytest.mark.parametrize(
    "values, dtype, found",
    [
        ((0.0, 0.25, 1.0), np.float32, "values 0..1 (normalised intensities, not HU)"),
        ((0, 17, 255), np.uint8, "8-bit values 0..255 (cannot hold HU)"),
        ((0, 1024, 4095), np.uint16, "values 0..4095, none negative (raw stored values without rescale?)"),
        ((-1000, 0, 1e6), np.float32, "values -1000..1e+06"),
    ],
)
def test_intensities_clearly_not_hu(tmp_path, ct_volume, values, dtype, found):
    array = np.resize(np.asarray(values, dtype=dtype), ct_volume.shape)
    path = write_volume(ct_volume.with_array(array), tmp_path / "x.nrrd")
    with pytest.raises(InvalidImageError) as info:
        read_volume(path, kind="ct")
    message = one_line(info.value, path)
    assert found in message
    assert "Hounsfield" in message
    read_volume(path, kind="any")  # structural checks only: fine


def test_plausible_ct_passes_and_becomes_int16(tmp_path, ct_volume):
    as_float = ct_volume.with_array(ct_volume.array.astype(np.float32))
    path = write_volume(as_float, tmp_path / "ct.mha")
    volume = read_volume(path, kind="ct")
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, ct_volume.array)
    # a soft-tissue crop with no air (all >= 0, below 3000) is plausible HU
    crop = write_volume(ct_volume.with_array(np.resize(np.arange(0, 300, dtype=np.int16), ct_volume.shape)),
                        tmp_path / "crop.mha")
    assert read_volume(crop, kind="ct").array.max() == 299


def test_label_checks(tmp_path, ct_volume, label_volume):
    fractional = write_volume(label_volume.with_array(label_volume.array * 0.5), tmp_path / "f.nii.gz")
    with pytest.raises(InvalidImageError, match=r"expected a label map of whole numbers .* found fractional values such as 0.5"):
        read_volume(fractional, kind="label")
    ct = write_volume(ct_volume, tmp_path / "ct.nii.gz")
    with pytest.raises(InvalidImageError, match=r"expected a label map of values >= 0, found values down to -1"):
        read_volume(ct, kind="label")
    many = write_volume(ct_volume.with_array(np.arange(ct_volume.array.size, dtype=np.int16).reshape(ct_volume.shape)),
                        tmp_path / "many.nii.gz")
    with pytest.raises(InvalidImageError, match=r"at most 256 distinct values"):
        read_volume(many, kind="label")
    as_float = write_volume(label_volume.with_array(label_volume.array.astype(np.float32)), tmp_path / "fl.nrrd")
    volume = read_volume(as_float, kind="label")
    assert volume.array.dtype == np.uint8
    np.testing.assert_array_equal(volume.array, label_volume.array)
    big = label_volume.with_array(label_volume.array.astype(np.int32) * 300)
    volume = read_volume(write_volume(big, tmp_path / "big.nrrd"), kind="label")
    assert volume.array.dtype == np.uint16 and volume.array.max() == 600


def test_unknown_kind():
    with pytest.raises(UnknownNameError, match=r"kind: expected one of any, ct, label, found 'mask'"):
        read_volume("whatever.nii.gz", kind="mask")


# --- files that do not record spacing or orientation -----------------------------------


def test_nrrd_without_spacing_is_flagged_and_spacing_can_be_given(tmp_path):
    array = np.arange(24, dtype="<i2").reshape(2, 3, 4)
    path = tmp_path / "nospacing.nrrd"
    path.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 3 2\nendian: little\n"
                     b"encoding: raw\n\n" + array.tobytes())
    volume = read_volume(path)
    assert not volume.spacing_known and volume.meta["orientation_known"] is False
    np.testing.assert_array_equal(volume.array, array)
    with pytest.raises(InvalidImageError) as info:
        require_known_spacing(volume, what="resampling to 1 mm")
    message = one_line(info.value, path)
    assert "expected a known voxel spacing in mm for resampling to 1 mm, found none recorded in the file" in message
    assert "spacing_mm=(x, y, z)" in message
    given = read_volume(path, spacing_mm=(0.7, 0.8, 3.1))
    assert given.spacing_known and given.geometry.spacing_mm == (0.7, 0.8, 3.1)
    require_known_spacing(given, what="resampling")  # no error now


def test_given_spacing_must_agree_with_a_recorded_one(tmp_path, ct_volume):
    path = write_volume(ct_volume, tmp_path / "ct.nrrd")
    assert read_volume(path, spacing_mm=ct_volume.geometry.spacing_mm).geometry.same_grid(ct_volume.geometry)
    with pytest.raises(InvalidImageError, match=r"expected spacing_mm \(1.0, 1.0, 1.0\) to match the file"):
        read_volume(path, spacing_mm=(1, 1, 1))
    with pytest.raises(InvalidImageError, match="three positive voxel sizes"):
        read_volume(path, spacing_mm=(1, 0, 1))


def test_nifti_with_pixdim_zero_or_no_orientation_codes_is_flagged(tmp_path, ct_volume):
    path = write_volume(ct_volume, tmp_path / "ct.nii")
    header = bytearray(path.read_bytes())
    assert struct.unpack_from("<3f", header, 80) == pytest.approx(ct_volume.geometry.spacing_mm)
    no_pixdim = bytearray(header)
    struct.pack_into("<3f", no_pixdim, 80, 0.0, 0.0, 0.0)  # pixdim[1..3]
    (tmp_path / "pixdim0.nii").write_bytes(no_pixdim)
    volume = read_volume(tmp_path / "pixdim0.nii")
    assert not volume.spacing_known and volume.meta["orientation_known"]
    no_codes = bytearray(header)
    struct.pack_into("<hh", no_codes, 252, 0, 0)  # qform_code, sform_code
    (tmp_path / "nocodes.nii").write_bytes(no_codes)
    volume = read_volume(tmp_path / "nocodes.nii")
    assert volume.spacing_known and not volume.meta["orientation_known"]
    assert read_volume(path).meta["orientation_known"] and read_volume(path).spacing_known


def test_metaimage_without_element_spacing_is_flagged(tmp_path):
    path = tmp_path / "nospacing.mha"
    path.write_bytes(b"ObjectType = Image\nNDims = 3\nDimSize = 4 3 2\nElementType = MET_SHORT\n"
                     b"ElementDataFile = LOCAL\n" + np.arange(24, dtype="<i2").tobytes())
    assert not read_volume(path).spacing_known


# --- ITK's own messages ------------------------------------------------------------------


def test_itk_warnings_become_debug_logs_not_stderr(tmp_path, ct_volume, capfd, caplog):
    path = write_volume(ct_volume, tmp_path / "ct.nii")
    header = bytearray(path.read_bytes())
    struct.pack_into("<3f", header, 80, 0.0, 0.0, 0.0)  # ITK warns "unexpected scales in sform"
    (tmp_path / "odd.nii").write_bytes(header)
    with caplog.at_level(logging.DEBUG, logger="livseg.io.itk"):
        read_volume(tmp_path / "odd.nii")
    assert capfd.readouterr().err == ""
    assert any("unexpected scales in sform" in r.getMessage() for r in caplog.records)
    # and the process-wide ITK output window is restored afterwards
    with caplog.at_level(logging.DEBUG, logger="livseg.io.itk"):
        caplog.clear()
        sitk.ReadImage(str(tmp_path / "odd.nii"))
    assert not caplog.records
    assert "unexpected scales in sform" in capfd.readouterr().err


def test_error_cases_print_nothing_to_stderr(tmp_path, ct_volume, capfd):
    path = write_volume(ct_volume, tmp_path / "ct.nii.gz")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UnreadableInputError):
        read_volume(path)
    rgb = write_sitk(sitk.GetImageFromArray(np.zeros((2, 3, 4, 3), np.uint8), isVector=True), tmp_path / "rgb.mha")
    with pytest.raises(InvalidImageError):
        read_volume(rgb)
    assert capfd.readouterr().err == ""


def test_volume_inputs_are_not_mutated_by_reading_checks(tmp_path):
    geometry = Geometry(size=(4, 3, 2), spacing_mm=(1, 1, 1))
    original = Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 1000, geometry)
    from livseg.io.content import check_content

    before = original.array.copy()
    checked = check_content(original, "ct")
    assert checked.array.dtype == np.int16 and original.array.dtype == np.float32
    np.testing.assert_array_equal(original.array, before)


@pytest.mark.parametrize("encoding", ["raw", "gzip"])
def test_nrrd_header_announcing_far_more_voxels_than_the_file_holds(tmp_path, encoding):
    """An 8 KB NRRD whose header announces 2000^3 shorts (16 GB): refused from the header and the
    file's size, before anything is allocated (it took 16 GB and 55 s before)."""
    import gzip
    import resource

    header = ("NRRD0004\ntype: short\ndimension: 3\nsizes: 2000 2000 2000\nspace: left-posterior-superior\n"
              "space directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (0,0,0)\n"
              f"encoding: {encoding}\nendian: little\n\n")
    body = b"\0" * 8000 if encoding == "raw" else gzip.compress(b"\0" * 800_000)
    path = tmp_path / "huge.nrrd"
    path.write_bytes(header.encode("ascii") + body)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnreadableInputError) as info:
        read_volume(path)
    message = one_line(info.value, path)
    assert "16000000000" in message or "16 GB" in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200_000  # kB: nothing allocated
