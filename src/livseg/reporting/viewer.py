"""The report's interactive slice viewer: the data it embeds, its HTML and its JavaScript.

One viewer per case shows the axial, coronal and sagittal planes of the liver's box
(``views.crop_to_lps``: cropped, index axes re-ordered exactly to L, P, S) with a slider per
plane (and the mouse wheel and arrow keys over an image), the CT in the soft-tissue window
(W400/L40), the reference and prediction outlines, and a CRF before/after switch when the
report has the prediction without CRF. Everything is in the page: no server, no network.

Embedded data, per viewer (attributes of its ``<div class="viewer">``):

* ``data-ct``: the CT, windowed W400/L40 to 0..255, as one grayscale JPEG (quality
  ``JPEG_QUALITY``): the axial slices (z = 0, 1, ... inferior to superior) tiled row by row,
  ``data-tile`` = "tile height, tile width, tiles per row"; each slice (y rows anterior ->
  posterior, x columns patient right -> left) sits at the top left of its tile, which is padded
  to a multiple of 8 pixels by repeating the edge so JPEG blocks never mix two slices. The
  browser decodes it and reads it back through a canvas into a (z, y, x) array.
* ``data-labels``: base64 of the zlib stream (``DecompressionStream("deflate")``) of a uint8
  array (z, y, x) in C order: bits ``2 s`` and ``2 s + 1`` hold source ``s``'s label (0
  background, 1 liver, 2 tumour) for the sources of ``data-sources`` in order.
* ``data-shape`` (nz, ny, nx), ``data-spacing`` (x, y, z in mm on the embedded grid),
  ``data-centre`` (k, j, i: where the three planes start) and the canvas sizes in CSS pixels.

Large volumes are subsampled by taking every ``step``-th voxel (nearest, no interpolation) so
that the box is at most ``max_px`` voxels across in x and y and ``max_slices`` along z; the
caption says so. Labels are exact; the CT is lossy (JPEG) and 8-bit, for display only.

The planes follow ``views``' display convention (radiological): axial rows anterior ->
posterior and columns patient right -> left; coronal rows superior -> inferior, columns right
-> left; sagittal rows superior -> inferior, columns anterior -> posterior.
"""

from __future__ import annotations

import base64
import io
import math
import zlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from livseg.reporting import html_page as H
from livseg.reporting.figures import ContourStyle
from livseg.reporting.views import LpsCrop, soft_tissue_window

#: Default most voxels across the box in x and in y (in-plane) before subsampling.
VIEWER_MAX_PX = 160
#: Default most slices along z before subsampling.
VIEWER_MAX_SLICES = 256
JPEG_QUALITY = 80
#: Bit position order of the label sources in the packed label array.
SOURCE_ORDER = ("reference", "prediction", "prediction_nocrf")
#: Width (CSS px) the three planes share and the tallest a plane may be.
ROW_WIDTH_PX = 1010
MAX_HEIGHT_PX = 430


@dataclass(frozen=True)
class ViewerData:
    """One case's data for the viewer, on the (possibly subsampled) LPS-ordered crop.

    Attributes:
        ct: uint8 (z, y, x): HU mapped by W400/L40 to 0..255 (``round(255 * window)``).
        labels: uint8 (z, y, x): packed labels, bits ``2 s, 2 s + 1`` = label 0/1/2 of
            ``sources[s]`` (liver = labels > 0 -> 1 or 2, tumour = label 2).
        sources: the label sources present, in ``SOURCE_ORDER``.
        spacing_mm: (x, y, z) voxel size of the embedded grid, mm.
        step: (x, y, z) subsampling step: embedded voxel (k, j, i) is crop voxel
            (k * step_z, j * step_y, i * step_x).
        crop_shape_zyx: the crop's shape before subsampling.
        centre_zyx: (k, j, i) where the planes start (the liver's centre), embedded grid.
    """

    ct: np.ndarray
    labels: np.ndarray
    sources: tuple[str, ...]
    spacing_mm: tuple[float, float, float]
    step: tuple[int, int, int]
    crop_shape_zyx: tuple[int, int, int]
    centre_zyx: tuple[int, int, int]

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.ct.shape)  # type: ignore[return-value]

    @property
    def subsampled(self) -> bool:
        return self.step != (1, 1, 1)


