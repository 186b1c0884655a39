"""The slice viewer's embedded data: orientation, subsampling, packing, encodings, HTML, by hand."""

from __future__ import annotations

import base64
import html
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from livseg.reporting import html_page as H
from livseg.reporting.report import VIEWER_STYLES
from livseg.reporting.viewer import (
    MAX_HEIGHT_PX,
    ROW_WIDTH_PX,
    VIEWER_JS,
    ct_mosaic,
    deflate_base64,
    describe_sampling,
    from_mosaic,
    inflate_base64,
    jpeg_bytes,
    pack_labels,
    plane_sizes,
    subsampling_step,
    unpack_label,
    viewer_data,
    viewer_html,
)
from livseg.reporting.views import VIEW_NAMES, crop_to_lps, display_slice, soft_tissue_window, views_of
from livseg.volume import Geometry, Volume

SPACING = (0.7, 0.9, 2.5)
SIZE = (12, 10, 8)  # x, y, z
ORIGIN = (-40.0, 15.0, 300.0)


def _scene() -> tuple[Volume, dict[str, Volume]]:
    """CT with marker voxels, a liver box i 2..10, j 1..7, k 1..5 (tumour at one voxel), on an LPS grid."""
    geometry = Geometry(size=SIZE, spacing_mm=SPACING, origin_mm=ORIGIN)
    ct = np.full(geometry.shape_zyx, -100, dtype=np.int16)
    ct[3, 2, 9] = 500
    ct[5, 4, 3] = 300
    ct[1, 6, 6] = 200
    reference = np.zeros(geometry.shape_zyx, dtype=np.uint8)
    reference[1:6, 1:8, 2:11] = 1
    reference[3, 4, 6] = 2
    prediction = np.zeros_like(reference)
    prediction[2:6, 1:8, 3:11] = 1
    nocrf = np.zeros_like(reference)
    nocrf[1:6, 1:9, 2:11] = 1
    nocrf[3, 4, 6:8] = 2
    return Volume(ct, geometry, source="ct"), {
        "reference": Volume(reference, geometry, source="ref"),
        "prediction": Volume(prediction, geometry, source="pred"),
        "prediction_nocrf": Volume(nocrf, geometry, source="nocrf")}


def _flipped(volume: Volume) -> Volume:
    """The same voxels in space, stored with the x and z index axes reversed (direction -1)."""
    g = volume.geometry
    origin = g.index_to_physical(np.array([g.size[0] - 1, 0, g.size[2] - 1], dtype=float))
    geometry = Geometry(size=g.size, spacing_mm=g.spacing_mm, origin_mm=tuple(origin),
                        direction=(-1, 0, 0, 0, 1, 0, 0, 0, -1))
    return Volume(np.ascontiguousarray(volume.array[::-1, :, ::-1]), geometry, source=volume.source)


def test_data_is_the_lps_crop_windowed_and_packed():
    ct, labels = _scene()
    data = viewer_data(crop_to_lps(ct, labels, margin_mm=0.0))
    # Crop = the union of the liver masks: k 1..5, j 1..8, i 2..10 -> shape (5, 8, 9), not subsampled.
    assert data.shape_zyx == (5, 8, 9) and data.step == (1, 1, 1) and not data.subsampled
    assert data.ct.dtype == np.uint8 and data.labels.dtype == np.uint8
    assert data.spacing_mm == pytest.approx(SPACING)
    assert data.sources == ("reference", "prediction", "prediction_nocrf")
    # z, y, x in LPS index order: the marker at (k, j, i) = (3, 2, 9) lands at (2, 1, 7) of the crop.
    assert data.ct[2, 1, 7] == 255 and data.ct[0, 0, 0] == round(255 * 60 / 400)
    assert data.ct[0, 5, 4] == 230  # 200 HU: (200 + 160) / 400 * 255 = 229.5, rounded to even
    np.testing.assert_array_equal(unpack_label(data.labels, 0), labels["reference"].array[1:6, 1:9, 2:11])
    np.testing.assert_array_equal(unpack_label(data.labels, 1), labels["prediction"].array[1:6, 1:9, 2:11])
    np.testing.assert_array_equal(unpack_label(data.labels, 2), labels["prediction_nocrf"].array[1:6, 1:9, 2:11])
    # The planes start at the reference liver's centre of mass, (3, 4, 6) -> (2, 3, 4) in the crop.
    assert data.centre_zyx == (2, 3, 4)


def test_the_viewers_planes_are_the_static_figures_slices():
    ct, labels = _scene()
    lps = crop_to_lps(ct, labels, margin_mm=0.0)
    data = viewer_data(lps)
    views = views_of(lps)
    for name, view, index in zip(VIEW_NAMES, views.views, data.centre_zyx):
        assert view.index == index
        expected = np.rint(soft_tissue_window(view.ct) * 255).astype(np.uint8)
        np.testing.assert_array_equal(display_slice(data.ct, name, index), expected)
        for position, source in enumerate(data.sources):
            np.testing.assert_array_equal(unpack_label(display_slice(data.labels, name, index), position),
                                          view.labels[source])


