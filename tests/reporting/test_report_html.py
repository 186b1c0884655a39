"""``livseg report`` end to end on phantoms: the page parsed and checked against metrics.json."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from livseg.io import read_volume
from livseg.reporting.figures import MEASURES, PREDICTION_STYLE, REFERENCE_STYLE
from livseg.reporting.viewer import VIEWER_JS, from_mosaic, inflate_base64, unpack_label

PNG_PREFIX = "data:image/png;base64,"


class Page(HTMLParser):
    """Every element's tag, attributes and text (for cells: the text inside the <td>)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.cells: list[tuple[dict[str, str], str]] = []
        self._cell: tuple[dict[str, str], list[str]] | None = None
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "td":
            self._cell = (attributes, [])

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append((self._cell[0], "".join(self._cell[1]).strip()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell[1].append(data)

    def tags(self, name: str) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.elements if tag == name]

    def cell(self, **selector: str) -> tuple[dict[str, str], str]:
        wanted = {f"data-{k}": v for k, v in selector.items()}
        found = [(a, t) for a, t in self.cells if all(a.get(k) == v for k, v in wanted.items())]
        assert len(found) == 1, (selector, len(found))
        return found[0]


def decode_png(src: str) -> Image.Image:
    assert src.startswith(PNG_PREFIX), src[:40]
    raw = base64.b64decode(src[len(PNG_PREFIX):], validate=True)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n") and len(raw) > 1000
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


@pytest.fixture(scope="module")
def page(full_report) -> Page:
    return Page(full_report.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def metrics(phantom_evaluation) -> dict:
    return json.loads((phantom_evaluation.eval_dir / "metrics.json").read_text(encoding="utf-8"))


def test_every_image_is_an_inline_png(page, phantom_evaluation):
    images = page.tags("img")
    # one box-plot figure, one overlay per case, one CRF figure per case
    assert len(images) == 1 + 2 * len(phantom_evaluation.case_ids)
    for attrs in images:
        image = decode_png(attrs["src"])
        assert image.width > 200 and image.height > 100
        assert attrs["alt"]


def test_no_external_references_and_only_the_viewer_script(page, full_report):
    text = full_report.read_text(encoding="utf-8")
    scripts = [attrs for tag, attrs in page.elements if tag == "script"]
    assert scripts == [{}]  # one inline script, no src, no type
    assert text.count(f"<script>{VIEWER_JS}</script>") == 1
    for tag, attrs in page.elements:
        assert tag not in ("iframe", "object", "embed", "base", "form"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, name, value[:60])
    assert not page.tags("link") or all(a.get("rel") == "icon" and a.get("href") == "data:," for a in page.tags("link"))
    outside_images = re.sub(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"https?://|url\(|@import|//[a-z0-9.-]+\.[a-z]{2,}/", outside_images, re.IGNORECASE)


def test_table_values_equal_metrics_json(page, metrics):
    for case in metrics["cases"]:
        for structure in ("liver", "tumour"):
            for measure in MEASURES:
                attrs, text = page.cell(table="metrics", case=case["case_id"], structure=structure, measure=measure.key)
                value = case[structure][measure.key]
                if value is None:
                    assert attrs["data-value"] == "" and text == "n/a"
                else:
                    assert float(attrs["data-value"]) == value
                    assert text == (f"{value:.4f}" if measure.key == "dice" else f"{value:.2f}")
            attrs, _ = page.cell(table="metrics", case=case["case_id"], structure=structure, measure="empty")
            assert attrs["data-value"] == case[structure]["empty"]
    for structure in ("liver", "tumour"):
        measures = metrics["summary"]["structures"][structure]["measures"]
        for stat in ("mean", "std", "median"):
            for measure in MEASURES:
                attrs, _ = page.cell(table="metrics", stat=stat, structure=structure, measure=measure.key)
                value = measures[measure.key][stat]
                assert (attrs["data-value"] == "") if value is None else float(attrs["data-value"]) == value
        attrs, _ = page.cell(table="empty", structure=structure, stat="global")
        assert float(attrs["data-value"]) == metrics["summary"]["structures"][structure]["dice_global"]
        for kind, count in metrics["summary"]["structures"][structure]["n_empty"].items():
            assert [t for a, t in page.cells if a.get("data-structure") == structure
                    and a.get("data-empty") == kind] == [str(count)]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_crf_table_has_the_dice_of_both_predictions(page, phantom_evaluation, metrics):
    p = phantom_evaluation
    for case in metrics["cases"]:
        case_id = case["case_id"]
        reference = read_volume(p.data / "labels" / f"{case_id}.nii.gz").array
        before = read_volume(p.nocrf / f"{case_id}.nii.gz").array
        after = read_volume(p.prediction / f"{case_id}.nii.gz").array
        attrs, _ = page.cell(table="crf", case=case_id, structure="liver", crf="without")
        assert float(attrs["data-value"]) == pytest.approx(_dice(reference > 0, before > 0), abs=1e-12)
        attrs, _ = page.cell(table="crf", case=case_id, structure="liver", crf="with")
        assert float(attrs["data-value"]) == pytest.approx(case["liver"]["dice"], abs=1e-12)


def _near(image: Image.Image, colour: str, tolerance: int = 40) -> int:
    rgb = np.asarray(image.convert("RGB"), dtype=int)
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.count_nonzero(np.abs(rgb - target).sum(axis=-1) < tolerance))


def test_overlays_show_both_contour_colours(page, phantom_evaluation):
    overlays = [a for a in page.tags("img") if "with reference and prediction contours" in a["alt"]]
    assert len(overlays) == len(phantom_evaluation.case_ids)
    for attrs in overlays:
        image = decode_png(attrs["src"])
        assert _near(image, REFERENCE_STYLE.colour) > 200
        assert _near(image, PREDICTION_STYLE.colour) > 200


def test_provenance_lists_versions_and_commands(page):
    text = " ".join(page.text)
    for name in ("python", "livseg", "torch", "SimpleITK", "numpy"):
        assert name in text
    assert "livseg report" in text and "--pred-dir-nocrf" in text
    assert "evaluation command" in text


def test_report_without_inputs_still_has_the_tables(phantom_evaluation, run_cli, tmp_path):
    # An evaluation that recorded no input paths (e.g. made by another tool, or edited by hand).
    metrics = json.loads((phantom_evaluation.eval_dir / "metrics.json").read_text(encoding="utf-8"))
    metrics["settings"].pop("inputs", None)
    for case in metrics["cases"]:
        case.pop("files", None)
    bare = tmp_path / "bare-eval"
    bare.mkdir()
    (bare / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / "plain.html"
    code, stdout, stderr = run_cli("report", bare, "-o", out)
    assert code == 0, stderr
    page = Page(out.read_text(encoding="utf-8"))
    assert len(page.tags("img")) == 1  # the box plots only
    assert "No overlays" in " ".join(page.text) and "--gt DATASET --pred-dir DIR" in " ".join(page.text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare-eval", "plain.html"]  # no temporary file left


def test_recorded_files_in_metrics_json_are_used(phantom_evaluation, run_cli, tmp_path):
    p = phantom_evaluation
    metrics = json.loads((p.eval_dir / "metrics.json").read_text(encoding="utf-8"))
    for case in metrics["cases"]:
        case_id = case["case_id"]
        case["files"] = {"image": str(p.data / "images" / f"{case_id}.nii.gz"),
                         "reference": str(p.data / "labels" / f"{case_id}.nii.gz"),
                         "prediction": f"../prediction/{case_id}.nii.gz"}  # relative to the folder
    eval_copy = p.eval_dir.parent / "eval-with-files"
    eval_copy.mkdir(exist_ok=True)
    (eval_copy / "metrics.json").write_text(json.dumps(metrics))
    code, _, stderr = run_cli("report", eval_copy, "-o", tmp_path / "r.html")
    assert code == 0, stderr
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert len(page.tags("img")) == 1 + len(p.case_ids)


def test_recorded_inputs_in_settings_are_used(phantom_evaluation, run_cli, tmp_path):
    p = phantom_evaluation
    metrics = json.loads((p.eval_dir / "metrics.json").read_text(encoding="utf-8"))
    metrics["settings"]["inputs"] = {"gt": "../data", "images": "../data/images", "pred_dir": "../prediction",
                                     "pred_dir_nocrf": "../nocrf"}
    eval_copy = p.eval_dir.parent / "eval-with-inputs"
    eval_copy.mkdir(exist_ok=True)
    (eval_copy / "metrics.json").write_text(json.dumps(metrics))
    code, _, stderr = run_cli("report", eval_copy, "-o", tmp_path / "r.html")
    assert code == 0, stderr
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert len(page.tags("img")) == 1 + 2 * len(p.case_ids)


def test_a_missing_prediction_is_reported_in_the_page_and_exit_code(phantom_evaluation, run_cli, tmp_path):
    p = phantom_evaluation
    partial = tmp_path / "partial"
    shutil.copytree(p.prediction, partial)
    missing = p.case_ids[1]
    (partial / f"{missing}.nii.gz").unlink()
    out = tmp_path / "r.html"
    code, _, stderr = run_cli("report", p.eval_dir, "--gt", p.data, "--pred-dir", partial, "-o", out)
    assert code == 1
    assert f"no overlay for {missing}" in stderr
    text = " ".join(Page(out.read_text(encoding="utf-8")).text)
    assert f"No overlay: {partial}" in text and f"a prediction for case {missing}" in text


def test_training_run_folder_gets_learning_curves_and_config(run_cli, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").write_text("epoch,lr,seconds,train_loss,train_dice,val_loss,val_dice\n"
                                 "1,0.1,3.2,0.9,0.31,0.8,0.42\n2,0.1,3.1,0.6,0.55,0.5,0.71\n"
                                 "3,0.01,3.0,0.4,0.70,0.45,0.66\n", encoding="utf-8")
    (run / "config.yaml").write_text("name: tiny-run\ntraining:\n  epochs: 3\n", encoding="utf-8")
    code, stdout, stderr = run_cli("report", run)
    assert code == 0, stderr
    page = Page((run / "report.html").read_text(encoding="utf-8"))
    images = page.tags("img")
    assert len(images) == 1 and "learning curves" in images[0]["alt"]
    decode_png(images[0]["src"])
    text = " ".join(page.text)
    assert "Best validation Dice 0.7100 at epoch 2" in text
    assert "name: tiny-run" in text and "epochs: 3" in text


@pytest.mark.parametrize("make, code, message", [
    (lambda root: root / "missing", 3, "no such folder"),
    (lambda root: root, 2, "neither"),
])
def test_bad_folders_fail_with_one_line(run_cli, tmp_path, make, code, message):
    exit_code, _, stderr = run_cli("report", make(tmp_path))
    assert exit_code == code
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_written_file_is_the_built_page(full_report):
    text = full_report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert 100_000 < len(text.encode()) < 3_000_000
    assert not [p for p in Path(full_report).parent.iterdir() if p.name != full_report.name]


def test_a_viewer_per_case_holds_the_case_on_the_lps_crop(page, phantom_evaluation):
    p = phantom_evaluation
    viewers = [a for tag, a in page.elements if tag == "div" and "viewer" in a.get("class", "").split()]
    assert [a["data-case"] for a in viewers] == list(p.case_ids)
    assert [a["id"] for a in viewers] == [f"viewer-{i + 1}" for i in range(len(p.case_ids))]
    for attrs in viewers:
        case_id = attrs["data-case"]
        ct_file = read_volume(p.data / "images" / f"{case_id}.nii.gz")
        # The phantoms are stored along the LPS axes, each either way (direction diagonal +-1):
        # in LPS index order (what the viewer holds) the axes with -1 are reversed.
        direction = np.array(ct_file.geometry.direction).reshape(3, 3)
        assert np.array_equal(np.abs(direction), np.eye(3))
        to_lps = tuple(slice(None, None, int(direction[axis, axis])) for axis in (2, 1, 0))  # z, y, x
        lps = {}
        for source, folder in (("reference", p.data / "labels"), ("prediction", p.prediction),
                               ("prediction_nocrf", p.nocrf)):
            labels = read_volume(folder / f"{case_id}.nii.gz").array[to_lps]
            lps[source] = np.where(labels > 0, np.where(labels == 2, 2, 1), 0)
        # The crop: every source's liver, plus 15 mm (ceil(15 / spacing) voxels), inside the grid.
        union = np.argwhere(np.logical_or.reduce([a > 0 for a in lps.values()]))
        spacing_zyx = np.array(ct_file.geometry.spacing_mm[::-1])
        margin = np.ceil(15.0 / spacing_zyx - 1e-9).astype(int)
        lo = np.maximum(union.min(axis=0) - margin, 0)
        hi = np.minimum(union.max(axis=0) + 1 + margin, ct_file.array.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        shape = tuple(int(v) for v in attrs["data-shape"].split(","))
        assert shape == tuple(int(b - a) for a, b in zip(lo, hi))
        assert attrs["data-sources"] == "reference,prediction,prediction_nocrf"
        packed = inflate_base64(attrs["data-labels"], shape)
        for position, source in enumerate(("reference", "prediction", "prediction_nocrf")):
            np.testing.assert_array_equal(unpack_label(packed, position), lps[source][box])
        window = np.clip((ct_file.array[to_lps][box].astype(float) + 160.0) / 400.0, 0, 1) * 255
        jpeg = Image.open(io.BytesIO(base64.b64decode(attrs["data-ct"].split(",", 1)[1], validate=True)))
        tile = tuple(int(v) for v in attrs["data-tile"].split(","))
        shown = from_mosaic(np.asarray(jpeg), shape, tile).astype(float)  # type: ignore[arg-type]
        assert np.abs(shown - window).mean() < 4  # the windowed CT, JPEG'd


def test_no_viewer_and_a_smaller_viewer(phantom_evaluation, run_cli, tmp_path, full_report):
    p = phantom_evaluation
    plain = tmp_path / "plain.html"
    code, stdout, stderr = run_cli("report", p.eval_dir, "--gt", p.data, "--pred-dir", p.prediction, "--no-viewer",
                                   "-o", plain)
    assert code == 0, stderr
    assert f"{len(p.case_ids)} case overlay(s), 0 slice viewer(s)" in stdout
    text = plain.read_text(encoding="utf-8")
    page = Page(text)
    assert not page.tags("script") and "class=\"viewer\"" not in text and "static-figure" not in text
    assert "script-src &#x27;none&#x27;" in text  # the policy then allows no script at all
    assert len(page.tags("img")) == 1 + len(p.case_ids)
    assert "--no-viewer" in " ".join(page.text)
    small = tmp_path / "small.html"
    code, stdout, stderr = run_cli("report", p.eval_dir, "--gt", p.data, "--pred-dir", p.prediction,
                                   "--viewer-px", "32", "-o", small)
    assert code == 0, stderr
    assert f"{len(p.case_ids)} slice viewer(s)" in stdout
    viewers = [a for a in Page(small.read_text(encoding="utf-8")).tags("div") if a.get("class") == "viewer"]
    for attrs in viewers:
        nz, ny, nx = (int(v) for v in attrs["data-shape"].split(","))
        assert nx <= 32 and ny <= 32 and attrs["data-sources"] == "reference,prediction"
    assert "subsampled with steps" in small.read_text(encoding="utf-8")
    assert small.stat().st_size < full_report.stat().st_size
    code, _, stderr = run_cli("report", p.eval_dir, "--viewer-px", "4", "-o", tmp_path / "x.html")
    assert code != 0 and "--viewer-px" in stderr
