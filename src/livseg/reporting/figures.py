"""The report's figures as PNG bytes: overlays, box plots, learning curves (matplotlib, Agg).

Figures are built with matplotlib's object API (``Figure`` + Agg canvas), never pyplot, so
nothing global changes and nothing needs a display. The page size of an overlay is fixed by
the figure's size in pixels (about 1000 px wide), whatever the size of the CT: that is the
downsampling that keeps a report of many large cases at a few MB.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from livseg.reporting.views import OrthoViews, View, soft_tissue_window

DPI = 100
OVERLAY_WIDTH_IN = 10.0
DARK = "#16181d"
LIGHT_TEXT = "#e8e8e8"


@dataclass(frozen=True)
class ContourStyle:
    """How one label source is drawn: liver (labels 1+2) solid, tumour (label 2) dashed."""

    source: str
    label: str
    colour: str
    linewidth: float = 1.4


# The reference is drawn first and wider, so where a prediction coincides with it both stay visible.
REFERENCE_STYLE = ContourStyle("reference", "reference", "#2ee6ff", 2.8)
PREDICTION_STYLE = ContourStyle("prediction", "prediction", "#ffb000", 1.4)


@dataclass(frozen=True)
class Measure:
    """A measure shown in tables and box plots: its key in metrics.json, a title and a unit."""

    key: str
    title: str
    unit: str = ""

    @property
    def axis_label(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title


#: The measures of the report (tables and box plots), in order.
MEASURES: tuple[Measure, ...] = (
    Measure("dice", "Dice"),
    Measure("voe_pct", "VOE", "%"),
    Measure("rvd_pct", "RVD", "%"),
    Measure("assd_mm", "ASSD", "mm"),
    Measure("rmssd_mm", "RMSSD", "mm"),
    Measure("mssd_mm", "MSSD", "mm"),
    Measure("hd95_mm", "HD95", "mm"),
    Measure("sliver07_score", "SLiver07 score", "0-100"),
)


def png_bytes(figure: Figure) -> bytes:
    """The figure rendered as a palette PNG (no alpha channel, no software tag), optimised."""
    from PIL import Image

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    rgb = Image.fromarray(np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3]))
    # A 256-colour palette without dithering: greys and contour colours survive unchanged to
    # the eye, and the PNG shrinks by 15-60 % (overlays, plots).
    palette = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _new_figure(width_in: float, height_in: float, facecolor: str = "white") -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, facecolor=facecolor)
    FigureCanvasAgg(figure)
    return figure


def _nice_length_mm(width_mm: float) -> float:
    """A round scale-bar length of about a quarter of ``width_mm``."""
    target = max(width_mm / 4.0, 1e-3)
    for length in (1, 2, 5, 10, 20, 50, 100, 200):
        if length >= target:
            return float(length)
    return 200.0


def _draw_contours(axes, mask: np.ndarray, pixel_mm: tuple[float, float], colour: str, style: str,
                   linewidth: float) -> bool:
    """Contour of a 2D binary mask at the edges between its pixels; False when nothing to draw."""
    if not mask.any() or mask.all():
        return False
    rows, columns = mask.shape
    # Pixel centres in mm (imshow with extent (0, W, H, 0) puts pixel (r, c) at these centres).
    x = (np.arange(columns) + 0.5) * pixel_mm[1]
    y = (np.arange(rows) + 0.5) * pixel_mm[0]
    # A one-pixel pad of background closes contours that touch the crop's border.
    padded = np.pad(mask.astype(np.float32), 1)
    x = np.concatenate([[x[0] - pixel_mm[1]], x, [x[-1] + pixel_mm[1]]])
    y = np.concatenate([[y[0] - pixel_mm[0]], y, [y[-1] + pixel_mm[0]]])
    axes.contour(x, y, padded, levels=[0.5], colors=[colour], linewidths=linewidth, linestyles=style)
    return True


def _draw_view(axes, view: View, styles: Sequence[ContourStyle], show_scale: bool) -> None:
    width_mm, height_mm = view.size_mm
    axes.imshow(soft_tissue_window(view.ct), cmap="gray", vmin=0.0, vmax=1.0, interpolation="bilinear",
                extent=(0.0, width_mm, height_mm, 0.0))
    for style in styles:
        labels = view.labels.get(style.source)
        if labels is None:
            continue
        _draw_contours(axes, labels > 0, view.pixel_mm, style.colour, "solid", style.linewidth)
        _draw_contours(axes, labels == 2, view.pixel_mm, style.colour, "dashed", style.linewidth)
    axes.set_xlim(0.0, width_mm)
    axes.set_ylim(height_mm, 0.0)
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(view.name, color=LIGHT_TEXT, fontsize=11)
    top, bottom, left, right = view.edges
    # A dark outline keeps the letters readable over bright anatomy.
    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    text = {"color": "#ffe680", "fontsize": 10, "fontweight": "bold", "transform": axes.transAxes,
            "path_effects": outline}
    axes.text(0.5, 0.985, top, ha="center", va="top", **text)
    axes.text(0.5, 0.015, bottom, ha="center", va="bottom", **text)
    axes.text(0.012, 0.5, left, ha="left", va="center", **text)
    axes.text(0.988, 0.5, right, ha="right", va="center", **text)
    if show_scale:
        length = _nice_length_mm(width_mm)
        x0, y0 = 0.05 * width_mm, 0.93 * height_mm
        axes.plot([x0, x0 + length], [y0, y0], color="white", linewidth=3, solid_capstyle="butt",
                  path_effects=[patheffects.withStroke(linewidth=5, foreground="black")])
        axes.text(x0 + length / 2.0, y0 - 0.02 * height_mm, f"{length:g} mm", color="white", fontsize=9,
                  ha="center", va="bottom", path_effects=outline)


def overlay_png(views: OrthoViews, styles: Sequence[ContourStyle], title: str, note: str = "") -> bytes:
    """Axial, coronal and sagittal slices (W400/L40) with each style's contours, and a legend.

    Pixels are drawn at their physical size (``View.pixel_mm``); liver contours are solid,
    tumour contours dashed, one colour per source.
    """
    widths = [view.size_mm[0] for view in views.views]
    ratios = [view.size_mm[1] / view.size_mm[0] for view in views.views]
    panel_width_in = [OVERLAY_WIDTH_IN * 0.96 * w / sum(widths) for w in widths]
    image_height_in = max(w * r for w, r in zip(panel_width_in, ratios))
    height_in = min(max(image_height_in, 1.6), 7.0) + 1.25
    figure = _new_figure(OVERLAY_WIDTH_IN, height_in, facecolor=DARK)
    grid = figure.add_gridspec(1, 3, width_ratios=widths, left=0.02, right=0.98,
                               top=1 - 0.55 / height_in, bottom=0.62 / height_in, wspace=0.04)
    for index, view in enumerate(views.views):
        _draw_view(figure.add_subplot(grid[0, index]), view, styles, show_scale=index == 0)
    figure.suptitle(title, color=LIGHT_TEXT, fontsize=12, y=1 - 0.08 / height_in, va="top")
    handles = [Line2D([], [], color=style.colour, linewidth=2.5, label=style.label) for style in styles]
    handles.append(Line2D([], [], color="#b0b0b0", linewidth=1.6, label="liver (labels 1+2)"))
    handles.append(Line2D([], [], color="#b0b0b0", linewidth=1.6, linestyle="dashed", label="tumour (label 2)"))
    legend = figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
                           fontsize=9, bbox_to_anchor=(0.5, 0.2 / height_in))
    for text in legend.get_texts():
        text.set_color(LIGHT_TEXT)
    if note:
        figure.text(0.5, 0.03 / height_in, note, color="#a0a0a0", fontsize=8, ha="center", va="bottom")
    return png_bytes(figure)


def boxplots_png(values: Mapping[str, Mapping[str, Sequence[float | None]]],
                 measures: Sequence[Measure] = MEASURES) -> bytes:
    """One box plot per measure, liver and tumour side by side, every case as a dot.

    Args:
        values: structure ("liver", "tumour") -> measure key -> one value per case; None
            (undefined) values are left out and the number of defined values is shown.
    """
    columns = 4
    rows = int(np.ceil(len(measures) / columns))
    figure = _new_figure(11.0, 2.9 * rows)
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    structures = list(values)
    colours = {"liver": "#c0504d", "tumour": "#4f81bd"}
    for index, measure in enumerate(measures):
        axes = axes_grid[index // columns][index % columns]
        data, labels = [], []
        for structure in structures:
            defined = [float(v) for v in values[structure].get(measure.key, []) if v is not None]
            data.append(defined)
            labels.append(f"{structure}\nn={len(defined)}")
        positions = np.arange(1, len(structures) + 1)
        shown = [(p, d) for p, d in zip(positions, data) if d]
        if shown:
            boxes = axes.boxplot([d for _, d in shown], positions=[p for p, _ in shown], widths=0.55,
                                 showfliers=False, patch_artist=True, medianprops={"color": "black"})
            for patch, (p, _) in zip(boxes["boxes"], shown):
                patch.set_facecolor(colours.get(structures[p - 1], "#999999"))
                patch.set_alpha(0.35)
            for p, d in shown:
                # Evenly spread dots (deterministic, no random jitter) so equal values stay visible.
                offsets = np.linspace(-0.12, 0.12, len(d)) if len(d) > 1 else np.zeros(1)
                axes.scatter(p + offsets, d, s=14, color=colours.get(structures[p - 1], "#555555"),
                             edgecolors="black", linewidths=0.4, zorder=3)
        for p, d in zip(positions, data):
            if not d:
                axes.text(p, 0.5, "no values", transform=axes.get_xaxis_transform(), ha="center",
                          va="center", fontsize=8, color="#777777")
        axes.set_xticks(positions)
        axes.set_xticklabels(labels, fontsize=8)
        axes.set_xlim(0.4, len(structures) + 0.6)
        axes.set_title(measure.axis_label, fontsize=10)
        axes.tick_params(axis="y", labelsize=8)
        axes.grid(axis="y", color="#dddddd", linewidth=0.6)
        axes.set_axisbelow(True)
    for index in range(len(measures), rows * columns):
        axes_grid[index // columns][index % columns].set_visible(False)
    figure.tight_layout()
    return png_bytes(figure)


def curve_panels(columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """[(panel name, log columns)] of the learning-curve figure, empty panels left out.

    Loss columns are names with "loss" and the loss components ``train_main_<name>`` (e.g.
    ``train_main_dice``, the Dice *loss* of a "dice+ce" objective); the Dice panel holds Dice
    scores only (``train_dice``, ``val_dice``); ``lr`` has its own panel.
    """
    losses = [c for c in columns if "loss" in c or c.startswith("train_main_")]
    panels = [("loss", losses), ("Dice", [c for c in columns if "dice" in c and c not in losses]),
              ("learning rate", [c for c in columns if c == "lr"])]
    return [(name, keys) for name, keys in panels if keys]


def learning_curves_png(rows: Sequence[Mapping[str, float | None]], title: str = "") -> bytes:
    """Loss, Dice and learning rate against epoch from the rows of a training log.

    Args:
        rows: one dict per epoch with an ``epoch`` key; loss columns (names with "loss", and
            the loss components ``train_main_<name>`` such as ``train_main_dice``, a Dice *loss*)
            go to the loss panel, Dice scores (``train_dice``, ``val_dice``) to the Dice panel,
            ``lr`` to a log-scale panel.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    panels = curve_panels(columns)
    figure = _new_figure(4.0 * max(len(panels), 1), 3.4)
    if not panels:
        figure.text(0.5, 0.5, "the log has no loss, Dice or lr column", ha="center", va="center")
        return png_bytes(figure)
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, (name, keys) in zip(axes_list, panels):
        for key in keys:
            points = [(row["epoch"], row[key]) for row in rows
                      if row.get("epoch") is not None and row.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                axes.plot(xs, ys, marker="o", markersize=3, linewidth=1.4, label=key.replace("_", " "))
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        if name == "Dice":
            axes.set_ylim(0.0, 1.0)
        rates = [row["lr"] for row in rows if row.get("lr") is not None]
        if name == "learning rate" and rates and min(rates) > 0 and max(rates) / min(rates) >= 10:
            axes.set_yscale("log")  # steps of 10x and more read best on a log axis
        axes.grid(color="#dddddd", linewidth=0.6)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8, loc="best")
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return png_bytes(figure)