def subsampling_step(size: int, most: int) -> int:
    """The smallest step s >= 1 with ceil(size / s) <= most."""
    if most < 1:
        raise ValueError(f"at most {most} voxels: expected >= 1")
    return max(1, math.ceil(size / most))


def pack_labels(labels: Mapping[str, np.ndarray], sources: Sequence[str]) -> np.ndarray:
    """uint8 array (z, y, x): bits ``2 s, 2 s + 1`` = 0 (background), 1 (liver), 2 (tumour) of ``sources[s]``.

    Any label > 0 counts as liver and label 2 as tumour (the LiTS convention of the report).
    At most four sources fit in a byte.
    """
    if len(sources) > 4:
        raise ValueError(f"{len(sources)} label sources: at most 4 fit in one byte")
    first = np.asarray(labels[sources[0]])
    packed = np.zeros(first.shape, dtype=np.uint8)
    for position, source in enumerate(sources):
        array = np.asarray(labels[source])
        value = (array > 0).astype(np.uint8) + (array == 2).astype(np.uint8)
        packed |= value << np.uint8(2 * position)
    return packed


def unpack_label(packed: np.ndarray, position: int) -> np.ndarray:
    """Labels 0/1/2 of the source at ``position`` of a packed array (same shape)."""
    return (np.asarray(packed) >> np.uint8(2 * position)) & np.uint8(3)


def viewer_data(lps: LpsCrop, *, max_px: int = VIEWER_MAX_PX, max_slices: int = VIEWER_MAX_SLICES) -> ViewerData:
    """The viewer's arrays of one case: CT (uint8, W400/L40) and packed labels on the LPS crop.

    Args:
        lps: the case cut to the liver's box in LPS index order (``views.crop_to_lps``).
        max_px: most voxels across in x and in y (each axis gets its own step).
        max_slices: most slices along z.
    """
    nz, ny, nx = lps.ct.geometry.shape_zyx
    step = (subsampling_step(nx, max_px), subsampling_step(ny, max_px), subsampling_step(nz, max_slices))
    sx, sy, sz = step
    take = (slice(None, None, sz), slice(None, None, sy), slice(None, None, sx))
    ct = np.rint(soft_tissue_window(lps.ct.array[take]) * 255.0).astype(np.uint8)
    sources = tuple(s for s in SOURCE_ORDER if s in lps.labels)
    labels = pack_labels({s: lps.labels[s][take] for s in sources}, sources)
    spacing = tuple(float(s * n) for s, n in zip(lps.ct.geometry.spacing_mm, step))
    k, j, i = lps.centre_zyx
    centre = (min(k // sz, ct.shape[0] - 1), min(j // sy, ct.shape[1] - 1), min(i // sx, ct.shape[2] - 1))
    return ViewerData(ct=np.ascontiguousarray(ct), labels=np.ascontiguousarray(labels), sources=sources,
                      spacing_mm=spacing, step=step, crop_shape_zyx=(nz, ny, nx),  # type: ignore[arg-type]
                      centre_zyx=centre)


def ct_mosaic(ct: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The axial slices of ``ct`` (z, y, x) tiled row by row into one 2D image.

    Returns:
        (mosaic, (tile height, tile width, tiles per row)): slice z sits at the top left of
        tile (z // per_row, z % per_row); tiles are padded to multiples of 8 pixels (and the
        last row of tiles filled) by repeating edge values.
    """
    nz, ny, nx = ct.shape
    tile_h, tile_w = -(-ny // 8) * 8, -(-nx // 8) * 8
    per_row = max(1, math.ceil(math.sqrt(nz * tile_h / tile_w)))
    rows = math.ceil(nz / per_row)
    padded = np.pad(ct, ((0, rows * per_row - nz), (0, tile_h - ny), (0, tile_w - nx)), mode="edge")
    mosaic = padded.reshape(rows, per_row, tile_h, tile_w).transpose(0, 2, 1, 3).reshape(rows * tile_h,
                                                                                          per_row * tile_w)
    return np.ascontiguousarray(mosaic), (tile_h, tile_w, per_row)


def from_mosaic(mosaic: np.ndarray, shape_zyx: tuple[int, int, int], tile: tuple[int, int, int]) -> np.ndarray:
    """The (z, y, x) volume back from ``ct_mosaic``'s image (what the page's script does)."""
    nz, ny, nx = shape_zyx
    tile_h, tile_w, per_row = tile
    out = np.empty(shape_zyx, dtype=mosaic.dtype)
    for z in range(nz):
        top, left = (z // per_row) * tile_h, (z % per_row) * tile_w
        out[z] = mosaic[top:top + ny, left:left + nx]
    return out


def jpeg_bytes(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """A grayscale JPEG of a uint8 2D array (optimised Huffman tables, no EXIF)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buffer, format="JPEG", quality=quality,
                                                                      optimize=True)
    return buffer.getvalue()


def deflate_base64(array: np.ndarray) -> str:
    """base64 of the zlib stream (RFC 1950, level 9) of the array's bytes in C order."""
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array).tobytes(), 9)).decode("ascii")


