"""The HTML report of an evaluation folder and/or a training run: one self-contained file.

Sections, each present when its inputs are:

* **metrics**: per case and structure (liver, tumour) Dice, VOE, RVD, ASSD, RMSSD, MSSD,
  HD95 and SLiver07 score, then mean / std / median rows; the empty-mask counts; lesion
  detection (from ``metrics.json``, else ``cases.csv``);
* **distributions**: a box plot per measure across cases;
* **cases**: an interactive slice viewer per case (``livseg.reporting.viewer``: axial,
  coronal and sagittal planes of the liver's box with sliders, the mouse wheel and arrow keys;
  reference and prediction outlines; CRF before/after when the prediction without CRF is
  given), and the static figure of the three slices through the reference liver's centre of
  mass (W400/L40, pixels at their physical size) with reference and prediction contours, when
  each case's CT, reference and prediction can be found (``livseg.reporting.case_inputs``);
* **CRF**: the same slices with the prediction without CRF and with it, and the change in
  Dice, for cases that have both;
* **training**: learning curves from the run's per-epoch CSV log;
* **provenance**: the commands, the evaluation settings, YAML configs found beside the
  inputs, and the versions of python, livseg, torch, SimpleITK, numpy.

Typical use::

    from livseg.reporting.report import ReportRequest, build_report, write_report
    result = build_report(ReportRequest(folder=Path("eval"), options=InputOptions(gt=..., pred_dir=...)))
    write_report(result.html, Path("report.html"))
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from livseg.errors import DatasetError, InputNotFoundError, LivsegError
from livseg.io.atomic import atomic_path
from livseg.io.tables import to_json
from livseg.metrics.overlap import overlap_scores
from livseg.metrics.structures import structure_mask
from livseg.reporting import html_page as H
from livseg.reporting.case_inputs import CaseLocator, CaseVolumes, InputOptions
from livseg.reporting.evaluation import STRUCTURES, Evaluation, is_evaluation_folder, read_evaluation
from livseg.reporting.figures import (
    MEASURES,
    PREDICTION_STYLE,
    REFERENCE_STYLE,
    ContourStyle,
    boxplots_png,
    learning_curves_png,
    overlay_png,
)
from livseg.reporting.tables import is_assessed
from livseg.reporting.run_folder import config_files, find_training_log, read_config_text, read_training_log
from livseg.reporting.viewer import (
    VIEWER_CSS,
    VIEWER_JS,
    VIEWER_MAX_PX,
    ViewerData,
    describe_sampling,
    viewer_data,
    viewer_html,
)
from livseg.reporting.views import DEFAULT_MARGIN_MM, crop_to_lps, views_of
from livseg.version import versions

logger = logging.getLogger(__name__)

NOCRF_STYLE = ContourStyle("prediction_nocrf", "without CRF", "#ff4fd8", 1.9)
WITH_CRF_STYLE = ContourStyle("prediction", "with CRF", "#ffb000", 1.2)
EMPTY_LABELS = {"none": "neither empty", "both": "both empty", "reference": "reference empty",
                "prediction": "prediction empty"}
#: What a cell shows for a structure the prediction did not assess (no tumour model ran).
NOT_ASSESSED = "not assessed"


@dataclass(frozen=True)
class ReportRequest:
    """What to report on.

    Attributes:
        folder: an evaluation folder (metrics.json / cases.csv), a training run folder
            (log.csv), or one that is both.
        options: where each case's CT, reference and predictions are (overlays, CRF figures).
        run_dir: a training run whose learning curves to add (default: ``folder`` if it is one).
        command: the command line that asked for the report (shown as is).
        title: the page title.
        margin_mm: margin around the liver's bounding box in the overlays, mm.
        viewer: add the interactive slice viewer per case (a script in the page).
        viewer_max_px: the viewer's most voxels across in x and in y (larger boxes are
            subsampled; ``livseg.reporting.viewer``).
    """

    folder: Path
    options: InputOptions = field(default_factory=InputOptions)
    run_dir: Path | None = None
    command: str | None = None
    title: str = "livseg report"
    margin_mm: float = DEFAULT_MARGIN_MM
    viewer: bool = True
    viewer_max_px: int = VIEWER_MAX_PX


@dataclass(frozen=True)
class CrfChange:
    """Dice of one case's prediction without and with the CRF, per structure it assessed."""

    case_id: str
    without: dict[str, float]
    with_crf: dict[str, float]


