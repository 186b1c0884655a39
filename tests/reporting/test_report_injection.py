"""Case ids, file names and titles that look like HTML stay text: in the markup and in Chromium.

A case whose files are named ``a"'><img src=x onerror=alert(1)>&amp;.nii.gz`` (a legal file name)
goes through the real ``livseg evaluate`` and ``livseg report``; the page must hold it as text
everywhere (headings, tables, viewer labels, data attributes) and run nothing but its own script.
"""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from livseg.reporting.viewer import VIEWER_JS

EVIL = "a\"'><img src=x onerror=alert(1)>&amp;"
EVIL_TITLE = "</title><script>alert(3)</script>"


class _Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


@pytest.fixture(scope="module")
def evil_report(phantom_evaluation, tmp_path_factory) -> Path:
    from livseg.cli import main

    p = phantom_evaluation
    root = tmp_path_factory.mktemp("evil")
    source = p.case_ids[0]
    for folder, target in ((p.data / "images", root / "data" / "images"), (p.data / "labels", root / "data" / "labels"),
                           (p.prediction, root / "prediction"), (p.nocrf, root / "nocrf")):
        target.mkdir(parents=True)
        shutil.copy(folder / f"{source}.nii.gz", target / f"{EVIL}.nii.gz")
    assert main(["evaluate", "--pred-dir", str(root / "prediction"), "--gt", str(root / "data"),
                 "--out", str(root / "eval")]) == 0
    out = root / "report.html"
    assert main(["report", str(root / "eval"), "--gt", str(root / "data"), "--pred-dir", str(root / "prediction"),
                 "--pred-dir-nocrf", str(root / "nocrf"), "--title", EVIL_TITLE, "-o", str(out)]) == 0
    return out


def test_names_that_look_like_html_stay_text(evil_report):
    page = _Page(evil_report.read_text(encoding="utf-8"))
    assert page.scripts == [VIEWER_JS]  # the viewer's script and nothing else
    for tag, attrs in page.elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (tag == "img" and attrs.get("src") == "x")
    text = "".join(page.text)
    assert EVIL in text and EVIL_TITLE in text  # shown as the text it is
    viewers = [attrs for tag, attrs in page.elements if tag == "div" and "viewer" in attrs.get("class", "").split()]
    assert len(viewers) == 1 and viewers[0]["data-case"] == EVIL
    labels = [attrs["aria-label"] for tag, attrs in page.elements if tag == "canvas"]
    assert len(labels) == 3 and all(EVIL in label for label in labels)


def test_names_that_look_like_html_run_nothing_in_chromium(evil_report):
    pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[dev]')")
    from livseg.reporting.browser import chromium, find_chromium, wait_for_viewers

    if find_chromium() is None:
        pytest.skip("Chromium and chromedriver not found on PATH (apt-get install chromium chromium-driver)")
    with chromium() as driver:
        driver.get(evil_report.resolve().as_uri())
        assert wait_for_viewers(driver) == {"viewer-1": "ready"}
        assert driver.title == EVIL_TITLE
        # An alert would be open now (and fail every call with UnexpectedAlertPresentException).
        assert driver.execute_script("return document.querySelectorAll('img[src=x], script').length") == 1
        heading = driver.execute_script("return document.getElementById('case-1').textContent")
        assert heading == EVIL
        log = driver.get_log("browser")
        assert [e for e in log if e.get("level") == "SEVERE" or "Content Security Policy" in e.get("message", "")] == []