def inflate_base64(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 array back from ``deflate_base64`` (for tests and tools)."""
    return np.frombuffer(zlib.decompress(base64.b64decode(text, validate=True)), dtype=np.uint8).reshape(shape)


@dataclass(frozen=True)
class PlaneSize:
    """A plane's canvas in CSS pixels and its rows/columns of voxels."""

    name: str
    width_px: int
    height_px: int
    rows: int
    columns: int


def plane_sizes(data: ViewerData, row_width_px: int = ROW_WIDTH_PX,
                max_height_px: int = MAX_HEIGHT_PX) -> tuple[PlaneSize, PlaneSize, PlaneSize]:
    """Canvas sizes of the axial, coronal and sagittal planes: one scale (px per mm) for all three.

    The three fit side by side in ``row_width_px`` and none is taller than ``max_height_px``;
    pixels keep their physical aspect ratio.
    """
    nz, ny, nx = data.shape_zyx
    sx, sy, sz = data.spacing_mm
    planes = (("axial", ny, nx, sy, sx), ("coronal", nz, nx, sz, sx), ("sagittal", nz, ny, sz, sy))
    widths = [columns * cmm for _, _, columns, _, cmm in planes]
    heights = [rows * rmm for _, rows, _, rmm, _ in planes]
    scale = min(row_width_px / sum(widths), max_height_px / max(heights))
    return tuple(PlaneSize(name, max(1, round(w * scale)), max(1, round(h * scale)), rows, columns)  # type: ignore[return-value]
                 for (name, rows, columns, _, _), w, h in zip(planes, widths, heights))


# Where each plane's slider moves, its edges' patient directions (top, bottom, left, right).
_PLANE_INFO = {"axial": ("z", ("A", "P", "R", "L"), "inferior -> superior"),
               "coronal": ("y", ("S", "I", "R", "L"), "anterior -> posterior"),
               "sagittal": ("x", ("S", "I", "A", "P"), "patient right -> left")}


def viewer_html(data: ViewerData, *, element_id: str, case_id: str, styles: Mapping[str, ContourStyle],
                caption: str = "", quality: int = JPEG_QUALITY) -> str:
    """The viewer's HTML: controls, three canvases with sliders, and the embedded data.

    Args:
        data: the case's arrays (``viewer_data``).
        element_id: a unique id made by the caller (letters, digits, hyphens).
        case_id: shown in labels (escaped).
        styles: source -> colour and line width: "reference", "prediction" and, when the data
            has it, "prediction_nocrf".
        caption: already escaped/marked-up text under the viewer.
    """
    mosaic, tile = ct_mosaic(data.ct)
    ct_url = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(mosaic, quality)).decode("ascii")
    sizes = plane_sizes(data)
    nz, ny, nx = data.shape_zyx
    attrs = {"class": "viewer", "id": element_id, "data-state": "loading",
             "data-case": case_id, "data-shape": f"{nz},{ny},{nx}",
             "data-spacing": ",".join(f"{s:.6g}" for s in data.spacing_mm),
             "data-centre": ",".join(str(c) for c in data.centre_zyx),
             "data-tile": ",".join(str(t) for t in tile), "data-sources": ",".join(data.sources),
             "data-ct": ct_url, "data-labels": deflate_base64(data.labels)}
    has_nocrf = "prediction_nocrf" in data.sources
    bar = [_layer_toggle(element_id, "reference", styles["reference"])]
    prediction = styles["prediction"]
    bar.append(_layer_toggle(element_id, "prediction", prediction, label="prediction"))
    if has_nocrf:
        nocrf = styles["prediction_nocrf"]
        bar.append(
            f"<span class=\"crf-switch\" role=\"radiogroup\" aria-label=\"{H.esc('CRF')}\">CRF: "
            + _radio(element_id, "prediction", prediction, "with CRF", checked=True)
            + _radio(element_id, "prediction_nocrf", nocrf, "without CRF", checked=False) + "</span>")
    bar.append(f"<label><input type=\"checkbox\"{H.attributes({'id': f'{element_id}-crosshair', 'data-layer': 'crosshair'})}"
               " checked> crosshair</label>")
    bar.append("<span class=\"viewer-status\" aria-live=\"polite\">loading the viewer\u2026</span>")
    planes = []
    for size in sizes:
        axis, _, direction = _PLANE_INFO[size.name]
        count = {"axial": nz, "coronal": ny, "sagittal": nx}[size.name]
        start = {"axial": data.centre_zyx[0], "coronal": data.centre_zyx[1], "sagittal": data.centre_zyx[2]}[size.name]
        canvas = {"width": size.width_px, "height": size.height_px, "tabindex": 0, "data-rows": size.rows,
                  "data-columns": size.columns, "style": f"width:{size.width_px}px",
                  "aria-label": f"{size.name} slices of {case_id}: wheel or arrow keys move through them"}
        slider = {"type": "range", "min": 0, "max": count - 1, "value": start, "step": 1,
                  "aria-label": f"{size.name} slice ({direction})", "title": f"{size.name} slice ({direction})"}
        planes.append(f"<div class=\"plane\" data-plane=\"{size.name}\"><div class=\"plane-title\">{size.name} "
                      f"<output>{start + 1} / {count}</output></div><canvas{H.attributes(canvas)}></canvas>"
                      f"<input{H.attributes(slider)}><div class=\"note\">{H.esc(axis)}: {H.esc(direction)}</div></div>")
    noscript = ("<noscript><p class=\"problem\">The slice viewer needs JavaScript; the static figure below shows "
                "the same three planes through the liver's centre.</p></noscript>")
    caption_html = f"<p class=\"note\">{caption}</p>" if caption else ""
    return (f"<div{H.attributes(attrs)}><div class=\"viewer-bar\">{''.join(bar)}</div>"
            f"<div class=\"viewer-planes\">{''.join(planes)}</div>{noscript}{caption_html}</div>")