@dataclass(frozen=True)
class ReportResult:
    """The page and what could not be shown.

    Attributes:
        html: the whole document.
        problems: one line per case whose figures are missing, and why.
        n_overlays: cases drawn.
        n_viewers: cases with an interactive viewer.
    """

    html: str
    problems: list[str]
    n_overlays: int
    n_viewers: int = 0


def format_value(value: Any, measure: str) -> str:
    """A table cell's text: Dice-like ratios with 4 decimals, %, mm and scores with 2."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if measure in ("dice", "jaccard", "surface_dice", "precision", "recall"):
        return f"{value:.4f}"
    return f"{value:.2f}"


def _value_cell(value: Any, measure: str, context: dict[str, object]) -> str:
    css = "undefined" if value is None else "num"
    data = {**context, "data-measure": measure, "data-value": "" if value is None else repr(value)}
    return f"<td{H.attributes({'class': css, **data})}>{H.esc(format_value(value, measure))}</td>"


def _case_anchor(index: int) -> str:
    return f"case-{index + 1}"


# --- metrics ---------------------------------------------------------------------------------
def _structure_table(evaluation: Evaluation, structure: str) -> str:
    header = ["case", *(m.axis_label for m in MEASURES), "empty mask"]
    rows = []
    for index, case in enumerate(evaluation.cases):
        block = case.get(structure, {})
        context = {"data-table": "metrics", "data-case": case["case_id"], "data-structure": structure}
        if not is_assessed(block):
            rows.append(f"<tr><th><a href=\"#{_case_anchor(index)}\">{H.esc(case['case_id'])}</a></th>"
                        f"{_not_assessed_cell(len(MEASURES) + 1, context)}</tr>")
            continue
        cells = "".join(_value_cell(block.get(m.key), m.key, context) for m in MEASURES)
        empty = block.get("empty", "")
        flag = "flag" if empty not in ("none", "") else None
        rows.append(f"<tr><th><a href=\"#{_case_anchor(index)}\">{H.esc(case['case_id'])}</a></th>{cells}"
                    f"<td{H.attributes({'class': flag, **context, 'data-measure': 'empty', 'data-value': empty})}>"
                    f"{H.esc(EMPTY_LABELS.get(empty, empty))}</td></tr>")
    summary = evaluation.summary.get("structures", {}).get(structure, {})
    measures = summary.get("measures", {})
    if summary.get("assessed") is False:
        context = {"data-table": "metrics", "data-stat": "all", "data-structure": structure}
        rows.append(f"<tr class=\"stat\"><th>mean, std, median</th>"
                    f"{_not_assessed_cell(len(MEASURES) + 1, context, 'in no case')}</tr>")
        return H.table(header, rows)
    for stat in ("mean", "std", "median"):
        context = {"data-table": "metrics", "data-stat": stat, "data-structure": structure}
        cells = "".join(_value_cell(measures.get(m.key, {}).get(stat), m.key, context) for m in MEASURES)
        rows.append(f"<tr class=\"stat\"><th>{stat}</th>{cells}<td></td></tr>")
    return H.table(header, rows)


def _not_assessed_cell(span: int, context: dict[str, object],
                       why: str = "the prediction did not segment it: no tumour model ran") -> str:
    """One cell over ``span`` columns saying the structure was not assessed (no value, no score)."""
    data = {"colspan": span, "class": "undefined", **context, "data-assessed": "false"}
    return f"<td{H.attributes(data)}>{NOT_ASSESSED} ({H.esc(why)})</td>"


def _structure_assessed(evaluation: Evaluation, structure: str) -> bool:
    return evaluation.summary.get("structures", {}).get(structure, {}).get("assessed") is not False


def _empty_counts_table(evaluation: Evaluation) -> str:
    header = ["structure", *EMPTY_LABELS.values(), "Dice global"]
    rows = []
    for structure in STRUCTURES:
        block = evaluation.summary.get("structures", {}).get(structure, {})
        if block.get("assessed") is False:
            context = {"data-table": "empty", "data-structure": structure}
            rows.append(f"<tr><th>{structure}</th>{_not_assessed_cell(len(EMPTY_LABELS) + 1, context, 'in no case')}</tr>")
            continue
        counts = block.get("n_empty", {})
        cells = "".join(f"<td{H.attributes({'class': 'num', 'data-table': 'empty', 'data-structure': structure, 'data-empty': kind})}>"
                        f"{H.esc(counts.get(kind, 0))}</td>" for kind in EMPTY_LABELS)
        cells += _value_cell(block.get("dice_global"), "dice", {"data-table": "empty", "data-structure": structure,
                                                                 "data-stat": "global"})
        rows.append(f"<tr><th>{structure}</th>{cells}</tr>")
    return H.table(header, rows)


def _lesion_lines(evaluation: Evaluation) -> str:
    lesions = evaluation.summary.get("lesions")
    if not isinstance(lesions, dict):
        return ""
    if not is_assessed(lesions):
        return ("<p data-lesions=\"not-assessed\">Tumour lesions and tumour burden: not assessed "
                "(no tumour model ran for any prediction).</p>")
    text = (f"Tumour lesions (connected components; a match needs IoU &gt; 0.5): "
            f"{H.esc(lesions.get('n_detected'))} of {H.esc(lesions.get('n_reference'))} reference lesions detected "
            f"(recall {H.esc(format_value(lesions.get('recall'), 'recall'))}), "
            f"{H.esc(lesions.get('n_matched_prediction'))} of {H.esc(lesions.get('n_prediction'))} predicted lesions "
            f"matched (precision {H.esc(format_value(lesions.get('precision'), 'precision'))}).")
    burden = evaluation.summary.get("tumour_burden_error")
    if isinstance(burden, dict) and burden.get("rmse") is not None:
        text += (f" Tumour burden error: RMSE {H.esc(format_value(burden['rmse'], 'dice'))}, "
                 f"max {H.esc(format_value(burden.get('max'), 'dice'))}.")
    return f"<p>{text}</p>"


def _summary_cards(evaluation: Evaluation) -> str:
    structures = evaluation.summary.get("structures", {})

    def mean(structure: str, measure: str) -> Any:
        return structures.get(structure, {}).get("measures", {}).get(measure, {}).get("mean")

    cards = [("cases", str(len(evaluation.cases))),
             ("mean liver Dice", format_value(mean("liver", "dice"), "dice")),
             ("mean liver SLiver07 score", format_value(mean("liver", "sliver07_score"), "score")),
             ("mean liver ASSD (mm)", format_value(mean("liver", "assd_mm"), "mm")),
             ("mean tumour Dice", format_value(mean("tumour", "dice"), "dice")
              if _structure_assessed(evaluation, "tumour") else NOT_ASSESSED)]
    lesions = evaluation.summary.get("lesions")
    if isinstance(lesions, dict):
        cards.append(("tumour lesions detected", f"{lesions.get('n_detected')} / {lesions.get('n_reference')}"
                      if is_assessed(lesions) else NOT_ASSESSED))
    return "<div class=\"cards\">" + "".join(
        f"<div class=\"card\"><div class=\"value\">{H.esc(v)}</div><div class=\"label\">{H.esc(k)}</div></div>"
        for k, v in cards) + "</div>"


def _metrics_section(evaluation: Evaluation) -> str:
    parts = ["<section id=\"metrics\"><h2>Metrics</h2>", _summary_cards(evaluation)]
    for structure, what in (("liver", "liver = labels 1 and 2 (the LiTS convention)"),
                            ("tumour", "tumour = label 2")):
        parts.append(f"<h3>{structure.capitalize()}</h3><p class=\"note\">{H.esc(what)}; mean, std (sample, "
                     "ddof 1) and median over the cases where the measure is defined.</p>")
        parts.append(_structure_table(evaluation, structure))
    parts.append("<h3>Empty masks</h3>")
    parts.append(_empty_counts_table(evaluation))
    parts.append(
        "<p class=\"note\">Policy: both masks empty counts as a perfect match (Dice 1, distances 0, scores 100); "
        "one mask empty gives Dice 0, VOE 100 %, SLiver07 scores 0 and undefined (n/a) distances, which are "
        "left out of the means and counted instead. Dice global pools the voxels of all cases.</p>")
    parts.append(_lesion_lines(evaluation))
    parts.append(f"<p class=\"note\">Source: {H.esc(evaluation.source)}</p></section>")
    return "".join(parts)


def _boxplot_section(evaluation: Evaluation) -> str:
    shown = [s for s in STRUCTURES if _structure_assessed(evaluation, s)] or ["liver"]
    values = {s: {m.key: evaluation.values(s, m.key) for m in MEASURES} for s in shown}
    png = boxplots_png(values)
    return ("<section id=\"distributions\"><h2>Distributions across cases</h2>"
            + H.figure(png, "box plots of Dice, VOE, RVD, ASSD, RMSSD, MSSD, HD95 and SLiver07 score for liver "
                            "and tumour across cases",
                       "One box per structure (median, quartiles, whiskers to 1.5 IQR), every case as a dot; "
                       "n = cases where the measure is defined.")
            + "</section>")


# --- cases and CRF ---------------------------------------------------------------------------
def _dice(volumes: CaseVolumes, source: str, structure: str) -> float:
    reference = volumes.labels["reference"]
    prediction = volumes.labels[source]
    return overlap_scores(reference.with_array(structure_mask(reference, structure)),
                          prediction.with_array(structure_mask(prediction, structure))).dice


def _fmt_mm(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def _case_caption(volumes: CaseVolumes, views, margin_mm: float) -> str:
    geometry = volumes.ct.geometry
    text = (f"Slices through the {views.centre_of}'s centre of mass at ({_fmt_mm(views.centre_lps_mm)}) mm LPS; "
            f"crop: liver bounding box + {margin_mm:g} mm. CT {geometry.describe()}, soft-tissue window W400/L40. "
            "Solid: liver (labels 1+2); dashed: tumour (label 2).")
    if views.oblique:
        text += " The grid is oblique: slices follow its nearest axis-aligned orientation."
    notes = "".join(f" {note}." for note in volumes.notes)
    return H.esc(text + notes)


def _metric_title(case: dict) -> str:
    parts = [str(case["case_id"])]
    for structure in STRUCTURES:
        block = case.get(structure, {})
        if not is_assessed(block):
            parts.append(f"{structure} {NOT_ASSESSED}")
            continue
        parts.append(f"{structure} Dice {format_value(block.get('dice'), 'dice')}")
    return "   |   ".join(parts)


VIEWER_STYLES = {"reference": REFERENCE_STYLE, "prediction": WITH_CRF_STYLE, "prediction_nocrf": NOCRF_STYLE}


def _cases_and_crf(evaluation: Evaluation, locator: CaseLocator | None, margin_mm: float,
                   progress: Callable[[int, int], None] | None,
                   viewer_max_px: int | None = VIEWER_MAX_PX) -> tuple[str, str, list[str], int, int]:
    """(cases section, CRF section, problems, number of overlays, number of viewers).

    ``viewer_max_px`` None: no interactive viewers.
    """
    problems: list[str] = []
    figures: list[str] = []
    crf_figures: list[str] = []
    changes: list[CrfChange] = []
    drawn = viewers = 0
    for index, case in enumerate(evaluation.cases):
        case_id = str(case["case_id"])
        anchor = _case_anchor(index)
        if locator is None:
            figures.append(f"<h3 id=\"{anchor}\">{H.esc(case_id)}</h3>")
            continue
        try:
            volumes = locator.read(case, evaluation.folder)
            lps = crop_to_lps(volumes.ct, volumes.labels, margin_mm=margin_mm)
            views = views_of(lps)
            png = overlay_png(views, (REFERENCE_STYLE, PREDICTION_STYLE), _metric_title(case))
            viewer = ""
            if viewer_max_px is not None:
                data = viewer_data(lps, max_px=viewer_max_px)
                viewer = viewer_html(data, element_id=f"viewer-{index + 1}", case_id=case_id, styles=VIEWER_STYLES,
                                     caption=H.esc(_viewer_caption(data, views.oblique)))
                del data
            del lps
        except LivsegError as exc:
            problems.append(f"{case_id}: {exc}")
            logger.warning("no overlay for case %s: %s", case_id, exc)
            figures.append(f"<h3 id=\"{anchor}\">{H.esc(case_id)}</h3>"
                           f"<p class=\"problem\">No overlay: {H.esc(exc)}</p>")
            continue
        drawn += 1
        figure = H.figure(png, f"axial, coronal and sagittal slices of {case_id} with reference and "
                               "prediction contours", _case_caption(volumes, views, margin_mm))
        if viewer:
            viewers += 1
            figure = ("<details class=\"static-figure\"><summary>Static figure (PNG, full resolution: to copy "
                      "or print)</summary>" + figure + "</details>")
        figures.append(f"<h3 id=\"{anchor}\">{H.esc(case_id)}</h3>{viewer}{figure}")
        if "prediction_nocrf" in volumes.labels:
            assessed = [s for s in STRUCTURES if is_assessed(case.get(s, {}))]
            change = CrfChange(case_id, {s: _dice(volumes, "prediction_nocrf", s) for s in assessed},
                               {s: _dice(volumes, "prediction", s) for s in assessed})
            changes.append(change)
            title = f"{case_id}   |   liver Dice {change.without['liver']:.4f} \u2192 {change.with_crf['liver']:.4f}"
            crf_png = overlay_png(views, (REFERENCE_STYLE, NOCRF_STYLE, WITH_CRF_STYLE), title)
            crf_figures.append(H.figure(crf_png, f"slices of {case_id} with the prediction without and with CRF",
                                        H.esc(f"{case_id}: reference, prediction without CRF and with CRF."),
                                        element_id=f"crf-{index + 1}"))
        del volumes, views
        gc.collect()
        if progress is not None:
            progress(index + 1, len(evaluation.cases))
    intro = ("<section id=\"cases\"><h2>Cases</h2><p class=\"note\">Reference contours in cyan, prediction "
             "in amber (without CRF: magenta); pixels are drawn at their physical size (letters: patient "
             "directions, R = right, A = anterior, S = superior). Solid: liver (labels 1+2); dashed: tumour "
             "(label 2).")
    if viewers:
        intro += (" In each viewer the slider under a plane, the mouse wheel or the arrow keys over it move "
                  "through its slices; a click on a plane moves the other two planes to that point; the "
                  "check boxes show or hide the outlines.")
    intro += "</p>"
    if locator is None:
        intro += ("<p class=\"problem\">No overlays: the CT, reference and prediction of each case are not known. "
                  "Pass <code>--gt DATASET --pred-dir DIR</code> (and <code>--images DIR</code> if the CTs are "
                  "elsewhere) to <code>livseg report</code>.</p>")
    cases_html = intro + "".join(figures) + "</section>"
    crf_html = _crf_section(changes, crf_figures) if changes else ""
    return cases_html, crf_html, problems, drawn, viewers


def _viewer_caption(data: ViewerData, oblique: bool) -> str:
    text = describe_sampling(data)
    if "prediction_nocrf" in data.sources:
        text += " CRF: with (amber) or without (magenta) the dense CRF."
    if oblique:
        text += " The grid is oblique: planes follow its nearest axis-aligned orientation."
    return text


def _crf_section(changes: Sequence[CrfChange], figures: Sequence[str]) -> str:
    rows = []
    for change in changes:
        cells = ""
        for structure in STRUCTURES:
            context = {"data-table": "crf", "data-case": change.case_id, "data-structure": structure}
            if structure not in change.with_crf:
                cells += _not_assessed_cell(3, context)
                continue
            before, after = change.without[structure], change.with_crf[structure]
            cells += _value_cell(before, "dice", {**context, "data-crf": "without"})
            cells += _value_cell(after, "dice", {**context, "data-crf": "with"})
            cells += f"<td class=\"num\">{after - before:+.4f}</td>"
        rows.append(f"<tr><th>{H.esc(change.case_id)}</th>{cells}</tr>")
    header = ["case", "liver Dice without CRF", "liver Dice with CRF", "liver change",
              "tumour Dice without CRF", "tumour Dice with CRF", "tumour change"]
    return ("<section id=\"crf\"><h2>CRF before and after</h2><p class=\"note\">The prediction without the "
            "dense CRF (magenta) and with it (amber), against the reference (cyan).</p>"
            + H.table(header, rows) + "".join(figures) + "</section>")


# --- training and provenance -----------------------------------------------------------------
def _training_section(run_dir: Path) -> str:
    log = find_training_log(run_dir)
    if log is None:
        return ""
    rows = read_training_log(log)
    parts = ["<section id=\"training\"><h2>Training</h2>"]
    if not rows:
        parts.append(f"<p class=\"problem\">{H.esc(log)} has no epochs yet.</p></section>")
        return "".join(parts)
    parts.append(H.figure(learning_curves_png(rows), "learning curves: loss, Dice and learning rate against epoch",
                          H.esc(f"From {log} ({len(rows)} epochs).")))
    scored = [r for r in rows if r.get("val_dice") is not None and r.get("epoch") is not None]
    if scored:
        best = max(scored, key=lambda r: r["val_dice"])  # type: ignore[arg-type,return-value]
        parts.append(f"<p>Best validation Dice {best['val_dice']:.4f} at epoch {int(best['epoch'])}; "  # type: ignore[arg-type]
                     f"last epoch {int(rows[-1]['epoch'] or 0)}.</p>")
    parts.append("</section>")
    return "".join(parts)


def _provenance_section(request: ReportRequest, evaluation: Evaluation | None, run_dir: Path | None) -> str:
    facts = []
    if request.command:
        facts.append(("report command", f"<code>{H.esc(request.command)}</code>"))
    if evaluation is not None:
        command = evaluation.settings.get("command")
        facts.append(("evaluation command", f"<code>{H.esc(command)}</code>" if command else
                      "<span class=\"note\">not recorded in the evaluation's files</span>"))
        facts.append(("evaluation folder", H.esc(evaluation.folder.resolve())))
    if run_dir is not None:
        facts.append(("training run", H.esc(run_dir.resolve())))
    parts = ["<section id=\"provenance\"><h2>Commands, configuration and versions</h2><dl class=\"facts\">"]
    parts += [f"<dt>{H.esc(name)}</dt><dd>{value}</dd>" for name, value in facts]
    parts.append("</dl>")
    parts.append("<h3>Versions</h3>")
    parts.append(H.table(["package", "version"], [f"<tr><th>{H.esc(k)}</th><td>{H.esc(v)}</td></tr>"
                                                  for k, v in versions().items()]))
    if evaluation is not None and evaluation.settings:
        parts.append(H.details("Evaluation settings (metrics.json)",
                               f"<pre><code>{H.esc(to_json(evaluation.settings))}</code></pre>"))
    folders = [f for f in dict.fromkeys([request.folder, run_dir]) if f is not None]
    for folder in folders:
        for path in config_files(folder):
            parts.append(H.details(f"Configuration: {path.resolve()}",
                                   f"<pre><code>{H.esc(read_config_text(path))}</code></pre>"))
    parts.append("</section>")
    return "".join(parts)


# --- the page --------------------------------------------------------------------------------
def build_report(request: ReportRequest, *, progress: Callable[[int, int], None] | None = None) -> ReportResult:
    """The report's HTML for an evaluation folder and/or a training run.

    Raises:
        InputNotFoundError: the folder is missing. DatasetError: it holds neither an evaluation
        (metrics.json / cases.csv) nor a training log (log.csv). Reader errors of bad tables.
        Per-case problems (a CT not found, ...) do not raise: they are listed in the page and
        in ``ReportResult.problems``.
    """
    folder = request.folder
    if not folder.is_dir():
        raise InputNotFoundError(folder, expected="an evaluation or training run folder", found="no such folder")
    evaluation = read_evaluation(folder) if is_evaluation_folder(folder) else None
    run_dir = request.run_dir
    if run_dir is not None and find_training_log(run_dir) is None:
        raise DatasetError(run_dir, expected="a training run folder with log.csv", found="no log.csv")
    if run_dir is None and find_training_log(folder) is not None:
        run_dir = folder
    if evaluation is None and run_dir is None:
        raise DatasetError(folder, expected="an evaluation folder (metrics.json or cases.csv from livseg evaluate "
                                            "--out) or a training run folder (log.csv from livseg train)",
                           found="neither", fix="point livseg report at one of them")
    sections, nav, problems, drawn, viewers = [], [], [], 0, 0
    if evaluation is not None:
        options = request.options.filled_from(evaluation.recorded_inputs(), evaluation.folder)
        has_recorded_files = any(isinstance(c.get("files"), dict) for c in evaluation.cases)
        locator = CaseLocator(options, len(evaluation.cases)) if options.any_given or has_recorded_files else None
        sections.append(_metrics_section(evaluation))
        sections.append(_boxplot_section(evaluation))
        cases_html, crf_html, problems, drawn, viewers = _cases_and_crf(
            evaluation, locator, request.margin_mm, progress,
            request.viewer_max_px if request.viewer else None)
        sections.append(cases_html)
        nav += [("metrics", "Metrics"), ("distributions", "Distributions"), ("cases", "Cases")]
        if crf_html:
            sections.append(crf_html)
            nav.append(("crf", "CRF before/after"))
    if run_dir is not None:
        training = _training_section(run_dir)
        if training:
            sections.append(training)
            nav.append(("training", "Training"))
    sections.append(_provenance_section(request, evaluation, run_dir))
    nav.append(("provenance", "Commands and versions"))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = [H.esc(f"{folder.resolve()}"), H.esc(f"generated {generated} by livseg {versions()['livseg']}")]
    if evaluation is not None:
        subtitle.insert(1, H.esc(f"{len(evaluation.cases)} case(s) evaluated; {drawn} drawn"))
    scripts = [VIEWER_JS] if viewers else []
    html = H.page(request.title, subtitle, nav, sections, scripts=scripts, css=VIEWER_CSS if viewers else "")
    return ReportResult(html=html, problems=problems, n_overlays=drawn, n_viewers=viewers)


def write_report(html: str, path: str | Path) -> Path:
    """Write the page atomically (a temporary file renamed into place)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path