def test_display_slices_follow_the_radiological_convention():
    volume = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # z, y, x
    np.testing.assert_array_equal(display_slice(volume, "axial", 1), volume[1])  # rows y (A->P), columns x (R->L)
    # coronal: rows z from superior (last index) down, columns x
    np.testing.assert_array_equal(display_slice(volume, "coronal", 2), [[20, 21, 22, 23], [8, 9, 10, 11]])
    # sagittal: rows z from superior down, columns y (A->P)
    np.testing.assert_array_equal(display_slice(volume, "sagittal", 3), [[15, 19, 23], [3, 7, 11]])
    with pytest.raises(ValueError, match="unknown view"):
        display_slice(volume, "oblique", 0)


def test_flipped_storage_gives_the_same_data():
    ct, labels = _scene()
    plain = viewer_data(crop_to_lps(ct, labels, margin_mm=0.0))
    flipped = viewer_data(crop_to_lps(_flipped(ct), {k: _flipped(v) for k, v in labels.items()}, margin_mm=0.0))
    np.testing.assert_array_equal(plain.ct, flipped.ct)
    np.testing.assert_array_equal(plain.labels, flipped.labels)
    assert plain.centre_zyx == flipped.centre_zyx and plain.spacing_mm == flipped.spacing_mm


def test_large_boxes_are_subsampled_by_whole_steps():
    ct, labels = _scene()
    lps = crop_to_lps(ct, labels, margin_mm=0.0)
    data = viewer_data(lps, max_px=4, max_slices=2)
    # x 9 -> step 3 (3 columns), y 8 -> step 2 (4 rows), z 5 -> step 3 (2 slices)
    assert data.step == (3, 2, 3) and data.shape_zyx == (2, 4, 3) and data.crop_shape_zyx == (5, 8, 9)
    assert data.spacing_mm == pytest.approx((2.1, 1.8, 7.5))
    window = np.rint(soft_tissue_window(lps.ct.array[::3, ::2, ::3]) * 255).astype(np.uint8)
    np.testing.assert_array_equal(data.ct, window)
    np.testing.assert_array_equal(unpack_label(data.labels, 0), lps.labels["reference"][::3, ::2, ::3])
    assert data.centre_zyx == (0, 1, 1)  # (2, 3, 4) // steps
    assert "subsampled with steps 3, 2, 3 in x, y, z" in describe_sampling(data)
    assert [subsampling_step(n, 160) for n in (1, 160, 161, 320, 321)] == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError):
        subsampling_step(10, 0)


def test_label_packing_uses_two_bits_per_source():
    a = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    b = np.array([[2, 2, 0, 1]], dtype=np.uint8)
    packed = pack_labels({"a": a, "b": b}, ("a", "b"))
    np.testing.assert_array_equal(packed, [[0 | 2 << 2, 1 | 2 << 2, 2, 1 | 1 << 2]])
    np.testing.assert_array_equal(unpack_label(packed, 0), [[0, 1, 2, 1]])  # any other label > 0 is liver
    np.testing.assert_array_equal(unpack_label(packed, 1), [[2, 2, 0, 1]])
    with pytest.raises(ValueError, match="at most 4"):
        pack_labels({str(i): a for i in range(5)}, [str(i) for i in range(5)])