def _swatch(style: ContourStyle) -> str:
    return f"<span class=\"swatch\"{H.attributes({'style': f'background:{style.colour}'})}></span>"


def _layer_toggle(element_id: str, layer: str, style: ContourStyle, label: str | None = None) -> str:
    attrs = {"type": "checkbox", "id": f"{element_id}-{layer}", "data-layer": layer, "data-colour": style.colour,
             "data-width": f"{style.linewidth:g}"}
    return f"<label><input{H.attributes(attrs)} checked>{_swatch(style)}{H.esc(label or style.label)}</label>"


def _radio(element_id: str, source: str, style: ContourStyle, text: str, *, checked: bool) -> str:
    attrs = {"type": "radio", "name": f"{element_id}-crf", "value": source, "data-colour": style.colour,
             "data-width": f"{style.linewidth:g}", "id": f"{element_id}-{source}-radio"}
    return f"<label><input{H.attributes(attrs)}{' checked' if checked else ''}>{_swatch(style)}{H.esc(text)}</label>"


def describe_sampling(data: ViewerData) -> str:
    """One sentence on the embedded grid (plain text): size, voxel size, subsampling."""
    nz, ny, nx = data.shape_zyx
    text = (f"Viewer grid {nx} x {ny} x {nz} voxels of {data.spacing_mm[0]:.2f} x {data.spacing_mm[1]:.2f} x "
            f"{data.spacing_mm[2]:.2f} mm")
    if data.subsampled:
        cz, cy, cx = data.crop_shape_zyx
        text += (f": the {cx} x {cy} x {cz} crop subsampled with steps {data.step[0]}, {data.step[1]}, "
                 f"{data.step[2]} in x, y, z (every step-th voxel, no interpolation; the static figure is at "
                 "full resolution)")
    return text + "; CT as an 8-bit JPEG for display, outlines exact."


