"""DICOM series: exact grid and HU from synthetic series written with pydicom, the checks on
series layout (several series, missing / duplicate / uneven / tilted slices), and the real
series in ../shared/data against their NIfTI / NRRD counterparts and SimpleITK."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from livseg.errors import DicomSeriesError, InvalidImageError, UnreadableInputError
from livseg.io import list_dicom_series, read_volume
from livseg.volume import Geometry


def stored(shape_zyx, low=0, high=2000, dtype=np.int16, seed=1):
    return np.random.default_rng(seed).integers(low, high, size=shape_zyx).astype(dtype)


def test_series_reads_exact_grid_and_hu(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx)
    dicom_series(tmp_path / "s", raw, dicom_geometry, intercept=-1024, description="abdomen")
    volume = read_volume(tmp_path / "s", kind="ct")
    assert volume.geometry.same_grid(dicom_geometry), volume.geometry.differences(dicom_geometry)
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, raw.astype(np.int32) - 1024)
    assert volume.meta["format"] == "dicom"
    assert volume.meta["series_description"] == "abdomen"
    assert volume.meta["modality"] == "CT"
    assert volume.meta["slices"] == 4
    assert volume.meta["rescale"] == {"slope": 1.0, "intercept": -1024.0, "applied": True}
    assert volume.meta["warnings"] == []


def test_oblique_series_geometry(tmp_path, dicom_series, oblique):
    geometry = Geometry(size=(5, 4, 3), spacing_mm=(0.7, 0.8, 3.1), origin_mm=(10.0, 20.0, 30.0),
                        direction=oblique)
    raw = stored(geometry.shape_zyx)
    dicom_series(tmp_path / "s", raw, geometry, intercept=-1000)
    volume = read_volume(tmp_path / "s")
    assert volume.geometry.same_grid(geometry), volume.geometry.differences(geometry)
    np.testing.assert_array_equal(volume.array, raw - 1000)


def test_unsigned_stored_values_become_int16_hu(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx, 0, 4000, np.uint16)
    dicom_series(tmp_path / "s", raw, dicom_geometry, intercept=-1024)
    volume = read_volume(tmp_path / "s", kind="ct")
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, raw.astype(np.int32) - 1024)


def test_values_beyond_int16_stay_exact_as_int32(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx, 0, 60000, np.uint16)
    raw[2, 1, 1] = 65535
    dicom_series(tmp_path / "s", raw, dicom_geometry, intercept=-1000)
    volume = read_volume(tmp_path / "s")
    assert volume.array.dtype == np.int32
    np.testing.assert_array_equal(volume.array, raw.astype(np.int32) - 1000)


def test_fractional_slope_gives_float32(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx, 0, 3000)
    dicom_series(tmp_path / "s", raw, dicom_geometry, slope=0.5, intercept=-1024.25)
    volume = read_volume(tmp_path / "s")
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array, raw * 0.5 - 1024.25, rtol=0, atol=1e-3)


def test_rescale_differing_per_slice_is_applied_per_slice(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx, 0, 2000)
    intercepts = [-1024, -1000, -1024, -2048]
    dicom_series(tmp_path / "s", raw, dicom_geometry, intercept=intercepts)
    volume = read_volume(tmp_path / "s")
    expected = raw.astype(np.int32) + np.asarray(intercepts)[:, None, None]
    np.testing.assert_array_equal(volume.array, expected)
    assert volume.array.dtype == np.int16


def test_one_file_of_a_series_reads_the_whole_series(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx)
    paths = dicom_series(tmp_path / "s", raw, dicom_geometry)
    volume = read_volume(paths[2])
    assert volume.geometry.same_grid(dicom_geometry)
    np.testing.assert_array_equal(volume.array, raw)


def test_several_series_are_listed_and_one_can_be_chosen(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx)
    other = Geometry(size=(6, 5, 3), spacing_mm=(0.7, 0.8, 5.0), origin_mm=(0, 0, 0))
    dicom_series(tmp_path / "a", raw, dicom_geometry, series_uid="1.2.3.4", description="venous")
    dicom_series(tmp_path / "b", stored(other.shape_zyx, seed=2), other, series_uid="1.2.3.5",
                 description="arterial")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for sub in ("a", "b"):
        for path in (tmp_path / sub).iterdir():
            shutil.copy(path, mixed / f"{sub}-{path.name}")
    with pytest.raises(DicomSeriesError) as info:
        read_volume(mixed)
    message = str(info.value)
    assert "\n" not in message
    assert "2 series" in message
    assert "1.2.3.4 (CT, 'venous', 4 slices)" in message
    assert "1.2.3.5 (CT, 'arterial', 3 slices)" in message
    assert "--series" in message
    chosen = read_volume(mixed, series_uid="1.2.3.5")
    assert chosen.geometry.same_grid(other)
    assert chosen.meta["series_uid"] == "1.2.3.5"
    with pytest.raises(DicomSeriesError, match="expected series 9.9.9, found 2 other series"):
        read_volume(mixed, series_uid="9.9.9")
    summaries = list_dicom_series(mixed)
    assert [(s.uid, s.slices) for s in summaries] == [("1.2.3.4", 4), ("1.2.3.5", 3)]


def test_missing_slice_is_an_error_naming_the_gap(tmp_path, dicom_series):
    geometry = Geometry(size=(4, 4, 6), spacing_mm=(1, 1, 2.5), origin_mm=(0, 0, 10.0))
    dicom_series(tmp_path / "s", stored(geometry.shape_zyx), geometry,
                 offsets_mm=[0, 2.5, 5.0, 7.5, 10.0, 12.5], order=[0, 1, 2, 3, 4, 5])
    (tmp_path / "s" / "IM0003.dcm").unlink()  # the slice at z = 10 + 7.5
    with pytest.raises(DicomSeriesError,
                       match=r"missing slices between 15 and 20 mm \(about 1 missing\)"):
        read_volume(tmp_path / "s")


def test_duplicate_slice_is_an_error_naming_position_and_files(tmp_path, dicom_series, dicom_geometry):
    dicom_series(tmp_path / "s", stored(dicom_geometry.shape_zyx), dicom_geometry)
    shutil.copy(tmp_path / "s" / "IM0001.dcm", tmp_path / "s" / "IM0001-copy.dcm")
    with pytest.raises(DicomSeriesError, match=r"1 duplicate slice position\(s\): .*IM0001"):
        read_volume(tmp_path / "s")


def test_clearly_uneven_spacing_is_an_error(tmp_path, dicom_series):
    geometry = Geometry(size=(4, 4, 6), spacing_mm=(1, 1, 2.5))
    dicom_series(tmp_path / "s", stored(geometry.shape_zyx), geometry,
                 offsets_mm=[0, 2.5, 5.0, 7.5, 10.0, 13.5])
    # steps 2.5 x 4 and 3.5 (below 1.5 x median: not "missing"); mean step 2.7, so the slice
    # at 10.0 is 0.8 mm = 30 % of a step from its place on the regular grid.
    with pytest.raises(DicomSeriesError, match=r"uneven spacing: steps from 2.5 to 3.5 mm; .* 30% of a step"):
        read_volume(tmp_path / "s")


def test_slightly_uneven_spacing_is_read_with_a_warning(tmp_path, dicom_series, caplog):
    geometry = Geometry(size=(4, 4, 6), spacing_mm=(1, 1, 2.5))
    raw = stored(geometry.shape_zyx)
    dicom_series(tmp_path / "s", raw, geometry, offsets_mm=[0, 2.5, 5.0, 7.5, 10.0, 12.8])
    with caplog.at_level(logging.WARNING, logger="livseg.io.dicom"):
        volume = read_volume(tmp_path / "s")
    assert volume.geometry.spacing_mm[2] == pytest.approx(12.8 / 5)  # ITK's regular grid
    assert len(volume.meta["warnings"]) == 1
    assert "slightly uneven slice spacing" in volume.meta["warnings"][0]
    assert any("slightly uneven" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(volume.array, raw)


def test_rounding_jitter_in_positions_passes_silently(tmp_path, dicom_series):
    geometry = Geometry(size=(4, 4, 5), spacing_mm=(1, 1, 2.5))
    offsets = [0, 2.5 + 1e-5, 5.0 - 2e-5, 7.5, 10.0 + 1e-5]
    dicom_series(tmp_path / "s", stored(geometry.shape_zyx), geometry, offsets_mm=offsets)
    volume = read_volume(tmp_path / "s")
    assert volume.meta["warnings"] == []
    assert volume.geometry.same_grid(geometry)


def test_gantry_tilt_is_an_error(tmp_path, dicom_series, dicom_geometry):
    dicom_series(tmp_path / "s", stored(dicom_geometry.shape_zyx), dicom_geometry,
                 in_plane_shift_mm=[0.0, 0.4, 0.8, 1.2])
    with pytest.raises(DicomSeriesError, match=r"shifted up to 1.2 mm within the slice plane"):
        read_volume(tmp_path / "s")


def test_single_slice_is_an_error(tmp_path, dicom_series, dicom_geometry):
    paths = dicom_series(tmp_path / "s", stored(dicom_geometry.shape_zyx), dicom_geometry)
    for path in paths[1:]:
        path.unlink()
    with pytest.raises(DicomSeriesError, match="at least 2 slices"):
        read_volume(paths[0])


def test_mixed_slice_sizes_are_an_error(tmp_path, dicom_series, dicom_geometry):
    dicom_series(tmp_path / "s", stored(dicom_geometry.shape_zyx), dicom_geometry, series_uid="1.2.9")
    small = Geometry(size=(3, 5, 4), spacing_mm=(0.7, 0.8, 2.5), origin_mm=dicom_geometry.origin_mm,
                     direction=dicom_geometry.direction)
    paths = dicom_series(tmp_path / "t", stored(small.shape_zyx), small, series_uid="1.2.9",
                         offsets_mm=[20.0, 22.5, 25.0, 27.5])
    shutil.copy(paths[0], tmp_path / "s" / "other.dcm")
    with pytest.raises(DicomSeriesError, match="differ: size 6x5 vs 3x5"):
        read_volume(tmp_path / "s")


def test_non_image_files_are_skipped_and_an_empty_folder_fails(tmp_path, dicom_series, dicom_geometry):
    folder = tmp_path / "s"
    raw = stored(dicom_geometry.shape_zyx)
    dicom_series(folder, raw, dicom_geometry)
    (folder / "README.txt").write_text("not DICOM")
    volume = read_volume(folder)
    assert volume.meta["files_skipped"] == 1
    np.testing.assert_array_equal(volume.array, raw)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("nothing")
    with pytest.raises(DicomSeriesError, match=r"expected DICOM image slices .* found none among 1 files"):
        read_volume(junk)
    (junk / "fake.dcm").write_bytes(b"\0" * 300)
    with pytest.raises(UnreadableInputError, match=r"fake.dcm: expected a DICOM image slice, found not readable"):
        read_volume(junk / "fake.dcm")


def test_files_without_the_dicom_preamble_are_read(tmp_path, dicom_series, dicom_geometry):
    raw = stored(dicom_geometry.shape_zyx)
    paths = dicom_series(tmp_path / "s", raw, dicom_geometry, intercept=-1024)
    for path in paths:
        data = path.read_bytes()
        assert data[128:132] == b"DICM"
        path.write_bytes(data[132:])  # starts with the (0002,xxxx) file meta group
    volume = read_volume(tmp_path / "s")
    assert volume.geometry.same_grid(dicom_geometry)
    np.testing.assert_array_equal(volume.array, raw.astype(np.int32) - 1024)


def test_nested_folders_are_not_searched_and_the_message_says_so(tmp_path, dicom_series, dicom_geometry):
    dicom_series(tmp_path / "patient" / "study" / "series", stored(dicom_geometry.shape_zyx), dicom_geometry)
    with pytest.raises(DicomSeriesError, match=r"found none among 0 files and 1 sub-folders, which are not searched"):
        read_volume(tmp_path / "patient")
    assert read_volume(tmp_path / "patient" / "study" / "series").geometry.same_grid(dicom_geometry)


def test_a_non_ct_series_is_refused_as_ct(tmp_path, dicom_series, dicom_geometry):
    dicom_series(tmp_path / "mr", stored(dicom_geometry.shape_zyx), dicom_geometry, modality="MR")
    with pytest.raises(InvalidImageError, match=r"expected a CT series \(DICOM Modality CT\), found Modality MR"):
        read_volume(tmp_path / "mr", kind="ct")
    assert read_volume(tmp_path / "mr").meta["modality"] == "MR"


def test_series_uid_on_a_non_dicom_file_is_an_error(tmp_path, ct_volume):
    from livseg.io import write_volume

    path = write_volume(ct_volume, tmp_path / "ct.nii.gz")
    with pytest.raises(UnreadableInputError, match="DICOM folder when a series UID is given"):
        read_volume(path, series_uid="1.2.3")


# --- real series -----------------------------------------------------------------------


@pytest.mark.needs_shared_data
def test_chaos_dicom_equals_its_nifti(shared_data):
    from_dicom = read_volume(shared_data / "chaos-ct-1" / "dicom", kind="ct")
    from_nifti = read_volume(shared_data / "chaos-ct-1" / "image.nii.gz", kind="ct")
    assert from_dicom.geometry.same_grid(from_nifti.geometry), \
        from_dicom.geometry.differences(from_nifti.geometry)
    assert from_dicom.geometry.size == (512, 512, 78)
    assert from_dicom.array.dtype == np.int16
    np.testing.assert_array_equal(from_dicom.array, from_nifti.array)


@pytest.mark.needs_shared_data
def test_chaos_dicom_matches_simpleitk_series_reader(shared_data):
    folder = shared_data / "chaos-ct-1" / "dicom"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    volume = read_volume(folder)
    assert volume.geometry.size == image.GetSize()
    np.testing.assert_allclose(volume.geometry.spacing_mm, image.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(volume.geometry.origin_mm, image.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(volume.geometry.direction, image.GetDirection(), atol=1e-9)
    np.testing.assert_array_equal(volume.array, sitk.GetArrayViewFromImage(image))


@pytest.mark.needs_shared_data
def test_dcmqi_dicom_shares_the_grid_of_its_nrrd_labels(shared_data):
    ct = read_volume(shared_data / "dcmqi-ct-3slice" / "dicom", kind="ct")
    labels = read_volume(shared_data / "dcmqi-ct-3slice" / "liver_seg.nrrd", kind="label")
    assert ct.geometry.same_grid(labels.geometry), ct.geometry.differences(labels.geometry)
    assert int(ct.array.min()) == -3024  # the padding value, kept in HU
    assert labels.array.dtype == np.uint8 and set(np.unique(labels.array)) == {0, 1}


@pytest.mark.needs_shared_data
def test_totalseg_jpeg2000_series_maps_onto_its_flipped_segmentation(shared_data):
    ct = read_volume(shared_data / "totalseg-example" / "dicom", kind="ct")
    seg = read_volume(shared_data / "totalseg-example" / "dicom_seg_totalsegmentator.nii.gz", kind="label")
    assert ct.geometry.size == seg.geometry.size == (512, 512, 20)
    assert ct.meta["series_uid"] == "" and ct.meta["series_description"] == "CT Body 3.0"
    # The segmentation is stored with y flipped: voxel (i, j, k) of the CT is voxel
    # (i, 511 - j, k) of the segmentation at the same physical point.
    rng = np.random.default_rng(0)
    ijk = rng.integers(0, [512, 512, 20], size=(50, 3))
    flipped = ijk * [1, -1, 1] + [0, 511, 0]
    np.testing.assert_allclose(ct.geometry.index_to_physical(ijk),
                               seg.geometry.index_to_physical(flipped), atol=1e-3)


@pytest.mark.needs_shared_data
def test_reading_real_series_writes_nothing_to_stderr(shared_data, capfd, tmp_path, dicom_series):
    read_volume(shared_data / "totalseg-example" / "dicom")
    read_volume(shared_data / "dcmqi-ct-3slice" / "dicom")
    geometry = Geometry(size=(4, 4, 6), spacing_mm=(1, 1, 2.5))
    dicom_series(tmp_path / "s", stored(geometry.shape_zyx), geometry, offsets_mm=[0, 2.5, 5.0, 7.5, 10.0, 12.8])
    read_volume(tmp_path / "s")  # ITK warns about non-uniform sampling here
    captured = capfd.readouterr()
    assert captured.err == ""


def test_multiframe_file_is_rejected(tmp_path, dicom_series, dicom_geometry):
    import pydicom

    paths = dicom_series(tmp_path / "s", stored(dicom_geometry.shape_zyx), dicom_geometry)
    ds = pydicom.dcmread(paths[0])
    ds.NumberOfFrames = 2
    ds.save_as(paths[0])
    with pytest.raises(InvalidImageError, match=r"multi-frame file \(2 frames\)"):
        read_volume(paths[0])