def test_mosaic_tiles_axial_slices_on_8_pixel_blocks():
    rng = np.random.default_rng(0)
    ct = rng.integers(0, 256, size=(7, 13, 21), dtype=np.uint8)
    mosaic, (tile_h, tile_w, per_row) = ct_mosaic(ct)
    assert (tile_h, tile_w) == (16, 24) and tile_h % 8 == 0 and tile_w % 8 == 0
    rows = -(-7 // per_row)
    assert mosaic.shape == (rows * tile_h, per_row * tile_w)
    np.testing.assert_array_equal(from_mosaic(mosaic, ct.shape, (tile_h, tile_w, per_row)), ct)
    # slice 5 at the top left of its tile
    top, left = (5 // per_row) * tile_h, (5 % per_row) * tile_w
    np.testing.assert_array_equal(mosaic[top:top + 13, left:left + 21], ct[5])


def test_jpeg_and_deflate_round_trips():
    ct, labels = _scene()
    data = viewer_data(crop_to_lps(ct, labels, margin_mm=0.0))
    mosaic, tile = ct_mosaic(data.ct)
    decoded = np.asarray(Image.open(io.BytesIO(jpeg_bytes(mosaic))))
    assert decoded.shape == mosaic.shape and decoded.dtype == np.uint8
    back = from_mosaic(decoded, data.shape_zyx, tile)
    assert np.abs(back.astype(int) - data.ct).mean() < 6
    np.testing.assert_array_equal(inflate_base64(deflate_base64(data.labels), data.shape_zyx), data.labels)


def test_planes_keep_their_physical_aspect_and_fit_one_row():
    ct, labels = _scene()
    data = viewer_data(crop_to_lps(ct, labels, margin_mm=0.0))
    sizes = plane_sizes(data)
    nz, ny, nx = data.shape_zyx
    sx, sy, sz = data.spacing_mm
    physical = {"axial": (nx * sx, ny * sy), "coronal": (nx * sx, nz * sz), "sagittal": (ny * sy, nz * sz)}
    assert [s.name for s in sizes] == list(VIEW_NAMES)
    assert sum(s.width_px for s in sizes) <= ROW_WIDTH_PX + 2 and max(s.height_px for s in sizes) <= MAX_HEIGHT_PX + 1
    scale = sizes[0].width_px / physical["axial"][0]
    for size in sizes:
        width_mm, height_mm = physical[size.name]
        assert size.width_px == pytest.approx(width_mm * scale, abs=1.0)
        assert size.height_px == pytest.approx(height_mm * scale, abs=1.0)
    assert (sizes[0].rows, sizes[0].columns) == (ny, nx) and (sizes[2].rows, sizes[2].columns) == (nz, ny)


class _Elements(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))


EVIL = "a\"'><img src=x onerror=alert(1)>&amp;<script>alert(2)</script>"


def test_viewer_html_embeds_the_data_and_escapes_the_case_id():
    ct, labels = _scene()
    data = viewer_data(crop_to_lps(ct, labels, margin_mm=0.0))
    text = viewer_html(data, element_id="viewer-3", case_id=EVIL, styles=VIEWER_STYLES, caption="x &lt; y")
    elements = _Elements(text).elements
    assert [tag for tag, _ in elements].count("img") == 0 and "script" not in [tag for tag, _ in elements]
    assert not any(name.startswith("on") for _, attrs in elements for name in attrs)
    root = elements[0][1]
    assert root["id"] == "viewer-3" and root["data-case"] == EVIL and root["data-state"] == "loading"
    assert root["data-shape"] == "5,8,9" and root["data-centre"] == "2,3,4"
    assert root["data-sources"] == "reference,prediction,prediction_nocrf"
    assert [float(v) for v in root["data-spacing"].split(",")] == pytest.approx(SPACING)
    np.testing.assert_array_equal(inflate_base64(root["data-labels"], data.shape_zyx), data.labels)
    assert root["data-ct"].startswith("data:image/jpeg;base64,")
    jpeg = base64.b64decode(root["data-ct"].split(",", 1)[1], validate=True)
    tile = tuple(int(v) for v in root["data-tile"].split(","))
    back = from_mosaic(np.asarray(Image.open(io.BytesIO(jpeg))), data.shape_zyx, tile)  # type: ignore[arg-type]
    assert np.abs(back.astype(int) - data.ct).mean() < 6
    sliders = [a for tag, a in elements if tag == "input" and a.get("type") == "range"]
    assert [(int(a["max"]), int(a["value"])) for a in sliders] == [(4, 2), (7, 3), (8, 4)]
    canvases = [a for tag, a in elements if tag == "canvas"]
    assert len(canvases) == 3 and all(EVIL in a["aria-label"] for a in canvases)
    radios = [a for tag, a in elements if tag == "input" and a.get("type") == "radio"]
    assert [a["value"] for a in radios] == ["prediction", "prediction_nocrf"]
    assert [a["data-colour"] for a in radios] == [VIEWER_STYLES["prediction"].colour,
                                                  VIEWER_STYLES["prediction_nocrf"].colour]


def test_no_crf_switch_without_the_prediction_before_crf():
    ct, labels = _scene()
    del labels["prediction_nocrf"]
    data = viewer_data(crop_to_lps(ct, labels, margin_mm=0.0))
    assert data.sources == ("reference", "prediction")
    text = viewer_html(data, element_id="viewer-1", case_id="c", styles=VIEWER_STYLES)
    assert 'type="radio"' not in text and "crf-switch" not in text


def test_the_page_policy_allows_exactly_its_own_script():
    page = H.page("t", [], [], ["<p>x</p>"], scripts=[VIEWER_JS])
    policy = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1))
    assert "default-src 'none'" in policy and "img-src data:" in policy
    assert f"script-src {H.script_hash(VIEWER_JS)};" in policy
    assert page.count("<script>") == 1 and f"<script>{VIEWER_JS}</script>" in page
    plain = H.page("t", [], [], [])
    assert "script-src &#x27;none&#x27;" in plain and "<script" not in plain
    with pytest.raises(ValueError, match="</script"):
        H.page("t", [], [], [], scripts=["alert(1)</script><script>"])