VIEWER_CSS = """
.viewer { background: #16181d; color: #e8e8e8; border-radius: 8px; padding: 10px 12px 8px; margin: 10px 0 6px; }
.viewer .note { color: #a8adb5; }
.viewer-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 18px; font-size: 13px; margin-bottom: 8px; }
.viewer-bar label { cursor: pointer; white-space: nowrap; }
.viewer-bar input { vertical-align: middle; margin: 0 4px 0 0; }
.crf-switch label { margin-left: 8px; }
.swatch { display: inline-block; width: 16px; height: 4px; margin: 0 5px 2px 0; vertical-align: middle; border-radius: 2px; }
.viewer-status { color: #a8adb5; margin-left: auto; }
.viewer[data-state="error"] .viewer-status { color: #ffb4a8; }
.viewer-planes { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.plane { display: flex; flex-direction: column; max-width: 100%; }
.plane-title { font-size: 13px; margin-bottom: 3px; }
.plane-title output { color: #a8adb5; margin-left: 6px; font-variant-numeric: tabular-nums; }
.plane canvas { display: block; max-width: 100%; height: auto; background: #000; border-radius: 3px; cursor: crosshair; }
.plane canvas:focus { outline: 2px solid #8cc4ff; outline-offset: 1px; }
.plane input[type=range] { width: 100%; margin: 6px 0 0; }
.plane .note { font-size: 11px; }
details.static-figure > summary { font-weight: normal; font-size: 13px; color: var(--muted); }
"""

# The viewer's script (one constant: the page's Content-Security-Policy allows exactly this text
# by its hash). It reads only the data attributes above and writes only canvases, <output>
# elements and the status line's textContent, so nothing it shows is ever parsed as HTML.
VIEWER_JS = r"""
(function () {
  "use strict";
  var PLANES = ["axial", "coronal", "sagittal"];
  var EDGES = {axial: ["A", "P", "R", "L"], coronal: ["S", "I", "R", "L"], sagittal: ["S", "I", "A", "P"]};
  var viewers = {};
  window.livsegViewers = viewers;

  function numbers(text) { return text.split(",").map(Number); }

  function base64Bytes(text) {
    var binary = atob(text), out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { out[i] = binary.charCodeAt(i); }
    return out;
  }

  function inflate(text) {
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser has no DecompressionStream (outlines cannot be unpacked)"));
    }
    var stream = new Blob([base64Bytes(text)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  function decodeCt(url, shape, tile) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      image.onload = function () {
        var canvas = document.createElement("canvas");
        canvas.width = image.naturalWidth;
        canvas.height = image.naturalHeight;
        var context = canvas.getContext("2d", {willReadFrequently: true});
        context.drawImage(image, 0, 0);
        var pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        var nz = shape[0], ny = shape[1], nx = shape[2], th = tile[0], tw = tile[1], perRow = tile[2];
        var out = new Uint8Array(nz * ny * nx), o = 0;
        for (var z = 0; z < nz; z++) {
          var top = Math.floor(z / perRow) * th, left = (z % perRow) * tw;
          for (var y = 0; y < ny; y++) {
            var p = ((top + y) * canvas.width + left) * 4;
            for (var x = 0; x < nx; x++, p += 4) { out[o++] = pixels[p]; }
          }
        }
        resolve(out);
      };
      image.onerror = function () { reject(new Error("the CT image did not decode")); };
      image.src = url;
    });
  }

  function Viewer(root) {
    var data = root.dataset, self = this;
    this.root = root;
    this.shape = numbers(data.shape);
    this.spacing = numbers(data.spacing);
    this.sources = data.sources.split(",");
    var centre = numbers(data.centre);
    this.index = {axial: centre[0], coronal: centre[1], sagittal: centre[2]};
    this.status = root.querySelector(".viewer-status");
    this.planes = {};
    this.wheel = {};
    PLANES.forEach(function (name) {
      var box = root.querySelector('.plane[data-plane="' + name + '"]');
      var canvas = box.querySelector("canvas");
      var plane = {name: name, canvas: canvas, slider: box.querySelector("input[type=range]"),
                   output: box.querySelector("output"), width: canvas.width, height: canvas.height};
      plane.geometry = self.geometry(name, 0);
      plane.buffer = document.createElement("canvas");
      plane.buffer.width = plane.geometry.columns;
      plane.buffer.height = plane.geometry.rows;
      plane.bufferContext = plane.buffer.getContext("2d");
      plane.image = plane.bufferContext.createImageData(plane.geometry.columns, plane.geometry.rows);
      var ratio = Math.max(1, window.devicePixelRatio || 1);
      canvas.width = Math.round(plane.width * ratio);
      canvas.height = Math.round(plane.height * ratio);
      plane.ratio = canvas.width / plane.width;
      plane.context = canvas.getContext("2d");
      self.planes[name] = plane;
      self.wheel[name] = 0;
    });
    this.bind();
  }

  // Voxel (r, c) of a plane at slice `index` is array element base + r * rowStride + c * columnStride
  // of the (z, y, x) array: the display convention of livseg.reporting.views.display_slice.
  Viewer.prototype.geometry = function (name, index) {
    var nz = this.shape[0], ny = this.shape[1], nx = this.shape[2];
    if (name === "axial") { return {rows: ny, columns: nx, base: index * ny * nx, rowStride: nx, columnStride: 1, count: nz}; }
    if (name === "coronal") { return {rows: nz, columns: nx, base: (nz - 1) * ny * nx + index * nx, rowStride: -ny * nx, columnStride: 1, count: ny}; }
    return {rows: nz, columns: ny, base: (nz - 1) * ny * nx + index, rowStride: -ny * nx, columnStride: nx, count: nx};
  };

  // One slice as a plain array (rows * columns, row by row): "ct" (0..255) or a label source (0/1/2).
  Viewer.prototype.slice = function (name, index, layer) {
    var g = this.geometry(name, index), out = [];
    var volume = layer === "ct" ? this.ct : this.labels;
    var shift = layer === "ct" ? 0 : 2 * this.sources.indexOf(layer);
    for (var r = 0; r < g.rows; r++) {
      for (var c = 0; c < g.columns; c++) {
        var value = volume[g.base + r * g.rowStride + c * g.columnStride];
        out.push(layer === "ct" ? value : (value >> shift) & 3);
      }
    }
    return out;
  };

  Viewer.prototype.checked = function (layer) {
    var box = this.root.querySelector('input[data-layer="' + layer + '"]');
    return !box || box.checked;
  };

  Viewer.prototype.predictionInput = function () {
    return this.root.querySelector('input[type=radio]:checked') ||
           this.root.querySelector('input[data-layer="prediction"]');
  };

  Viewer.prototype.set = function (name, index) {
    var count = this.geometry(name, 0).count;
    index = Math.max(0, Math.min(count - 1, Math.round(index)));
    if (index === this.index[name]) { return false; }
    this.index[name] = index;
    this.drawAll();
    return true;
  };

  Viewer.prototype.outline = function (context, plane, g, shift, tumour, sx, sy) {
    var labels = this.labels, rows = g.rows, columns = g.columns, r, c, start;
    function inside(row, column) {
      if (row < 0 || column < 0 || row >= rows || column >= columns) { return false; }
      var value = (labels[g.base + row * g.rowStride + column * g.columnStride] >> shift) & 3;
      return tumour ? value === 2 : value > 0;
    }
    context.beginPath();
    for (c = 0; c <= columns; c++) {  // vertical edges, merged into runs along each column line
      start = -1;
      for (r = 0; r <= rows; r++) {
        var edge = r < rows && inside(r, c - 1) !== inside(r, c);
        if (edge && start < 0) { start = r; }
        if (!edge && start >= 0) { context.moveTo(c * sx, start * sy); context.lineTo(c * sx, r * sy); start = -1; }
      }
    }
    for (r = 0; r <= rows; r++) {  // horizontal edges
      start = -1;
      for (c = 0; c <= columns; c++) {
        var flat = c < columns && inside(r - 1, c) !== inside(r, c);
        if (flat && start < 0) { start = c; }
        if (!flat && start >= 0) { context.moveTo(start * sx, r * sy); context.lineTo(c * sx, r * sy); start = -1; }
      }
    }
    context.stroke();
  };

  Viewer.prototype.layers = function () {
    var out = [], reference = this.root.querySelector('input[data-layer="reference"]');
    if (this.checked("reference")) {
      out.push({source: "reference", colour: reference.dataset.colour, width: Number(reference.dataset.width)});
    }
    if (this.checked("prediction")) {
      var chosen = this.predictionInput();
      out.push({source: chosen.value && chosen.type === "radio" ? chosen.value : "prediction",
                colour: chosen.dataset.colour, width: Number(chosen.dataset.width)});
    }
    return out;
  };

  Viewer.prototype.draw = function (name) {
    var plane = this.planes[name], index = this.index[name], g = this.geometry(name, index);
    var pixels = plane.image.data, ct = this.ct, o = 0;
    for (var r = 0; r < g.rows; r++) {
      var at = g.base + r * g.rowStride;
      for (var c = 0; c < g.columns; c++, o += 4, at += g.columnStride) {
        var value = ct[at];
        pixels[o] = value; pixels[o + 1] = value; pixels[o + 2] = value; pixels[o + 3] = 255;
      }
    }
    plane.bufferContext.putImageData(plane.image, 0, 0);
    var context = plane.context, w = plane.width, h = plane.height;
    context.setTransform(plane.ratio, 0, 0, plane.ratio, 0, 0);
    context.imageSmoothingEnabled = true;
    context.drawImage(plane.buffer, 0, 0, w, h);
    var sx = w / g.columns, sy = h / g.rows, self = this;
    context.lineJoin = "round";
    this.layers().forEach(function (layer) {
      var shift = 2 * self.sources.indexOf(layer.source);
      if (shift < 0) { return; }
      context.strokeStyle = layer.colour;
      context.lineWidth = layer.width;
      context.setLineDash([]);
      self.outline(context, plane, g, shift, false, sx, sy);
      context.setLineDash([3, 2]);
      self.outline(context, plane, g, shift, true, sx, sy);
    });
    context.setLineDash([]);
    if (this.checked("crosshair")) {
      var nz = this.shape[0], cross;
      if (name === "axial") { cross = [this.index.sagittal, this.index.coronal]; }
      else if (name === "coronal") { cross = [this.index.sagittal, nz - 1 - this.index.axial]; }
      else { cross = [this.index.coronal, nz - 1 - this.index.axial]; }
      context.strokeStyle = "rgba(255, 230, 128, 0.45)";
      context.lineWidth = 1;
      context.beginPath();
      context.moveTo((cross[0] + 0.5) * sx, 0); context.lineTo((cross[0] + 0.5) * sx, h);
      context.moveTo(0, (cross[1] + 0.5) * sy); context.lineTo(w, (cross[1] + 0.5) * sy);
      context.stroke();
    }
    var edges = EDGES[name];
    context.font = "bold 12px system-ui, sans-serif";
    context.lineWidth = 3;
    context.strokeStyle = "#000";
    context.fillStyle = "#ffe680";
    [[edges[0], w / 2, 3, "center", "top"], [edges[1], w / 2, h - 3, "center", "bottom"],
     [edges[2], 4, h / 2, "left", "middle"], [edges[3], w - 4, h / 2, "right", "middle"]].forEach(function (t) {
      context.textAlign = t[3]; context.textBaseline = t[4];
      context.strokeText(t[0], t[1], t[2]); context.fillText(t[0], t[1], t[2]);
    });
    plane.slider.value = String(index);
    plane.output.value = (index + 1) + " / " + g.count;
    plane.output.textContent = plane.output.value;
  };

  Viewer.prototype.drawAll = function () {
    if (!this.ct || !this.labels) { return; }
    var self = this;
    PLANES.forEach(function (name) { self.draw(name); });
  };

  Viewer.prototype.pointAt = function (name, event) {
    var plane = this.planes[name], g = this.geometry(name, this.index[name]);
    var rect = plane.canvas.getBoundingClientRect();
    var c = Math.floor((event.clientX - rect.left) / rect.width * g.columns);
    var r = Math.floor((event.clientY - rect.top) / rect.height * g.rows);
    var nz = this.shape[0];
    c = Math.max(0, Math.min(g.columns - 1, c));
    r = Math.max(0, Math.min(g.rows - 1, r));
    if (name === "axial") { this.index.coronal = r; this.index.sagittal = c; }
    else if (name === "coronal") { this.index.axial = nz - 1 - r; this.index.sagittal = c; }
    else { this.index.axial = nz - 1 - r; this.index.coronal = c; }
    this.drawAll();
  };

  Viewer.prototype.bind = function () {
    var self = this;
    PLANES.forEach(function (name) {
      var plane = self.planes[name];
      plane.slider.addEventListener("input", function () { self.set(name, Number(plane.slider.value)); });
      plane.canvas.addEventListener("wheel", function (event) {
        event.preventDefault();
        var delta = event.deltaY * (event.deltaMode === 1 ? 33 : event.deltaMode === 2 ? 400 : 1);
        self.wheel[name] += delta;
        var steps = Math.trunc(self.wheel[name] / 50);
        if (steps === 0 && Math.abs(delta) >= 50) { steps = Math.sign(delta); }
        if (steps !== 0) { self.wheel[name] = 0; self.set(name, self.index[name] + steps); }
      }, {passive: false});
      plane.canvas.addEventListener("keydown", function (event) {
        var moves = {ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10};
        var index = self.index[name], count = self.geometry(name, 0).count;
        if (event.key in moves) { index += moves[event.key]; }
        else if (event.key === "Home") { index = 0; }
        else if (event.key === "End") { index = count - 1; }
        else { return; }
        event.preventDefault();
        self.set(name, index);
      });
      plane.canvas.addEventListener("pointerdown", function (event) {
        plane.canvas.focus();
        self.pointAt(name, event);
      });
      plane.canvas.addEventListener("pointermove", function (event) {
        if (event.buttons & 1) { self.pointAt(name, event); }
      });
    });
    Array.prototype.forEach.call(this.root.querySelectorAll(".viewer-bar input"), function (input) {
      input.addEventListener("change", function () { self.drawAll(); });
    });
  };

  Viewer.prototype.load = function () {
    var self = this, root = this.root;
    return decodeCt(root.dataset.ct, this.shape, numbers(root.dataset.tile)).then(function (ct) {
      self.ct = ct;
      return inflate(root.dataset.labels);
    }).then(function (labels) {
      if (labels.length !== self.ct.length) { throw new Error("the outlines do not match the CT's size"); }
      self.labels = labels;
      root.removeAttribute("data-ct");
      root.removeAttribute("data-labels");
      self.drawAll();
      root.dataset.state = "ready";
      self.status.textContent = "slider, mouse wheel or arrow keys over an image: move through slices; " +
                                "click: move the other planes there";
    }).catch(function (error) {
      root.dataset.state = "error";
      self.status.textContent = "the viewer could not start: " + (error && error.message ? error.message : error);
    });
  };

  var roots = Array.prototype.slice.call(document.querySelectorAll(".viewer[data-ct]"));
  roots.reduce(function (previous, root) {
    return previous.then(function () {
      var viewer;
      try {
        viewer = new Viewer(root);
      } catch (error) {
        root.dataset.state = "error";
        return null;
      }
      viewers[root.id] = viewer;
      return viewer.load();
    });
  }, Promise.resolve()).then(function () { document.documentElement.dataset.viewers = "done"; });
})();
"""
